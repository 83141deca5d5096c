"""Good Chinese pages kept vs junk dropped, side by side, in one run of the real pipeline.

One WARC holds everything: the 54 annotated Chinese pages (HTML responses), the 16 HTML pages of
the Common Crawl spam excerpt (chatnoir-resiliparse/warcfile.warc.gz, re-wrapped as responses
with their own Content-Type) and generated junk as WET-style conversion records (text, as
Common Crawl ships it): link lists and boilerplate taken from the real pages, real lines repeated
(tests/filters_corpus.py), and ChineseWebText's dirty.jsonl when its folder is given. Then

    python -m pipeline.run --input bench.warc.gz --stages extract,normalize,langid,heuristics --keep-rejected

with the default configuration, and the outcome of every record is tallied per set. Every set is
split into a tuning half and a held-out half by a fixed hash of its name (``split_half``); the
heuristics were tuned on the tuning half only.

    python benchmarks/bench_zh_filtering.py [--chinesewebtext DIR] [--halves tune heldout] [--quality-model M]

``--quality-model`` adds the quality stage (threshold 0.5) to the same run.

Spam text is never printed, only counts and reasons.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from conftest import read_shards  # noqa: E402
from filters_corpus import (  # noqa: E402
    SPAM_WARC,
    boilerplate_pages,
    link_list_pages,
    repeated_line_pages,
    split_half,
    zh_html_pages,
)

from benchmarks.text_assets import people_daily_lines  # noqa: E402
from pipeline.run import main as run_pipeline  # noqa: E402
from pipeline.sample import http_response, warc_record  # noqa: E402

STAGES = "extract,normalize,langid,heuristics"
DATE = "2024-05-20T00:00:00Z"


def spam_responses() -> list[tuple[str, bytes, str]]:
    """(url, HTML body, Content-Type) of every HTML response of the spam excerpt."""
    from warcio.archiveiterator import ArchiveIterator

    out = []
    with open(SPAM_WARC, "rb") as f:
        for rec in ArchiveIterator(f):
            if rec.rec_type == "response" and rec.http_headers is not None:
                content_type = rec.http_headers.get_header("Content-Type") or ""
                if "html" in content_type:
                    out.append(
                        (
                            rec.rec_headers.get_header("WARC-Target-URI"),
                            rec.content_stream().read(),
                            content_type,
                        )
                    )
    return out


def build_warc(path: Path, halves: list[str], chinesewebtext: str | None) -> dict[str, tuple[str, str, dict]]:
    """Write the benchmark WARC; return url -> (set, half, facts) for every record."""
    records: list[bytes] = []
    labels: dict[str, tuple[str, str, dict]] = {}

    def add(kind: str, set_name: str, half: str, key: str, block: bytes, content_type: str, facts: dict):
        url = f"https://bench.invalid/{set_name}/{half}/{len(labels)}"
        labels[url] = (set_name, half, facts)
        records.append(gzip.compress(warc_record(kind, url, block, content_type, key, DATE), mtime=0))

    for name, html, main in zh_html_pages():
        half = split_half(name)
        if half in halves:
            # No charset in the HTTP header: <meta> or detection must find it, as on the real web.
            facts = {"annotated_chars": len(main)}
            add("response", "good: 54 annotated zh pages", half, name, http_response(html, "text/html"),
                "application/http; msgtype=response", facts)  # fmt: skip
    for url, body, content_type in spam_responses():
        half = split_half(url)
        if half in halves:
            add("response", "junk: CC spam excerpt (16 HTML pages)", half, url, http_response(body, content_type),
                "application/http; msgtype=response", {})  # fmt: skip
    pd = list(people_daily_lines())
    junk = {
        "junk: link lists": {h: link_list_pages(h) for h in halves},
        "junk: boilerplate around the main text": {h: boilerplate_pages(h) for h in halves},
        "junk: repeated real lines": {
            h: repeated_line_pages(pd[5000:], 60, seed=1 if h == "tune" else 2) for h in halves
        },
    }
    if chinesewebtext:
        with open(Path(chinesewebtext) / "dirty.jsonl", encoding="utf-8") as f:
            dirty = [(f"dirty{i}", json.loads(line)["text"]) for i, line in enumerate(f) if line.strip()]
        junk["junk: ChineseWebText dirty.jsonl"] = {
            h: [d for d in dirty if split_half(d[0]) == h] for h in halves
        }
    for set_name, by_half in junk.items():
        for half, docs in by_half.items():
            for key, text in docs:
                add("conversion", set_name, half, key, text.encode("utf-8"), "text/plain", {})
    path.write_bytes(b"".join(records))
    return labels


def tally(out: Path, labels: dict[str, tuple[str, str, dict]]) -> dict:
    kept = read_shards(out / "documents")
    rejected = read_shards(out / "rejected") if list((out / "rejected").glob("part-*.arrow")) else None
    result: dict = defaultdict(
        lambda: {"n": 0, "kept": 0, "kept_zh": 0, "reasons": Counter(), "good100": [0, 0]}
    )
    seen = set()
    for url, lang in zip(kept.column("url").to_pylist(), kept.column("lang").to_pylist(), strict=True):
        set_name, half, facts = labels[url]
        r = result[(set_name, half)]
        r["n"] += 1
        r["kept"] += 1
        r["kept_zh"] += lang == "zh"
        if facts.get("annotated_chars", 0) >= 100:
            r["good100"][0] += lang == "zh"
            r["good100"][1] += 1
        seen.add(url)
    if rejected is not None:
        cols = [rejected.column(c).to_pylist() for c in ("url", "stage", "reason")]
        for url, stage, reason in zip(*cols, strict=True):
            set_name, half, facts = labels[url]
            r = result[(set_name, half)]
            r["n"] += 1
            r["reasons"][f"{stage}:{reason}"] += 1
            if facts.get("annotated_chars", 0) >= 100:
                r["good100"][1] += 1
            seen.add(url)
    missing = set(labels) - seen
    for url in missing:  # dropped while reading (no document to reject)
        set_name, half, _ = labels[url]
        result[(set_name, half)]["n"] += 1
        result[(set_name, half)]["reasons"]["read:unaccounted"] += 1
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chinesewebtext", help="folder with ChineseWebText's dirty.jsonl (fasttext/data/)")
    ap.add_argument("--halves", nargs="+", default=["tune", "heldout"], choices=["tune", "heldout"])
    ap.add_argument("--quality-model", help="also run the quality stage (threshold 0.5) with this model")
    args = ap.parse_args()
    stages = STAGES + (",quality" if args.quality_model else "")
    with tempfile.TemporaryDirectory() as tmp:
        warc = Path(tmp) / "bench.warc.gz"
        labels = build_warc(warc, args.halves, args.chinesewebtext)
        out = Path(tmp) / "out"
        argv = [
            "--input",
            str(warc),
            "--output",
            str(out),
            "--stages",
            stages,
            "--keep-rejected",
            "--no-progress",
        ]
        if args.quality_model:
            argv += ["--set", f"quality.model={args.quality_model}"]
        if run_pipeline(argv) != 0:
            raise SystemExit("pipeline run failed")
        result = tally(out, labels)
    print(f"`python -m pipeline.run --stages {stages}` (defaults), one run over every set below\n")
    print("| set | half | documents | kept | share kept | share dropped | drops by stage:reason |")
    print("|---|---|---:|---:|---:|---:|---|")
    for (set_name, half), r in sorted(result.items()):
        good = set_name.startswith("good")
        kept = r["kept_zh"] if good else r["kept"]
        label = "kept with lang == zh" if good else "kept"
        reasons = ", ".join(f"{k} {v}" for k, v in r["reasons"].most_common())
        print(
            f"| {set_name} | {half} | {r['n']} | {kept} ({label}) | {kept / r['n']:.1%} | "
            f"{1 - kept / r['n']:.1%} | {reasons} |"
        )
        if good:
            k, n = r["good100"]
            print(
                f"| {set_name}, annotated main text >= 100 chars | {half} | {n} | {k} | {k / max(n, 1):.1%} | | |"
            )


if __name__ == "__main__":
    main()
