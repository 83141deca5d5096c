"""Throughput of read + extract + normalize per core, on the shared real crawl files.

    python benchmarks/bench_read.py [--mb 50] [--repeats 3] [--modes read,cores,beam]

Builds a WET input and a WARC input of at least --mb MB of compressed data by concatenating the
real files under ../shared/data/warc (gzip members concatenate into a valid file), then times
(a) the pure stage cores in one process and (b) the whole Beam pipeline on the DirectRunner with
one worker. Prints MB/s of compressed input and documents/s per core, medians over --repeats.

"Per core" is measured as CPU time (this process's, or the Beam child process's), so it stays
meaningful on a shared, busy machine; wall time is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WARC_DIR = ROOT.parent / "shared" / "data" / "warc"

# Every real CommonCrawl WET file here with whole records (a mix of English, Russian, Chinese...).
WET_FILES = [
    "jeffharwell__CommonCrawlScalaTools/filter_test_1.wet.gz",
    "jeffharwell__CommonCrawlScalaTools/fragment3.wet.gz",
    "jeffharwell__CommonCrawlScalaTools/corrupt_two_warcinfo.wet.gz",
    "jeffharwell__CommonCrawlScalaTools/appended_zip_fragment_unexpected_eof.wet.gz",
    "commoncrawl__whirlwind-python/whirlwind.warc.wet.gz",
]
WARC_FILES = [
    "allenai__dolma/sample-0000.warc.gz",
    "allenai__dolma/sample-0001.warc.gz",
    "chatnoir-eu__chatnoir-resiliparse/warcfile.warc.gz",
    "commoncrawl__whirlwind-python/whirlwind.warc.gz",
    "iipc__jwarc/cc.warc.gz",
    "archivesunleashed__aut/example.warc.gz",
]


def build_input(names: list[str], target_mb: float, path: Path) -> int:
    blob = b"".join((WARC_DIR / n).read_bytes() for n in names)
    with open(path, "wb") as out:
        written = 0
        while written < target_mb * 1e6:
            out.write(blob)
            written += len(blob)
    return written


def time_reader(path: Path) -> tuple[float, int]:
    from pipeline.readers import read_file

    docs = 0
    start = time.process_time()
    with open(path, "rb") as raw:
        for item in read_file(raw, str(path), "warc"):
            docs += isinstance(item, dict)
    return time.process_time() - start, docs


def time_cores(path: Path) -> tuple[float, int]:
    from pipeline.readers import read_file
    from stages.extract import ExtractStage
    from stages.normalize import NormalizeStage

    extract, normalize = ExtractStage(), NormalizeStage()
    extract.setup()
    normalize.setup()
    docs = 0
    start = time.process_time()
    with open(path, "rb") as raw:
        for item in read_file(raw, str(path), "warc"):
            if isinstance(item, dict):
                doc = extract.process(item)
                if isinstance(doc, dict):
                    doc = normalize.process(doc)
                    docs += isinstance(doc, dict)
    return time.process_time() - start, docs


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_beam(path: Path, out: Path) -> tuple[float, int]:
    """CPU seconds of a whole `python -m pipeline.run` (interpreter start and Beam set-up included)."""
    start = child_cpu()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.run",
            "--input",
            str(path),
            "--output",
            str(out),
            "--stages",
            "extract,normalize",
            "--no-progress",
            "--overwrite",
            "--runner=DirectRunner",
            "--direct_num_workers=1",
        ],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    elapsed = child_cpu() - start
    stats = json.loads((out / "stats.json").read_text())
    return elapsed, stats["stages"]["write"]["out"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--modes", default="read,cores,beam", help="comma-separated subset of read,cores,beam"
    )
    args = parser.parse_args()
    print(
        f"# machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        # The fixed cost of one run (interpreter, imports, graph, report) on a 3 KB input; the
        # "steady" figure below is the input over the Beam CPU time less this.
        tiny = WARC_DIR / "commoncrawl__whirlwind-python" / "whirlwind.warc.wet.gz"
        if "beam" in args.modes:
            fixed = statistics.median(
                time_beam(tiny, Path(tmp) / f"fixed-{i}")[0] for i in range(args.repeats)
            )
            print(f"fixed cost of a pipeline run (3 KB input): median {fixed:.2f} CPU s")
        for label, names in (("WET", WET_FILES), ("WARC", WARC_FILES)):
            path = Path(tmp) / f"bench-{label.lower()}.warc.gz"
            size = build_input(names, args.mb, path)
            for mode in args.modes.split(","):
                runs = []
                for i in range(args.repeats):
                    if mode == "read":
                        elapsed, docs = time_reader(path)
                    elif mode == "cores":
                        elapsed, docs = time_cores(path)
                    else:
                        elapsed, docs = time_beam(path, Path(tmp) / f"out-{label}-{i}")
                    runs.append((elapsed, docs))
                elapsed = statistics.median(r[0] for r in runs)
                docs = runs[0][1]
                steady = ""
                if mode == "beam":
                    steady = f"; steady state {size / 1e6 / (elapsed - fixed):.2f} MB/s"
                print(
                    f"{label:4s} {mode:5s}: {size / 1e6:.1f} MB input, {docs} docs, median {elapsed:.2f} CPU s "
                    f"-> {size / 1e6 / elapsed:.2f} MB/s, {docs / elapsed:,.0f} docs/s per core{steady} "
                    f"(runs: {', '.join(f'{r[0]:.2f}' for r in runs)})"
                )


if __name__ == "__main__":
    main()
