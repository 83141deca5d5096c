"""Wikipedia XML dumps (``*-pages-articles*.xml.bz2``) as documents: article wikitext to plain text.

Streaming with bounded memory: the file is decompressed as it is read (bz2, gzip or plain XML,
told apart by their first bytes) and parsed with ``iterparse``; each ``<page>`` is converted and
then cleared, so memory holds one page at a time whatever the size of the dump.

Kept: pages in the article namespace (``<ns>0</ns>``) that are not redirects. Everything else is
a counted drop: ``wiki_redirect``, ``wiki_not_article`` (talk, user, template, category, file
... pages), ``empty_text`` (nothing left after markup removal), ``bad_wiki_xml`` (a broken dump:
what was read before the fault is kept).

``wikitext_to_text`` is a plain-text approximation, not a MediaWiki renderer: templates,
tables, references, comments, files and categories are removed; links keep their label; bold
and italic quotes, heading marks and list bullets are dropped; HTML entities are decoded.
"""

from __future__ import annotations

import bz2
import gzip
import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import BinaryIO

from stages.base import Doc, Drop

# zhwiki-20240501-pages-articles.xml.bz2, ...-pages-articles1.xml-p1p187712.bz2, any *.xml.bz2
WIKI_DUMP_NAME = re.compile(r"pages-(articles|meta-current)[^/]*\.xml|\.xml\.bz2$")

_COMMENT = re.compile(r"<!--.*?-->", re.S)
_REF = re.compile(r"<ref[^>/]*/>|<ref[^>]*>.*?</ref>", re.S | re.I)
_DROP_TAGS = re.compile(
    r"<(gallery|math|score|syntaxhighlight|source|timeline|imagemap|chem)[^>]*>.*?</\1>", re.S | re.I
)
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
# Links to files and categories (any language's namespace names end in a colon; these are the
# usual English and Chinese ones) are removed whole, with their caption.
_MEDIA_PREFIX = re.compile(r"\[\[\s*(file|image|category|media|文件|檔案|档案|图像|圖像|分类|分類)\s*:", re.I)
_LINK = re.compile(r"\[\[([^\[\]|]*)\|?([^\[\]]*)\]\]")
_EXTERNAL_LABELLED = re.compile(r"\[(?:https?:)?//[^\s\]]+\s+([^\]]*)\]")
_EXTERNAL_BARE = re.compile(r"\[(?:https?:)?//[^\s\]]+\]")
_QUOTES = re.compile(r"'{2,}")
_HEADING = re.compile(r"^(=+)\s*(.*?)\s*\1\s*$", re.M)
_LIST = re.compile(r"^[*#:;]+\s*", re.M)
_MAGIC = re.compile(r"__[A-Z]+__")
_BLANK_LINES = re.compile(r"\n{3,}")


def _remove_nested(text: str, open_mark: str, close_mark: str) -> str:
    """Remove every (possibly nested) ``open_mark ... close_mark`` span, in one left-to-right pass
    over the marks (a close mark outside every span is text)."""
    if open_mark not in text:
        return text
    out: list[str] = []
    depth = 0
    kept_from = 0  # start of the text not yet copied (at depth 0)
    for mark in re.finditer(f"{re.escape(open_mark)}|{re.escape(close_mark)}", text):
        if mark.group() == open_mark:
            if depth == 0:
                out.append(text[kept_from : mark.start()])
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                kept_from = mark.end()
    if depth == 0:
        out.append(text[kept_from:])
    return "".join(out)


def _remove_media_links(text: str) -> str:
    """Drop ``[[File:...]]``/``[[Category:...]]`` links, whose captions may hold nested links."""
    while True:
        m = _MEDIA_PREFIX.search(text)
        if not m:
            return text
        depth, i = 0, m.start()
        while i < len(text):
            if text.startswith("[[", i):
                depth += 1
                i += 2
            elif text.startswith("]]", i):
                depth -= 1
                i += 2
                if depth == 0:
                    break
            else:
                i += 1
        text = text[: m.start()] + text[i:]


def wikitext_to_text(wikitext: str) -> str:
    text = _COMMENT.sub("", wikitext)
    text = _REF.sub("", text)
    text = _DROP_TAGS.sub("", text)
    text = _remove_nested(text, "{{", "}}")  # templates (infoboxes, citations, navboxes)
    text = _remove_nested(text, "{|", "|}")  # tables
    text = _remove_media_links(text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = _EXTERNAL_LABELLED.sub(r"\1", text)
    text = _EXTERNAL_BARE.sub("", text)
    text = _TAG.sub("", text)
    text = _QUOTES.sub("", text)
    text = _HEADING.sub(r"\2", text)
    text = _LIST.sub("", text)
    text = _MAGIC.sub("", text)
    text = html.unescape(text)
    lines = [line.strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _open_stream(raw: BinaryIO) -> BinaryIO:
    head = raw.read(3)
    rest = _Prefixed(head, raw)
    if head.startswith(b"BZh"):
        return bz2.BZ2File(rest)  # type: ignore[arg-type]
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=rest)  # type: ignore[arg-type]
    return rest  # type: ignore[return-value]


class _Prefixed:
    """A read-only stream: ``head`` (already read to sniff the format), then the rest of ``raw``."""

    def __init__(self, head: bytes, raw: BinaryIO):
        self.head, self.raw = head, raw

    def read(self, size: int = -1) -> bytes:
        if self.head:
            if size is None or size < 0:
                data, self.head = self.head + self.raw.read(), b""
                return data
            data, self.head = self.head[:size], self.head[size:]
            return data + (self.raw.read(size - len(data)) if size > len(data) else b"")
        return self.raw.read(size)

    def readable(self) -> bool:
        return True


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def read_wiki_dump(raw: BinaryIO, source: str, options: object = None) -> Iterator[Doc | Drop]:
    """Documents of a MediaWiki XML dump: ``id`` = ``wiki:<page id>``, ``url`` = the title.
    ``options`` (pipeline.readers.ReadOptions) changes nothing here: a dump has fixed fields."""
    try:
        events = ET.iterparse(_open_stream(raw), events=("start", "end"))
        root = None
        for event, elem in events:
            if event == "start":
                if root is None:
                    root = elem
                continue
            if _local(elem.tag) != "page":
                continue
            fields = {_local(child.tag): child for child in elem}
            title = (fields["title"].text or "") if "title" in fields else ""
            ns = (fields["ns"].text or "").strip() if "ns" in fields else "0"
            revision = fields.get("revision")
            wikitext = ""
            if revision is not None:
                for child in revision:
                    if _local(child.tag) == "text":
                        wikitext = child.text or ""
            page_id = (fields["id"].text or "").strip() if "id" in fields else title
            elem.clear()
            if root is not None:
                root.clear()  # finished pages stay referenced by the root otherwise
            if "redirect" in fields or wikitext.lstrip().lower().startswith(("#redirect", "#重定向")):
                yield Drop("wiki_redirect", title[:80])
            elif ns != "0":
                yield Drop("wiki_not_article", f"ns {ns}: {title[:80]}")
            else:
                text = wikitext_to_text(wikitext)
                if not text:
                    yield Drop("empty_text", title[:80])
                else:
                    yield {
                        "id": f"wiki:{page_id}",
                        "url": title,
                        "text": text,
                        "date": "",
                        "source": source,
                    }
    except (ET.ParseError, OSError, EOFError) as exc:
        yield Drop("bad_wiki_xml", str(exc)[:120])
