"""The WARC path of two or more source trees, interleaved: CPU time of read + extract + normalize.

    python benchmarks/extract_ab.py /path/to/old/tree /path/to/this/tree [--rounds 5] [--mb 20]

Each round runs every tree once, in a child process that imports that tree's code (the order
alternates between rounds, so that a change of load on the shared machine hits both alike):
the repository's WARC reader, ``ExtractStage`` (work guard, charset decoding, extraction) and
``NormalizeStage`` over every record of one WARC built by ``bench_read.build_input`` from its
WARC_FILES (real crawl files in shared/data/warc). It prints the median CPU seconds of the whole
path and of the extract stage alone, and each tree's time relative to the first tree.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_read import WARC_FILES, build_input

# Runs in the child, with the tree under test first on sys.path.
CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from pipeline.readers import read_file
from stages.extract import ExtractStage
from stages.normalize import NormalizeStage

extract, normalize = ExtractStage(), NormalizeStage()
extract.setup()
normalize.setup()
clock = time.process_time
docs, in_extract = 0, 0.0
start = clock()
with open(sys.argv[2], "rb") as raw:
    for item in read_file(raw, sys.argv[2], "warc"):
        if isinstance(item, dict):
            t0 = clock()
            doc = extract.process(item)
            in_extract += clock() - t0
            if isinstance(doc, dict):
                docs += isinstance(normalize.process(doc), dict)
print(json.dumps({"total": clock() - start, "extract": in_extract, "docs": docs}))
"""


def source_trees(paths: list[Path], tool: str) -> list[Path]:
    """The paths, resolved; exits with one line naming a path that is not a source tree."""
    trees = [path.resolve() for path in paths]
    for tree in trees:
        if not (tree / "stages" / "extract.py").exists():
            sys.exit(f"{tool}: {tree} is not a source tree (no stages/extract.py)")
    return trees


def run_in_tree(code: str, tree: Path, *args: str) -> Any:
    """``code`` run by a child Python in ``tree`` (its first argument is the tree), which prints
    its result as JSON on its last line; exits with the child's error output if it fails."""
    out = subprocess.run(
        [sys.executable, "-c", code, str(tree), *args], cwd=tree, capture_output=True, text=True
    )
    if out.returncode:
        sys.exit(f"{tree} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trees", nargs="+", type=Path, help="source trees (the first is the reference)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--mb", type=float, default=20, help="size of the WARC input (compressed)")
    args = ap.parse_args()
    trees = source_trees(args.trees, "extract_ab")
    with tempfile.TemporaryDirectory() as tmp:
        warc = Path(tmp) / "input.warc.gz"
        build_input(WARC_FILES, args.mb, warc)
        mb = warc.stat().st_size / 1e6
        results: dict[Path, list[dict]] = {t: [] for t in trees}
        for r in range(args.rounds):
            for tree in trees if r % 2 == 0 else trees[::-1]:
                results[tree].append(run_in_tree(CHILD, tree, str(warc)))
    print(f"{mb:.1f} MB of WARC.gz, {args.rounds} rounds, CPU seconds (median):")
    first = statistics.median(x["total"] for x in results[trees[0]])
    for tree in trees:
        total = statistics.median(x["total"] for x in results[tree])
        extract = statistics.median(x["extract"] for x in results[tree])
        runs = " ".join(f"{x['total']:.2f}" for x in results[tree])
        print(
            f"  {tree}: total {total:.2f} ({mb / total:.2f} MB/s, {total / first:.3f}x the first), "
            f"extract stage {extract:.2f}, {results[tree][0]['docs']} documents; runs {runs}"
        )


if __name__ == "__main__":
    main()
