"""Tests for stages.extract: charset decoding, main-text extraction quality, drop reasons."""

from __future__ import annotations

import re
import statistics

import pytest
from conftest import SHARED_DATA as DATA  # noqa: E402
from resiliparse.extract.html2text import extract_plain_text

from benchmarks.extract_quality import load_pages, prf
from stages import load_step_class
from stages.base import Drop
from stages.extract import (
    EXTRACTORS,
    ExtractParams,
    ExtractStage,
    decode_html,
    extract_main_text,
)

CHATNOIR_WARC = DATA / "warc" / "chatnoir-eu__chatnoir-resiliparse" / "warcfile.warc.gz"
CJK = re.compile(r"[\u4e00-\u9fff]")
CYRILLIC = re.compile(r"[\u0400-\u04ff]")


# ------------------------------------------------------------------ decode_html (synthetic)


def test_http_charset_wins_over_meta():
    body = '<meta charset="utf-8"><p>Привет</p>'.encode("cp1251")
    assert "Привет" in decode_html(body, "text/html; charset=windows-1251")


def test_meta_charset_used_without_header():
    body = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=gb2312">'
        "</head><body>中文网页</body></html>"
    )
    assert "中文网页" in decode_html(body.encode("gb2312"), "text/html")


def test_gb2312_label_decodes_as_gb18030():
    # 镕 is in GBK/GB18030 but not GB2312; pages labelled gb2312 use it and browsers cope.
    body = '<meta charset="gb2312"><p>朱镕基</p>'.encode("gbk")
    assert "朱镕基" in decode_html(body, None)


def test_latin1_label_decodes_as_cp1252():
    body = b'<meta charset="iso-8859-1"><p>\x93quoted\x94 caf\xe9</p>'
    assert "\u201cquoted\u201d café" in decode_html(body, None)


def test_detection_without_any_label():
    text = "这是一个没有声明编码的中文网页，浏览器需要自己猜测它的编码方式。" * 5
    assert text in decode_html(f"<p>{text}</p>".encode("gb18030"), None)


def test_wrong_header_falls_back():
    text = "标签说是 UTF-8，其实是 GBK 编码的网页内容。" * 5
    decoded = decode_html(text.encode("gbk"), "text/html; charset=utf-8")
    assert text in decoded and "\ufffd" not in decoded


def test_truncated_multibyte_tail_is_not_an_error():
    body = "<p>截断的记录</p>".encode() + "中".encode()[:2]
    decoded = decode_html(body, "text/html; charset=utf-8")
    assert decoded == "<p>截断的记录</p>"


@pytest.mark.parametrize(
    "body,ctype",
    [
        (b"", None),
        (b"\xff\xfe\x00", None),
        (bytes(range(256)) * 4, "text/html; charset=no-such-codec"),
        (b"<meta charset='x-user-defined'>\x80\x81", None),
        (b"\xef\xbb\xbf<p>bom</p>", "charset=latin1"),
    ],
)
def test_never_raises(body, ctype):
    assert isinstance(decode_html(body, ctype), str)


# ------------------------------------------------------------------ decode_html (real pages)


def _chatnoir_bodies() -> list[tuple[bytes, str | None]]:
    from warcio.archiveiterator import ArchiveIterator

    out = []
    with open(CHATNOIR_WARC, "rb") as fh:
        for rec in ArchiveIterator(fh):
            if rec.rec_type == "response" and rec.http_headers is not None:
                out.append((rec.content_stream().read(), rec.http_headers.get_header("Content-Type")))
    return out


def _declared(body: bytes, ctype: str | None) -> str:
    m = re.search(
        rb"charset\s*=\s*[\"']?([\w-]+)", (ctype or "").encode() + b" " + body[:4096], re.IGNORECASE
    )
    return m.group(1).decode().lower() if m else ""


def _share(pattern: re.Pattern, text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return len(pattern.findall(text)) / max(len(letters), 1)


def test_real_gb_pages_decode_cleanly():
    pages = [(b, c) for b, c in _chatnoir_bodies() if _declared(b, c) in ("gb2312", "gbk")]
    assert len(pages) >= 5  # the file has gb2312 pages by header and gbk/gb2312 pages by <meta> only
    chinese = 0
    for body, ctype in pages:
        html = decode_html(body, ctype)
        assert "\ufffd" not in html
        # Control: the same bytes read as UTF-8 are garbage, so a clean decode means something.
        assert body.decode("utf-8", errors="replace").count("\ufffd") > 100
        if sum(b > 127 for b in body) < 1000:
            continue  # one page labelled gb2312 is an English-language page
        chinese += 1
        assert _share(CJK, extract_plain_text(html)) > 0.6, "decoded page is not mostly Chinese"
    assert chinese >= 5


def test_real_cp1251_page_decodes_cleanly():
    pages = [(b, c) for b, c in _chatnoir_bodies() if _declared(b, c) == "windows-1251"]
    assert pages
    for body, ctype in pages:
        html = decode_html(body, ctype)
        assert "\ufffd" not in html
        assert _share(CYRILLIC, extract_plain_text(html)) > 0.9


# ------------------------------------------------------------------ extraction


def test_structure_entities_and_scripts():
    html = """<html><head><style>.x{color:red}</style><script>var spam = 1;</script></head><body>
    <nav><a href="/">首页</a> <a href="/a">新闻</a> <a href="/b">体育</a></nav>
    <div class="article"><h1>标题 &amp; 副标题</h1>
    <p>第一段正文，讲述了一个很长的故事，其中包含逗号、句号。还有更多的内容在这里，足够长。</p>
    <script>document.write("脚本里的文字不应出现");</script>
    <p>第二段正文&nbsp;&lt;继续&gt;讲述，内容同样很长，而且有标点符号，读者可以看到。</p></div>
    <footer>版权所有 &copy; 2024 某某网站 京ICP备12345678号</footer></body></html>"""
    text = extract_main_text(html)
    lines = text.split("\n")
    assert any(line.startswith("第一段正文") for line in lines)
    assert any(line.startswith("第二段正文") for line in lines)
    assert "<继续>" in text and "&" not in text.replace("标题 & 副标题", "")
    assert "脚本" not in text and "spam" not in text and "color" not in text
    assert "首页" not in text and "ICP" not in text


@pytest.mark.parametrize("name", sorted(EXTRACTORS))
def test_every_extractor_returns_text(name):
    html = "<html><body><p>" + "这是正文内容，有足够的长度。" * 10 + "</p></body></html>"
    assert "这是正文内容" in extract_main_text(html, name)


def _mean_f1(name: str) -> float:
    scores = [prf(extract_main_text(decode_html(html, None), name), ref)[2] for _, html, ref in load_pages()]
    assert len(scores) == 54
    return statistics.mean(scores)


def test_main_text_f1_on_annotated_chinese_pages(capsys):
    f1 = _mean_f1("blocks")
    with capsys.disabled():
        print(f"\nextract: mean main-text F1 on 54 zh pages = {f1:.3f}")
    assert f1 >= 0.85


def test_beats_resiliparse_main_content():
    assert _mean_f1("blocks") > _mean_f1("resiliparse") + 0.1


# ------------------------------------------------------------------ the stage


def _doc(html: bytes | None, ctype: str | None = "text/html") -> dict:
    doc = {"id": "x", "url": "http://example.com/", "date": "2024", "source": "warc"}
    if html is not None:
        doc["html"] = html
        doc["content_type"] = ctype
    return doc


def test_stage_registered_and_sets_text():
    cls = load_step_class("extract")
    assert cls is ExtractStage
    stage = cls()
    stage.setup()
    body = ("<html><body><p>" + "中文正文，内容很长。" * 10 + "</p></body></html>").encode("gbk")
    out = stage.process(_doc(body, "text/html; charset=GBK"))
    assert not isinstance(out, Drop)
    assert out["text"].startswith("中文正文")
    assert "html" not in out and "content_type" not in out
    assert out["id"] == "x" and out["source"] == "warc"


@pytest.mark.parametrize(
    "html",
    [
        b"",
        b"<html><head><title>t</title></head><body></body></html>",
        b"<html><body><script>only();</script><style>p{}</style></body></html>",
    ],
)
def test_stage_drops_empty_text(html):
    out = ExtractStage().process(_doc(html))
    assert isinstance(out, Drop) and out.reason == "empty_text"
    assert out.reason in ExtractStage.reasons


def test_stage_min_chars():
    doc = _doc(b"<html><body><p>short text</p></body></html>")
    assert isinstance(ExtractStage(ExtractParams(min_chars=50)).process(dict(doc)), Drop)
    assert ExtractStage(ExtractParams(min_chars=5)).process(dict(doc))["text"] == "short text"


def test_stage_without_html_body():
    out = ExtractStage().process(_doc(None))
    assert isinstance(out, Drop) and out.reason == "not_html" and out.reason in ExtractStage.reasons


@pytest.mark.parametrize("ctype", ["image/png", "application/pdf", "application/json"])
def test_stage_drops_non_html_content_type(ctype):
    out = ExtractStage().process(_doc(b"<html><body><p>text</p></body></html>", ctype))
    assert isinstance(out, Drop) and out.reason == "not_html"


def test_stage_on_every_html_response_of_real_warcs():
    from warcio.archiveiterator import ArchiveIterator

    stage = ExtractStage()
    kept = 0
    for name in ("chatnoir-eu__chatnoir-resiliparse/warcfile.warc.gz", "allenai__dolma/sample-0000.warc.gz"):
        with open(DATA / "warc" / name, "rb") as fh:
            for rec in ArchiveIterator(fh):
                ctype = rec.http_headers.get_header("Content-Type") if rec.http_headers else None
                if rec.rec_type != "response" or "html" not in (ctype or ""):
                    continue
                out = stage.process(_doc(rec.content_stream().read(), ctype))
                if isinstance(out, Drop):
                    assert out.reason in ExtractStage.reasons
                    continue
                kept += 1
                text = out["text"]
                assert text.strip() and "\ufffd" not in text
                assert "<script" not in text and "</" not in text and "&amp;" not in text
    assert kept >= 30


def test_stage_rejects_unknown_extractor():
    with pytest.raises(ValueError, match="extractor"):
        ExtractStage(ExtractParams(extractor="nope"))


def test_stage_alternative_extractor():
    body = (
        "<html><body><article><p>"
        + "Some English article text, long enough. " * 10
        + "</p></article></body></html>"
    ).encode()
    out = ExtractStage(ExtractParams(extractor="resiliparse")).process(_doc(body))
    assert "Some English article text" in out["text"]
