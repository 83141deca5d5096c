"""The 54 real Chinese pages, wrapped into a WARC, through the real Beam pipeline.

Two figures the issues ask for, measured end to end (reader, extract, normalize, langid,
heuristics, writer) rather than through the pure functions alone: mean main-text F1 against the
hand annotation, and the share of pages kept with lang == zh under the default config.
"""

from __future__ import annotations

import gzip
import json
import statistics

import pyarrow as pa
import pytest
from conftest import read_shards

from benchmarks.extract_quality import load_pages, prf
from pipeline.run import main
from pipeline.sample import http_response, warc_record

# Every test here runs whole pipelines (or loads a large vocabulary): `pytest -m "not slow"` skips them.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def zh_warc(tmp_path_factory):
    pages = load_pages()
    assert len(pages) == 54
    warc = tmp_path_factory.mktemp("zh54") / "zh54.warc.gz"
    with open(warc, "wb") as out:
        for i, (url, html, _) in enumerate(pages):
            # No charset in the HTTP header: <meta> or detection must find it, as on the real web.
            record = warc_record(
                "response",
                url,
                http_response(html, "text/html"),
                "application/http; msgtype=response",
                f"zh-{i}",
                "2024-05-20T00:00:00Z",
            )
            out.write(gzip.compress(record, mtime=0))
    return pages, warc


def run_stages(warc, out_dir, stages: str) -> tuple[pa.Table, dict]:
    assert main(["--input", str(warc), "--output", str(out_dir), "--no-progress", "--stages", stages]) == 0
    return read_shards(out_dir / "documents"), json.loads((out_dir / "stats.json").read_text())


def test_main_text_f1_through_the_pipeline(zh_warc, tmp_path):
    pages, warc = zh_warc
    table, stats = run_stages(warc, tmp_path / "out", "extract,normalize")
    texts = dict(zip(table.column("url").to_pylist(), table.column("text").to_pylist(), strict=True))
    f1 = [prf(texts.get(url, ""), reference)[2] for url, _, reference in pages]
    mean = statistics.mean(f1)
    print(f"mean main-text F1 over 54 Chinese pages through the pipeline: {mean:.3f}")
    assert stats["stages"]["read"]["out"] == 54
    # A tuning-set guard (the extractor's weights were chosen on these pages among others);
    # held-out figures are in benchmarks/RESULTS.md.
    assert mean >= 0.82


def test_chinese_pages_kept_as_zh(zh_warc, tmp_path):
    _, warc = zh_warc
    table, stats = run_stages(warc, tmp_path / "out", "extract,normalize,langid,heuristics")
    zh = table.column("lang").to_pylist().count("zh")
    drops = {s: e["dropped"] for s, e in stats["stages"].items() if e["dropped"]}
    print(f"kept with lang == zh: {zh}/54 ({zh / 54:.1%}); drops: {drops}")
    # Measured 45/54 (83.3%; 19/20 of the tuning half, 26/34 of the held-out half): short of the
    # issue's 90% on these pages (DAnIEL's held-out news pages: 98.6%), see benchmarks/RESULTS.md
    # (issue 14). Was 42/54 before per-language thresholds, 44/54 after the first round.
    assert zh >= 45
