"""normalize: the fast path must give exactly what full ftfy gives, on real text."""

from __future__ import annotations

import json

import ftfy
import pytest
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


@pytest.mark.slow
def test_fast_path_equals_full_ftfy_on_real_text():
    params = NormalizeParams(collapse_whitespace=False)
    config = ftfy_config(params)
    texts = real_texts()
    assert len(texts) > 500 and sum(map(len, texts)) > 5_000_000
    mismatches = [
        i for i, t in enumerate(texts) if normalize_text(t, params, config) != ftfy.fix_text(t, config)
    ]
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


def test_fast_path_equals_full_ftfy_on_mojibake_of_every_code_page():
    """Mojibake made the ways ftfy knows how to undo: UTF-8 read as each of its code pages,
    with NBSP flattened to a space, and with lost bytes as "?" — all must match full ftfy."""
    from ftfy import chardata

    params = NormalizeParams(collapse_whitespace=False)
    config = ftfy_config(params)
    samples = [
        "naïve café — “quoted” text… 50°C, €100",
        "Привет, как дела? Всё хорошо — спасибо!",
        "Γειά σου κόσμε",
        "Zażółć gęślą jaźń",
        "中文测试：你好，世界！",
        "日本語のテキスト",
        "Ölçüm ağı şüphe",
        "Ā ē ī ō ū ņ ļ ķ",
        "emoji 😀 and ✓ marks",
        "non\u00a0breaking\u00a0space here",
    ]
    texts = []
    for encoding in chardata.CHARMAP_ENCODINGS:
        for sample in samples:
            broken = sample.encode("utf-8").decode(encoding, errors="replace")
            texts += [
                broken,
                broken.replace("\u00a0", " "),
                broken.replace("\ufffd", "?"),
                f"plain line\n{broken}\nanother plain line ok\n",
                sample + " " + broken,
            ]
    mismatches = [t for t in texts if normalize_text(t, params, config) != ftfy.fix_text(t, config)]
    assert mismatches == []
    # And the repair really happens (the test would be vacuous if nothing changed).
    assert normalize_text("Ð\u009fÑ\u0080Ð¸Ð²ÐµÑ\u0082", params, config) == "Привет"


def test_whitespace_collapse_matches_a_line_by_line_reference():
    import random
    import re

    from stages.normalize import collapse_whitespace

    def reference(text: str, max_blank: int) -> str:
        lines = [
            re.sub("[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+", " ", line).strip(" ")
            for line in text.split("\n")
        ]
        out: list[str] = []
        blank = 0
        for line in lines:
            if line:
                blank = 0
                out.append(line)
            elif out:
                blank += 1
                if blank <= max_blank:
                    out.append("")
        while out and not out[-1]:
            out.pop()
        return "\n".join(out)

    rng = random.Random(0)
    alphabet = ["a", "中", " ", "\t", "\u3000", "\u00a0", "\n"]
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        max_blank = rng.randint(0, 2)
        assert collapse_whitespace(text, max_blank) == reference(text, max_blank), (text, max_blank)
