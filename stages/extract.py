"""HTML -> main text, for documents read from WARC files.

Pure core: ``decode_html`` (bytes -> str the way browsers pick a charset), ``html_hazard``
(pages that would make a parser do superlinear work) and ``extract_main_text`` (str -> main
text, one block per line). ``ExtractStage`` wraps them.

The default extractor ("blocks") is built for speed: the DOM walk and text rendering are done by
resiliparse in C (``extract_plain_text`` with ``minimal_html`` output, which keeps block
boundaries, headings and link markup), furniture elements (nav, aside, footer, cookie-consent
dialogs ...) are skipped by CSS selector in C, and Python only sees the rendered lines. Each
line is scored on its own (text, punctuation, link text, legal notices; short lines repeated
down the page are per-item furniture such as Reply/Like/author-date lines), and the page's
content regions are the runs of lines that maximise the total score minus a cost per region (a
two-state Viterbi; with a single region this is the maximum-sum run of Pasternack & Roth 2009).
The main region is the one after the page's <title> line when there is one (and an article there
wins over a heavier list of dated records: its comments); further regions are kept when they are
large and close to it or to the title line above it (the other posts of a thread, an article cut
by an inline related-links box, a lead cut from its body by ads, however light beside it). Lists
of records beside an article (author/date lines, Reply links: its comments) are dropped unless the
caller asks for comments (a first post under the same per-post lines as its replies is no article:
the thread stays); a region that runs from an article into its comments is split where the
records start, and without comments an article ends at a comment section's heading ("Comments
(4)", "Leave a Reply", "No comments yet"). Teasers below an article (linked headlines, each with its summary)
are not a further region, a related-stories heading ("You may also like", "相关阅读") ends the text
when a feed of other stories follows it (without comments), and a region ends at a link line or
a capitalised label after its last long paragraph when what follows weighs little (a promotions
box), and at a comment form's heading when only the form follows ("Leave a Reply" and its rules,
with or without comments). A table right below a region (three rows at least) belongs to it;
a region that runs across the title line starts at it when what lies above it there is light
(a blog's about box right above the post).
Per-item lines are recognised with their links left out ("Posted by: <name> | Report").
Where the page marks its article (schema.org's articleBody, its only <article> or <main>) and
most of the chosen text lies in it, the text ends where that container ends and regions wholly
above it go (related stories and teasers around an article), and where the title line is in it
nothing above it stays; where the title line is in that container and the chosen text is mostly
outside it, the regions are chosen within it. A Python walk over the DOM would be 3-4x slower
than all of this together.
"""

from __future__ import annotations

import bisect
import codecs
import dataclasses
import functools
import html as htmllib
import itertools
import operator
import re
from collections import Counter
from collections.abc import Callable
from typing import ClassVar

import pyarrow as pa
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import detect_encoding
from resiliparse.parse.html import DOMNode, HTMLTree

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
_WESTERN_SINGLE_BYTE = ("cp1252", "iso8859-15")


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


def _decode_clean(body: bytes, codec: str) -> str | None:
    """The body decoded without an error, else None. A multi-byte character cut off by a
    truncated record at the very end is no error (it is left out)."""
    try:
        return body.decode(codec)
    except UnicodeDecodeError as err:
        if err.start >= len(body) - 4 and "end of data" in err.reason:
            try:
                return body[: err.start].decode(codec)
            except UnicodeDecodeError:
                pass
    return None


def _decode(body: bytes, codec: str) -> tuple[str, int]:
    """Decode, returning (text, number of undecodable sequences); see ``_decode_clean``."""
    try:
        text = _decode_clean(body, codec)
    except LookupError:
        return "", len(body) + 1
    if text is not None:
        return text, 0
    text = body.decode(codec, errors="replace")
    return text, text.count("\ufffd")


def decode_html(body: bytes, content_type: str | None) -> str:
    """Decode an HTTP body to str: byte order mark, then the HTTP charset, then a
    ``<meta charset>``/``http-equiv`` in the first few KB (UTF-8 first where that label is
    Latin-1/cp1252), then detection. Each candidate must decode cleanly; otherwise the one with
    fewest errors wins. Never raises."""
    if not body:
        return ""
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
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
    if candidates and candidates[0] in _WESTERN_SINGLE_BYTE and not body.isascii():
        # Labelled Western single-byte but valid UTF-8: servers that label every page
        # ISO-8859-1 serve UTF-8 pages too, and cp1252 decodes them without an error ("â€™"
        # for "’"). Real cp1252 text is almost never valid UTF-8 (an accented letter alone is
        # not), so a failed try costs one strict pass and no error count. A record truncated
        # inside a character is still UTF-8.
        text = _decode_clean(body, "utf-8")
        if text is not None:
            return text
    candidates.append("utf-8")
    candidates.append("detect")  # detected from the bytes only when the labels above fail
    best: tuple[int, str] | None = None
    tried: set[str] = set()
    for codec in candidates:
        if codec == "detect":
            codec = _python_codec(detect_encoding(body)) or "cp1252"
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

# Elements that are page furniture by their tag or ARIA role; resiliparse skips them while
# rendering, in C. Form controls, iframes, <object>, <noscript>, <figure> and <svg> it never renders:
# naming them again would only cost time (each selector is matched against every element,
# about 0.2 ms per MB of HTML). Class/id hints for a place on the page ("sidebar", "footer",
# "comment", "share", "related") are deliberately not used: unclosed tags on real pages put
# whole articles inside a "breadcrumb" or "footer" div, layouts name wrappers "has-sidebar",
# and on forums and Q&A pages the comment section is the main content; on the annotated pages
# such hints lowered F1. Only words naming a kind of box that is never content are used
# (consent dialogs, newsletter sign-ups, author bios).


def _box_class(word: str) -> str:
    """A selector for elements whose class holds ``word``, except posts and comments, whose
    classes carry names that are not theirs to choose: WordPress writes a post's categories and
    tags ("category-newsletter", "tag-..."), a comment's writer ("comment-author-bob" holds
    "author-b"); wpDiscuz writes a comment writer's role ("wc-blog-subscriber")."""
    return (
        f"[class*={word}]:not([class*=category-]):not([class*=tag-])"
        ":not([class*=comment-author-]):not([class*=blog-subscriber])"
    )


# What the page hides (inline display:none, the "hidden" utility class): other variants of a
# widget, collapsed low-scored comments, templates, copies for scripts; also what only wide
# screens show ("hidden md:block": sidebars, recommendations; the main text is shown on a phone
# too). Not a hidden element that holds MathML: MediaWiki hides the MathML that screen readers
# and text tools read and shows an image of the formula.
HIDDEN_SELECTORS: tuple[str, ...] = (
    '[style*="display:none"]:not(:has(math))',
    '[style*="display: none"]:not(:has(math))',
    ".hidden",
)
SKIP_SELECTORS: tuple[str, ...] = (
    "nav",
    "aside",
    "footer",
    "canvas",
    "[role=navigation]",
    "[role=contentinfo]",
    "[role=complementary]",
    "[aria-hidden=true]",
    # Dialogs (a confirmation, an editor's help, a sign-in box) are shown only when asked for.
    "[role=dialog]",
    *HIDDEN_SELECTORS,
    # Cookie-consent dialogs (OneTrust's onetrust-consent-sdk, cookie-consent ...): paragraphs
    # of prose, heavier than a short question. Matched on the id only (a class holding
    # "cookie" also marks widgets that hold content: "cookied" players, recipe cards), and on
    # "consent" only: every substring selector costs about 0.3 ms per MB of HTML.
    "div[id*=onsent]",
    # Newsletter and subscription sign-ups ("Sign up to get the inside scoop ... delivered
    # daily", "By clicking Sign Up you accept ..."), inside an article as often as after it,
    # read like its paragraphs; their class names them (matching ids too moved 3 pages more of
    # 2,500 for two more selectors).
    _box_class("newsletter"),
    _box_class("subscri"),
    # The author's bio box under a post ("author-bio", "author-box": "About Jane. Jane is our
    # senior editor ..."): prose about the writer, not about what the page is about.
    _box_class("author-b"),
)
# For a page on which nothing shows: everything but what is hidden.
_SKIP_KEEPING_HIDDEN = tuple(s for s in SKIP_SELECTORS if s not in HIDDEN_SELECTORS)


@dataclasses.dataclass(frozen=True)
class Weights:
    """Line scores and region choice of the "blocks" extractor, in CJK-character units (an
    ideograph = 1, three Latin letters = 1). Chosen by a coarse coordinate search on the tuning
    halves of the annotated sets (benchmarks/extract_quality.py); neighbouring values move the
    mean F1 by < 0.005."""

    punct: float = 2.0  # bonus per sentence punctuation mark
    link: float = 2.0  # penalty per unit of link text
    offset: float = 5.0  # a text line must carry more than this to count as content
    bare_offset: float = 5.0  # ... plus this when it has no sentence punctuation (headline lists)
    record_offset: float = 4.0  # offset for a text line next to repeated per-item lines (a reply)
    neutral: float = 4.0  # cost of a heading, a code line or a short text line inside a region
    furniture: float = 1.0  # cost of a repeated or metadata line
    item_link: float = 3.0  # most a short link line among repeated lines (an author name) costs
    thread_link: float = 6.0  # a thread goes on through link lines up to this long (author names)
    tail_line: float = 30.0  # a region ends at a section break after its last line scoring this much ...
    tail_share: float = 0.4  # ... when what follows the break scores less than this share of what precedes it
    inline_link: float = 15.0  # most a lone link line between two text lines (a related story) costs
    link_line: float = 5.0  # cost of a line that is mostly link text ...
    link_run: float = 8.0  # ... plus this for each link line right before it (menus, up to 10)
    legal: float = 40.0  # cost of a line carrying a copyright / licence / reprint notice
    switch: float = 20.0  # cost of opening one more content region
    secondary: float = 0.1  # another region must score this share of the main one ...
    gap: float = 1.2  # ... and this share of the negative score separating them
    title_bonus: float = 100.0  # the region that follows the page's title line wins by this much
    title_window: int = 30  # ... when it starts within this many lines of it
    record_ratio: float = 0.3  # repeated/metadata lines per text line that make a region a list of records
    article_min: float = 100.0  # a main region scoring this much is an article: its record lists are comments
    article_share: float = 0.4  # cut to the page's article container when this share of the output is in it
    comment_share: float = 0.4  # an article above a comment heading scores this share of one comment below
    table_rows: int = 3  # a table this many rows long right below a region is part of it
    above_title: float = 0.4  # a region across the title line starts at it if the part above is < this share
    link_mode: float = 0.0  # below this main score, a page of long links (a table of contents) ...
    link_mode_ratio: float = 2.0  # ... is taken as links when they score this many times more
    link_offset: float = 6.0  # offset of a link line scored as content
    short_chars: int = 40  # lines up to this long may be repeated furniture or metadata
    repeats: int = 3  # a short line seen this often on the page is furniture (Reply, Like, Share)
    stamp_units: float = 20.0  # a line this short with a date or a time of day is a per-item line
    meta_digits: float = 0.3  # a short line without punctuation this much digits is metadata (dates, counts)


DEFAULT_WEIGHTS = Weights()

# Kinds of rendered lines.
TEXT, LINKS, HEADING, LEGAL, REPEATED, META, PRE, CODE, ROW = range(9)
_OUTPUT_KINDS = frozenset((TEXT, HEADING, PRE, CODE, ROW))
# A line is (text, kind, units, link units, punctuation marks).
_Line = tuple[str, int, float, float, int]

_LINK_OPEN = re.compile(r"<a\b[^>]*>")
_TAG = re.compile(r"<[^>\n]*>")  # never across a line
_LINK = re.compile("\x01[^\x02\n]*\x02")  # a link and its text (marked), on one line
# Legal boilerplate: copyright, licence numbers (Chinese sites must show their ICP number),
# reprint and disclaimer notices, applied per line. The Latin-script markers are found with
# str.find over the rendered page (far faster than one regex of alternatives: their first
# letters are common); the Chinese ones with one regex (one pass over a page costs less than a
# str.find per marker, most pages holding none of them).
_LEGAL_MARKERS_LATIN = (
    "©",
    "&copy;",
    "opyright",
    "OPYRIGHT",
    "ights reserved",
    "ights Reserved",
    "IGHTS RESERVED",
    "may not be published",
    "may not be republished",
    "written permission",
)
_LEGAL_MARKERS_ZH = (  # either script
    "版权所有",
    "版權所有",
    "ICP备",
    "ICP证",
    "公网安备",
    "禁止转载",
    "请勿转载",
    "不得转载",
    "禁止轉載",
    "請勿轉載",
    "不得轉載",
    "仅提供信息存储",
    "仅代表作者",
    "僅代表作者",
)
_LEGAL_MARKERS = _LEGAL_MARKERS_LATIN + _LEGAL_MARKERS_ZH


def _needles(markers: tuple[str, ...], shared: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Needle -> the markers found through it: markers that contain a shared part are found
    with one scan for that part (the page is scanned once per needle)."""
    out: dict[str, tuple[str, ...]] = {}
    for marker in markers:
        needle = next((part for part in shared if part in marker), marker)
        out[needle] = out.get(needle, ()) + (marker,)
    return out


_LEGAL_NEEDLES = _needles(_LEGAL_MARKERS_LATIN, ("eserved", "ESERVED", "may not be "))
# Markers that count only in context: 未经…授权 ("without authorisation") and a line that
# opens with a …声明： heading (特别声明, 免责声明, 版权声明, 平台声明).
_UNAUTHORISED_START = ("未经", "未經")
_NOTICE_START = ("声明", "聲明")
_UNAUTHORISED = re.compile(f"(?:{'|'.join(_UNAUTHORISED_START)}).{{0,12}}授[权權]")
_NOTICE_HEAD = re.compile(rf"(?:<[^>\n]*>)*\s*\S{{0,4}}(?:{'|'.join(_NOTICE_START)})[:：]")
# The Chinese markers, and where a marker in context starts (checked in place with the two
# above). Every alternative is a plain string: a character class or a group in one takes the
# regex off its fast scan for first characters (7x slower).
_LEGAL_ZH = re.compile(
    "|".join(
        (
            *_LEGAL_MARKERS_ZH,
            *_UNAUTHORISED_START,
            *(word + colon for word in _NOTICE_START for colon in "：:"),
        )
    )
)
# A line this long (in units) whose only marker is the word "copyright" is prose about
# copyright ("Music copyrights are negotiated country by country"), not a notice.
_LEGAL_PROSE = 30
_NOTICE_MARKERS = tuple(m for m in _LEGAL_MARKERS if m != "opyright") + ("Copyright",)


def _mentions_copyright(text: str) -> bool:
    return "copyright" in text and not any(marker in text for marker in _NOTICE_MARKERS)


# Sentence punctuation, full- and half-width: a line of prose carries it, a menu does not.
_PUNCT = re.compile(r"[，。！？；：、,.!?;:「」“”（）]")
_NONZERO_DIGIT = re.compile(r"[1-9]")
# A time of day or a full date: on a short line without a sentence end, the per-item line of a
# comment or a post ("Posted by: dan | Jan 10, 2008 6:02:53 PM", "- Anne, UK, 12/1/2012 11:53").
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?"
_STAMP = re.compile(  # every alternative starts with a digit: the scan skips to digits in C
    r"\d(?::[0-5]\d|\d{3}[-/.]\d{1,2}[-/.]\d{1,2}|\d?[-/.]\d{1,2}[-/.]\d{2,4}|\d{3}年\d{1,2}月\d{1,2}日"
    rf"|\d?(?:st|nd|rd|th)?,? (?:19|20)\d\d|\d?(?:st|nd|rd|th)?\.? {_MONTH},? \d{{4}}"
    r"| (?:minutes?|hours?|days?|weeks?|months?|years?) ago| ?(?:秒|分钟|分鐘|小时|小時|天)前)"
)
_SENTENCE_END = tuple(".!?。！？")
# A line that starts with a dash attributes the quotation above it ("— Jane Doe (@jane) May 11,
# 2024" under an embedded post): the article's, not a per-item date line of a list of records.
_ATTRIBUTION = ("\u2014", "\u2013")
# The heading of a comment section or form under an article ("Comments (4)", "Post a Comment",
# "Leave a Reply", "Join the discussion", "发表评论"): a whole short line. Under an article
# nothing after it is the article (the comments, the form and its rules, then the sidebars).
_COMMENT_WORDS_ZH = ("评论", "評論", "留言")  # a comment section's own words (not "讨论")
_DISCUSSION_WORDS_ZH = ("讨论", "討論")
_ZH_COMMENT = f"(?:{'|'.join(_COMMENT_WORDS_ZH)})"
_ZH_DISCUSSION = f"(?:{'|'.join(_DISCUSSION_WORDS_ZH)})"
# A comment form's heading ("Leave a Reply", "Post a comment"): a comment-section heading
# (below), and with "发表评论" the line a region ends at when only the form follows (_FORM_HEAD).
_FORM_WORDS = r"(?:leave|post|write|add|submit) (?:a |your )?(?:reply|response|comment)\b[^\n]{0,40}"
_FORM_VERBS_ZH = "发表|發表|我要"  # "发表评论", "我要留言": a form's heading
_COMMENT_HEAD = re.compile(
    r"[^\w\n]{0,3}(?:\d+\s+)?(?:(?:(?:reader|user|visitor|your|post|add|leave|write|submit|view|show|read|see"
    r"|all|latest|recent|top|\d+)s?'?\s+(?:(?:a|an|the|your|all|new)\s+)?)+comments?|comments|comment\(s\))"
    r"(?:\s*[(\[]?\s*\d*\s*[)\]]?)?[^\w\n]{0,3}"
    rf"|[^\w\n]{{0,3}}(?:{_FORM_WORDS})"
    r"|[^\w\n]{0,3}\d+ (?:responses?|replies|comment\(s\))[^\w\n]{0,3}"
    r"|[^\w\n]{0,3}(?:join|start) the (?:discussion|conversation)\b[^\n]{0,20}"
    r"|[^\w\n]{0,3}have your say\b[^\n]{0,20}"
    r"|[^\w\n]{0,3}share your (?:opinion|thoughts|views|comments?)\b[^\n]{0,30}"
    # The state of a comment section: none yet, closed, moderated.
    r"|[^\w\n]{0,3}(?:there are )?no comments\b[^\n]{0,40}"
    r"|[^\w\n]{0,3}be the first to comment\b[^\n]{0,30}"
    r"|[^\w\n]{0,3}this (?:article|story|entry|post) (?:does not have|has no) (?:any )?comments\b[^\n]{0,30}"
    r"|[^\w\n]{0,3}(?:comments?|commenting) (?:are|is|has been|have been) (?:now )?(?:closed|disabled|turned off)"
    r"\b[^\n]{0,40}"
    r"|[^\w\n]{0,3}(?:submitted )?comments (?:are|will be) (?:subject to|moderated|reviewed)\b[^\n]{0,50}"
    # Chinese, simplified and traditional: a named comment section ("评论", "評論", "留言": the
    # readers' messages), or one with its count; a bare "评论" is often a button or the label
    # between a question and its answers, which are the content. The state of the section
    # ("目前没有评论", "暂无评论"), and a discussion section ("新聞討論", "参与讨论").
    rf"|(?:(?:{_FORM_VERBS_ZH}|网友|網友|最新|热门|熱門|全部|查看|相关|相關){_ZH_COMMENT}(?:区|區|列表|板)?"
    rf"|{_ZH_COMMENT}(?:区|區|列表|板))\s*[(（]?\d*[)）]?\s*"
    rf"|{_ZH_COMMENT}\s*[(（]?\d+[)）]?\s*"
    rf"|(?:目前|暂时|暫時|还|還|尚)?(?:没有|沒有|暂无|暫無|无|無)(?:任何)?(?:网友|網友)?{_ZH_COMMENT}[^\n]{{0,20}}"
    rf"|(?:参与|參與|我要|新闻|新聞|网友|網友){_ZH_DISCUSSION}(?:区|區)?\s*",
    re.IGNORECASE,
)
_FORM_HEAD = re.compile(
    rf"[^\w\n]{{0,3}}(?:{_FORM_WORDS}|(?:{_FORM_VERBS_ZH}){_ZH_COMMENT}\s*)", re.IGNORECASE
)
_TEXT_OF = operator.itemgetter(0)
# Each heading above holds one of these; lines are looked at only where one is.
_COMMENT_NEEDLES = (
    "omment",
    "OMMENT",
    "epl",
    "EPL",
    "espon",
    "ESPON",
    "iscussion",
    "ISCUSSION",
    "onversation",
    "ONVERSATION",
    "our say",
    "OUR SAY",
    *_COMMENT_WORDS_ZH,
    *_DISCUSSION_WORDS_ZH,
)
_COMMENT_HEAD_CHARS = 70
# A Chinese news page's label lines ("责任编辑：张毅", "来源：新华社", "字号：大 中 小", "分享到："):
# the page's furniture around an article, not its text (annotators leave them out: 64 of 66 such
# lines on the tuning halves). Kept in the scores (they sit inside the article's region), left
# out of the text. Not "作者：" or "记者：": a poem's author line, an interviewer's question.
_ZH_LABEL = re.compile(
    r"[\[(（【]?\s*(?:责任编辑|責任編輯|编辑|編輯|来源|來源|稿源|字号|字號|分享到|发布于|發佈於"
    r"|原标题|原標題|审核|審核|校对|校對|通讯员|通訊員|摄影|攝影)\s*[:：]"
)
_ZH_LABEL_CHARS = 30


def _zh_label(text: str) -> bool:
    """Whether a line is one of those label lines."""
    return len(text) <= _ZH_LABEL_CHARS and _ZH_LABEL.match(text) is not None


_DIGIT = re.compile(r"[0-9]")
_WORD = re.compile(r"[^\W\d_]{2}")  # two letters (or ideographs) in a row


def _units(text: str) -> float:
    """Length without blanks (space, tab, no-break and ideographic space) in CJK-character
    units: an ideograph carries about as much content as three letters, so Chinese and
    Latin-script lines are scored on one scale. CJK characters are found by their UTF-8 length
    (3 bytes, 2 extra) to stay in C; a 2-byte letter (Cyrillic, Greek, accented Latin) counts
    as half an ideograph."""
    if text.isascii():
        return (len(text) - text.count(" ") - text.count("\t")) / 3.0
    nbsp, ideographic = text.count("\xa0"), text.count("\u3000")
    nonblank = len(text) - text.count(" ") - text.count("\t") - nbsp - ideographic
    wide = (len(text.encode("utf-8", "surrogatepass")) - len(text) - nbsp - 2 * ideographic) / 2.0
    return wide + (nonblank - wide) / 3.0


def _render(html: str) -> tuple[str, str]:
    """(rendered page, <title>). The render keeps one block per line plus <a>/<h1-6>/<p>/<pre>
    markup, so link text and headings are read off the lines without walking the DOM in Python."""
    if ARTICLE_OPEN in html or ARTICLE_CLOSE in html:  # never a page's text: room for the marks
        html = html.replace(ARTICLE_OPEN, "").replace(ARTICLE_CLOSE, "")
    tree = HTMLTree.parse(html)
    if tree.body is None:
        return "", ""
    article = _mark_article(tree)
    rendered = _render_tree(tree, SKIP_SELECTORS)
    if article is not None and _article_shows_nothing(rendered) and _show_noscript(article):
        # The page's article shows nothing, and holds a <noscript>: the text is put in place
        # by a script (a template), and the <noscript> copy is for readers without one.
        rendered = _render_tree(tree, SKIP_SELECTORS)
    if not rendered.strip():
        # Nothing shows. The page may be hidden until a script shows it (a display:none
        # wrapper), or an element left open inside a <noscript> took the rest of the page into
        # it (the parser runs with scripting off; the renderer never shows <noscript>): render
        # it again with what the <noscript> elements hold and with what is hidden.
        _show_noscript(tree.body)
        rendered = _render_tree(tree, _SKIP_KEEPING_HIDDEN)
    return rendered, tree.title or ""


# A selector for one exact attribute value ("[role=navigation]"). The renderer matches each
# skip selector against every element; lexbor's attribute search finds whether any element has
# the value several times faster (about 5 ms against 20 ms over the WARC benchmark's 55 MB), and
# most pages have none of them, so such a selector is passed only to pages that have a match.
_EXACT_ATTRIBUTE = re.compile(r"\[([a-z-]+)=([a-z]+)\]")


@functools.cache
def _exact_attribute(selector: str) -> tuple[str, str] | None:
    """(name, value) of a selector for one exact attribute value, else None."""
    exact = _EXACT_ATTRIBUTE.fullmatch(selector)
    return (exact[1], exact[2]) if exact else None


def _render_tree(tree: HTMLTree, skip: tuple[str, ...]) -> str:
    body = tree.body
    return extract_plain_text(
        tree,
        preserve_formatting="minimal_html",
        links=True,
        alt_texts=False,
        list_bullets=False,
        skip_elements=[
            selector
            for selector in skip
            if (exact := _exact_attribute(selector)) is None or body.get_elements_by_attr(*exact)
        ],
    )


# The page's own mark of its article, where it gives one: the schema.org article body, else the
# page's only <article>, else its only <main>. A mark found more than once (a list of posts, each
# an <article>) is no mark. Each is looked for with lexbor's attribute and tag searches (together
# about 0.2 ms per MB of HTML; a CSS query for all three walks the tree at about 2 ms per MB, a
# regular expression over the source for the tags at 0.7).
_ARTICLE_TAGS = ("article", "main")
# Put around the marked container's text: Unicode noncharacters (a page's own are dropped).
ARTICLE_OPEN, ARTICLE_CLOSE = "\ufdd0", "\ufdd1"


def _article_node(tree: HTMLTree) -> DOMNode | None:
    body = tree.body
    found = body.get_elements_by_attr("itemprop", "articleBody")
    if len(found) == 1:
        return found[0]
    for tag in _ARTICLE_TAGS:
        found = body.get_elements_by_tag_name(tag)
        if len(found) == 1:
            return found[0]
    return None


def _mark_article(tree: HTMLTree) -> DOMNode | None:
    """Put ARTICLE_OPEN/ARTICLE_CLOSE text first and last in the page's article container (the
    render keeps them in place, so its lines are known without walking the tree); the
    container, if the page has one."""
    node = _article_node(tree)
    if node is not None:
        node.insert_before(tree.create_text_node(ARTICLE_OPEN), node.first_child)
        node.append_child(tree.create_text_node(ARTICLE_CLOSE))
    return node


def _article_shows_nothing(rendered: str) -> bool:
    """Whether the marked article container rendered no text, only markup and blanks (a
    stretch of 1,000 characters or more is taken to show text without being looked at)."""
    start = rendered.find(ARTICLE_OPEN)
    end = rendered.find(ARTICLE_CLOSE, start)
    return 0 <= start < end and end - start < 1000 and not _TAG.sub("", rendered[start + 1 : end]).strip()


def _show_noscript(node: DOMNode) -> bool:
    """Move what the <noscript> elements in ``node`` hold out of them, to where they stand (the
    parser runs with scripting off, so it is markup, which the renderer shows once outside a
    <noscript>); whether there was any."""
    moved = False
    for noscript in list(node.get_elements_by_tag_name("noscript")):
        parent = noscript.parent
        for child in list(noscript.child_nodes):
            parent.insert_before(child, noscript)
            moved = True
    return moved


def _legal_offsets(rendered: str) -> list[int]:
    """Offsets in the rendered page where a legal marker starts. Markers that share a needle
    are found with one scan for the needle, then checked in place."""
    offsets = []
    for needle, markers in _LEGAL_NEEDLES.items():
        pos = rendered.find(needle)
        while pos >= 0:
            for marker in markers:
                start = pos - marker.index(needle)
                if rendered.startswith(marker, start):
                    offsets.append(start)
                    break
            pos = rendered.find(needle, pos + 1)
    for found in _LEGAL_ZH.finditer(rendered):
        pos = found.start()
        if found.group() in _UNAUTHORISED_START:
            if not _UNAUTHORISED.match(rendered, pos):
                continue
        elif found.group()[:2] in _NOTICE_START:
            line_start = rendered.rfind("\n", max(0, pos - 200), pos) + 1
            if not _NOTICE_HEAD.fullmatch(rendered, line_start, pos + 3):
                continue
        offsets.append(pos)
    offsets.sort()
    return offsets


def _legal_lines(rendered: str, lines: list[str]) -> set[int]:
    """Numbers of the lines holding a legal marker: the markers' offsets, then one forward
    walk mapping offsets to lines (linear, however many markers there are)."""
    found: set[int] = set()
    offsets = _legal_offsets(rendered)
    if not offsets:
        return found
    k, line_end = 0, -1
    for lineno, raw in enumerate(lines):
        line_end += len(raw) + 1
        while k < len(offsets) and offsets[k] <= line_end:
            found.add(lineno)
            k += 1
        if k == len(offsets):
            break
    return found


def _close_links_at_line_ends(page: str, raw_lines: list[str]) -> tuple[str, set[int]]:
    """The page with every link that spans lines closed at each line end and reopened on the
    next line, so that each line carries its own link markup; and the numbers of the lines
    that were reopened. A link left open at the end of a line spans lines if its </a> comes
    soon and before the next <a> (the renderer leaves <a name> anchors unclosed)."""
    if "<a>" not in page:
        return page, set()
    unclosed = [
        lineno
        for lineno, raw in enumerate(raw_lines)
        if "<a>" in raw and raw.find("</a>", raw.rfind("<a>")) < 0
    ]
    if not unclosed:  # most pages
        return page, set()
    lines = list(raw_lines)
    continued: set[int] = set()
    starts = list(itertools.accumulate((len(raw) + 1 for raw in raw_lines), initial=0))
    for lineno in unclosed:
        start = starts[lineno] + raw_lines[lineno].rfind("<a>") + 3
        next_open = page.find("<a>", start, start + 400)
        until = page.find("</a>", start, next_open if next_open >= 0 else start + 400)
        if until < 0:
            continue
        lines[lineno] += "</a>"
        k = lineno + 1
        while starts[k] <= until:
            continued.add(k)
            lines[k] = "<a>" + lines[k] + ("</a>" if starts[k + 1] - 1 < until else "")
            k += 1
    return "\n".join(lines), continued


def _unescaped_lines(page: str) -> list[str]:
    return [htmllib.unescape(line) if "&" in line else line for line in page.split("\n")]


def _lines(
    rendered: str, short_chars: int = 40
) -> tuple[list[_Line], int, dict[int, str], tuple[int, int] | None]:
    """Rendered page -> its non-empty lines with kind, size, link share and punctuation, the
    index of the first long <h1> (-1 if none) and, for lines with both links and text
    outside them, that outside text when it is at most ``short_chars`` long (the shape of a
    per-item line: "Posted by: <name> | Report"). A <pre> listing is one line (a code block
    stays whole); a table row is one line with tab-separated cells. Tags are stripped and link
    text removed over the whole page at once (no tag or link spans lines once links are closed
    at line ends); the link units of a line are its units minus those of its text outside links."""
    article_raw = None  # the marked article container's first and last line
    if ARTICLE_OPEN in rendered:
        before, _, rest = rendered.partition(ARTICLE_OPEN)
        inside, closed, _ = rest.partition(ARTICLE_CLOSE)
        if closed:
            first = before.count("\n")
            article_raw = (first, first + inside.count("\n"))
        rendered = rendered.replace(ARTICLE_OPEN, "").replace(ARTICLE_CLOSE, "")
    page = _LINK_OPEN.sub("<a>", rendered)
    raw_lines = page.split("\n")
    legal = _legal_lines(page, raw_lines)
    pre = _pre_blocks(raw_lines) if "<pre" in page else {}
    page, continued = _close_links_at_line_ends(page, raw_lines)
    # Links marked by control characters, other tags stripped: then the text, and the text
    # outside links, are each one more pass over the page.
    marked = _TAG.sub("", page.replace("<a>", "\x01").replace("</a>", "\x02"))
    texts = _unescaped_lines(marked.replace("\x01", "").replace("\x02", ""))
    outside = _unescaped_lines(_LINK.sub("", marked)) if "\x01" in marked else texts
    stripped = [text.strip() for text in texts]
    listings = {}
    for first, end in pre.items():
        listing = htmllib.unescape("\n".join(_TAG.sub("", line) for line in raw_lines[first:end]))
        stripped[first:end] = [""] * (end - first)
        if listing.strip():
            stripped[first] = listing = listing.strip("\n")
            listings[first] = listing
    nonempty = [lineno for lineno, text in enumerate(stripped) if text]
    article = None
    if article_raw is not None:
        article = (
            bisect.bisect_left(nonempty, article_raw[0]),
            bisect.bisect_right(nonempty, article_raw[1]),
        )
    out: list[_Line] = []
    h1 = -1
    shapes: dict[int, str] = {}
    for lineno in nonempty:
        text = stripped[lineno]
        units = _units(text)
        if lineno in listings:
            out.append((text, PRE, units, 0.0, 0))
            continue
        raw = raw_lines[lineno]
        if "<a>" in raw or lineno in continued:
            rest = outside[lineno].strip()
            link_units = units if not rest else 0.0 if rest == text else max(0.0, units - _units(rest))
            if link_units and rest and len(rest) <= short_chars:
                shapes[len(out)] = rest
        else:
            link_units = 0.0
        if lineno in legal and (units < _LEGAL_PROSE or not _mentions_copyright(text)):
            kind = LEGAL
        elif raw.startswith("<h") and raw[2:3].isdigit():
            kind = HEADING
            if h1 < 0 and raw[2] == "1" and units >= 8:
                h1 = len(out)
        elif link_units > 0.5 * units:
            kind = LINKS
        elif "\t\t" in text:
            kind = ROW
        elif (
            ("{" in text or "=" in text)
            and len(text) > 20
            and 25 * (text.count(";") + text.count("{") + text.count("}") + text.count("=")) > len(text)
        ):
            kind = CODE  # script or style text outside <pre>
        else:
            kind = TEXT
        punct = len(_PUNCT.findall(text)) if kind == TEXT or kind == ROW else 0
        out.append((text, kind, units, link_units, punct))
    return out, h1, shapes, article


def _pre_blocks(raw_lines: list[str]) -> dict[int, int]:
    """Line ranges of <pre> listings that span lines: first line -> end (exclusive)."""
    blocks = {}
    lineno = 0
    while lineno < len(raw_lines):
        raw = raw_lines[lineno]
        if "<pre" in raw and "</pre>" not in raw:
            end = lineno + 1
            while end < len(raw_lines) and "</pre>" not in raw_lines[end - 1]:
                end += 1
            blocks[lineno] = end
            lineno = end
        else:
            lineno += 1
    return blocks


def _per_item(i: int, kind: int, lines: list[_Line]) -> bool:
    """Whether a line seen often enough is per-item furniture: a text line is; a link line is
    unless it follows another link line (then it is an entry of a menu)."""
    return kind == TEXT or (i > 0 and lines[i - 1][1] != LINKS)


def _furniture(lines: list[_Line], w: Weights, shapes: dict[int, str]) -> list[int]:
    """Line kinds with short text or link lines that repeat on the page (Reply, Like,
    per-item labels; digits ignored; a line's links are left out of its key when it has words
    outside them: "Posted by: <name>" under each comment) marked REPEATED, short digit-heavy lines without
    punctuation (counters, "6765 有用 2024-04-07 13:19") and short lines with a date or a time
    of day (author/date lines) marked META. The regular expressions run once over the joined
    candidate lines (they never cross a line) rather than once per line."""
    kinds = [kind for _, kind, _, _, _ in lines]
    short = [
        i for i, (text, kind, _, _, _) in enumerate(lines) if kind <= LINKS and len(text) <= w.short_chars
    ]
    keys = _NONZERO_DIGIT.sub("0", "\n".join(lines[i][0] for i in short)).split("\n") if short else []
    seen = Counter(keys)
    for i, key in zip(short, keys, strict=True):
        text, kind, _, _, punct = lines[i]
        if seen[key] >= w.repeats and _per_item(i, kind, lines):
            kinds[i] = REPEATED
        elif (
            kind == TEXT
            and not punct
            and len(_DIGIT.findall(text)) >= w.meta_digits * (len(text) - text.count(" "))
        ):
            kinds[i] = META
    # Lines that repeat once their links (the names) are left out; rarely digits: not normalised.
    shape_counts = Counter(shapes.values())
    for i, shape in shapes.items():
        kind = kinds[i]
        if (
            kind <= LINKS
            and shape_counts[shape] >= w.repeats
            and _per_item(i, kind, lines)
            and _WORD.search(shape)
        ):
            kinds[i] = REPEATED
    dated = [
        i
        for i, (text, _, units, _, _) in enumerate(lines)
        if kinds[i] <= LINKS
        and units <= w.stamp_units
        and not text.endswith(_SENTENCE_END)
        and not text.startswith(_ATTRIBUTION)
    ]
    if dated:
        joined = "\n".join(lines[i][0] for i in dated)
        starts = list(itertools.accumulate((len(lines[i][0]) + 1 for i in dated), initial=0))
        for m in _STAMP.finditer(joined):
            kinds[dated[bisect.bisect_right(starts, m.start()) - 1]] = META
    return kinds


def _scores(lines: list[_Line], kinds: list[int], w: Weights) -> list[float]:
    """Score per line: prose scores its length, punctuation and (negatively) its link text
    minus an offset; furniture costs little (it must not split a thread of replies); link
    lines cost more the longer the run of links they are in (menus); legal lines cost most."""
    n = len(lines)
    near_repeats = [False] * n  # short unique lines among per-item furniture are the items
    for i, kind in enumerate(kinds):
        if kind == REPEATED or kind == META:
            near_repeats[max(0, i - 2) : i + 3] = [True] * (min(n, i + 3) - max(0, i - 2))
    link, link_line, link_run, neutral = w.link, w.link_line, w.link_run, w.neutral
    fixed = {PRE: 0.0, LEGAL: -w.legal, REPEATED: -w.furniture, META: -w.furniture}
    scores = []
    run = 0
    for i, (line, kind) in enumerate(zip(lines, kinds, strict=True)):
        if kind == LINKS:
            cost = link_line + link * line[3] + link_run * (run if run < 10 else 10)
            if near_repeats[i]:
                cost = min(cost, w.item_link)
            elif 0 < i < n - 1 and kinds[i - 1] == TEXT and kinds[i + 1] == TEXT:
                cost = min(cost, w.inline_link)
            scores.append(-cost)
            run += 1
            continue
        run = 0
        if kind == TEXT or kind == ROW:
            _, _, units, link_units, punct = line
            offset = w.record_offset if near_repeats[i] else w.offset
            if not punct:
                offset += w.bare_offset
            score = units - link_units + w.punct * punct - link * link_units - offset
            scores.append(score if score > -neutral else -neutral)
        elif kind == PRE:
            scores.append(line[2] - w.offset)
        else:
            scores.append(fixed.get(kind, -neutral))
    return scores


@dataclasses.dataclass(frozen=True)
class _Page:
    """A page's lines, their kinds and scores and its title line: what every rule that trims
    the chosen regions reads."""

    lines: list[_Line]
    kinds: list[int]
    scores: list[float]
    title_at: int
    w: Weights


def _regions(scores: list[float], switch: float) -> list[tuple[int, int]]:
    """Disjoint runs [start, end) maximising the sum of their scores minus ``switch`` per run:
    a two-state (in / out of content) Viterbi, O(n). With one run and ``switch`` = 0 this is
    the maximum-sum subarray (after Pasternack & Roth 2009); a finite switch cost lets a page
    hold several content regions (a thread of posts, an article cut by a related-links box)."""
    n = len(scores)
    out_score, in_score = 0.0, float("-inf")
    came_in = [False] * n  # the in-state at i was reached from the in-state at i - 1
    left_in = [False] * n  # the out-state at i was reached from the in-state at i - 1
    for i, s in enumerate(scores):
        enter = out_score - switch
        if in_score > out_score:
            left_in[i] = True
            out_score = in_score
        if in_score >= enter:
            came_in[i] = True
            in_score += s
        else:
            in_score = enter + s
    # Walk back through the choices; a run ends where the in-state starts being chosen.
    runs = []
    inside, end = in_score > out_score, n
    for i in range(n - 1, -1, -1):
        if inside:
            if not came_in[i]:
                runs.append((i, end))
                inside = False
        elif left_in[i]:
            inside, end = True, i
    runs.reverse()
    return runs


def _best_run(scores: list[float]) -> tuple[int, int]:
    """Maximum-sum contiguous run [start, end) (Kadane), even when every score is negative."""
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


# The <title> and the headline may differ in spaces (a no-break space in one) and quotes
# (typographic in one, straight in the other).
_TITLE_FOLD = str.maketrans({"\xa0": " ", "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def _title_line(lines: list[_Line], title: str, h1: int) -> int:
    """Index of the line that is the page's <title> or the largest part of it (headings
    first), else of the first long <h1>, -1 if none: news and forum pages
    repeat their title right above the text; the site's name is only a small part of it."""
    title = " ".join(title.translate(_TITLE_FOLD).split())
    if len(title) < 4:
        return h1
    longest, best, best_key = len(title) + 10, -1, (0, False)
    for i, (text, kind, units, _, _) in enumerate(lines):
        if len(text) > longest or units < 3 or kind == LINKS:
            continue
        if text not in title and (not text.isascii() or "  " in text or "\t" in text or "\n" in text):
            text = " ".join(text.translate(_TITLE_FOLD).split())
        if text in title or title in text:
            key = (kind == HEADING, min(len(text), len(title)))
            if key > best_key:
                best, best_key = i, key
    return best if best >= 0 else h1


def _select(
    runs: list[tuple[int, int]],
    scores: list[float],
    w: Weights,
    title_at: int,
    kinds: list[int] | None = None,
    lines: list[_Line] | None = None,
) -> tuple[list[tuple[int, int]], int]:
    """The main region (the best, or the one right after the title line when it is close
    enough), then further regions by score: each must reach ``secondary`` of the main one (not
    one between the title line and the main region: a lead or an abstract above a long body)
    and outweigh ``gap`` times the negative score between it and the regions already kept, or
    the title line when it lies between that line and the main region (a sidebar far down the
    page behind menus is not content; the next post of a thread is, and so is an article's lead
    under its headline when ads or an image cut it from the body). Nothing above the headline of
    a main region that follows it is kept (other stories' teasers at the top of the page)."""
    prefix = [0.0]
    for s in scores:
        prefix.append(prefix[-1] + s)
    sums = [prefix[b] - prefix[a] for a, b in runs]
    order = sorted(range(len(runs)), key=lambda k: -sums[k])
    main = order[0]
    if title_at >= 0:
        after = next((k for k, (_, b) in enumerate(runs) if b > title_at), None)
        if (
            after is not None
            and runs[after][0] - title_at <= w.title_window
            and (
                sums[after] + w.title_bonus > sums[main]
                or (
                    kinds is not None
                    and lines is not None
                    and sums[after] >= w.article_min
                    and _is_records(runs[main], kinds, w.record_ratio)
                    and not _is_records(runs[after], kinds, w.record_ratio)
                    and _dated_lines(runs[main], lines, w) >= 2
                )
            )
        ):
            main = after
    kept = [main]
    main_start = runs[main][0]
    headline = title_at if title_at < main_start <= title_at + w.title_window else -1
    # Teasers below an article (other stories, each a linked headline and its summary) are
    # not content; on a page whose main region is itself a list of teasers (a front page),
    # they are.
    main_teasers: bool | None = None  # looked at once a region below the main one is up for keeping
    for k in order:
        if k == main:
            continue
        a, b = runs[k]
        if sums[k] < w.secondary * sums[main] and not 0 <= title_at < b <= main_start:
            continue  # (a region between the title line and the main one: the lead, an abstract)
        if b <= headline:
            continue  # above the headline of the main region: other stories' teasers
        gap = min(
            -(prefix[a] - prefix[runs[j][1]]) if runs[j][1] <= a else -(prefix[runs[j][0]] - prefix[b])
            for j in kept
        )
        if 0 <= title_at < a and b <= main_start:
            # Between the headline and the main region: the lead, cut from the body by an ad box.
            gap = min(gap, -(prefix[a] - prefix[title_at + 1]))
        if sums[k] < w.gap * gap or (lines is not None and not _has_sentence(runs[k], lines, kinds)):
            continue
        if lines is not None and kinds is not None and a > main_start and _is_teasers(runs[k], lines, kinds):
            if main_teasers is None:
                main_teasers = _is_teasers(runs[main], lines, kinds)
            if not main_teasers:
                continue
        kept.append(k)
    kept.sort()
    return [runs[k] for k in kept], kept.index(main)


_SENTENCE_TAIL = tuple('.!?。！？…"”」』)）')


def _has_sentence(run: tuple[int, int], lines: list[_Line], kinds: list[int] | None) -> bool:
    """Whether a region has a line of prose that ends like a sentence (a list of headlines,
    teasers or video titles has none), or a listing or a table."""
    for i in range(*run):
        text, kind = lines[i][0], lines[i][1]
        if kind == PRE or kind == ROW or (kind == TEXT and text.endswith(_SENTENCE_TAIL)):
            return True
    return False


def _is_teasers(run: tuple[int, int], lines: list[_Line], kinds: list[int]) -> bool:
    """A list of teasers (other stories: a linked headline, then its summary), three at least:
    most text lines of the region follow a linked headline or link line. An article cut by
    inline related links has them between some of its paragraphs, a listicle's headings are
    not links."""
    teasers = texts = 0
    for i in range(*run):
        if kinds[i] != TEXT:
            continue
        texts += 1
        if i > 0 and (
            kinds[i - 1] == LINKS or (kinds[i - 1] == HEADING and lines[i - 1][3] > 0.5 * lines[i - 1][2])
        ):
            teasers += 1
    return teasers >= 3 and 3 * teasers >= 2 * texts


def _dated_lines(run: tuple[int, int], lines: list[_Line], w: Weights) -> int:
    return sum(
        1 for text, _, units, _, _ in lines[run[0] : run[1]] if units <= w.stamp_units and _STAMP.search(text)
    )


def _is_article(run: tuple[int, int], kinds: list[int], scores: list[float], w: Weights) -> bool:
    """A region heavy enough to be an article, and not a list of records (a thread, comments)."""
    return sum(scores[run[0] : run[1]]) >= w.article_min and not _is_records(run, kinds, w.record_ratio)


def _is_records(run: tuple[int, int], kinds: list[int], ratio: float) -> bool:
    """A run of items separated by repeated per-item lines (author, date, Reply, Like): two
    groups of them at least, with other lines between (one block of short number lines is a
    fact box in an article: "16-24 - 27%", "25-34 - 18%")."""
    kinds = kinds[run[0] : run[1]]
    furniture = kinds.count(REPEATED) + kinds.count(META)
    if furniture < 2 or furniture < ratio * kinds.count(TEXT):
        return False
    groups = 0
    previous = TEXT
    for kind in kinds:
        if (kind == REPEATED or kind == META) and previous != REPEATED and previous != META:
            groups += 1
            if groups == 2:
                return True
        previous = kind
    return False


def _split_records(
    runs: list[tuple[int, int]], kinds: list[int], scores: list[float], w: Weights
) -> list[tuple[int, int]]:
    """A region that holds an article and then a list of records (its comments, under the same
    container) is two regions: split at its first per-item line below its first line, when
    what comes before scores as an article and what follows is a list of records (the first
    post of a forum thread has the same author and date lines as the replies, an article does
    not)."""
    items = [i for i, kind in enumerate(kinds) if kind == REPEATED or kind == META]
    if len(items) < 2:
        return runs
    out = []
    for a, b in runs:
        n = bisect.bisect_right(items, a)
        k = items[n] if n < len(items) else b
        if k < b and sum(scores[a:k]) >= w.article_min and _is_records((k, b), kinds, w.record_ratio):
            out.extend(((a, k), (k, b)))
        else:
            out.append((a, b))
    return out


def _first_post(run: tuple[int, int], page: _Page) -> bool:
    """Whether per-item furniture (two lines at least that repeat down the page: an author's
    post count, "#1", a vote count) sits right above the region, below the title line: the
    region is then the first post of a thread or the question of a Q&A page, one of the
    records, not an article (one such line may be the article's byline or date)."""
    a = run[0]
    return page.kinds[max(page.title_at + 1, a - 8) : a].count(REPEATED) >= 2  # title_at >= -1


def _comment_section(
    runs: list[tuple[int, int]],
    main: int,
    candidates: list[tuple[int, int]],
    page: _Page,
    comments: bool,
) -> tuple[list[tuple[int, int]], int]:
    """Beside an article (a large main region that is not itself a list of records), the
    regions that are lists of records are its comment section: dropped; with ``comments``, the
    lists of records that follow the article (up to the next region that is neither one nor
    a part of the article) are kept,
    whatever separates them from it (share buttons, a comment form). On a forum or Q&A page the
    main region is a list of records, or the first post under the same per-post lines as the
    replies, and the other posts stay."""
    kinds, scores, w = page.kinds, page.scores, page.w
    article = runs[main]
    if not _is_article(article, kinds, scores, w) or _first_post(article, page):
        return runs, main
    kept = [
        run
        for run in runs
        if run == article
        or not _is_records(run, kinds, w.record_ratio)
        or (comments and run[0] >= article[1])
    ]
    if comments:
        for run in candidates:
            if run[0] < article[1] or run in kept:
                continue
            if not _is_records(run, kinds, w.record_ratio):
                break
            kept.append(run)
        kept.sort()
    return kept, kept.index(article)


def _cut_at_comment_head(
    runs: list[tuple[int, int]], main: int, candidates: list[tuple[int, int]], page: _Page
) -> tuple[list[tuple[int, int]], int]:
    """Below an article (a region that scores ``article_min`` and is not a list of records),
    the regions end at the first comment-section heading: what follows is the comments, their
    form and rules, and sidebars. A few comments without per-item lines, or a comment form of
    prose ("Comments are moderated ..."), look like the article's last paragraphs otherwise,
    and one long comment can outweigh the article: a main region below the heading that is a
    list of records, or one text that follows a per-item line (an author/date line), gives
    way to the article above the heading (three text lines at least, after the title line if
    there is one, and against one text ``comment_share`` of its score). The heading is a whole short line, not a repeated one ("3 Comments" under each post
    of a blog's front page)."""
    lines, kinds, scores, title_at, w = page.lines, page.kinds, page.scores, page.title_at, page.w
    main_start, main_end = runs[main]
    records = _is_records(runs[main], kinds, w.record_ratio)
    after_item = main_start > 0 and kinds[main_start - 1] in (META, REPEATED)
    if records or after_item:
        first = candidates[0][0]  # the heading may be above the main region
    elif sum(scores[main_start:main_end]) >= w.article_min:
        first = main_start
    else:
        return runs, main
    # The short lines from ``first`` on, joined; a heading holds one of the needles.
    texts = list(map(_TEXT_OF, itertools.islice(lines, first, None)))
    short = list(itertools.compress(range(len(texts)), map(_COMMENT_HEAD_CHARS.__ge__, map(len, texts))))
    joined = "\n".join(map(texts.__getitem__, short))
    heads = set()  # offsets in ``joined`` of the lines that hold a needle
    for needle in _COMMENT_NEEDLES:
        pos = joined.find(needle)
        while pos >= 0:
            heads.add(joined.rfind("\n", 0, pos) + 1)
            end = joined.find("\n", pos)
            pos = joined.find(needle, end) if end >= 0 else -1
    starts: list[int] = []  # of each line in ``joined``
    for head in sorted(heads):
        end = joined.find("\n", head)
        if not _COMMENT_HEAD.fullmatch(joined, head, len(joined) if end < 0 else end):
            continue
        if not starts:
            starts = list(itertools.accumulate((len(texts[i]) + 1 for i in short), initial=0))
        cut = first + short[bisect.bisect_right(starts, head) - 1]
        if kinds[cut] not in (TEXT, LINKS, HEADING, META):
            continue
        heading = lines[cut][0].lower()
        if "repl" in heading and "comment" not in heading and "leave" not in heading:
            continue  # "Post a reply", "6 replies": on a forum the replies are the content
        below = main_start >= cut
        if not below:
            a, b = main_start, min(main_end, cut)
        else:  # the main region is below the heading: comments, with the article above?
            if title_at >= cut:
                return runs, main
            if not records and not (after_item and main_start - 1 > cut):
                continue
            if "comment" not in heading and not any(word in heading for word in _COMMENT_WORDS_ZH):
                continue  # only a comment section's heading, not "Join the discussion"
            a, b = max(
                ((s, min(e, cut)) for s, e in candidates if s < cut and e > title_at),
                key=lambda run: sum(scores[run[0] : run[1]]),
                default=(cut, cut),
            )
            if not records and sum(scores[a:b]) < w.comment_share * sum(scores[main_start:main_end]):
                continue  # one comment of the day in a box above, not an article
        if _is_article((a, b), kinds, scores, w) and (not below or kinds[a:b].count(TEXT) >= 3):
            kept = sorted({(s, min(e, cut)) for s, e in runs if s < cut} | {(a, b)})
            return kept, kept.index((a, b))
    return runs, main


# The heading of a feed of other stories under an article ("You may also like", "Related
# articles", "猜你喜欢", "相关阅读"): a whole short line. Labels that also stand inline before
# one link in an article ("Read more:", "See also") are not here.
_RELATED_HEAD = re.compile(
    r"[^\w\n]{0,3}(?:"
    r"you (?:may|might|could) (?:also )?(?:like|enjoy|be interested in)"
    r"|related (?:articles?|stories|posts?|news|content|reading|coverage|videos?|links)"
    r"|recommended (?:for you|stories|articles|reading|videos)"
    r"|more (?:stories|articles|news|top stories|from [^\n]{1,30})"
    r"|(?:trending|popular) (?:now|stories|articles|posts|news)|most (?:read|popular|viewed|shared)(?: stories| articles)?"
    r"|what to read next|read next|up next"
    r"|(?:你|您)?可能(?:还|還)?(?:想看|感兴趣|感興趣|喜欢|喜歡)|猜你喜(?:欢|歡)|其他人也在看|大家都在看"
    r"|相(?:关|關)(?:阅读|閱讀|文章|推荐|推薦|新闻|新聞|资讯|資訊)|延伸(?:阅读|閱讀)|推(?:荐|薦)(?:阅读|閱讀|文章)"
    r"|(?:为|為)你推(?:荐|薦)|(?:热门|熱門)(?:推荐|推薦|文章|新闻|新聞)|更多精彩"
    r")[^\w\n]{0,3}",
    re.IGNORECASE,
)


def _cut_at_related_head(
    runs: list[tuple[int, int]], main: int, page: _Page
) -> tuple[list[tuple[int, int]], int]:
    """Below an article inside the main region, the regions end at a related-stories heading
    when what follows it in the region is a feed (a headline or a source line before each
    summary), not more paragraphs: an inline "Related stories" box with a link or two sits
    between paragraphs of an article that goes on."""
    lines, kinds, scores = page.lines, page.kinds, page.scores
    a, b = runs[main]
    for i in range(a + 1, b):
        if (
            kinds[i] in (TEXT, HEADING, LINKS)
            and len(lines[i][0]) <= 30
            and _RELATED_HEAD.fullmatch(lines[i][0])
        ):
            if sum(scores[a:i]) >= page.w.article_min and not any(
                kinds[j] == TEXT and kinds[j + 1] == TEXT for j in range(i + 1, b - 1)
            ):
                return [*runs[:main], (a, i)], main  # the regions after the main one go too
            break
    return runs, main


def _cut_at_form(run: tuple[int, int], page: _Page) -> tuple[int, int]:
    """A region without a comment form at its end: it ends at the form's heading ("Leave a
    Reply", "Post a comment", "发表评论") when no per-item line follows in the region (no
    comment below it, only the form, its rules and its messages) and what follows weighs less
    than what precedes. With comments asked for, the comments above the form stay."""
    a, b = run
    lines, kinds, scores = page.lines, page.kinds, page.scores
    total = sum(s for s in scores[a:b] if s > 0)
    after, cut = 0.0, b
    # From the region's end up: the lines a heading could stand on end at the last per-item
    # line or where what follows outweighs what precedes; the topmost heading among them.
    for i in range(b - 1, a, -1):
        kind = kinds[i]
        if kind == META or kind == REPEATED:
            break
        if scores[i] > 0:
            after += scores[i]
            if 2 * after >= total:
                break
        text = lines[i][0]
        if len(text) <= _COMMENT_HEAD_CHARS and _FORM_HEAD.fullmatch(text):
            cut = i
    return (a, cut)


def _from_title(run: tuple[int, int], page: _Page) -> tuple[int, int]:
    """A region that runs across the page's title line starts at that line when what precedes
    the title in it scores less than ``above_title`` of what follows: a box above the headline
    that no break set apart from the article (a blog's about-this-site text, a shop's offers, a
    subscription form)."""
    a, b = run
    t = page.title_at
    if a < t < b and sum(page.scores[a:t]) < page.w.above_title * sum(page.scores[t:b]):
        return (t, b)
    return run


def _thread_line(i: int, lines: list[_Line], kinds: list[int], w: Weights) -> bool:
    """A line a thread of records goes on through: a repeated or metadata line, a text line
    with a repeated line next to it, or a short link line (an author name) that does not follow
    another link."""
    kind = kinds[i]
    if kind == LINKS:
        return lines[i][3] <= w.thread_link and not (i > 0 and kinds[i - 1] == LINKS)
    if kind == TEXT:
        return REPEATED in kinds[max(0, i - 2) : i + 3]
    return kind == REPEATED or kind == META


def _extend_threads(runs: list[tuple[int, int]], main: int, page: _Page) -> list[tuple[int, int]]:
    """On a page whose main region is no article (a forum thread, Q&A answers), every region
    that is a list of records, and the main region, goes on through the records around it,
    however short their texts ("谢谢", "+1"): up to a heading, a legal line, a long link or a
    link run, or the next region."""
    lines, kinds, w = page.lines, page.kinds, page.w
    if _is_article(runs[main], kinds, page.scores, w):
        return runs
    out = []
    for k, (a, b) in enumerate(runs):
        if k == main or _is_records((a, b), kinds, w.record_ratio):
            low = out[-1][1] if out else 0
            high = runs[k + 1][0] if k + 1 < len(runs) else len(lines)
            start, end = a, b
            i = a - 1
            while i >= low and _thread_line(i, lines, kinds, w):
                if kinds[i] == TEXT:
                    start = i
                i -= 1
            i = b
            while i < high and _thread_line(i, lines, kinds, w):
                if kinds[i] == TEXT:
                    end = i + 1
                i += 1
            a, b = start, end
        out.append((a, b))
    return out


_LABEL_UNITS = 10.0  # a line this short is a label ("MORE FEATURES", a table's caption "SCOREBOARD")


def _section_break(line: _Line, kind: int) -> bool:
    """A line that opens another section: a link line, or a short capitalised label styled as a
    heading ("MORE FEATURES", "EMAIL NEWSLETTER"). Not a real heading: under one, an article's
    own short lines follow (steps, tour dates)."""
    if kind == LINKS:
        return True
    return kind == TEXT and line[2] <= _LABEL_UNITS and not line[4] and line[0].isupper()


def _cut_tail(run: tuple[int, int], page: _Page) -> tuple[int, int]:
    """A region without the weak lines that follow a section break after its last strong line:
    promotions, newsletter boxes and teaser sidebars under an article score a little each
    (short prose lines) and would otherwise ride on it."""
    lines, kinds, scores, w = page.lines, page.kinds, page.scores, page.w
    a, b = run
    last = b - 1
    while last >= a and scores[last] < w.tail_line:
        last -= 1
    if last < a:
        return run
    for i in range(last + 1, b):
        if _section_break(lines[i], kinds[i]):
            after = sum(s for s in scores[i:b] if s > 0)
            if after < w.tail_share * sum(s for s in scores[a:i] if s > 0):
                return (a, i)
            break
    return run


def extract_blocks(html: str, weights: Weights = DEFAULT_WEIGHTS, comments: bool = False) -> str:
    """Main text, one line per rendered block: the content regions of the page's scored lines
    (see ``Weights``), each with the headings right above it, without their link lines,
    legal notices and repeated furniture; with ``comments``, also the comment section that
    follows an article."""
    rendered, title = _render(html)
    return _extract_lines(rendered, title, weights, comments)


@dataclasses.dataclass
class _Layout:
    """What the extractor decided about a page's lines (kept whole for benchmarks' diagnostics)."""

    page: _Page
    runs: list[tuple[int, int]]
    output_kinds: frozenset[int]


def _extract_lines(rendered: str, title: str, w: Weights, comments: bool = False) -> str:
    layout = _layout(rendered, title, w, comments)
    if layout is None:
        return ""
    lines, kinds, title_at, runs = layout.page.lines, layout.page.kinds, layout.page.title_at, layout.runs
    out = []
    for a, b in runs:
        top = a
        while top > 0 and kinds[top - 1] in (HEADING, META) and a - top < 4:
            top -= 1  # headings (and their date line) right above a region are its title
        if 0 <= title_at < top and (a, b) == runs[0] and a - title_at <= w.title_window:
            out.append(lines[title_at][0])
        out.extend(lines[i][0] for i in range(top, a) if kinds[i] == HEADING)
        out.extend(lines[i][0] for i in range(a, b) if kinds[i] in layout.output_kinds)
    return "\n".join(_drop_copies([text for text in out if not _zh_label(text)], w.short_chars))


def _drop_copies(out: list[str], short: int) -> list[str]:
    """Without a second copy of a stretch of at least five long lines: a page may carry its
    article twice (a hidden print or mobile copy). Short lines inside the stretch go with it."""
    seen: set[str] = set()
    copies: list[int] = []  # indices of long lines seen before, in order
    for i, text in enumerate(out):
        if len(text) > short:
            if text in seen:
                copies.append(i)
            seen.add(text)
    if len(copies) < 5:
        return out
    drop: set[int] = set()
    start = 0
    for k in range(1, len(copies) + 1):
        # A stretch ends where a long line that is not a copy (every long line between two
        # consecutive copies is a first occurrence) comes between two copies.
        if k == len(copies) or any(len(out[i]) > short for i in range(copies[k - 1] + 1, copies[k])):
            if k - start >= 5:
                drop.update(range(copies[start], copies[k - 1] + 1))
            start = k
    return [text for i, text in enumerate(out) if i not in drop]


def _layout(rendered: str, title: str, w: Weights, comments: bool = False) -> _Layout | None:
    lines, h1, shapes, article = _lines(rendered, w.short_chars)
    if not lines:
        return None
    kinds = _furniture(lines, w, shapes)
    scores = _scores(lines, kinds, w)
    title_at = _title_line(lines, title, h1)
    candidates = _split_records(_regions(scores, w.switch) or [_best_run(scores)], kinds, scores, w)
    runs, main = _select(candidates, scores, w, title_at, kinds, lines)
    if article is not None and not comments and article[0] <= title_at < article[1]:
        inside = _titled_article(runs, candidates, article, scores, w)
        if inside:
            candidates = inside
            runs, main = _select(candidates, scores, w, title_at, kinds, lines)
    page = _Page(lines, kinds, scores, title_at, w)
    if len(candidates) > 1:
        runs, main = _comment_section(runs, main, candidates, page, comments)
    if not comments:  # (with comments, what follows a related box may be the comments asked for)
        runs, main = _cut_at_comment_head(runs, main, candidates, page)
        runs, main = _cut_at_related_head(runs, main, page)
    runs = [_from_title(_cut_at_form(run, page), page) for run in runs]
    if w.thread_link:
        runs = _extend_threads(runs, main, page)
    if w.tail_line:
        runs = [run if _is_records(run, kinds, w.record_ratio) else _cut_tail(run, page) for run in runs]
    runs = _with_tables(runs, page)
    output_kinds = _OUTPUT_KINDS
    main_score = max(sum(scores[a:b]) for a, b in runs)
    if main_score < w.link_mode:
        # Little prose anywhere: the page may be a list of links (a table of contents, an index).
        as_links = [lines[i][2] - w.link_offset if k == LINKS else scores[i] for i, k in enumerate(kinds)]
        link_runs = _regions(as_links, w.switch)
        if link_runs:
            link_runs = _select(link_runs, as_links, w, -1)[0]
            if max(sum(as_links[a:b]) for a, b in link_runs) > w.link_mode_ratio * max(main_score, 1.0):
                runs, output_kinds = link_runs, _OUTPUT_KINDS | {LINKS}
    if not any(kinds[i] in output_kinds for a, b in runs for i in range(a, b)):
        # Nothing but links or furniture scored as content: the best stretch of any lines,
        # rather than nothing, where the page has text at all.
        runs = [_best_run([line[2] - w.link_offset for line in lines])]
        output_kinds = _OUTPUT_KINDS | {LINKS, REPEATED, META}
    if article is not None and w.article_share:
        runs = _within_article(runs, article, page, output_kinds, comments)
    return _Layout(page, runs, output_kinds)


def _with_tables(runs: list[tuple[int, int]], page: _Page) -> list[tuple[int, int]]:
    """Each region with the table right below it (``table_rows`` rows at least, each less than
    half link text; a short caption line or two may come first): a table's rows are short
    lines that score little, and a results table or a data table under an article would
    otherwise end it. A table of links (other matches, a sidebar) is not a region's."""
    lines, kinds, w = page.lines, page.kinds, page.w
    out = []
    for k, (a, b) in enumerate(runs):
        limit = runs[k + 1][0] if k + 1 < len(runs) else len(lines)
        first = b
        while (
            first < limit
            and first - b < 2
            and kinds[first] in (TEXT, HEADING)
            and lines[first][2] <= _LABEL_UNITS
        ):
            first += 1
        end = first
        while end < limit and kinds[end] == ROW:
            end += 1
        if end - first >= w.table_rows:
            b = end
        out.append((a, b))
    return out


def _titled_article(
    runs: list[tuple[int, int]],
    candidates: list[tuple[int, int]],
    article: tuple[int, int],
    scores: list[float],
    w: Weights,
) -> list[tuple[int, int]]:
    """The candidate regions cut to the page's marked article container, when the title line
    is in that container, it holds an article's weight of text, and the regions chosen lie
    mostly outside it (a short article followed by a heavier feed of other stories); else
    nothing. The page names its article twice there: by the title and by the mark."""
    inside = _clip(candidates, article)
    if max((sum(scores[a:b]) for a, b in inside), default=0.0) < w.article_min:
        return []
    in_article, total = _weight_in(runs, article, lambda a, b: sum(scores[a:b]))
    return inside if in_article < w.article_share * total else []


def _clip(runs: list[tuple[int, int]], article: tuple[int, int]) -> list[tuple[int, int]]:
    """The parts of the regions that lie in the article container [lo, hi)."""
    lo, hi = article
    return [(max(a, lo), min(b, hi)) for a, b in runs if a < hi and b > lo]


def _weight_in(
    runs: list[tuple[int, int]], article: tuple[int, int], weight: Callable[[int, int], float]
) -> tuple[float, float]:
    """(weight of the regions' lines in the article container, weight of all their lines);
    ``weight(a, b)`` is that of lines [a, b), so only the regions' lines are read."""
    return sum(weight(a, b) for a, b in _clip(runs, article)), sum(weight(a, b) for a, b in runs)


def _within_article(
    runs: list[tuple[int, int]],
    article: tuple[int, int],
    page: _Page,
    output_kinds: frozenset[int],
    comments: bool,
) -> list[tuple[int, int]]:
    """The regions cut to the page's marked article container [lo, hi), when at least
    ``article_share`` of their output already lies in it: a region wholly before the container
    goes (a teaser block, a sidebar story), and every region ends where the container ends
    (related stories, newsletter boxes; with ``comments``, the comment section is kept). A
    region that runs into the container from above keeps its lines before it: pages put the
    headline and lead paragraph just outside their article body; when the title line is inside
    the container, nothing above it is kept (a sign-in dialog, a newsletter box)."""
    lo, hi = article

    def output(a: int, b: int) -> float:  # the size of the lines [a, b) that are printed
        return sum(page.lines[i][2] for i in range(a, b) if page.kinds[i] in output_kinds)

    inside, total = _weight_in(runs, article, output)
    if not total or inside == total or inside < page.w.article_share * total:
        return runs
    top = lo if lo <= page.title_at < hi else 0
    if comments:
        return [(max(a, top), b) for a, b in runs if b > lo]
    return [(max(a, top), min(b, hi)) for a, b in runs if lo < b and a < hi]


# ---------------------------------------------------------------------------------------
# Work guard: HTML parsers do superlinear work on a few page shapes

# lexbor (resiliparse's parser) does, for some tags, work proportional to the open elements or
# the active formatting elements, and for each new attribute work proportional to the attributes
# already on the element: a page built to grow those (5 million attributes on one element,
# 50,000 unclosed <font size=N>, 50,000 <option>s in a <select>) makes parsing quadratic, minutes
# to hours for a few MB. Such pages are refused before any parser (lxml, behind trafilatura, is
# given the same pages). On ordinary pages the checks are a few C-level counts; with at most
# _CHECK_TAGS tags no shape costs more than about a second.
_CHECK_TAGS = 20_000
MAX_UNCLOSED = 10_000  # start tags left open (formatting elements: half of this)
MAX_ATTRIBUTES = 2_000  # attributes on one element
_SELF_CLOSING = frozenset(  # void elements and elements whose end tag is implied
    b"area base br col embed hr img input link meta param source track wbr keygen basefont bgsound "
    b"frame image isindex nextid spacer p li dt dd td th tr tbody thead tfoot colgroup caption "
    b"option optgroup rb rt rp rtc html head body".split()
)
_FORMATTING = frozenset(b"a b big code em font i nobr s small strike strong tt u".split())
_TAG_NAME = re.compile(rb"<(/?)([A-Za-z][A-Za-z0-9]*)")
# A start tag whose attributes run on for 4 KB without '<' or '>': the run stops at the next
# '<', so every byte is looked at about once.
_LONG_TAG = re.compile(rb"<[A-Za-z][^\s<>/]*\s[^<>]{4096}")
# The same, with quoted values that may hold '<' (used only when '<' abound outside tags).
_LONG_TAG_QUOTED = re.compile(rb"<[A-Za-z][^\s<>/]*\s(?:[^<>\"']|\"[^\"]*+\"|'[^']*+'){4096}")
_ATTRIBUTE_VALUE = re.compile(rb"=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]*)")
_ATTRIBUTE_NAME = re.compile(rb"[^\s\"'<>/=]+")


def _most_attributes(html: bytes, quoted_lt: bool = False) -> int:
    """The most attributes on one start tag, among tags over 4 KB long."""
    pattern = _LONG_TAG_QUOTED if quoted_lt else _LONG_TAG
    most, pos = 0, 0
    while (m := pattern.search(html, pos)) is not None:
        end = html.find(b">", m.end())
        end = len(html) if end < 0 else end
        names = _ATTRIBUTE_NAME.findall(_ATTRIBUTE_VALUE.sub(b" ", html[m.start() : end]))
        most = max(most, len(names) - 1)  # the tag name is not an attribute
        pos = end
    return most


def html_hazard(html: bytes | str) -> str | None:
    """Why parsing this page could take superlinear work, or None for an ordinary page. Works
    on the raw bytes (counting bytes is several times faster than counting characters)."""
    if isinstance(html, str):
        html = html.encode("utf-8", "surrogatepass")
    tags = html.count(b"<")
    # One huge start tag: few tags for the size, or (diluted among many tags) more '=' than tags.
    if len(html) > 64 * tags + 65_536 or (tags > _CHECK_TAGS and html.count(b"=") > 4 * tags):
        if (n := _most_attributes(html)) > MAX_ATTRIBUTES:
            return f"an element with {n} attributes"
    if tags <= _CHECK_TAGS:
        return None  # few tags
    # About as many end tags as start tags: "<!" (comments, the doctype) opens no element and
    # is counted only when the end tags alone leave too many open.
    opened = tags - 2 * html.count(b"</")
    if opened <= MAX_UNCLOSED // 2 or opened - html.count(b"<!") <= MAX_UNCLOSED // 2:
        return None
    # Count start and end tags by name: void and implied-end elements close themselves, other
    # start tags without an end tag grow the parser's stacks.
    starts: Counter[bytes] = Counter()
    ends: Counter[bytes] = Counter()
    for slash, name in _TAG_NAME.findall(html):
        (ends if slash else starts)[name.lower()] += 1
    formatting = sum(max(0, starts[name] - ends[name]) for name in _FORMATTING)
    if formatting > MAX_UNCLOSED // 2:
        return f"{formatting} unclosed formatting elements"
    if starts[b"option"] > MAX_UNCLOSED:
        return f"{starts[b'option']} option elements"
    unclosed = sum(max(0, n - ends[name]) for name, n in starts.items() if name not in _SELF_CLOSING)
    if unclosed > MAX_UNCLOSED:
        return f"{unclosed} unclosed elements"
    if tags - sum(starts.values()) - sum(ends.values()) > MAX_UNCLOSED:
        # Many '<' that open no tag: in text, or in the attribute values of one huge tag.
        if (n := _most_attributes(html, quoted_lt=True)) > MAX_ATTRIBUTES:
            return f"an element with {n} attributes"
    return None


# ---------------------------------------------------------------------------------------
# Other extractors


def extract_trafilatura(html: str, comments: bool = False) -> str:
    import trafilatura  # imported lazily: slow to import and only an alternative

    # favor_precision was its best setting on the annotated pages (F1 0.789; default 0.758,
    # favor_recall 0.775).
    return (
        trafilatura.extract(html, favor_precision=True, include_comments=comments, include_tables=True) or ""
    )


def extract_resiliparse(html: str, comments: bool = False) -> str:
    tree = HTMLTree.parse(html)
    return extract_plain_text(
        tree, preserve_formatting=True, main_content=True, list_bullets=False, comments=comments
    )


# Each takes (html, comments=False): with comments, the comment section under an article is kept.
EXTRACTORS: dict[str, Callable[..., str]] = {
    "blocks": extract_blocks,
    "trafilatura": extract_trafilatura,
    "resiliparse": extract_resiliparse,
}


def extract_main_text(html: str, extractor: str = "blocks", comments: bool = False) -> str:
    return EXTRACTORS[extractor](html, comments=comments)


# ---------------------------------------------------------------------------------------
# Stage


def _looks_like_html_type(content_type: str) -> bool:
    """HTML, XHTML, or a vague text type that servers often send for HTML; not images,
    PDFs, JSON or scripts that a mislabelled record might carry."""
    mime = content_type.split(";", 1)[0].strip().lower()
    return not mime or "html" in mime or mime in ("text/plain", "application/xml", "text/xml")


@dataclasses.dataclass
class ExtractParams(Params):
    # "blocks" (default, this module's line scorer), "trafilatura" or "resiliparse".
    extractor: str = "blocks"
    # Documents whose extracted text has fewer non-space characters are dropped as empty_text.
    min_chars: int = 1
    # HTML bodies larger than this are dropped as html_too_large before decoding or parsing
    # (CommonCrawl truncates records at 1 MiB; 8 MB takes ~0.3 CPU-s with "blocks", ~6 s with
    # trafilatura).
    max_html_mb: float = 8.0
    # Keep the comment section that follows an article (readers' comments under a blog post or a
    # news story). Off by default: most annotated news sets, and pretraining corpora built with
    # trafilatura's include_comments=False, take the article alone. Forum and Q&A threads are
    # kept either way (there the posts are the content).
    comments: bool = False

    def validate(self) -> None:
        if self.extractor not in EXTRACTORS:
            raise ValueError(
                f"extractor: must be one of {', '.join(sorted(EXTRACTORS))}, got {self.extractor!r}"
            )
        if not self.max_html_mb > 0:
            raise ValueError(f"max_html_mb: must be > 0, got {self.max_html_mb}")
        if self.extractor == "trafilatura":
            try:
                import trafilatura  # noqa: F401  (imports justext, which needs lxml.html.clean)
            except ImportError as exc:
                raise ValueError(
                    f"extractor: trafilatura cannot be imported ({exc}); "
                    "install it with pip install 'cc-pretrain-pipeline[trafilatura]'"
                ) from None


class ExtractStage(Stage):
    """WARC HTML body -> ``text``. Expects ``html`` (bytes, already de-chunked and
    content-decoded) and ``content_type`` (HTTP header or None); removes both."""

    name = "extract"
    Params = ExtractParams
    columns: ClassVar[dict[str, pa.DataType]] = {}
    reasons = ("empty_text", "not_html", "html_too_large", "html_too_complex")

    def __init__(self, params: ExtractParams | None = None):
        super().__init__(params)
        self.params.validate()
        self._extract = EXTRACTORS[self.params.extractor]
        self._max_html = int(self.params.max_html_mb * 1_000_000)

    def process(self, doc: Doc) -> Doc | Drop:
        body = doc.pop("html", None)
        content_type = doc.pop("content_type", None)
        if body is None:
            # Already text (e.g. a WET record passed through): nothing to extract.
            if isinstance(doc.get("text"), str):
                return doc
            return Drop("not_html", "no html body")
        if content_type and not _looks_like_html_type(content_type):
            return Drop("not_html", content_type[:100])
        if len(body) > self._max_html:
            return Drop(
                "html_too_large",
                f"{len(body)} bytes of HTML (extract.max_html_mb = {self.params.max_html_mb})",
            )
        body = body if isinstance(body, str) else bytes(body)
        hazard = html_hazard(body)
        if hazard is not None:
            return Drop("html_too_complex", hazard)
        html = body if isinstance(body, str) else decode_html(body, content_type)
        try:
            text = self._extract(html, comments=self.params.comments) if html.strip() else ""
        except ValueError as err:  # resiliparse's HTMLParserException/DOMException
            return Drop("not_html", f"unparseable: {err}"[:200])
        chars = len(text) - sum(text.count(c) for c in " \n\t")
        if chars < max(self.params.min_chars, 1):
            return Drop("empty_text", f"{chars} characters extracted")
        doc["text"] = text
        return doc
