"""Chunked, resumable runs (``--resume``) against one run on the same input.

    python benchmarks/bench_resume.py [--mb 10] [--scale 10] [--chunk-mb 32,16] [--repeats 3]
                                      [--parts overhead,memory,resume]

Input: the corpus of benchmarks/bench_scale.py (benchmarks/make_corpus.py) at ``--scale`` times
``--mb`` MB of text (at 10x: one 64 MB WET file, 28,921 documents), the WET path's steps
(normalize, exact_dedup, minhash_dedup, pii, tokenize), DirectRunner, one worker. Each run is a
``python -m pipeline.run`` child process; its CPU time is user + sys of the child and every
process it waited for (rusage), its memory the peak RSS of the largest of them.

- overhead: one run, ``--resume`` with the default chunk size (256 MB: one chunk at this size)
  and ``--resume`` with each of the ``--chunk-mb`` sizes, interleaved, ``--repeats`` times;
  medians and the ratio to one run. Documents and tokens written are printed too: they differ a
  little from one run's, because across chunks the earlier copy of a duplicate survives.
- memory: peak RSS of a one-shot run at 1x against the one-shot and the chunked runs at
  ``--scale``, and of each chunked case at half the input: growth per input document (RESULTS.md
  has the one-shot figure: 1.08 KB/doc from 1x to 10x).
- many: the 1x input in 16 chunks in one process against one run of it (peak RSS must not grow
  with the number of chunks; CPU per extra chunk).
- resume: a ``--resume`` run in 5 chunks is killed (SIGKILL) once 4 are committed and the fifth has
  begun (80%), then run again; the resumed part's CPU against a whole run from scratch, and the
  final documents against an uninterrupted run with the same chunking.

Nothing here asserts anything; results are printed as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

from bench_scale import STAGES_WET, make_corpus, run_pipeline, tokenizer_path  # noqa: E402
from conftest import read_shards  # noqa: E402


def fresh(out: Path) -> Path:
    """An empty output folder: bench_scale.run_pipeline passes --overwrite, which a --resume run
    takes as "continue the same plan", and every repeat must do the whole work."""
    shutil.rmtree(out, ignore_errors=True)
    return out


def chunked(chunk_mb: float | None) -> list[str]:
    return ["--resume"] + (["--set", f"chunks.mb={chunk_mb}"] if chunk_mb else [])


def summary(runs: list[dict]) -> dict:
    return {
        "cpu_s": [round(r["cpu_s"], 2) for r in runs],
        "cpu_s_median": round(statistics.median(r["cpu_s"] for r in runs), 2),
        "wall_s_median": round(statistics.median(r["wall_s"] for r in runs), 2),
        "rss_mb_max": round(max(r["rss_mb"] for r in runs), 1),
        "docs_in": runs[0]["docs_in"],
        "docs_out": runs[0]["docs_out"],
        "tokens": runs[0]["tokens"],
        "dropped": runs[0]["dropped"],
    }


def bench_overhead(wet: list[str], tmp: Path, chunk_mbs: list[float], repeats: int) -> dict:
    cases = {"one run": [], "--resume, default chunks": chunked(None)}
    cases.update({f"--resume, {mb:g} MB chunks": chunked(mb) for mb in chunk_mbs})
    runs: dict[str, list[dict]] = {name: [] for name in cases}
    for repeat in range(repeats):
        for index, (name, extra) in enumerate(cases.items()):
            runs[name].append(run_pipeline(wet, fresh(tmp / f"overhead-{index}"), STAGES_WET, extra))
            print(
                f"overhead {repeat + 1}/{repeats} {name}: {runs[name][-1]['cpu_s']:.2f} CPU s",
                file=sys.stderr,
            )
    out = {name: summary(r) for name, r in runs.items()}
    base = out["one run"]["cpu_s_median"]
    for index, name in enumerate(cases):
        out[name]["cpu_ratio_to_one_run"] = round(out[name]["cpu_s_median"] / base, 3)
        if index:
            manifest = json.loads((tmp / f"overhead-{index}" / "manifest.json").read_text())
            out[name]["chunks"] = manifest["chunks"]["count"]
    return out


def bench_memory(
    small: list[str], half: list[str], tmp: Path, overhead: dict, chunk_mbs: list[float]
) -> dict:
    """Peak RSS growth per input document: from a one-shot 1x run to each large run of
    ``overhead``, and for each chunk size from the same chunking at half the large input (what
    a chunked run's memory does as its input grows)."""
    one = run_pipeline(small, fresh(tmp / "memory-1x"), STAGES_WET)
    out: dict = {"one run 1x": {"rss_mb": round(one["rss_mb"], 1), "docs_in": one["docs_in"]}}
    for name, big in overhead.items():
        growth = (big["rss_mb_max"] - one["rss_mb"]) * 1024 / (big["docs_in"] - one["docs_in"])
        out[name] = {
            "rss_mb": big["rss_mb_max"],
            "docs_in": big["docs_in"],
            "growth_kb_per_doc_from_1x": round(growth, 3),
        }
    # Many small chunks in one process: the `many` part (bench_many) measures their peak.
    for mb in chunk_mbs:
        name = f"--resume, {mb:g} MB chunks"
        run = run_pipeline(half, fresh(tmp / "memory-half"), STAGES_WET, chunked(mb))
        big = overhead[name]
        growth = (big["rss_mb_max"] - run["rss_mb"]) * 1024 / (big["docs_in"] - run["docs_in"])
        out[f"{name}, half the input"] = {
            "rss_mb": round(run["rss_mb"], 1),
            "docs_in": run["docs_in"],
            "growth_kb_per_doc_to_full_input": round(growth, 3),
        }
    return out


def bench_many(small: list[str], tmp: Path) -> dict:
    """The 1x input in 16 chunks in one process against one run of it: what many chunks cost in
    memory (a chunk's peak must not grow with the chunks before it) and in CPU."""
    size = sum(os.path.getsize(p) for p in small)
    mb = math.ceil(size / 16 / 1e4) / 100
    one = run_pipeline(small, fresh(tmp / "many-one"), STAGES_WET)
    many = run_pipeline(small, fresh(tmp / "many-chunks"), STAGES_WET, chunked(mb))
    chunks = json.loads((tmp / "many-chunks" / "manifest.json").read_text())["chunks"]["count"]
    return {
        "one run 1x": {"rss_mb": round(one["rss_mb"], 1), "cpu_s": round(one["cpu_s"], 2)},
        f"1x in {chunks} chunks of {mb:g} MB": {
            "rss_mb": round(many["rss_mb"], 1),
            "cpu_s": round(many["cpu_s"], 2),
            "cpu_s_per_extra_chunk": round((many["cpu_s"] - one["cpu_s"]) / (chunks - 1), 2),
        },
    }


def killed_run(inputs: list[str], out: Path, extra: list[str], kill_after: int) -> dict:
    """A --resume run SIGKILLed once ``kill_after`` chunks are committed and the next has begun."""
    cmd = [sys.executable, "-m", "pipeline.run", "--output", str(out), "--stages", STAGES_WET,
           "--tokenizer", tokenizer_path(), "--no-progress", "--overwrite", *extra]  # fmt: skip
    for path in inputs:
        cmd += ["--input", path]
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    last = out / "chunks" / f"{kill_after - 1:05d}" / "manifest.json"
    while proc.poll() is None:
        if last.exists() and list(out.glob(f"chunks/{kill_after:05d}/.tmp-*")):
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    _, _, usage = os.wait4(proc.pid, 0)
    return {"cpu_s": usage.ru_utime + usage.ru_stime, "wall_s": time.monotonic() - start}


def documents_of(out: Path) -> list[tuple[str, str]]:
    table = read_shards(out / "documents")
    return sorted(zip(table.column("id").to_pylist(), table.column("text").to_pylist(), strict=True))


def bench_resume(wet: list[str], size: int, tmp: Path) -> dict:
    chunk_mb = math.ceil(size / 5 / 1e5) / 10  # five chunks, the last one a little smaller
    extra = chunked(chunk_mb)
    whole = run_pipeline(wet, fresh(tmp / "resume-whole"), STAGES_WET, extra)
    killed = killed_run(wet, fresh(tmp / "resume-killed"), extra, kill_after=4)
    committed = len(list((tmp / "resume-killed").glob("chunks/*/manifest.json")))
    resumed = run_pipeline(wet, tmp / "resume-killed", STAGES_WET, extra)  # the same plan: it continues
    same = documents_of(tmp / "resume-killed") == documents_of(tmp / "resume-whole")
    stats = [
        json.loads((tmp / d / "stats.json").read_text())["stages"] for d in ("resume-killed", "resume-whole")
    ]
    same_stats = [{k: (v["in"], v["out"], v["dropped"]) for k, v in s.items()} for s in stats]
    return {
        "chunk_mb": chunk_mb,
        "uninterrupted chunked run": {"cpu_s": round(whole["cpu_s"], 2), "wall_s": round(whole["wall_s"], 2)},
        "killed run": {
            "cpu_s": round(killed["cpu_s"], 2),
            "wall_s": round(killed["wall_s"], 2),
            "chunks_committed_when_killed": committed,
        },  # fmt: skip
        "resumed run": {"cpu_s": round(resumed["cpu_s"], 2), "wall_s": round(resumed["wall_s"], 2)},
        "cpu_saved_vs_rerun_from_scratch_s": round(whole["cpu_s"] - resumed["cpu_s"], 2),
        "cpu_saved_share": round(1 - resumed["cpu_s"] / whole["cpu_s"], 3),
        "same_documents_as_uninterrupted": same,
        "same_stats_as_uninterrupted": same_stats[0] == same_stats[1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=float, default=10.0, help="text MB of the 1x corpus")
    parser.add_argument("--scale", type=int, default=10, help="the large corpus is this many times --mb")
    parser.add_argument("--chunk-mb", default="32,16", help="chunk sizes (MB) of the chunked cases")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", default="overhead,memory,many,resume")
    parser.add_argument(
        "--workdir", help="keep corpora here between invocations (default: a temporary folder)"
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    chunk_mbs = [float(mb) for mb in args.chunk_mb.split(",")]
    if "memory" in parts:
        parts.add("overhead")  # its large runs are the memory part's
    with tempfile.TemporaryDirectory(prefix="bench-resume-") as scratch:
        work = Path(args.workdir or scratch)
        large = make_corpus(args.mb * args.scale, work / f"corpus-{args.mb * args.scale:g}")
        wet = large["files"]["wet"]
        size = sum(os.path.getsize(p) for p in wet)
        results: dict = {
            "input": {"wet_files": len(wet), "wet_mb": round(size / 1e6, 2), "docs": large.get("documents")}
        }
        runs = work / "runs"
        runs.mkdir(exist_ok=True)
        if "overhead" in parts:
            results["overhead"] = bench_overhead(wet, runs, chunk_mbs, args.repeats)
        if "memory" in parts:
            small = make_corpus(args.mb, work / f"corpus-{args.mb:g}")["files"]["wet"]
            half_mb = args.mb * args.scale / 2
            half = make_corpus(half_mb, work / f"corpus-{half_mb:g}")["files"]["wet"]
            results["memory"] = bench_memory(small, half, runs, results["overhead"], chunk_mbs)
        if "many" in parts:
            small = make_corpus(args.mb, work / f"corpus-{args.mb:g}")["files"]["wet"]
            results["many"] = bench_many(small, runs)
        if "resume" in parts:
            results["resume"] = bench_resume(wet, size, runs)
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
