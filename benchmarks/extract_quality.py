"""Main-text extraction quality and speed.

Quality: mean F1 of each extractor on the 54 annotated Chinese pages in
``shared/data/zh-html`` (character multiset F1 when the reference is Chinese, word multiset
F1 otherwise). Speed: MB/s of HTML per core on the HTML responses of real WARC files.

    python benchmarks/extract_quality.py            # quality table + speed
    python benchmarks/extract_quality.py --per-page # also each page's F1
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stages.extract import EXTRACTORS, decode_html

DATA = ROOT.parent / "shared" / "data"
ZH_HTML = DATA / "zh-html" / "opendatalab__magic-html" / "benchmark" / "data"
SPEED_WARCS = (
    "warc/archivesunleashed__aut/example.warc.gz",
    "warc/allenai__dolma/sample-0000.warc.gz",
    "warc/allenai__dolma/sample-0001.warc.gz",
)

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def load_pages(root: Path = ZH_HTML) -> list[tuple[str, bytes, str]]:
    """(url, raw html bytes, annotated main text) for every page whose HTML is present.
    The HTML file is named after the base.json key of its annotation."""
    pages = []
    for kind in ("article", "forum"):
        annotations = json.loads((root / kind / "base.json").read_text(encoding="utf-8"))
        for path in sorted((root / kind / "htmls").glob("*.html")):
            entry = annotations[path.stem]
            pages.append((entry["url"], path.read_bytes(), entry["content"]))
    return pages


def tokens(text: str, chinese: bool) -> Counter[str]:
    if chinese:
        return Counter(ch for ch in text if not ch.isspace())
    return Counter(text.split())


def is_chinese(text: str) -> bool:
    chars = [ch for ch in text if not ch.isspace()]
    return bool(chars) and len(_CJK.findall(text)) >= 0.2 * len(chars)


def prf(predicted: str, reference: str) -> tuple[float, float, float]:
    """Multiset precision/recall/F1; the unit (character or word) follows the reference."""
    chinese = is_chinese(reference)
    pred, ref = tokens(predicted, chinese), tokens(reference, chinese)
    if not ref and not pred:
        return 1.0, 1.0, 1.0
    overlap = sum((pred & ref).values())
    if overlap == 0:
        return 0.0, 0.0, 0.0
    p, r = overlap / sum(pred.values()), overlap / sum(ref.values())
    return p, r, 2 * p * r / (p + r)


def evaluate(extract: Callable[[str], str], pages: list[tuple[str, bytes, str]]) -> list[tuple[float, ...]]:
    return [prf(extract(decode_html(html, None)), ref) for _, html, ref in pages]


def warc_html_bodies(paths: list[Path]) -> Iterator[tuple[bytes, str | None]]:
    from warcio.archiveiterator import ArchiveIterator

    for path in paths:
        with open(path, "rb") as fh:
            for rec in ArchiveIterator(fh):
                if rec.rec_type != "response" or rec.http_headers is None:
                    continue
                ctype = rec.http_headers.get_header("Content-Type")
                if ctype and "html" in ctype.lower():
                    yield rec.content_stream().read(), ctype


def speed(extract: Callable[[str], str], docs: list[str], repeats: int) -> float:
    """Median MB/s of HTML (UTF-8 size of the decoded text) over ``repeats`` runs on one core.
    CPU time of this process, not wall time: the benchmark machine is shared and wall time
    measures the neighbours."""
    size = sum(len(d.encode("utf-8")) for d in docs) / 1e6
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        for d in docs:
            extract(d)
        times.append(time.process_time() - t0)
    return size / statistics.median(times)


def end_to_end(paths: list[Path], extractor: str, repeats: int) -> tuple[float, float]:
    """Median MB/s of compressed WARC per core for read (warcio) + decode + extract of every
    HTML response, and the same for reading alone."""
    stage_extract = EXTRACTORS[extractor]
    compressed = sum(p.stat().st_size for p in paths) / 1e6
    full, read_only = [], []
    for _ in range(repeats):
        t0 = time.process_time()
        for body, ctype in warc_html_bodies(paths):
            stage_extract(decode_html(body, ctype))
        full.append(time.process_time() - t0)
        t0 = time.process_time()
        for _body, _ctype in warc_html_bodies(paths):
            pass
        read_only.append(time.process_time() - t0)
    return compressed / statistics.median(full), compressed / statistics.median(read_only)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--extractors", default=",".join(EXTRACTORS))
    ap.add_argument("--per-page", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-speed", action="store_true")
    args = ap.parse_args()
    names = args.extractors.split(",")
    pages = load_pages()
    print(f"{len(pages)} annotated pages")
    print("| extractor | mean F1 | mean precision | mean recall |")
    print("|---|---|---|---|")
    per_page = {}
    for name in names:
        scores = evaluate(EXTRACTORS[name], pages)
        per_page[name] = scores
        p, r, f = (statistics.mean(s[i] for s in scores) for i in range(3))
        print(f"| {name} | {f:.3f} | {p:.3f} | {r:.3f} |")
    if args.per_page:
        print("\nper page F1: " + " ".join(names))
        for i, (url, _, _) in enumerate(pages):
            print(" ".join(f"{per_page[n][i][2]:.2f}" for n in names), url[:90])
    if args.no_speed:
        return
    paths = [DATA / p for p in SPEED_WARCS]
    docs = [decode_html(body, ctype) for body, ctype in warc_html_bodies(paths)]
    compressed = sum(p.stat().st_size for p in paths) / 1e6
    html_mb = sum(len(d.encode("utf-8")) for d in docs) / 1e6
    print(f"\nspeed: {len(docs)} HTML responses, {html_mb:.1f} MB HTML from {compressed:.1f} MB of WARC.gz")
    print(f"| extractor | MB/s HTML per core (median of {args.repeats}) |")
    print("|---|---|")
    for name in names:
        print(f"| {name} | {speed(EXTRACTORS[name], docs, args.repeats):.1f} |")
    e2e, read = end_to_end(paths, names[0], args.repeats)
    print(
        f"\nend to end ({names[0]}): {e2e:.1f} MB/s of WARC.gz per core "
        f"(warcio read + decode_html + extract); warcio reading alone: {read:.1f} MB/s"
    )


if __name__ == "__main__":
    main()
