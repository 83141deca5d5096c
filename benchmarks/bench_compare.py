"""Side by side: this pipeline and datatrove doing the same WET job on the same input and machine.

    python benchmarks/bench_compare.py [--mb 10] [--repeats 3] [--datatrove-python /work/venv-datatrove/bin/python]

datatrove lives in its own virtualenv (``python3 -m venv /work/venv-datatrove &&
/work/venv-datatrove/bin/pip install 'datatrove[io,processing]' spacy``); it is never installed
into the project's environment. Both sides read the same ``.warc.wet.gz`` (made by
make_corpus.py), normalise text with ftfy, near-deduplicate with MinHash (5-grams), remove PII and
tokenise with the same LLaMA-style 32k vocabulary (sentencepiece here; the equivalent Hugging Face
``tokenizer.json`` written by tokenizer_training.merge for datatrove). Ours also runs exact dedup.
A second pair adds quality filters, the issue's "equivalent work": our ``heuristics`` stage
(Gopher + C4 + FineWeb rules, Chinese-aware) against datatrove's Gopher quality + repetition
filters. All four configurations run ``--repeats`` times, interleaved.

Reported: CPU seconds (user+sys of each run and its children, so a busy shared machine does not
count), wall seconds, peak RSS, tokens written, the ratio, and the overlap of kept documents (by
WARC-Record-ID) plus how many of the planted exact/near duplicates each side removed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_scale import STAGES_WET, make_corpus, run_pipeline, tokenizer_path  # noqa: E402

STAGES_FILTERED = STAGES_WET.replace("normalize,", "normalize,heuristics,")


def our_kept_ids(out: Path) -> set[str]:
    ids = set()
    for path in sorted((out / "documents").glob("part-*.arrow")):
        with pa.ipc.open_stream(path) as reader:
            ids.update(i.split("-", 1)[1] for i in reader.read_all().column("id").to_pylist())
    return ids


def run_datatrove(python: str, input_dir: Path, work: Path, tokenizer_json: Path, gopher: bool) -> dict:
    cmd = [
        python,
        str(ROOT / "benchmarks" / "bench_datatrove.py"),
        "--input-dir",
        str(input_dir),
        "--work",
        str(work),
        "--tokenizer-json",
        str(tokenizer_json),
    ] + (["--gopher"] if gopher else [])
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.stdout.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError("datatrove run failed")
    result = json.loads(out)
    return {
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "wall_s": time.monotonic() - start,
        "rss_mb": usage.ru_maxrss / 1024,
        "tokens": result["tokens"],
        "kept": set(result["kept_ids"]),
    }


def planted_removed(kept: set[str], truth: dict) -> dict:
    """Planted (copy, original) pairs where one of the two was removed (either may survive)."""
    ids = truth["ids"]
    return {
        kind: sum(not (dup in kept and orig in kept) for dup, orig in ids[kind])
        for kind in ("exact_duplicates", "near_duplicates")
    }


def summary(runs: list[dict]) -> dict:
    return {
        "cpu_s": [round(r["cpu_s"], 2) for r in runs],
        "wall_s": [round(r["wall_s"], 2) for r in runs],
        "cpu_median": round(statistics.median(r["cpu_s"] for r in runs), 2),
        "wall_median": round(statistics.median(r["wall_s"] for r in runs), 2),
        "rss_mb": round(max(r["rss_mb"] for r in runs)),
        "tokens": runs[0]["tokens"],
        "kept_docs": len(runs[0]["kept"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--datatrove-python", default="/work/venv-datatrove/bin/python")
    parser.add_argument("--workdir")
    args = parser.parse_args()

    from tokenizer_training.merge import write_merged
    from tokenizer_training.spmodel import SpModel

    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmpdir:
        tmp = Path(tmpdir)
        work = Path(args.workdir) if args.workdir else tmp
        corpus_dir = work / f"corpus-{args.mb:g}mb"
        corpus = make_corpus(args.mb, corpus_dir)
        truth = json.loads((corpus_dir / "truth.json").read_text())
        hf = write_merged(SpModel.load(tokenizer_path()), tmp / "llama-hf") / "tokenizer.json"
        wet_dir = tmp / "wet"
        wet_dir.mkdir()
        for path in corpus["files"]["wet"]:
            os.symlink(path, wet_dir / Path(path).name)

        runs: dict[str, list[dict]] = {
            "ours": [],
            "datatrove": [],
            "ours_heuristics": [],
            "datatrove_gopher": [],
        }
        for i in range(args.repeats):  # interleaved, so drifting load hits every side alike
            for label, stages in (("ours", STAGES_WET), ("ours_heuristics", STAGES_FILTERED)):
                out = tmp / f"{label}-{i}"
                run = run_pipeline(corpus["files"]["wet"], out, stages)
                run["kept"] = our_kept_ids(out)
                runs[label].append(run)
            for label, gopher in (("datatrove", False), ("datatrove_gopher", True)):
                runs[label].append(
                    run_datatrove(args.datatrove_python, wet_dir, tmp / f"{label}-{i}", hf, gopher)
                )

        report = {
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
            "load_average_at_start": round(os.getloadavg()[0], 1),
            **{
                label: {**summary(r), "planted_removed": planted_removed(r[0]["kept"], truth)}
                for label, r in runs.items()
            },
        }
        for mine, theirs in (("ours", "datatrove"), ("ours_heuristics", "datatrove_gopher")):
            a, b = runs[mine][0]["kept"], runs[theirs][0]["kept"]
            sa, sb = report[mine], report[theirs]
            report[f"{mine} vs {theirs}"] = {
                "ratio_cpu (datatrove / ours)": round(sb["cpu_median"] / sa["cpu_median"], 2),
                "ratio_wall (datatrove / ours)": round(sb["wall_median"] / sa["wall_median"], 2),
                "tokens_per_cpu_s": {
                    "ours": round(sa["tokens"] / sa["cpu_median"]),
                    "datatrove": round(sb["tokens"] / sb["cpu_median"]),
                },
                "overlap": {
                    "both": len(a & b),
                    "ours_only": len(a - b),
                    "datatrove_only": len(b - a),
                    "jaccard": round(len(a & b) / max(1, len(a | b)), 4),
                },
            }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
