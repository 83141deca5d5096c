"""Main-text extraction judged by snippets: trafilatura's evaluation corpus.

trafilatura's repository (github.com/adbar/trafilatura, ``tests/evaldata.json`` and
``tests/eval/*.html``, fetched outside this repository: ``<root>/adbar+trafilatura/tests/``) holds
~990 real pages, mostly German and English blogs and news, each with up to six snippets that the
main text must contain ("with") and up to six it must not ("without"). A page's score is the share
of its snippets an extractor gets right (a "with" snippet found, a "without" snippet absent, after
whitespace is collapsed and both are put in NFC); the set's score is the mean over pages, with a
bootstrap 95% interval, on the tuning and the held-out half (``extract_devsets.split_of``, set
name "trafilatura-eval").
Recall ("with" found) and precision-side ("without" absent) shares are printed apart.

The corpus was written by trafilatura's author and is what trafilatura is evaluated on: it favours
trafilatura, and is here as a further, independent source of patterns for our extractor.

    python benchmarks/extract_snippets.py [--data ROOT] [--split tune|held|both] [--worst N]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.extract_devsets import DEFAULT_DEV_ROOT, Page  # noqa: E402
from benchmarks.extract_quality import mean_and_interval, outputs  # noqa: E402

SET = "trafilatura-eval"
_SPACE = re.compile(r"\s+")


def _norm(text: str) -> str:
    """Whitespace collapsed, in Unicode NFC: a snippet and a page may spell the same letter in
    two ways (Bengali "য়" as one code point or two), and what the pipeline keeps is NFC (the
    normalize stage runs right after extraction; trafilatura normalises its own output)."""
    return unicodedata.normalize("NFC", _SPACE.sub(" ", text).strip())


@dataclasses.dataclass(frozen=True)
class SnippetPage:
    page: Page  # its reference is empty: the snippets stand for it
    with_: list[str]
    without: list[str]


def load(root: Path) -> list[SnippetPage]:
    """Every page whose file is there, with its snippets."""
    tests = root / "adbar+trafilatura" / "tests"
    data = json.loads((tests / "evaldata.json").read_text(encoding="utf-8"))
    out = []
    for url, item in data.items():
        path = tests / "eval" / item["file"]
        if not path.exists():
            path = tests / "cache" / item["file"]
        if path.exists():
            page = Page(SET, url, path.read_bytes(), "")
            out.append(SnippetPage(page, item.get("with") or [], item.get("without") or []))
    return out


def score(text: str, with_: list[str], without: list[str]) -> tuple[int, int, int, int]:
    """(with found, with total, without absent, without total)."""
    body = _norm(text)
    found = sum(1 for s in with_ if _norm(s) in body)
    absent = sum(1 for s in without if _norm(s) not in body)
    return found, len(with_), absent, len(without)


def page_share(result: tuple[int, int, int, int]) -> float:
    """A page's score: the share of its snippets got right (``score``'s result)."""
    return (result[0] + result[2]) / max(1, result[1] + result[3])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DEV_ROOT)
    ap.add_argument("--extractors", default="blocks,blocks-comments,trafilatura,trafilatura-nocomments")
    ap.add_argument("--split", choices=("tune", "held", "both"), default="both")
    ap.add_argument("--worst", type=int, default=0, help="list the N pages where ours loses most")
    args = ap.parse_args()
    names = args.extractors.split(",")
    pages = load(args.data)
    splits = ["tune", "held"] if args.split == "both" else [args.split]
    print(f"{SET}: {len(pages)} pages under {args.data}")
    plain = [p.page for p in pages]
    results = {
        n: [
            score(t, p.with_, p.without)
            for t, p in zip(outputs(n, plain, args.data / ".cache"), pages, strict=True)
        ]
        for n in names
    }

    print(
        "| extractor | half | pages | snippets right, page mean [95% CI] | 'with' found | 'without' absent |"
    )
    print("|---|---|---|---|---|---|")
    for split in splits:
        idx = [i for i, p in enumerate(plain) if p.split == split]
        for n in names:
            rows = [results[n][i] for i in idx]
            found = sum(r[0] for r in rows) / max(1, sum(r[1] for r in rows))
            absent = sum(r[2] for r in rows) / max(1, sum(r[3] for r in rows))
            print(
                f"| {n} | {split} | {len(idx)} | {mean_and_interval([page_share(r) for r in rows])} | {found:.3f} | {absent:.3f} |"
            )
    if args.worst and len(names) > 1:
        ours, theirs = names[0], names[-1]
        idx = [i for i, p in enumerate(plain) if p.split in splits]
        idx.sort(key=lambda i: page_share(results[ours][i]) - page_share(results[theirs][i]))
        print(f"\npages where {ours} loses most to {theirs} (with found/total, without absent/total):")
        for i in idx[: args.worst]:
            a, b = results[ours][i], results[theirs][i]
            print(f"  {a[0]}/{a[1]} {a[2]}/{a[3]}  vs  {b[0]}/{b[1]} {b[2]}/{b[3]}  {plain[i].id[:100]}")


if __name__ == "__main__":
    main()
