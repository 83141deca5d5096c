"""End-to-end throughput, per-stage cost, memory and worker scaling of the whole pipeline.

    python benchmarks/bench_scale.py [--mb 10] [--repeats 3] [--parts throughput,stages,memory,scaling]
                                     [--memory-stages normalize,pii,tokenize]

Makes corpora with benchmarks/make_corpus.py (real English + Chinese text, 8% exact and 8% near
duplicates, 15% of documents with an email and a phone number) in a temporary folder, then:

- throughput: ``python -m pipeline.run`` (DirectRunner, one worker) WET -> normalize, exact_dedup,
  minhash_dedup, pii, tokenize -> Arrow, and the WARC path with extract in front. Tokens are the
  tokens written (``stats.json`` tokenize count). Per core = tokens / CPU seconds of the run
  (user + sys of the process and everything it waited for, interpreter start included), so other
  load on a shared machine does not count; wall time is printed beside it.
- stages: the pure stage cores on the same documents in one process (CPU time per stage).
- memory: peak RSS of the run at 1x and 10x input; growth per input document, with the dedup joins
  as the DirectRunner does them by default (``join: auto``, text spilled to files) and forced
  through the in-memory shuffle (``join: shuffle``). ``--memory-stages`` runs a subset of the WET
  stages instead (to see which step the growth comes from); the shuffle run is added only when a
  dedup stage is in it.
- scaling: wall and CPU time with 1 and 2 workers (``--direct_num_workers=2
  --direct_running_mode=multi_processing``): the single file read whole, the same file read in
  1 MB byte ranges (``read.split_mb=1``), and the corpus split in 8 files; ``--parts scaling10x``
  adds the 10x corpus in 8 MB byte ranges.

Tokenizer: the LLaMA-style 32k sentencepiece model shipped in the mistral-common PyPI package.
Nothing here asserts anything; results are printed as JSON (medians over --repeats).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

STAGES_WET = "normalize,exact_dedup,minhash_dedup,pii,tokenize"
STAGES_WARC = "extract," + STAGES_WET


def tokenizer_path() -> str:
    from tok_assets import llama_style_model

    return str(llama_style_model())


def make_corpus(mb: float, out: Path, files: int = 1) -> dict:
    if not (out / "truth.json").exists():
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "benchmarks" / "make_corpus.py"),
                "--mb",
                str(mb),
                "--out",
                str(out),
                "--files",
                str(files),
            ],
            check=True,
            stderr=subprocess.DEVNULL,
        )
    return json.loads((out / "truth.json").read_text())


def run_pipeline(inputs: list[str], out: Path, stages: str, extra: list[str] = ()) -> dict:
    """One pipeline run in a child process: CPU (user+sys, incl. its waited-for children), wall,
    peak RSS, and the run's stats."""
    cmd = [
        sys.executable,
        "-m",
        "pipeline.run",
        "--output",
        str(out),
        "--stages",
        stages,
        "--tokenizer",
        tokenizer_path(),
        "--no-progress",
        "--overwrite",  # repeats write into the same folder
        *extra,
    ]
    for path in inputs:
        cmd += ["--input", path]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    err = proc.stderr.read().decode()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"pipeline failed ({proc.returncode}): {err[-2000:]}")
    stats = json.loads((out / "stats.json").read_text())
    st = stats["stages"]
    return {
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "wall_s": wall,
        "rss_mb": usage.ru_maxrss / 1024,
        "tokens": st.get("tokenize", {}).get("counts", {}).get("tokens", 0),
        "docs_in": st["read"]["out"],
        "docs_out": st["write"]["out"],
        "dropped": {name: e["dropped"] for name, e in st.items() if e["dropped"]},
        "pii": st.get("pii", {}).get("counts", {}),
    }


def med(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def bench_throughput(corpus: dict, tmp: Path, repeats: int) -> dict:
    out: dict = {}
    for kind, stages in (("wet", STAGES_WET), ("warc", STAGES_WARC)):
        runs = [run_pipeline(corpus["files"][kind], tmp / f"tp-{kind}-{i}", stages) for i in range(repeats)]
        r0 = runs[0]
        out[kind] = {
            "input_mb": corpus["file_bytes"][kind] / 1e6,
            "docs_in": r0["docs_in"],
            "docs_out": r0["docs_out"],
            "tokens": r0["tokens"],
            "dropped": r0["dropped"],
            "pii": r0["pii"],
            "cpu_s": [round(r["cpu_s"], 2) for r in runs],
            "wall_s": [round(r["wall_s"], 2) for r in runs],
            "tokens_per_cpu_s_median": round(r0["tokens"] / med(runs, "cpu_s")),
            "tokens_per_wall_s_median": round(r0["tokens"] / med(runs, "wall_s")),
        }
    return out


def bench_stages(corpus: dict, repeats: int) -> dict:
    """CPU seconds of each pure stage core over the same documents (one process, no Beam)."""
    import pyarrow as pa

    from pipeline.readers import ReadOptions, read_file
    from pipeline.writer import doc_to_row, document_schema
    from stages import load_step_class
    from stages.base import Drop

    def clock(fn) -> float:
        times = []
        for _ in range(repeats):
            t = time.process_time()
            fn()
            times.append(time.process_time() - t)
        return statistics.median(times)

    def read(path: str, extract: bool) -> list[dict]:
        with open(path, "rb") as fh:
            options = ReadOptions(extract_enabled=extract)
            return [d for d in read_file(fh, path, "warc", options) if isinstance(d, dict)]

    result: dict = {}
    wet_path, warc_path = corpus["files"]["wet"][0], corpus["files"]["warc"][0]
    result["read_wet"] = clock(lambda: read(wet_path, False))
    result["read_warc"] = clock(lambda: read(warc_path, True))
    extract = load_step_class("extract")()
    extract.setup()
    html_docs = read(warc_path, True)
    result["extract"] = clock(lambda: [extract.process(dict(d)) for d in html_docs])

    docs = read(wet_path, False)
    tokens = 0
    for name in ("normalize", "exact_dedup", "minhash_dedup", "pii", "tokenize"):
        cls = load_step_class(name)
        params = cls.Params(tokenizer=tokenizer_path()) if name == "tokenize" else cls.Params()
        stage = cls(params)
        stage.setup()
        if stage.is_global:
            result[name + " (per-doc keys)"] = clock(
                lambda stage=stage, docs=docs: [stage.shuffle_records(d) for d in docs]
            )
            continue
        kept = []

        def run(stage=stage, kept=kept, docs=docs):
            kept.clear()
            for d in docs:
                r = stage.process(dict(d))
                if not isinstance(r, Drop):
                    kept.append(r)

        result[name] = clock(run)
        docs = list(kept)
        if name == "tokenize":
            tokens = sum(d["n_tokens"] for d in docs)
    schema = document_schema({"input_ids": pa.list_(pa.int32()), "n_tokens": pa.int64()})
    names = [n for n in schema.names if n != "meta"]
    result["arrow rows"] = clock(
        lambda: pa.RecordBatch.from_pylist([doc_to_row(d, names) for d in docs], schema=schema)
    )
    total_wet = sum(v for k, v in result.items() if k not in ("read_warc", "extract"))
    return {
        "docs": len(docs),
        "tokens": tokens,
        "cpu_s": {k: round(v, 3) for k, v in result.items()},
        "wet cores total cpu_s": round(total_wet, 3),
        "wet cores tokens_per_cpu_s": round(tokens / total_wet),
    }


def bench_memory(small: dict, large: dict, tmp: Path, stages: str = STAGES_WET) -> dict:
    """Peak RSS at 1x and 10x: dedup joins as the DirectRunner does them by default (join: auto, text
    spilled to files) and forced through the in-memory shuffle (join: shuffle)."""
    out: dict = {"stages": stages}
    dedup = any(name in stages.split(",") for name in ("exact_dedup", "minhash_dedup"))
    for mode in ("join auto (spill)", "join shuffle") if dedup else ("join auto (spill)",):
        extra = []
        if mode == "join shuffle":
            extra = ["--set", "exact_dedup.join=shuffle", "--set", "minhash_dedup.join=shuffle"]
        a = run_pipeline(small["files"]["wet"], tmp / f"mem-1x-{mode[5]}", stages, extra)
        b = run_pipeline(large["files"]["wet"], tmp / f"mem-10x-{mode[5]}", stages, extra)
        per_doc_kb = (b["rss_mb"] - a["rss_mb"]) * 1024 / max(1, b["docs_in"] - a["docs_in"])
        marginal = (b["tokens"] - a["tokens"]) / max(1e-9, b["cpu_s"] - a["cpu_s"])
        out[mode] = {
            "1x": {k: round(a[k], 2) for k in ("docs_in", "tokens", "rss_mb", "cpu_s", "wall_s")},
            "10x": {k: round(b[k], 2) for k in ("docs_in", "tokens", "rss_mb", "cpu_s", "wall_s")},
            "rss_growth_kb_per_doc": round(per_doc_kb, 2),
            "marginal_tokens_per_cpu_s (10x minus 1x)": round(marginal),
        }
    return out


def bench_scaling(single: dict, split: dict, tmp: Path, repeats: int, large: dict | None = None) -> dict:
    two = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
    out = {}
    whole, ranges = ["--set", "read.split_mb=0"], ["--set", "read.split_mb=1"]
    cases = [
        ("1 file read whole", single, whole),
        ("1 file in 1 MB ranges", single, ranges),
        ("8 files", split, whole),
    ]
    if large is not None:  # 10x: the workers' fixed start-up cost weighs less
        cases.append(("10x, 1 file in 8 MB ranges", large, ["--set", "read.split_mb=8"]))
    for label, corpus, read in cases:
        for workers, extra in ((1, read), (2, read + two)):
            runs = [
                run_pipeline(corpus["files"]["wet"], tmp / f"sc-{label[:9]}-{workers}-{i}", STAGES_WET, extra)
                for i in range(repeats)
            ]
            out[f"{label}, {workers} worker(s)"] = {
                "wall_s": [round(r["wall_s"], 2) for r in runs],
                "cpu_s": [round(r["cpu_s"], 2) for r in runs],
                "wall_median": round(med(runs, "wall_s"), 2),
                "docs_out": runs[0]["docs_out"],
                "tokens": runs[0]["tokens"],
            }
        one, dual = out[f"{label}, 1 worker(s)"], out[f"{label}, 2 worker(s)"]
        out[f"{label} speed-up (wall)"] = round(one["wall_median"] / dual["wall_median"], 2)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=10, help="MB of document text in the 1x corpus")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", default="throughput,stages,memory,scaling")
    parser.add_argument("--workdir", help="keep corpora here (default: a temporary folder)")
    parser.add_argument(
        "--memory-stages", default=STAGES_WET, help="stages of the memory part (a subset of the WET stages)"
    )
    args = parser.parse_args()
    parts = args.parts.split(",")

    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmpdir:
        work = Path(args.workdir) if args.workdir else Path(tmpdir)
        tmp = Path(tmpdir)
        corpus = make_corpus(args.mb, work / f"corpus-{args.mb:g}mb")
        report: dict = {
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"load average at start {os.getloadavg()[0]:.1f}",
            "python": platform.python_version(),
            "corpus": {
                k: corpus[k]
                for k in (
                    "documents",
                    "text_bytes",
                    "english",
                    "chinese",
                    "exact_duplicates",
                    "near_duplicates",
                    "pii",
                    "file_bytes",
                )
            },
        }
        if "throughput" in parts:
            report["throughput"] = bench_throughput(corpus, tmp, args.repeats)
        if "stages" in parts:
            report["stages"] = bench_stages(corpus, args.repeats)
        if "memory" in parts:
            large = make_corpus(args.mb * 10, work / f"corpus-{args.mb * 10:g}mb")
            report["memory"] = bench_memory(corpus, large, tmp, args.memory_stages)
        if "scaling" in parts or "scaling10x" in parts:
            split = make_corpus(args.mb, work / f"corpus-{args.mb:g}mb-8files", files=8)
            large = (
                make_corpus(args.mb * 10, work / f"corpus-{args.mb * 10:g}mb")
                if "scaling10x" in parts
                else None
            )
            report["scaling"] = bench_scaling(corpus, split, tmp, args.repeats, large)
        report["load_average_at_end"] = round(os.getloadavg()[0], 1)
    print(json.dumps(report, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
