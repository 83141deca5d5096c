"""Good pages kept vs junk dropped, side by side, in one run of the real pipeline.

One WARC holds everything: the 54 annotated Chinese pages (HTML responses), the 16 HTML pages of
the Common Crawl spam excerpt (chatnoir-resiliparse/warcfile.warc.gz, re-wrapped as responses
with their own Content-Type) and generated junk as WET-style conversion records (text, as
Common Crawl ships it): link lists and boilerplate taken from the real pages, real lines repeated
(tests/filters_corpus.py), and ChineseWebText's dirty.jsonl when its folder is given. With
``--daniel``, the DAnIEL news corpus (real Chinese and English news pages of 2011-2012 with
annotated main text, github.com/rundimeco/waddle ``corpora/Corpus_daniel_v2.1``, read by
benchmarks/extract_devsets.py) joins as good pages, and its Chinese pages give more generated
junk of the same two kinds as the 54 pages give (link lists, boilerplate around the main text),
each in the half of the page it comes from; ``--english`` adds the English sets Dragnet and
L3S-GN1 from the same folder: a change for Chinese must not drop English pages. Then

    python -m pipeline.run --input bench.warc.gz --stages extract,normalize,langid,heuristics --keep-rejected

with the default configuration, and the outcome of every record is tallied per set: a good page
counts when it is kept with its language (zh or en), junk when it is dropped. Every set is split
into a tuning half and a held-out half by a fixed hash of its name (``split_half``; DAnIEL and the
English sets by ``extract_devsets.split_of``); the heuristics were tuned on tuning halves only.
Shares come with a 95% bootstrap interval. Drop reasons are printed for tuning halves only
(``--show-heldout-reasons`` to see them for the held-out halves too, once, at the end).

    python benchmarks/bench_zh_filtering.py [--chinesewebtext DIR] [--daniel DIR] [--english]
        [--halves tune heldout] [--code CHECKOUT] [--quality-model M] [--show-heldout-reasons]

``--code`` runs the pipeline of another checkout (e.g. main's, for a before/after on the same
WARC); ``--quality-model`` adds the quality stage (threshold 0.5) to the same run.

Spam text is never printed, only counts and reasons.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from conftest import read_shards  # noqa: E402
from filters_corpus import (  # noqa: E402
    SPAM_WARC,
    boilerplate_around,
    boilerplate_pages,
    html_responses,
    link_list_pages,
    link_lists,
    repeated_line_pages,
    split_half,
    zh_html_pages,
)

from benchmarks.extract_devsets import daniel_en, daniel_zh, dragnet, l3s_gn1  # noqa: E402
from benchmarks.text_assets import people_daily_lines  # noqa: E402
from pipeline.sample import http_response, warc_record  # noqa: E402

STAGES = "extract,normalize,langid,heuristics"
DATE = "2024-05-20T00:00:00Z"
GOOD_54 = "good zh: 54 annotated pages"
SPAM = "junk: CC spam excerpt (16 HTML pages)"
DIRTY = "junk: ChineseWebText dirty.jsonl"
DANIEL_ZH = "good zh: DAnIEL news"
LINKS_54 = "junk: link lists"
BOILERPLATE_54 = "junk: boilerplate around the main text"
LINKS_DANIEL = "junk: link lists of DAnIEL zh pages"
BOILERPLATE_DANIEL = "junk: boilerplate around DAnIEL zh main text"
# What the issue counts as junk: the spam pages and the generated junk (dirty.jsonl is text that
# ChineseWebText's quality classifier was trained to reject, not junk of those kinds). Round 2's
# total (generated from the 54 pages only) is reported next to the one with DAnIEL's junk.
JUNK_54 = (SPAM, LINKS_54, BOILERPLATE_54, "junk: repeated real lines")
ISSUE_JUNK = (*JUNK_54, LINKS_DANIEL, BOILERPLATE_DANIEL)


def good_sets(daniel: str | None, english: bool) -> dict[str, tuple[str, list[tuple[str, str, bytes, str]]]]:
    """set name -> (language, [(key, half, HTML, annotated text)]) of the annotated page sets."""
    sets = {
        GOOD_54: ("zh", [(name, split_half(name), html, main) for name, html, main in zh_html_pages()]),
    }
    loaders = {}
    if daniel:
        loaders[DANIEL_ZH] = ("zh", daniel_zh)
        loaders["good en: DAnIEL news"] = ("en", daniel_en)
    if english:
        loaders["good en: Dragnet"] = ("en", dragnet)
        loaders["good en: L3S-GN1"] = ("en", l3s_gn1)
    for set_name, (lang, loader) in loaders.items():
        pages = [p for p in loader(Path(daniel)) if p.reference.strip()] if daniel else []
        if not pages:
            raise SystemExit(f"{set_name}: no pages under {daniel}")
        half = {"tune": "tune", "held": "heldout"}
        sets[set_name] = (lang, [(p.id, half[p.split], p.html, p.reference) for p in pages])
    return sets


def build_warc(
    path: Path, halves: list[str], chinesewebtext: str | None, daniel: str | None, english: bool
) -> dict[str, tuple[str, str, dict]]:
    """Write the benchmark WARC; return url -> (set, half, facts) for every record."""
    records: list[bytes] = []
    labels: dict[str, tuple[str, str, dict]] = {}

    def add(kind: str, set_name: str, half: str, key: str, block: bytes, content_type: str, facts: dict):
        url = f"https://bench.invalid/{half}/{len(labels)}"
        labels[url] = (set_name, half, facts)
        records.append(gzip.compress(warc_record(kind, url, block, content_type, key, DATE), mtime=0))

    good = good_sets(daniel, english)
    for set_name, (lang, pages) in good.items():
        for key, half, html, main in pages:
            if half in halves:
                # No charset in the HTTP header: <meta> or detection must find it, as on the real web.
                facts = {"lang": lang, "annotated_chars": len(main.strip())}
                add("response", set_name, half, key, http_response(html, "text/html"),
                    "application/http; msgtype=response", facts)  # fmt: skip
    for url, body, content_type in html_responses(SPAM_WARC):
        half = split_half(url)
        if half in halves:
            add("response", SPAM, half, url, http_response(body, content_type),
                "application/http; msgtype=response", {})  # fmt: skip
    pd = list(people_daily_lines())
    junk = {
        LINKS_54: {h: link_list_pages(h) for h in halves},
        BOILERPLATE_54: {h: boilerplate_pages(h) for h in halves},
        "junk: repeated real lines": {
            h: repeated_line_pages(pd[5000:], 60, seed=1 if h == "tune" else 2) for h in halves
        },
    }
    if daniel:
        zh_pages = good[DANIEL_ZH][1]
        junk[LINKS_DANIEL] = {
            h: link_lists((k, html) for k, half, html, _ in zh_pages if half == h) for h in halves
        }
        junk[BOILERPLATE_DANIEL] = {
            h: boilerplate_around((k, html, main) for k, half, html, main in zh_pages if half == h)
            for h in halves
        }
    if chinesewebtext:
        with open(Path(chinesewebtext) / "dirty.jsonl", encoding="utf-8") as f:
            dirty = [(f"dirty{i}", json.loads(line)["text"]) for i, line in enumerate(f) if line.strip()]
        junk[DIRTY] = {h: [d for d in dirty if split_half(d[0]) == h] for h in halves}
    for set_name, by_half in junk.items():
        for half, docs in by_half.items():
            for key, text in docs:
                add("conversion", set_name, half, key, text.encode("utf-8"), "text/plain", {})
    path.write_bytes(b"".join(records))
    return labels


def tally(out: Path, labels: dict[str, tuple[str, str, dict]]) -> dict:
    """(set, half) -> n, successes (good: kept with its language; junk: dropped), reasons, and
    the same for good pages with >= 100 annotated characters."""
    kept = read_shards(out / "documents")
    rejected = read_shards(out / "rejected") if list((out / "rejected").glob("part-*.arrow")) else None
    result: dict = defaultdict(lambda: {"n": 0, "ok": 0, "reasons": Counter(), "good100": [0, 0]})
    seen = set()

    def record(url: str, ok: bool, reason: str | None) -> None:
        set_name, half, facts = labels[url]
        r = result[(set_name, half)]
        r["n"] += 1
        r["ok"] += ok
        if reason:
            r["reasons"][reason] += 1
        if facts.get("annotated_chars", 0) >= 100:
            r["good100"][0] += ok
            r["good100"][1] += 1
        seen.add(url)

    for url, lang in zip(kept.column("url").to_pylist(), kept.column("lang").to_pylist(), strict=True):
        want = labels[url][2].get("lang")
        record(
            url,
            ok=want == lang if want else False,
            reason=f"kept as {lang}" if want and lang != want else None,
        )
    if rejected is not None:
        cols = [rejected.column(c).to_pylist() for c in ("url", "stage", "reason")]
        for url, stage, reason in zip(*cols, strict=True):
            record(url, ok=not labels[url][2].get("lang"), reason=f"{stage}:{reason}")
    for url in set(labels) - seen:  # dropped while reading (no document to reject)
        record(url, ok=not labels[url][2].get("lang"), reason="read:unaccounted")
    return result


def interval(ok: int, n: int, rng: np.random.Generator, draws: int = 4000) -> str:
    """95% percentile-bootstrap interval of the share ok/n (resampling the n outcomes)."""
    if n == 0:
        return ""
    shares = rng.binomial(n, ok / n, size=draws) / n
    lo, hi = np.percentile(shares, [2.5, 97.5])
    return f"{lo:.1%}-{hi:.1%}"


def report(result: dict, stages: str, show_heldout_reasons: bool) -> None:
    rng = np.random.default_rng(0)
    print(f"`python -m pipeline.run --stages {stages}` (defaults), one run over every set below\n")
    print(
        "| set | half | documents | kept with its language (good) / dropped (junk) | share | 95% bootstrap | drops by stage:reason |"
    )
    print("|---|---|---:|---:|---:|---|---|")
    totals: dict = defaultdict(lambda: [0, 0])
    for (set_name, half), r in sorted(result.items()):
        reasons = ", ".join(f"{k} {v}" for k, v in r["reasons"].most_common())
        if half != "tune" and not show_heldout_reasons:
            reasons = "(held out: not shown)"
        share = r["ok"] / r["n"]
        print(
            f"| {set_name} | {half} | {r['n']} | {r['ok']} | {share:.1%} | {interval(r['ok'], r['n'], rng)} | {reasons} |"
        )
        if set_name.startswith("good"):
            k, n = r["good100"]
            if n != r["n"]:
                print(
                    f"| {set_name}, annotated main text >= 100 chars | {half} | {n} | {k} | {k / max(n, 1):.1%} | {interval(k, n, rng)} | |"
                )
        else:
            groups = ["junk, all"] + (
                ["junk: spam + generated (the issue's)"] if set_name in ISSUE_JUNK else []
            )
            groups += (
                ["junk: spam + generated from the 54 pages (round 2's total)"] if set_name in JUNK_54 else []
            )
            for group in groups:
                totals[(group, half)][0] += r["ok"]
                totals[(group, half)][1] += r["n"]
    for (group, half), (ok, n) in sorted(totals.items()):
        print(f"| **{group}** | {half} | {n} | {ok} | **{ok / n:.1%}** | {interval(ok, n, rng)} | |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chinesewebtext", help="folder with ChineseWebText's dirty.jsonl (fasttext/data/)")
    ap.add_argument(
        "--daniel",
        metavar="DIR",
        help="extraction dev-set root holding rundimeco+waddle/ (e.g. /work/data/extract)",
    )
    ap.add_argument(
        "--english",
        action="store_true",
        help="also the English sets Dragnet and L3S-GN1 (from --daniel's DIR)",
    )
    ap.add_argument("--halves", nargs="+", default=["tune", "heldout"], choices=["tune", "heldout"])
    ap.add_argument("--code", default=str(REPO), help="checkout whose pipeline runs (default: this one)")
    ap.add_argument("--quality-model", help="also run the quality stage (threshold 0.5) with this model")
    ap.add_argument("--show-heldout-reasons", action="store_true")
    args = ap.parse_args()
    if args.english and not args.daniel:
        ap.error("--english reads its sets from --daniel's folder")
    stages = STAGES + (",quality" if args.quality_model else "")
    with tempfile.TemporaryDirectory() as tmp:
        warc = Path(tmp) / "bench.warc.gz"
        labels = build_warc(warc, args.halves, args.chinesewebtext, args.daniel, args.english)
        out = Path(tmp) / "out"
        cmd = [sys.executable, "-m", "pipeline.run", "--input", str(warc), "--output", str(out)]
        cmd += ["--stages", stages, "--keep-rejected", "--no-progress"]
        if args.quality_model:
            cmd += ["--set", f"quality.model={Path(args.quality_model).resolve()}"]
        proc = subprocess.run(cmd, cwd=args.code, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"pipeline run failed ({args.code}):\n{proc.stderr[-3000:]}")
        print(f"code: {args.code}; {len(labels)} records")
        report(tally(out, labels), stages, args.show_heldout_reasons)


if __name__ == "__main__":
    main()
