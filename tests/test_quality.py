"""Quality classifier: train a tiny fastText model on real text through the command line, score,
keep by threshold or by the seeded Pareto rule."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from filters_corpus import (
    WARC_DIR,
    en_annotated,
    english_pages,
    full_page_text,
    link_list_pages,
    peoples_daily,
    spam_pages,
    train_quality_model,
    zh_html_pages,
)

from stages.base import Drop
from stages.quality import (
    ModelMissing,
    QualityParams,
    QualityScorer,
    QualityStage,
    features,
    pareto_keep,
    read_texts,
)

REPO = Path(__file__).resolve().parents[1]
TRAIN_OUTPUT: list[str] = []


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path, printed = train_quality_model(tmp_path_factory.mktemp("quality"))
    TRAIN_OUTPUT.append(printed)
    return path


def test_features_split_chinese_into_characters():
    assert features("中文Text，测试\nLine") == "中 文 text ， 测 试 line"
    assert features("x" * 10_000, max_chars=100) == "x" * 100


def test_reads_wet_jsonl_arrow_txt(tmp_path):
    # A whole-file-gzip WET that record-at-a-time readers stop on after the first record.
    assert (
        len(list(read_texts(str(WARC_DIR / "jeffharwell__CommonCrawlScalaTools" / "filter_test_1.wet.gz"))))
        == 25
    )
    (tmp_path / "a.txt").write_text("one\n\ntwo\n", encoding="utf-8")
    assert list(read_texts(str(tmp_path / "a.txt"))) == ["one", "two"]


@pytest.mark.slow
def test_train_prints_heldout_precision_recall(model_path):
    m = re.search(r"held-out (\d+): precision ([\d.]+) recall ([\d.]+)", TRAIN_OUTPUT[-1])
    assert m, TRAIN_OUTPUT
    assert int(m.group(1)) > 100 and float(m.group(2)) >= 0.9 and float(m.group(3)) >= 0.9


def test_scores_separate_curated_from_crawl(model_path):
    scorer = QualityScorer(model_path)
    held_out_pd = peoples_daily(2500)[2000:2100]  # not in the training file (first 1500)
    pd_scores = [scorer.score(t) for t in held_out_pd]
    spam_scores = [scorer.score(t) for _, t in spam_pages() if t.strip()]
    assert all(0.0 <= s <= 1.0 for s in pd_scores + spam_scores)
    assert sum(s >= 0.5 for s in pd_scores) >= 90
    assert sum(spam_scores) / len(spam_scores) < sum(pd_scores) / len(pd_scores) - 0.3


def test_threshold_mode(model_path):
    stage = QualityStage(QualityParams(model=model_path, threshold=0.5))
    stage.setup()
    good = stage.process({"id": "1", "url": "", "text": peoples_daily(2500)[2200]})
    assert not isinstance(good, Drop) and good["quality_score"] >= 0.5
    nav = "Home | Login | Register | Cart (0) | Search\nCopyright 2016 All rights reserved\nTerms Privacy Sitemap"
    bad = stage.process({"id": "2", "url": "", "text": nav})
    assert isinstance(bad, Drop) and bad.reason == "quality_low_score"
    keep_all = QualityStage(QualityParams(model=model_path, threshold=0.0))
    keep_all.setup()
    doc = keep_all.process({"id": "2", "url": "", "text": nav})
    assert not isinstance(doc, Drop) and 0.0 <= doc["quality_score"] < 0.5


def test_pareto_mode_is_seeded_per_document(model_path):
    stage = QualityStage(QualityParams(model=model_path, mode="pareto", alpha=9.0))
    stage.setup()
    docs = [{"id": f"d{i}", "url": "", "text": t} for i, t in enumerate(peoples_daily(2600)[2400:2600])]
    first = [not isinstance(stage.process(dict(d)), Drop) for d in docs]
    second = [not isinstance(stage.process(dict(d)), Drop) for d in docs]
    assert first == second
    # Low scores are kept only by chance: P(pareto(9) > 0.9) is small, P(> 0.0) is 1.
    assert all(pareto_keep(f"x{i}", 1.0, 9.0) for i in range(100))
    kept_low = sum(pareto_keep(f"x{i}", 0.1, 9.0) for i in range(1000))
    assert 0 < kept_low < 100
    nav = [
        {"id": f"n{i}", "url": "", "text": f"Home | Login | Cart ({i}) | Search | Sitemap"} for i in range(50)
    ]
    dropped = [r for r in (stage.process(d) for d in nav) if isinstance(r, Drop)]
    assert dropped and {r.reason for r in dropped} == {"quality_pareto"}


def test_missing_model_fails_at_setup(tmp_path):
    with pytest.raises(ModelMissing, match="quality.model"):
        QualityStage(QualityParams()).setup()
    with pytest.raises(ModelMissing, match="does not exist"):
        QualityStage(QualityParams(model=str(tmp_path / "none.bin"))).setup()


# ---------------------------------------------------------------------------- training that learns
def _cli(*args: str) -> subprocess.CompletedProcess:
    # Its own process, as a user runs it (see filters_corpus.train_quality_model).
    return subprocess.run(
        [sys.executable, "-m", "stages.quality", *args], cwd=REPO, capture_output=True, text=True, check=False
    )


def _jsonl(path: Path, docs: list[tuple[str, str]]) -> str:
    with open(path, "w", encoding="utf-8") as f:
        for text, url in docs:
            f.write(json.dumps({"text": text, "url": url}, ensure_ascii=False) + "\n")
    return str(path)


@pytest.mark.slow
def test_small_paired_set_separates_the_held_out_half(tmp_path):
    """The issue's case: 40 annotated main texts vs the whole-page text of the same 40 Chinese
    pages. fastText's defaults learned nothing (every score 0.500); the scaled schedule does."""
    pages = [(name, html, main) for name, html, main in zh_html_pages() if len(main) >= 200][:40]
    assert len(pages) == 40
    pos = _jsonl(tmp_path / "main.jsonl", [(main, name) for name, _, main in pages])
    neg = _jsonl(tmp_path / "page.jsonl", [(full_page_text(html), name) for name, html, _ in pages])
    out = tmp_path / "m.bin"
    proc = _cli(
        "train",
        "--positive",
        pos,
        "--negative",
        neg,
        "--output",
        str(out),
        "--holdout",
        "0.5",
        "--threads",
        "1",
    )
    print(proc.stdout, proc.stderr)
    m = re.search(r"held-out (\d+):.* accuracy ([\d.]+) balanced", proc.stdout)
    assert proc.returncode == 0 and m and out.is_file()
    assert int(m.group(1)) >= 30 and float(m.group(2)) >= 0.8


@pytest.mark.slow
def test_a_model_that_learned_nothing_is_an_error(tmp_path):
    """Both classes drawn from the same text (People's Daily, alternate paragraphs): held-out
    separation is at chance, so no model is written and the command exits 1, unless --force."""
    pd = peoples_daily(600)
    a = _jsonl(tmp_path / "a.jsonl", [(t, f"a{i}") for i, t in enumerate(pd[0::2])])
    b = _jsonl(tmp_path / "b.jsonl", [(t, f"b{i}") for i, t in enumerate(pd[1::2])])
    out = tmp_path / "m.bin"
    args = [
        "train",
        "--positive",
        a,
        "--negative",
        b,
        "--output",
        str(out),
        "--holdout",
        "0.3",
        "--threads",
        "1",
    ]
    proc = _cli(*args)
    assert proc.returncode == 1 and "did not learn" in proc.stderr and not out.exists()
    forced = _cli(*args, "--force")
    assert forced.returncode == 0 and out.is_file() and "Saved anyway" in forced.stderr


def _train_sentencepiece(tmp_path: Path, lines: list[str]) -> str:
    import sentencepiece as spm

    corpus = tmp_path / "sp.txt"
    corpus.write_text("\n".join(lines), encoding="utf-8")
    prefix = tmp_path / "sp"
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(prefix),
        vocab_size=4000,
        model_type="bpe",
        character_coverage=0.995,
        minloglevel=2,
    )
    return f"{prefix}.model"


def _train_hf(tmp_path: Path, lines: list[str]) -> str:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=2000, special_tokens=["<unk>"]))
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize("tokens", ["whitespace", "sentencepiece", "hf"])
def test_label_and_token_conventions(tmp_path, tokens):
    """Models trained here in other conventions: DCLM's labels (__label__hq vs __label__cc) with
    whitespace words, and tokenizer pieces (a sentencepiece model, a Hugging Face tokenizer.json)
    as Ultra-FineWeb splits text. The stage scores with the same convention."""
    if tokens == "whitespace":
        good = [(t, f"en{i}") for i, t in enumerate(en_annotated())]
        bad = [(t, url) for url, t in english_pages()]
        spec = "whitespace"
    else:
        pd = peoples_daily(2000)
        good = [("\n".join(pd[i : i + 4]), f"pd{i}") for i in range(0, 600, 4)]
        bad = [(t, name) for name, t in link_list_pages("tune")]
        train = _train_sentencepiece if tokens == "sentencepiece" else _train_hf
        spec = f"{tokens}:{train(tmp_path, list(pd[:800]))}"
    pos = _jsonl(tmp_path / "hq.jsonl", good)
    neg = _jsonl(tmp_path / "cc.jsonl", bad)
    out = tmp_path / "m.bin"
    proc = _cli(
        "train", "--positive", pos, "--negative", neg, "--output", str(out), "--holdout", "0.3",
        "--threads", "1", "--max-chars", "1000", "--tokens", spec, "--positive-label", "__label__hq", "--negative-label", "__label__cc",
    )  # fmt: skip
    print(proc.stdout, proc.stderr)
    m = re.search(r"precision ([\d.]+) recall ([\d.]+)", proc.stdout)
    assert proc.returncode == 0 and m and float(m.group(1)) >= 0.8 and float(m.group(2)) >= 0.8
    stage = QualityStage(QualityParams(model=str(out), tokens=spec, positive_label="__label__hq"))
    stage.setup()
    scores_good = [stage.scorer.score(t) for t, _ in good[-20:]]
    scores_bad = [stage.scorer.score(t) for t, _ in bad[-20:]]
    assert sum(scores_good) / 20 > sum(scores_bad) / 20 + 0.3
    with pytest.raises(ModelMissing, match="quality.positive_label '__label__pos' is not a label"):
        QualityScorer(str(out), tokens=spec)


def test_annotate_mode_keeps_every_document(model_path):
    stage = QualityStage(QualityParams(model=model_path, mode="annotate", threshold=0.99))
    stage.setup()
    nav = "Home | Login | Register | Cart (0) | Search\nCopyright 2016 All rights reserved"
    docs = [{"id": "n", "url": "", "text": nav}, {"id": "p", "url": "", "text": peoples_daily(2500)[2300]}]
    out = [stage.process(dict(d)) for d in docs]
    assert not any(isinstance(d, Drop) for d in out)
    assert out[0]["quality_score"] < 0.5 <= out[1]["quality_score"]
    assert "mode: must be one of threshold, pareto, annotate" in _validate_error(
        QualityParams(model=model_path, mode="keep")
    )


def _validate_error(params: QualityParams) -> str:
    try:
        params.validate()
    except ValueError as exc:
        return str(exc)
    return ""


@pytest.mark.slow
def test_recommended_config_runs_the_quality_stage(model_path, tmp_path, monkeypatch):
    """configs/cc_zh_en.yaml selects quality: without a model it is a one-line config error naming
    the key and the command that builds one; with one (annotate mode here) every kept document
    has its score."""
    from conftest import read_shards

    from pipeline.config import ConfigError, load_config
    from pipeline.run import main as run_main

    config = str(REPO / "configs" / "cc_zh_en.yaml")
    monkeypatch.chdir(tmp_path)  # quality.bin is relative to where the command runs: not here
    with pytest.raises(ConfigError, match=r"config key 'quality.model'.*python -m stages.quality train"):
        load_config(config)
    out = tmp_path / "out"
    sets = ["--set", f"quality.model={model_path}", "--set", "quality.mode=annotate"]
    assert run_main(["--config", config, "--output", str(out), "--no-progress", *sets]) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert stats["stages"]["quality"]["in"] == stats["stages"]["quality"]["out"] > 0
    scores = read_shards(out / "documents").column("quality_score").to_pylist()
    assert scores and all(0.0 <= s <= 1.0 for s in scores)
