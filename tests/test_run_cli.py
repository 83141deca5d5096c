"""No silent surprises on the command line and in the output folder: misspelled flags, reruns into
a used folder, two runs at once, empty inputs, interruption, and statistics as data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ctrl_c_as_in_a_terminal, read_shards
from conftest import run_pipeline as run

from pipeline.run import descendants, main, proc_stat
from pipeline.sample import write_sample

# Every test here runs whole pipelines (or loads a large vocabulary): `pytest -m "not slow"` skips them.
pytestmark = pytest.mark.slow


REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("flag", "closest"),
    [
        ("--inputs", "--input"),
        ("--ouput", "--output"),
        ("--keep_rejected", "--keep-rejected"),
        ("--runer=DirectRunner", "--runner"),
        ("--direct_num_worker=2", "--direct_num_workers"),
    ],
)
def test_a_misspelled_flag_is_an_error_naming_the_closest(flag, closest, tmp_path, capsys):
    assert main([flag, str(tmp_path / "x"), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"did you mean {closest}?" in err[0]
    assert not (tmp_path / "o").exists()  # nothing ran: --inputs X did not quietly run the sample


def test_beam_options_still_pass_through(tmp_path):
    out = tmp_path / "o"
    sample = write_sample(str(tmp_path / "in"))
    assert (
        run("--input", sample[1], "--stages", "normalize", "--output", str(out), "--direct_num_workers", "1")
        == 0
    )


def test_rerun_into_a_used_folder_is_refused_then_replaced_whole(tmp_path, capsys):
    sample = write_sample(str(tmp_path / "in"))
    out = tmp_path / "out"
    assert run("--input", sample[1], "--stages", "normalize", "--output", str(out),
               "--keep-rejected", "--holdout-fraction", "0.3", "--set", "normalize.min_chars=200",
               "--set", "write.token_shards=1") == 0  # fmt: skip
    assert (out / "rejected").is_dir()
    (out / "tokens" / "holdout").mkdir(parents=True)  # as if an earlier run had tokenised with holdout
    (out / "tokens" / "holdout" / "part-00000-of-00001.arrow").write_bytes(b"stale")
    capsys.readouterr()
    assert run("--input", sample[1], "--stages", "normalize", "--output", str(out)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds an earlier run" in err[0] and "--overwrite" in err[0]

    assert run("--input", sample[1], "--stages", "normalize", "--output", str(out), "--overwrite") == 0
    # Every kind of output is the new run's: no rejected/ and no tokens/holdout of the old one.
    assert sorted(p.name for p in out.iterdir()) == [
        "documents", "manifest.json", "report.html", "samples.json", "stats.json",
    ]  # fmt: skip
    manifest = json.loads((out / "manifest.json").read_text())
    assert read_shards(out / "documents").num_rows == manifest["documents"]["rows"] > 0


def test_a_second_run_into_a_locked_folder_is_refused(tmp_path, capsys):
    from pipeline.output_dir import acquire_lock, release_lock

    out = tmp_path / "out"
    sample = write_sample(str(tmp_path / "in"))
    acquire_lock(str(out), "other-run")  # held by this (alive) process, as a concurrent run would
    try:
        assert run("--input", sample[1], "--stages", "normalize", "--output", str(out)) == 2
        err = capsys.readouterr().err
        assert "is being written by run other-run" in err
    finally:
        release_lock(str(out), "other-run")
    # A lock left by a process that died is taken over.
    (out / ".lock").write_text(
        json.dumps({"run_id": "dead", "pid": 2**22 + 12345, "host": os.uname().nodename})
    )
    assert run("--input", sample[1], "--stages", "normalize", "--output", str(out)) == 0
    assert not (out / ".lock").exists()


def test_inputs_without_any_document_fail_unless_allowed(tmp_path, capsys):
    junk = tmp_path / "in"
    junk.mkdir()
    (junk / "paper.pdf").write_bytes(b"%PDF-1.4\n" + os.urandom(2000))
    (junk / "empty.warc.gz").write_bytes(b"")
    assert run("--input", str(junk), "--output", str(tmp_path / "o1")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: the inputs yielded no document at all") and str(junk) in err[-1]
    stats = json.loads((tmp_path / "o1" / "stats.json").read_text())
    assert stats["stages"]["read"]["dropped"] == {"not_warc_file": 2}
    assert run("--input", str(junk), "--output", str(tmp_path / "o2"), "--allow-empty") == 0


def test_folders_are_read_recursively_and_each_file_once(tmp_path):
    sample = write_sample(str(tmp_path / "in" / "deep" / "er"))
    out = tmp_path / "out"
    # The folder, a glob and a file naming the same WET file: it is read once, the repeats counted.
    assert run("--input", str(tmp_path / "in"), "--input", str(tmp_path / "in" / "**" / "*.wet.gz"),
               "--input", sample[1], "--stages", "normalize", "--output", str(out))  == 0  # fmt: skip
    stats = json.loads((out / "stats.json").read_text())
    assert stats["stages"]["read"]["dropped"]["duplicate_input"] == 2
    assert stats["accounting"] == "ok"
    ids = read_shards(out / "documents").column("id").to_pylist()
    assert len(ids) == len(set(ids)) > 5
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"]["files"] == 2 and manifest["inputs"]["bytes"] == sum(
        os.path.getsize(p) for p in sample
    )


def test_special_files_and_link_loops_are_counted_not_followed(tmp_path):
    data = tmp_path / "in"
    write_sample(str(data / "real"))
    os.symlink(data, data / "real" / "loop")  # a loop back to the top
    os.mkfifo(data / "pipe.wet")  # open() would block on it forever
    os.symlink(tmp_path / "gone.warc.gz", data / "dangling.warc.gz")
    out = tmp_path / "out"
    assert run("--input", str(data), "--input", str(data / "**" / "*.gz"), "--stages", "normalize",
               "--output", str(out), "--allow-empty") == 0  # fmt: skip
    read = json.loads((out / "stats.json").read_text())["stages"]["read"]
    assert read["dropped"]["not_regular_file"] == 1  # the FIFO (named by the folder; not *.gz)
    assert read["dropped"]["dangling_symlink"] == 2  # by the folder and by the glob
    assert read["dropped"]["symlink_loop"] >= 1
    assert read["out"] == 7  # the WET file's documents, read once (its WARC neighbour needs extract)


def test_stats_are_data_written_by_the_run_itself_and_exact_under_retries(tmp_path):
    """stats.json, samples.json, report.html and manifest.json come from the run's own last step,
    from tallies that travel as data: a runner that runs every bundle again (as after a failure)
    discards the repeated bundles' tallies with their outputs, so the counts do not change."""
    from conftest import counts_only

    sample = write_sample(str(tmp_path / "in"))
    steps = "extract,normalize,langid,heuristics,pii"
    assert run("--input", *sample, "--stages", steps, "--output", str(tmp_path / "once")) == 0
    assert run("--input", *sample, "--stages", steps, "--output", str(tmp_path / "again"),
               "--direct_runner_bundle_repeat=2") == 0  # fmt: skip
    once, again = (json.loads((tmp_path / d / "stats.json").read_text()) for d in ("once", "again"))
    assert counts_only(once) == counts_only(again)
    assert once["accounting"] == "ok" and once["stages"]["write"]["out"] > 10
    assert all(
        once["stages"][name]["cpu_s"] >= 0 for name in ("read", "extract", "normalize", "pii", "write")
    )
    assert "CPU s" in (tmp_path / "once" / "report.html").read_text()
    manifest = json.loads((tmp_path / "once" / "manifest.json").read_text())
    assert manifest["runner"] == "DirectRunner" and manifest["package_version"]
    assert manifest["inputs"]["given"] == sample and manifest["started"] <= manifest["finished"]


def _ctrl_c_while_writing(tmp_path: Path, preexec, *flags: str) -> tuple[subprocess.Popen, str, Path]:
    """A run in its own process group, sent SIGINT to the whole group (what Ctrl-C does) once it
    writes its output: (the finished process, its stderr, the output folder)."""
    inputs = tmp_path / "in"
    for i in range(12):
        write_sample(str(inputs / f"copy{i}"))
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.run", "--input", str(inputs), "--output", str(out), "--no-progress",
         *flags],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=preexec,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(out.glob(".tmp-*/out")) and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    return proc, err, out


@pytest.mark.parametrize(
    "workers", [[], ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]]
)
def test_ctrl_c_prints_one_line_and_leaves_nothing_behind(tmp_path, workers):
    """SIGINT to the whole process group (what Ctrl-C does), multi-process workers included."""
    proc, err, out = _ctrl_c_while_writing(tmp_path, ctrl_c_as_in_a_terminal, *workers)
    assert proc.returncode == 130, err[-2000:]
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert lines[-1].startswith("interrupted: nothing of this run was committed")
    assert "Traceback" not in err, err[-3000:]
    assert (
        not list(out.glob(".tmp-*")) and not (out / ".lock").exists() and not (out / "manifest.json").exists()
    )


# A runner's cleanup after Ctrl-C, as Beam's multi-process runner does it: the run is
# interrupted, then the cleanup waits on a thread that waits for a worker (a shell wrapper and its
# child) which does not exit on SIGINT.
_STUCK_WORKER = """
import subprocess, sys, threading, time
sys.path.insert(0, sys.argv[1])
import pipeline.run as run
run.INTERRUPT_GRACE_S = 0.5
worker = subprocess.Popen(["/bin/sh", "-c", "trap '' INT; sleep 300; :"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    with run._InterruptGate():
        waiter = threading.Thread(target=worker.wait)
        waiter.start()
        print(worker.pid, flush=True)
        try:
            while True:
                time.sleep(0.05)
        finally:
            waiter.join()
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
"""


def test_ctrl_c_ends_a_run_whose_worker_does_not_exit():
    """A worker that outlives Ctrl-C (seen: a Beam SDK worker stuck in a gRPC finalizer) is killed,
    with what it started, once the grace period is over, so the run stops instead of waiting forever."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _STUCK_WORKER, str(REPO)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=ctrl_c_as_in_a_terminal,
    )  # fmt: skip
    shell = int(proc.stdout.readline())
    sleeper = _children(shell)
    try:
        assert len(sleeper) == 1  # the shell's child: the process that ignores SIGINT
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130 and out.strip() == "interrupted", err[-2000:]
        assert not _alive(shell) and not _alive(sleeper[0])
    finally:  # nothing left running if it failed
        for pid in (proc.pid, shell, *sleeper):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _children(pid: int) -> list[int]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not descendants(pid):
        time.sleep(0.05)
    return descendants(pid)


def _alive(pid: int) -> bool:
    """Running, not killed (a killed process whose parent is gone may stay a zombie here)."""
    fields = proc_stat(pid)
    return fields is not None and fields[0] != "Z"


def test_a_run_started_with_ctrl_c_ignored_keeps_ignoring_it(tmp_path):
    """A shell's background job starts with SIGINT ignored: the run does not take Ctrl-C over
    (it would stop inside a chunk but not between two) and finishes."""
    proc, err, out = _ctrl_c_while_writing(tmp_path, lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert proc.returncode == 0, err[-2000:]
    assert (out / "manifest.json").exists() and not list(out.glob(".tmp-*"))


def test_a_full_disk_is_one_line_and_leaves_no_spill(tmp_path, monkeypatch, capsys):
    import errno

    from apache_beam.io.filesystems import FileSystems

    real_create = FileSystems.create

    class Full:
        def __init__(self, sink):
            self.sink = sink

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.sink, name)

    def create(path, *args, **kwargs):
        sink = real_create(path, *args, **kwargs)
        return Full(sink) if "/out/documents/" in path else sink

    monkeypatch.setattr(FileSystems, "create", staticmethod(create))
    sample = write_sample(str(tmp_path / "in"))
    out = tmp_path / "out"
    assert run("--input", *sample, "--stages", "extract,normalize,exact_dedup", "--output", str(out)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: no space left on device while writing the run (temporary files removed): {out}"]
    assert sorted(p.name for p in out.iterdir()) == []  # no spill, no lock, nothing half-written


@pytest.mark.parametrize(
    ("module", "args", "needle"),
    [
        ("stages.quality", ["train", "--positive", "{tmp}/none-*.jsonl", "--negative", "{tmp}/x", "--output",
                            "{tmp}/q.bin"], "matches no file"),
        ("tokenizer_training.train", ["--input", "{tmp}/nothing", "--output", "{tmp}/t.model"], "matches no file"),
        ("tokenizer_training.merge", ["--base", "{tmp}/garbage.model", "--extra", "{tmp}/garbage.model", "--output",
                                      "{tmp}/m"], "--base {tmp}/garbage.model: not a readable sentencepiece model"),
    ],
)  # fmt: skip
def test_the_other_clis_report_bad_input_in_one_line(tmp_path, module, args, needle):
    (tmp_path / "garbage.model").write_bytes(b"not a model at all")
    proc = subprocess.run(
        [sys.executable, "-m", module, *(a.format(tmp=tmp_path) for a in args)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle.format(tmp=tmp_path) in lines[0]
