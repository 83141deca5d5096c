"""The HTML report: self-contained, every section present, document text escaped and truncated."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from filters_corpus import en_annotated, peoples_daily

from pipeline.report import EXAMPLE_CHARS, build_report

STATS = {
    "stages": {
        "read": {"in": 1000, "out": 1000, "dropped": {}, "counts": {}},
        "extract": {"in": 1000, "out": 950, "dropped": {"empty_text": 50}, "counts": {}},
        "langid": {
            "in": 950,
            "out": 700,
            "dropped": {"lang_not_allowed": 230, "lang_low_score": 20},
            "counts": {"lang.zh": 400, "lang.en": 320, "lang.ru": 150, "lang.ja": 80},
        },
        "heuristics": {
            "in": 700,
            "out": 500,
            "dropped": {"gopher_dup_ngram": 120, "fineweb_line_punct": 80},
            "counts": {},
        },
        "quality": {"in": 500, "out": 400, "dropped": {"quality_low_score": 100}, "counts": {}},
        "write": {"in": 400, "out": 400, "dropped": {}, "counts": {"lang.zh": 300, "lang.en": 100}},
    }
}


def _samples() -> list[dict]:
    out = [
        {
            "text": "<script>alert('x')</script> & more",
            "lang": "en",
            "kept": False,
            "stage": "quality",
            "reason": "quality_low_score",
            "quality_score": 0.01,
            "n_chars": 35,
        }
    ]
    for i, text in enumerate(peoples_daily(40)):
        out.append(
            {"text": text, "lang": "zh", "quality_score": 0.6 + i / 100, "n_chars": len(text), "kept": True}
        )
    for i, text in enumerate(en_annotated()[:20]):
        out.append(
            {
                "text": text,
                "lang": "en",
                "quality_score": i / 25,
                "kept": False,
                "stage": "heuristics",
                "reason": "gopher_dup_ngram",
            }
        )
    return out


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith(("#", "data:")):
                self.external.append(value)


def test_report_sections_and_plots():
    page = build_report(
        STATS, _samples(), {"stages": ["langid", "heuristics"], "langid": {"min_score": 0.65}}
    )
    parser = _Tags()
    parser.feed(page)
    assert parser.tags.count("svg") == 5  # funnel, drop reasons, languages, length, quality score
    assert not parser.external  # self-contained
    for heading in (
        "Funnel",
        "Drop reasons",
        "Language mix",
        "Document length",
        "Quality score",
        "Kept examples",
        "Dropped examples",
        "Configuration",
    ):
        assert f"<h2>{heading}</h2>" in page
    for reason in ("lang_not_allowed", "gopher_dup_ngram", "quality_low_score", "empty_text"):
        assert reason in page
    assert "1,000 documents read, 400 written (40.0%)" in page
    # The language mix is that of the documents written (400), not of all langid saw (950).
    assert "Language mix (documents written)" in page and "min_score: 0.65" in page


def test_document_text_is_escaped_and_truncated():
    page = build_report(STATS, _samples(), {})
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    long_text = max(en_annotated()[:20], key=len)
    assert len(long_text) > EXAMPLE_CHARS
    assert long_text[EXAMPLE_CHARS : EXAMPLE_CHARS + 200] not in page


def test_empty_inputs_still_render():
    page = build_report({"stages": {}}, [], {})
    assert "No stage statistics" in page and "Nothing was dropped" in page and "langid did not run" in page
    assert not re.search(r"<svg", page)


@pytest.mark.slow
def test_quality_histogram_shows_the_threshold_line():
    def config(mode: str, selected: list[str]) -> dict:
        quality = {"type": "quality", "mode": mode, "threshold": 0.42}
        return {"stages": selected, "steps": [{"langid": {"type": "langid"}}, {"quality": quality}]}

    page = build_report(STATS, _samples(), config("threshold", ["langid", "quality"]))
    assert "quality threshold 0.42" in page
    # Annotate and Pareto modes keep by no fixed score, and a step that did not run has no line.
    assert "threshold 0.42" not in build_report(STATS, _samples(), config("annotate", ["langid", "quality"]))
    assert "threshold 0.42" not in build_report(STATS, _samples(), config("threshold", ["langid"]))


def test_examples_show_their_true_length_and_the_cli_reads_a_runs_samples(tmp_path):
    """Samples carry the first 600 characters of a document and its full length; the report
    shows the full length. ``python -m pipeline.report`` reads a run's samples.json."""
    import json

    from pipeline.report import main

    long_doc = {"text": "字" * 600, "n_chars": 12_345, "lang": "zh", "kept": True}
    page = build_report(STATS, [long_doc], {})
    assert "12,345 chars" in page and "600 chars" not in page
    (tmp_path / "stats.json").write_text(json.dumps(STATS))
    (tmp_path / "samples.json").write_text(json.dumps([long_doc], ensure_ascii=False))
    main(["--stats", str(tmp_path / "stats.json"), "--samples", str(tmp_path / "samples.json"),
          "--output", str(tmp_path / "report.html")])  # fmt: skip
    assert "12,345 chars" in (tmp_path / "report.html").read_text()
