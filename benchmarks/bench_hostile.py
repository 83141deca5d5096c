"""Peak memory and CPU of whole runs on hostile WARC inputs (issue 18, the reader's part).

    python benchmarks/bench_hostile.py [--cases name,...] [--stages extract,normalize]
                                       [--timeout 600] [--kill-above-gb 8]

Builds each input in a temporary folder, at the sizes the issue found (a gzip HTTP body inflating
to 2 GiB, a 7 KB brotli body inflating to 6.5 GB, a .warc.gz member of 2 GiB, a 300 MB record...),
with good records before and after the hostile one. Then runs ``python -m pipeline.run`` on it in
a child process (DirectRunner, one worker, every default stage unless --stages) and reports, per
case: the child's peak RSS (rusage maxrss from wait4, so each case is measured alone), its CPU
seconds, and whether the run's accounting holds: every stage's in == out + dropped (and equal to
the previous stage's out), the read stage's documents and drop reasons exactly as expected.

This process stays small (inputs are written as streams): a child's maxrss on Linux includes the
RSS of the process it was forked from, so the last line prints this process's own peak.

Safety on a shared machine: a child whose RSS passes --kill-above-gb is killed and reported as
such, as is one still running after --timeout seconds (a hang); both only happen to the old reader.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import brotli

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from warc_builders import (  # noqa: E402
    PAGE,
    compressed,
    http_record,
    text_record,
    warc_head,
    write_gzip_member,
    zeros,
)

GIB = 1 << 30


def good(rid: str) -> bytes:
    return http_record(PAGE, rid)


def one_member_each(path: Path, records: list[bytes]) -> None:
    with open(path, "wb") as out:
        for record in records:
            write_gzip_member(out, [record])


def http_bomb(encoding: str, size: int) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        if encoding == "br":
            packer = brotli.Compressor(quality=5)
            body = b"".join([packer.process(chunk) for chunk in zeros(size)] + [packer.finish()])
        else:
            body = b"".join(compressed(zeros(size), 31 if encoding == "gzip" else 15))
        bomb = http_record(body, "bomb", f"Content-Encoding: {encoding}\r\n")
        path.write_bytes(good("first") + bomb + good("last"))  # a plain .warc, as the issue's

    return build


def big_member(
    declared: str | None, size: int, body: Callable[[int], Iterator[bytes]]
) -> Callable[[Path], None]:
    """good, one gzip member of ``size`` bytes (a record with Content-Length ``declared``, or no
    record at all when ``declared`` is None), good."""

    def build(path: Path) -> None:
        with open(path, "wb") as out:
            write_gzip_member(out, [good("first")])
            head = [] if declared is None else [warc_head("conversion", "big", "text/plain", declared)]
            write_gzip_member(out, itertools.chain(head, body(size), [b"\r\n\r\n"]))
            write_gzip_member(out, [good("last")])

    return build


def text_body(size: int) -> Iterator[bytes]:
    line = b"All work and no play makes Jack a dull boy. " * 20 + b"\n"
    while size > 0:
        block = line * max(1, min(size, 1 << 20) // len(line))
        yield block[:size]
        size -= len(block)


def build_page_under_cap(path: Path) -> None:
    paragraphs = (
        b"<p>Paragraph %d: all work and no play makes Jack a dull boy.</p>\n" % i for i in range(440_000)
    )
    html = itertools.chain([b"<html><body>"], paragraphs, [b"</body></html>"])
    page = http_record(b"".join(compressed(html)), "huge-page", "Content-Encoding: gzip\r\n")
    one_member_each(path, [good("first"), page, good("last")])


def build_negative_chunk(path: Path) -> None:
    chunked = http_record(b"-ffff\r\n" + PAGE + b"\r\n0\r\n\r\n", "neg", "Transfer-Encoding: chunked\r\n")
    one_member_each(path, [good("first"), chunked, good("last")])


def build_superscripts(path: Path) -> None:
    records = [
        good("first"),
        text_record("a text whose length is a superscript two", "sup", length="²"),
        http_record(PAGE, "status", status="²²² OK"),
        text_record("huge", "digits", length="9" * 5000),
        good("last"),
    ]
    one_member_each(path, records)


def build_garbage_between(path: Path) -> None:
    # Plain (not gzipped): the junk sits between two correct records of one stream.
    path.write_bytes(good("first") + b"<div>junk that belongs to no record</div>\n" * 100 + good("last"))


def build_clean(path: Path) -> None:
    one_member_each(path, [http_record(PAGE * 20, f"page-{i}") for i in range(200)])


@dataclasses.dataclass
class Case:
    name: str
    what: str
    build: Callable[[Path], None]
    out: int  # documents the read stage must produce
    dropped: dict[str, int]  # and its drops, exactly
    suffix: str = ".warc.gz"


CASES = [
    Case("clean", "200 ordinary HTML responses (the baseline)", build_clean, 200, {}),
    Case(
        "http_gzip_2gib",
        "HTTP body, Content-Encoding gzip, inflating to 2 GiB",
        http_bomb("gzip", 2 * GIB),
        2,
        {"decoded_too_large": 1},
        ".warc",
    ),
    Case(
        "http_deflate_2gib",
        "HTTP body, Content-Encoding deflate, inflating to 2 GiB",
        http_bomb("deflate", 2 * GIB),
        2,
        {"decoded_too_large": 1},
        ".warc",
    ),
    Case(
        "http_brotli_6.5gb",
        "HTTP body, Content-Encoding br, inflating to 6.5 GB",
        http_bomb("br", 6_500_000_000),
        2,
        {"decoded_too_large": 1},
        ".warc",
    ),
    Case(
        "member_record_claims_2gib",
        ".warc.gz member: a record of 2 GiB (declared and real)",
        big_member(str(2 * GIB), 2 * GIB, zeros),
        2,
        {"record_too_large": 1},
    ),
    Case(
        "member_zeros_2gib",
        ".warc.gz member of 2 GiB of zeros between good members",
        big_member(None, 2 * GIB, zeros),
        2,
        {"not_warc_data": 1},
    ),
    Case(
        "record_300mb",
        "a 300 MB text record with a correct Content-Length",
        big_member(str(300_000_000), 300_000_000, text_body),
        2,
        {"record_too_large": 1},
    ),
    Case(
        "record_300mb_no_length",
        "a 300 MB text record without a Content-Length",
        big_member("", 300_000_000, text_body),
        2,
        {"record_too_large": 1},
    ),
    Case(
        "page_under_cap",
        "HTTP body, gzip, decoding to 30 MB of HTML: under the default cap, kept",
        build_page_under_cap,
        3,
        {},
    ),
    Case("negative_chunk", "chunked body with chunk size -ffff", build_negative_chunk, 3, {}),
    Case(
        "superscript_numbers",
        "Content-Length: ², status ²²², a 5,000-digit Content-Length",
        build_superscripts,
        3,
        {"bad_http_headers": 1, "record_too_large": 1},
    ),
    Case(
        "junk_between_records",
        "4 KB of non-WARC bytes between two correct records",
        build_garbage_between,
        2,
        {"not_warc_data": 1},
        ".warc",
    ),
]


def run_child(cmd: list[str], timeout: float, kill_above: int) -> tuple[int | None, float, float, str]:
    """(exit status or None if killed, peak RSS bytes, CPU seconds, why it was killed)."""
    child = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    started = time.monotonic()
    killed = ""
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        if not killed and time.monotonic() - started > timeout:
            killed = f"still running after {timeout:.0f} s"
        if not killed and _rss(child.pid) > kill_above:
            killed = f"RSS above {kill_above / GIB:.0f} GiB"
        if killed:
            os.killpg(child.pid, signal.SIGKILL)
            pid, status, usage = os.wait4(child.pid, 0)
            break
        time.sleep(0.05)
    child.returncode = os.waitstatus_to_exitcode(status)
    child.stderr.close()
    return (
        (None if killed else child.returncode),
        usage.ru_maxrss * 1024,
        usage.ru_utime + usage.ru_stime,
        killed,
    )


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def verdict(case: Case, stats: dict) -> str:
    from pipeline.stats import check_stats  # imports Beam (~190 MB): only after the runs, see above

    problems = check_stats(stats)
    read = stats["stages"]["read"]
    if read["out"] != case.out:
        problems.append(f"read.out {read['out']} != {case.out}")
    if read["dropped"] != case.dropped:
        problems.append(f"read.dropped {read['dropped']} != {case.dropped}")
    return "ok" if not problems else "; ".join(problems)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument("--stages", help="--stages for the runs (default: the default stages)")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--kill-above-gb", type=float, default=8)
    args = parser.parse_args()
    chosen = args.cases.split(",") if args.cases else [c.name for c in CASES]
    unknown = set(chosen) - {c.name for c in CASES}
    if unknown:
        parser.error(f"unknown case(s): {', '.join(sorted(unknown))}")
    print(
        f"# machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; stages: {args.stages or 'default'}"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            if case.name not in chosen:
                continue
            path = Path(tmp) / f"{case.name}{case.suffix}"
            case.build(path)
            out = Path(tmp) / f"out-{case.name}"
            cmd = [sys.executable, "-m", "pipeline.run", "--input", str(path), "--output", str(out)]
            cmd += ["--no-progress", "--runner=DirectRunner", "--direct_num_workers=1"]
            if args.stages:
                cmd += ["--stages", args.stages]
            code, peak, cpu, killed = run_child(cmd, args.timeout, int(args.kill_above_gb * GIB))
            if killed:
                result: str | dict = f"KILLED: {killed}"
            elif code != 0:
                result = f"FAILED: exit {code}"
            else:
                result = json.loads((out / "stats.json").read_text())
            rows.append((case, path.stat().st_size, peak, cpu, result))
            print(f"{case.name}: {peak / 1e6:.0f} MB, {cpu:.1f} CPU s", file=sys.stderr, flush=True)
            path.unlink()
    # A child's maxrss includes its parent's RSS at fork time (Linux keeps the highest across exec):
    # this process stays small until every run is done.
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"{'case':28s} {'on disk':>9s} {'peak RSS':>9s} {'CPU s':>7s}  accounting")
    for case, size, peak, cpu, result in rows:
        result = verdict(case, result) if isinstance(result, dict) else result
        print(f"{case.name:28s} {size / 1e3:7.0f}KB {peak / 1e6:7.0f}MB {cpu:7.1f}  {result}   ({case.what})")
    print(f"(this benchmark process peaked at {own / 1e6:.0f} MB while the runs were measured)")


if __name__ == "__main__":
    main()
