"""HTML -> main text, for documents read from WARC files.

Pure core: ``decode_html`` (bytes -> str the way browsers pick a charset) and
``extract_main_text`` (str -> main text, one block per line). ``ExtractStage`` wraps them.

The default extractor ("blocks") is built for speed: the DOM walk and text rendering are
done by resiliparse in C (``extract_plain_text`` with ``minimal_html`` output, which keeps
block boundaries, headings and link markup), boilerplate containers are skipped by CSS
selector in C, and Python only sees the rendered lines: each line is scored by its non-link
text, punctuation and link density, and the best-scoring contiguous run of lines (maximum
subarray, after Pasternack & Roth 2009) is the main content.
"""

from __future__ import annotations

import codecs
import dataclasses
import html as htmllib
import re
from collections.abc import Callable
from typing import ClassVar

import pyarrow as pa
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import detect_encoding
from resiliparse.parse.html import HTMLTree

from stages.base import Doc, Drop, Params, Stage

# ---------------------------------------------------------------------------------------
# Decoding

_HEADER_CHARSET = re.compile(rb"charset\s*=\s*[\"']?\s*([A-Za-z0-9._:\-]+)", re.IGNORECASE)
_META_CHARSET = re.compile(rb"<meta[^>]*?charset\s*=\s*[\"']?\s*([A-Za-z0-9._:\-]+)", re.IGNORECASE)
# Labels browsers decode as a superset encoding (WHATWG Encoding Standard).
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "gb18030": "gb18030",
    "latin-1": "cp1252",
    "iso8859-1": "cp1252",
    "ascii": "cp1252",
    "big5": "big5hkscs",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "iso8859-9": "cp1254",
    "tis-620": "cp874",
    "iso8859-11": "cp874",
}
_META_SCAN = 4096


def _python_codec(label: str | bytes | None) -> str | None:
    """A Python codec name for a charset label, with browser superset mapping; None if unknown."""
    if not label:
        return None
    if isinstance(label, bytes):
        label = label.decode("ascii", "ignore")
    label = label.strip().strip("\"'").lower()
    if label in ("x-gbk", "gb_2312-80", "gb_2312", "csgb2312", "x-gb2312"):
        label = "gbk"
    if label in ("x-sjis", "ms_kanji", "windows-31j"):
        label = "shift_jis"
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    if name in ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"):
        # A declared UTF-16 without a BOM is decoded as UTF-8 by browsers (WHATWG "get an encoding").
        return "utf-8"
    return _SUPERSETS.get(name, name)


def _decode(body: bytes, codec: str) -> tuple[str, int]:
    """Decode, returning (text, number of undecodable sequences). A multi-byte character cut
    off by a truncated record at the very end does not count as an error."""
    try:
        return body.decode(codec), 0
    except UnicodeDecodeError as err:
        if err.start >= len(body) - 4 and "end of data" in err.reason:
            try:
                return body[: err.start].decode(codec), 0
            except UnicodeDecodeError:
                pass
    except LookupError:
        return "", len(body) + 1
    text = body.decode(codec, errors="replace")
    return text, text.count("\ufffd")


def decode_html(body: bytes, content_type: str | None) -> str:
    """Decode an HTTP body to str: byte order mark, then the HTTP charset, then a
    ``<meta charset>``/``http-equiv`` in the first few KB, then detection. Each candidate
    must decode cleanly; otherwise the one with fewest errors wins. Never raises."""
    if not body:
        return ""
    for bom, codec in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                       (codecs.BOM_UTF16_BE, "utf-16")):
        if body.startswith(bom):
            return _decode(body, codec)[0]
    candidates: list[str] = []
    if content_type:
        m = _HEADER_CHARSET.search(content_type.encode("latin-1", "ignore"))
        if m:
            candidates.append(_python_codec(m.group(1)) or "")
    m = _META_CHARSET.search(body, 0, _META_SCAN)
    if m:
        candidates.append(_python_codec(m.group(1)) or "")
    candidates.append("utf-8")
    candidates.append(_python_codec(detect_encoding(body)) or "cp1252")
    best: tuple[int, str] | None = None
    tried: set[str] = set()
    for codec in candidates:
        if not codec or codec in tried:
            continue
        tried.add(codec)
        text, errors = _decode(body, codec)
        if errors == 0:
            return text
        if best is None or errors < best[0]:
            best = (errors, text)
    return best[1] if best else body.decode("cp1252", errors="replace")


# ---------------------------------------------------------------------------------------
# Extraction

# Containers that are boilerplate by their tag or ARIA role; skipped inside resiliparse's C
# renderer so Python never sees them. Class/id substrings are kept to names that are
# navigation or page furniture on practically every site; comment sections are NOT skipped
# because on forums and Q&A pages the replies are the main content.
SKIP_SELECTORS: tuple[str, ...] = (
    "nav", "aside", "footer", "select", "button", "textarea", "iframe", "svg", "canvas",
    "[role=navigation]", "[role=banner]", "[role=contentinfo]", "[role=complementary]",
    "[aria-hidden=true]", "[hidden]",
    "[class*=breadcrumb]", "[id*=breadcrumb]", "[class*=sidebar]", "[id*=sidebar]",
    "[class*=footer]", "[id*=footer]", "[class*=copyright]", "[id*=copyright]",
    "[class*=navbar]", "[id*=navbar]", "[class*=topbar]", "[class*=share]",
)

_TAG = re.compile(r"<[^>]*>")
_LINK = re.compile(r"<a\b[^>]*>(.*?)</a>", re.DOTALL)
_HEADING = re.compile(r"^\s*<h[1-6]>")
_SPACE = re.compile(r"\s+")
# Sentence punctuation, full- and half-width: a line of prose carries it, a menu does not.
_PUNCT = re.compile(r"[，。！？；：、,.!?;:「」“”（）]")
_CJK_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


@dataclasses.dataclass(slots=True)
class _Line:
    text: str
    chars: float  # length in CJK-character units: CJK characters + other non-space characters / 3
    link_chars: int
    punct: int
    heading: bool
    score: float = 0.0


_SKIP = ", ".join(SKIP_SELECTORS)
# A matched container is spared when it holds this much prose: unclosed tags on real pages
# put whole articles inside a "breadcrumb" or "footer" div.
_SPARE_CHARS, _SPARE_PUNCT = 400, 15


def _drop_boilerplate(tree: HTMLTree) -> None:
    body = tree.body
    if body is None:
        return
    for node in body.query_selector_all(_SKIP):
        text = node.text_content or ""
        if len(text) >= _SPARE_CHARS and len(_PUNCT.findall(text)) >= _SPARE_PUNCT:
            continue
        node.decompose()


def _units(text: str) -> float:
    """Text length in CJK-character units: an ideograph carries about as much content as
    three letters, so Chinese and Latin-script lines are scored on the same scale."""
    nonspace = len(text) - text.count(" ") - text.count("\t")
    cjk = len(_CJK_CHAR.findall(text))
    return cjk + (nonspace - cjk) / 3.0


def _render_lines(html: str) -> list[_Line]:
    tree = HTMLTree.parse(html)
    if tree.body is None:
        return []
    _drop_boilerplate(tree)
    rendered = extract_plain_text(
        tree, preserve_formatting="minimal_html", links=True, alt_texts=False, list_bullets=False
    )
    lines = []
    for raw in rendered.split("\n"):
        if "<" in raw:
            text = htmllib.unescape(_TAG.sub("", raw))
            link_text = "".join(_LINK.findall(raw))
            link_chars = _units(_TAG.sub("", link_text)) if link_text else 0
        else:
            text = htmllib.unescape(raw)
            link_chars = 0
        text = text.strip()
        if not text:
            continue
        chars = _units(text)
        lines.append(_Line(text, chars, min(link_chars, chars), len(_PUNCT.findall(text)),
                           bool(_HEADING.match(raw))))
    return lines


def _score(line: _Line) -> float:
    """Positive for prose-like lines, negative for menus, bylines and link lists."""
    # Weights chosen on the annotated zh pages by a coarse grid (offset 5-25, punctuation
    # 2-8, link 1-2); neighbouring values lose at most 0.02 F1.
    own = line.chars - line.link_chars
    return own + 2.0 * line.punct - 2.0 * line.link_chars - 15.0


def _best_run(scores: list[float]) -> tuple[int, int]:
    """Maximum-sum contiguous subarray [start, end)."""
    best, best_start, best_end = float("-inf"), 0, 0
    cur, cur_start = 0.0, 0
    for i, s in enumerate(scores):
        if cur <= 0:
            cur, cur_start = s, i
        else:
            cur += s
        if cur > best:
            best, best_start, best_end = cur, cur_start, i + 1
    return best_start, best_end


def extract_blocks(html: str) -> str:
    lines = _render_lines(html)
    if not lines:
        return ""
    scores = [_score(line) for line in lines]
    start, end = _best_run(scores)
    # A heading directly above the run is its title.
    if start > 0 and lines[start - 1].heading:
        start -= 1
    kept = [ln.text for ln in lines[start:end] if not (ln.link_chars > 0.5 * ln.chars and ln.punct == 0)]
    return "\n".join(kept)


def extract_trafilatura(html: str) -> str:
    import trafilatura

    return trafilatura.extract(html, include_comments=True, include_tables=True) or ""


def extract_resiliparse(html: str) -> str:
    tree = HTMLTree.parse(html)
    return extract_plain_text(tree, preserve_formatting=True, main_content=True, list_bullets=False)


EXTRACTORS: dict[str, Callable[[str], str]] = {
    "blocks": extract_blocks,
    "trafilatura": extract_trafilatura,
    "resiliparse": extract_resiliparse,
}


def extract_main_text(html: str, extractor: str = "blocks") -> str:
    return EXTRACTORS[extractor](html)


# ---------------------------------------------------------------------------------------
# Stage


@dataclasses.dataclass
class ExtractParams(Params):
    # "blocks" (default, this module's line scorer), "trafilatura" or "resiliparse".
    extractor: str = "blocks"
    # Documents whose extracted text has fewer non-space characters are dropped as empty_text.
    min_chars: int = 1


class ExtractStage(Stage):
    """WARC HTML body -> ``text``. Expects ``html`` (bytes, already de-chunked and
    content-decoded) and ``content_type`` (HTTP header or None); removes both."""

    name = "extract"
    Params = ExtractParams
    columns: ClassVar[dict[str, pa.DataType]] = {}
    reasons = ("empty_text", "not_html")

    def __init__(self, params: ExtractParams | None = None):
        super().__init__(params)
        if self.params.extractor not in EXTRACTORS:
            raise ValueError(
                f"extract.extractor must be one of {sorted(EXTRACTORS)}, got {self.params.extractor!r}"
            )
        self._extract = EXTRACTORS[self.params.extractor]

    def process(self, doc: Doc) -> Doc | Drop:
        body = doc.pop("html", None)
        content_type = doc.pop("content_type", None)
        if body is None:
            # Already text (e.g. a WET record passed through): nothing to extract.
            if isinstance(doc.get("text"), str):
                return doc
            return Drop("not_html", "no html body")
        if isinstance(body, str):
            html = body
        else:
            html = decode_html(bytes(body), content_type)
        text = self._extract(html) if html.strip() else ""
        chars = len(text) - sum(text.count(c) for c in " \n\t")
        if chars < max(self.params.min_chars, 1):
            return Drop("empty_text", f"{chars} characters extracted")
        doc["text"] = text
        return doc
