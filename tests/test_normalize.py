"""normalize: the fast path must give exactly what full ftfy gives, on real text."""

from __future__ import annotations

import json

import ftfy
from conftest import ZH_HTML_DIR, real_warc_files

from pipeline.readers import read_file
from stages.base import Drop
from stages.normalize import NormalizeParams, NormalizeStage, ftfy_config, normalize_text


def real_texts() -> list[str]:
    texts = []
    for path in real_warc_files():
        with open(path, "rb") as raw:
            for item in read_file(raw, str(path), "warc"):
                if isinstance(item, dict):
                    if "text" in item:
                        texts.append(item["text"])
                    else:  # raw HTML decoded naively: plenty of odd characters and mojibake
                        texts.append(item["html"].decode("utf-8", "replace")[:20000])
                        texts.append(item["html"].decode("cp1252", "replace")[:20000])
    for base in ZH_HTML_DIR.rglob("base.json"):
        texts.extend(entry["content"] for entry in json.loads(base.read_text()).values())
    return texts


def test_fast_path_equals_full_ftfy_on_real_text():
    params = NormalizeParams(collapse_whitespace=False)
    config = ftfy_config(params)
    texts = real_texts()
    assert len(texts) > 500 and sum(map(len, texts)) > 5_000_000
    mismatches = [i for i, t in enumerate(texts) if normalize_text(t, params, config) != ftfy.fix_text(t, config)]
    assert mismatches == []


def test_mojibake_is_repaired_and_chinese_punctuation_kept():
    params = NormalizeParams()
    assert normalize_text("cafÃ© â€œquotedâ€\u009d", params) == "café “quoted”"
    zh = "你好，世界！“引号”（括号）：结束。"
    assert normalize_text(zh, params) == zh


def test_nfc_and_whitespace():
    params = NormalizeParams()
    assert normalize_text("e\u0301  a\t\tb \n\n\n\n  c\u3000\r\n", params) == "\u00e9 a b\n\nc"


def test_empty_after_cleanup_is_dropped():
    stage = NormalizeStage(NormalizeParams())
    assert stage.process({"id": "x", "text": " \n\t \x00 "}) == Drop("empty_text")
    assert stage.process({"id": "y", "text": "ok"})["text"] == "ok"
