"""Quality classifier: train a tiny fastText model on real text through the command line, score,
keep by threshold or by the seeded Pareto rule."""

from __future__ import annotations

import re

import pytest
from filters_corpus import WARC_DIR, peoples_daily, spam_pages, train_quality_model

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
