# ruff: noqa: E402 - Beam is imported after the log filter is installed, to silence its import chatter
"""Command line: ``python -m pipeline.run [--config F] [--input X ...] [--output DIR] ...``.

Flags this module does not know must be Beam pipeline options and are passed through unchanged,
so every runner option works (``--runner=DataflowRunner --project=...``, ``--direct_num_workers=2``);
a flag that is neither ours nor Beam's is an error naming the closest valid one.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
import uuid


class _QuietBeam(logging.Filter):
    """Beam logs import-time chatter through the root logger (e.g. "apitools not found"); keep
    Beam's records below ``level`` out of the user's terminal unless --log-level asks for them.
    After Ctrl-C (``interrupted``) nothing of Beam's is shown: its threads report the workers'
    deaths at length, and the user asked for the run to stop."""

    level = logging.ERROR
    interrupted = False

    def filter(self, record: logging.LogRecord) -> bool:
        from_beam = record.name.startswith("apache_beam") or "apache_beam" in record.pathname
        if self.interrupted:
            return record.name == "pipeline"
        return not from_beam or record.levelno >= self.level


_quiet = _QuietBeam()
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
for _handler in logging.getLogger().handlers:
    _handler.addFilter(_quiet)

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, TestOptions

from pipeline import chunks, progress
from pipeline.config import ConfigError, RunConfig, load_config
from pipeline.graph import build_pipeline
from pipeline.inputs import check_local_inputs
from pipeline.output_dir import OutputBusy, acquire_lock, check_empty, release_lock, remove_stale_temp
from pipeline.stats import summary
from pipeline.writer import read_json
from stages.base import run_temp_dir

log = logging.getLogger("pipeline")


class UsageError(ValueError):
    """A command-line mistake: one line, exit code 2."""


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.run",
        description="CommonCrawl WARC/WET -> clean, deduplicated, tokenised Arrow shards (Apache Beam). "
        "Other flags must be Beam pipeline options (--runner, --direct_num_workers, --project ...).",
        allow_abbrev=False,  # a prefix is not a flag: --out must not quietly mean --output
    )
    parser.add_argument("--config", help="YAML config merged over the built-in configs/default.yaml")
    parser.add_argument(
        "--input",
        action="extend",
        nargs="+",
        help="files, folders (read recursively), globs or *.paths.gz listings (repeatable; an unquoted "
        "shell glob works too); default: the built-in sample",
    )
    parser.add_argument("--output", help="output directory (local or any Beam filesystem)")
    parser.add_argument("--stages", help="comma-separated subset of the steps, run in list order")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one config value (repeatable); SECTION is read, write or a step's name",
    )
    parser.add_argument(
        "--keep-rejected",
        action="store_true",
        default=None,
        help="write dropped documents with their step and reason to OUTPUT/rejected/",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the outputs of an earlier run in --output"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        default=None,
        help="run the inputs as chunks, each committed before the next (chunks.mb, chunks.files); "
        "the same command run again after an interruption continues after the last committed chunk "
        "(with --overwrite too; --overwrite only lets it replace a different run or plan)",
    )
    parser.add_argument(
        "--allow-empty", action="store_true", help="exit 0 even when the inputs yield no document at all"
    )
    parser.add_argument("--list-steps", action="store_true", help="print every step type and its parameters")
    parser.add_argument(
        "--tokenizer", help="tokenizer.model or merged tokenizer directory (tokenize.tokenizer)"
    )
    parser.add_argument(
        "--holdout-fraction",
        type=float,
        help="share of documents held out for evaluation (write.holdout_fraction)",
    )
    parser.add_argument(
        "--cc-base-url", help="base URL that CommonCrawl listing entries are resolved against"
    )
    parser.add_argument("--log-level", default="WARNING", help="log level for Beam and this pipeline")
    parser.add_argument("--no-progress", action="store_true", help="do not print progress while running")
    return parser


def beam_flags() -> set[str]:
    """Every flag some Beam PipelineOptions class defines (the runners' options included)."""
    from apache_beam.options.pipeline_options import _BeamArgumentParser

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    parser = _BeamArgumentParser(allow_abbrev=False)
    for cls in set(subclasses(PipelineOptions)):
        cls._add_argparse_args(parser)
    return {flag for action in parser._actions for flag in action.option_strings if flag.startswith("--")}


def check_beam_args(beam_args: list[str], ours: list[str]) -> None:
    """Flags we do not know must be Beam's: a misspelling (``--ouput``, ``--keep_rejected``,
    ``--runer``) is an error naming the closest valid flag, not an option Beam quietly drops."""
    import difflib

    known = beam_flags()
    for arg in beam_args:
        if not arg.startswith("-"):
            raise UsageError(
                f"unexpected argument {arg!r} (flags take the form --name=value or --name value)"
            )
        flag = arg.split("=", 1)[0]
        if flag in known:
            continue
        candidates = difflib.get_close_matches(flag, ours + sorted(known), n=1, cutoff=0.6)
        hint = f"; did you mean {candidates[0]}?" if candidates else ""
        raise UsageError(
            f"unknown flag {flag}{hint} (python -m pipeline.run --help lists ours; others must be Beam options)"
        )


def split_beam_args(
    argv: list[str] | None, parser: argparse.ArgumentParser
) -> tuple[argparse.Namespace, list[str]]:
    args, rest = parser.parse_known_args(argv)
    # Values of Beam flags given as "--flag value" come back as separate items: keep them with their flag.
    beam_args: list[str] = []
    for item in rest:
        if (
            not item.startswith("-")
            and beam_args
            and "=" not in beam_args[-1]
            and beam_args[-1].startswith("--")
        ):
            beam_args[-1] = f"{beam_args[-1]}={item}"
        else:
            beam_args.append(item)
    return args, beam_args


def configure(args: argparse.Namespace) -> RunConfig:
    overrides = {
        "input": args.input,
        "output": args.output,
        "stages": args.stages,
        "keep_rejected": args.keep_rejected,
        "resume": args.resume,
    }
    sets = list(args.set)
    if args.cc_base_url:
        sets.append(f"read.cc_base_url={args.cc_base_url}")
    if args.tokenizer:
        sets.append(f"tokenize.tokenizer={args.tokenizer}")
    if args.holdout_fraction is not None:
        sets.append(f"write.holdout_fraction={args.holdout_fraction}")
    return load_config(args.config, sets, overrides)


def provenance(runner: str) -> dict:
    """What manifest.json records of the software that ran."""
    import importlib.metadata
    import subprocess
    from pathlib import Path

    info: dict = {"runner": str(runner), "beam_version": beam.__version__}
    try:
        info["package_version"] = importlib.metadata.version("cc-pretrain-pipeline")
    except importlib.metadata.PackageNotFoundError:
        info["package_version"] = None
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / ".git").exists():
        try:
            rev = subprocess.run(
                ["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
            )
            dirty = subprocess.run(
                ["git", "-C", str(checkout), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=10,
            )
            if rev.returncode == 0:
                info["git_revision"] = rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
        except (OSError, subprocess.TimeoutExpired):
            pass
    return info


def read_stats(out_dir: str) -> dict | None:
    return read_json(FileSystems.join(out_dir, "stats.json"))


def list_steps() -> str:
    """Every built-in step type: what it does, its parameters with defaults, its drop reasons."""
    import dataclasses
    import inspect
    import re

    from stages import STEP_TYPES, load_step_class

    lines = [
        "Step types (use in the steps: list of a config; a step of your own: type: my_pkg.module:Class).",
        "",
    ]
    for name in STEP_TYPES:
        cls = load_step_class(name)
        doc = (inspect.getdoc(cls) or inspect.getdoc(inspect.getmodule(cls)) or "").split("\n\n")[0]
        lines.append(f"{name}: {' '.join(doc.split())}")
        source = inspect.getsource(cls.Params)
        helps = dict(re.findall(r"^\s+(\w+):[^#\n]*#\s*(.+)$", source, re.MULTILINE))
        defaults = cls.Params()
        for field in dataclasses.fields(cls.Params):
            value = getattr(defaults, field.name)
            hint = f"  # {helps[field.name]}" if field.name in helps else ""
            lines.append(f"    {field.name}: {json.dumps(value, ensure_ascii=False, default=str)}{hint}")
        if cls.columns:
            lines.append(f"    writes: {', '.join(cls.columns)}")
        if cls.reasons:
            lines.append(f"    drop reasons: {', '.join(cls.reasons)}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    _quiet.interrupted = False
    _chunk_session.__init__()  # a fresh record for this run (tests call main() many times)
    parser = make_parser()
    args, beam_args = split_beam_args(argv, parser)
    level = getattr(logging, str(args.log_level).upper(), None)
    if not isinstance(level, int):
        print(f"error: --log-level {args.log_level!r} is not a log level", file=sys.stderr)
        return 2
    logging.getLogger().setLevel(level)
    _quiet.level = level if level < logging.WARNING else logging.ERROR
    if args.list_steps:
        print(list_steps())
        return 0

    try:
        check_beam_args(
            beam_args, [f for a in parser._actions for f in a.option_strings if f.startswith("--")]
        )
        cfg = configure(args)
        total_bytes = check_local_inputs(cfg.input)
    except (ConfigError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: config key 'input': {exc.args[0]!r} matches no file", file=sys.stderr)
        return 2

    options = PipelineOptions(beam_args)
    if not options.view_as(StandardOptions).runner:
        options.view_as(StandardOptions).runner = "DirectRunner"
    runner = options.view_as(StandardOptions).runner
    dry_run = options.view_as(TestOptions).dry_run
    run_id = uuid.uuid4().hex[:12]
    chunked = cfg.resume and not dry_run
    if not dry_run:
        try:
            if not chunked:  # a chunked run checks the folder against its plan (pipeline.chunks)
                check_empty(cfg.output, args.overwrite)
            acquire_lock(cfg.output, run_id)
        except OutputBusy as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    try:
        if not dry_run:
            remove_stale_temp(cfg.output)
        if chunked:
            return run_chunked(cfg, args, options, runner, run_id)
        return run(cfg, args, options, runner, run_id, total_bytes)
    except (ConfigError, UsageError, OutputBusy) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _interrupted(cfg.output, run_id)
    except Exception as exc:
        if _quiet.interrupted:  # the in-process runner wraps a DoFn's KeyboardInterrupt
            return _interrupted(cfg.output, run_id)
        if _is_disk_full(exc):
            _discard(cfg.output, run_id)
            print(f"error: no space left on device while writing the run (temporary files removed): {cfg.output}"
                  f"{_chunk_session.note()}", file=sys.stderr)  # fmt: skip
            return 1
        too_many = _too_many_errors(exc)
        if too_many:
            _discard(cfg.output, run_id)
            print(f"error: {too_many}{_chunk_session.note()}", file=sys.stderr)
            return 1
        raise
    finally:
        if not dry_run:
            release_lock(cfg.output, run_id)


def _on_interrupt(signum, frame):
    """Ctrl-C: from now on nothing of Beam's is shown (its threads report the workers' deaths at
    length); the main thread unwinds (KeyboardInterrupt) to main(), which cleans up and prints one line."""
    _quiet.interrupted = True
    raise KeyboardInterrupt


def _quiet_thread_errors(args) -> None:
    if not _quiet.interrupted:
        _default_thread_hook(args)


_default_thread_hook = threading.excepthook


class _InterruptGate:
    """While the pipeline runs, everything written to stderr (this process's and the runner's
    worker processes', which inherit it) passes through a pipe that a thread copies to the real
    stderr. Ctrl-C goes to the whole process group: every worker dies printing a traceback. The
    copying thread learns of the signal first, from the signal module's wakeup fd (written when the
    signal arrives, before any worker can format a traceback), and stops copying; ``main`` then
    kills the workers, cleans up and prints its one line on the real stderr. Python's own handler
    raises KeyboardInterrupt in the main thread (``_on_interrupt``)."""

    def __enter__(self):
        # A run started with SIGINT ignored (a shell's background job) keeps ignoring it: taking
        # it over here would make Ctrl-C stop the run inside a chunk but not between two.
        self.active = (
            threading.current_thread() is threading.main_thread()
            and _stderr_is_fd2()
            and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
        )
        if not self.active:
            return self
        self.old_handler = signal.signal(signal.SIGINT, _on_interrupt)
        threading.excepthook = _quiet_thread_errors
        sys.stderr.flush()
        self.real_stderr = os.dup(2)
        self.read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
        self.wake_read, self.wake_write = os.pipe()
        os.set_blocking(self.wake_write, False)
        self.old_wakeup = signal.set_wakeup_fd(self.wake_write)
        if os.isatty(self.real_stderr):
            os.environ["CC_PIPELINE_TTY"] = "1"  # progress lines from workers may rewrite one line
        self.pump = threading.Thread(target=self._copy, name="stderr-gate", daemon=True)
        self.pump.start()
        return self

    def _copy(self) -> None:
        import select

        watchdog_started = False
        while True:
            ready, _, _ = select.select([self.wake_read, self.read_end], [], [])
            if self.wake_read in ready and signal.SIGINT in os.read(self.wake_read, 64):
                _quiet.interrupted = True
                if not watchdog_started:  # (not the flag: the main thread's handler may set it first)
                    # Ctrl-C reaches the workers too, but one may not exit: a Beam SDK worker was
                    # seen stuck in a gRPC finalizer's lock, and the runner's cleanup waited for it
                    # forever, never letting the main thread get back to main(). Past the grace
                    # period the workers are killed, the wait ends and _interrupted cleans up.
                    watchdog = threading.Timer(INTERRUPT_GRACE_S, _kill_children)
                    watchdog.daemon = True
                    watchdog.start()
                    watchdog_started = True
            if self.read_end in ready:
                data = os.read(self.read_end, 1 << 16)
                if not data:
                    return
                if not _quiet.interrupted:
                    os.write(self.real_stderr, data)

    def __exit__(self, *exc):
        if self.active:
            sys.stderr.flush()
            signal.set_wakeup_fd(self.old_wakeup)
            if not _quiet.interrupted:  # after Ctrl-C the runner's dying threads stay quiet
                signal.signal(signal.SIGINT, self.old_handler)
                threading.excepthook = _default_thread_hook
            os.dup2(self.real_stderr, 2)  # closes this process's write end of the pipe
            os.environ.pop("CC_PIPELINE_TTY", None)
            if not _quiet.interrupted:
                self.pump.join(timeout=5)  # the workers have exited: the pipe drains and ends
            os.close(self.real_stderr)  # after an interrupt the copying thread writes nothing more
        return False


def _stderr_is_fd2() -> bool:
    try:
        return sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False  # e.g. captured by a test harness


# After Ctrl-C, how long the runner may take to stop its workers before they are killed.
INTERRUPT_GRACE_S = 5.0


def proc_stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state, parent pid, ...), or None
    when there is no such process (Linux)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def descendants(pid: int) -> list[int]:
    """The processes below ``pid``: its children, their children and so on."""
    try:
        entries = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return []
    children: dict[str, list[str]] = {}
    for entry in entries:
        fields = proc_stat(entry)
        if fields and len(fields) > 1:
            children.setdefault(fields[1], []).append(entry)
    found, todo = [], list(children.get(str(pid), ()))
    while todo:
        entry = todo.pop()
        todo.extend(children.get(entry, ()))
        found.append(int(entry))
    return found


def _kill_children() -> None:
    """SIGKILL this process's descendants (the runner's workers, and the processes a worker's
    shell wrapper started)."""
    for pid in descendants(os.getpid()):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def new_pipeline(options: PipelineOptions) -> beam.Pipeline:
    """A Beam pipeline; Beam's own option validation (e.g. an invalid --project or
    --temp_location) fails as a usage error, which main() prints as one line (exit 2)."""
    try:
        return beam.Pipeline(options=options)
    except ValueError as exc:
        raise UsageError(f"Beam pipeline options: {' '.join(str(exc).split())}") from None


def run(cfg: RunConfig, args, options: PipelineOptions, runner, run_id: str, total_bytes: int | None) -> int:
    sample_dir = None
    inputs = cfg.input
    if not inputs:
        from pipeline.sample import write_sample

        sample_dir = tempfile.TemporaryDirectory(prefix="pipeline-sample-")
        inputs = write_sample(sample_dir.name)
        total_bytes = check_local_inputs(inputs)
        print(f"no --input given: running on the built-in sample ({len(inputs)} files)", file=sys.stderr)

    show_progress = not args.no_progress
    progress._tracker = None  # a fresh tracker for this run when the runner works in this process
    run_info = {**provenance(runner), "started": time.time()}
    start = time.monotonic()
    try:
        pipeline = new_pipeline(options)
        build_pipeline(pipeline, cfg, inputs, run_id, total_bytes, show_progress, run_info)
        with _InterruptGate():
            result = pipeline.run()
            result.wait_until_finish()
    finally:
        if sample_dir is not None:
            sample_dir.cleanup()
    elapsed = time.monotonic() - start
    if show_progress and sys.stderr.isatty():
        sys.stderr.write("\n")

    if options.view_as(TestOptions).dry_run:
        # The runner built and validated the job but ran nothing: there is no output to describe.
        print(dry_run_summary(result, runner), file=sys.stderr)
        return 0
    stats = read_stats(cfg.output)
    if stats is None:
        # A runner that returns before the job ends (a detached Dataflow job): the job itself
        # writes stats.json and the report when it finishes.
        print(f"submitted in {elapsed:.1f}s; the job writes stats.json, report.html and manifest.json to "
              f"{cfg.output} when it finishes", file=sys.stderr)  # fmt: skip
        return 0
    return report_end(stats, cfg, args, elapsed)


def report_end(stats: dict, cfg: RunConfig, args, elapsed: float, extra: str = "") -> int:
    """The summary of a finished run; exit 1 when its inputs yielded no document at all."""
    print(summary(stats, cfg.output, elapsed) + extra, file=sys.stderr)
    if stats["stages"]["read"]["out"] == 0 and not args.allow_empty:
        given = ", ".join(cfg.input) or "the built-in sample"
        print(f"error: the inputs yielded no document at all ({given}); see {cfg.output}/stats.json "
              "for what was read, or pass --allow-empty", file=sys.stderr)  # fmt: skip
        return 1
    return 0


class _ChunkSession:
    """Where a chunked run stands, for the one line an interruption or a failure prints."""

    def __init__(self) -> None:
        self.out_dir = ""
        self.total = 0
        self.committed = 0
        self.running: int | None = None

    def note(self) -> str:
        if not self.total:
            return ""
        return (
            f" {self.committed} of {self.total} chunks are committed in {self.out_dir}/chunks; "
            "run the same command again (with --resume) to continue"
        )

    def discard(self) -> None:
        """Remove what the chunk that was running left (the next run would, too)."""
        if self.running is not None:
            try:
                chunks.clear_chunk(self.out_dir, self.running)
            except OSError:
                pass


_chunk_session = _ChunkSession()


def run_chunked(cfg: RunConfig, args, options: PipelineOptions, runner, run_id: str) -> int:
    """A resumable run (pipeline.chunks): plan, the chunks not yet committed, the final commit."""
    if not cfg.input:
        raise UsageError("--resume needs --input: the built-in sample is written afresh by every run")
    chunks.check_steps(cfg)
    run_info = provenance(runner)
    plan = chunks.make_plan(cfg, run_info)
    state = chunks.prepare(cfg.output, plan, args.overwrite)
    total = len(plan["chunks"])
    start = time.monotonic()
    if state == "complete":
        chunks.tidy_complete(cfg.output, plan)
        print(
            f"nothing to do: {cfg.output} already holds this run (all {total} chunks committed)",
            file=sys.stderr,
        )
        stats = read_stats(cfg.output)
        return report_end(stats, cfg, args, 0.0) if stats else 0
    done = chunks.committed(cfg.output, plan)
    todo = [index for index in range(total) if index not in done]
    show_progress = not args.no_progress
    if done:
        print(f"resuming: {len(done)} of {total} chunks are already committed and are not read again",
              file=sys.stderr)  # fmt: skip
    elif show_progress:
        print(f"{total} chunks of at most {cfg.chunks.mb:g} MB; an interrupted run continues where it stopped "
              "when run again with --resume", file=sys.stderr)  # fmt: skip
    _chunk_session.out_dir, _chunk_session.total, _chunk_session.committed = cfg.output, total, len(done)
    todo_bytes = sum(plan["chunks"][index]["bytes"] for index in todo)
    session_bytes = 0
    for index in todo:
        chunk = plan["chunks"][index]
        elapsed = time.monotonic() - start
        context = progress.ChunkProgress(
            f"chunk {index + 1}/{total}",
            bytes_after=todo_bytes - session_bytes - chunk["bytes"],
            rate=session_bytes / elapsed if session_bytes else None,
        )
        _chunk_session.running = index
        chunks.clear_chunk(cfg.output, index)  # what an interrupted attempt left
        chunk_info = {"index": index, "of": total, "plan_id": plan["plan_id"], "session": run_id}
        info = {**run_info, "chunk": chunk_info, "started": time.time()}
        pipeline = new_pipeline(options)
        progress._tracker = None
        build_pipeline(pipeline, chunks.chunk_config(cfg, cfg.output, index), [], uuid.uuid4().hex[:12],
                       chunk["bytes"], show_progress, info, parts=chunk["parts"], progress_context=context)  # fmt: skip
        with _InterruptGate():
            pipeline.run().wait_until_finish()
        _chunk_session.running = None
        _chunk_session.committed += 1
        session_bytes += chunk["bytes"]
        del pipeline
        chunks.release_memory()
        if show_progress:
            elapsed = time.monotonic() - start
            left = progress.eta(todo_bytes - session_bytes, session_bytes, elapsed)
            eta = (
                f" | run ETA {progress.clock(left)}"
                if left is not None and session_bytes < todo_bytes
                else ""
            )
            end = "\n" if sys.stderr.isatty() else ""
            print(f"{end}chunk {index + 1}/{total} committed | {_chunk_session.committed} of {total} done | "
                  f"elapsed {progress.clock(elapsed)}{eta}", file=sys.stderr)  # fmt: skip
    chunks.finish(cfg, plan, cfg.output, {**run_info, "session": run_id})
    _chunk_session.total = 0  # committed: an interruption from here on loses nothing
    stats = read_stats(cfg.output) or {}
    extra = f"\nchunks: {total} ({len(done)} committed by an earlier run, {len(todo)} by this one)"
    return report_end(stats, cfg, args, time.monotonic() - start, extra)


def _interrupted(out_dir: str, run_id: str) -> int:
    _quiet.interrupted = True
    _kill_children()
    _discard(out_dir, run_id)
    if _chunk_session.total:
        _chunk_session.discard()
        print(f"\ninterrupted:{_chunk_session.note()}", file=sys.stderr)
        return 130
    print(f"\ninterrupted: nothing of this run was committed to {out_dir} (its temporary files are removed)",
          file=sys.stderr)  # fmt: skip
    return 130


def _discard(out_dir: str, run_id: str) -> None:
    """Remove what an unfinished run staged (its outputs were never committed)."""
    from pipeline.writer import delete_folder

    try:
        delete_folder(run_temp_dir(out_dir, run_id))
    except OSError:
        pass


def _chain(exc: BaseException):
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


def _is_disk_full(exc: BaseException) -> bool:
    import errno

    return any(
        (isinstance(e, OSError) and e.errno == errno.ENOSPC) or "No space left on device" in str(e)
        for e in _chain(exc)
    )


def _too_many_errors(exc: BaseException) -> str | None:
    """The TooManyErrors message inside a runner's wrapped exception, if that is what failed."""
    import re

    from stages.beam import TooManyErrors

    for e in _chain(exc):
        if isinstance(e, TooManyErrors):
            return str(e)
        found = re.search(r"TooManyErrors: (.+)", str(e))
        if found:
            return found.group(1).splitlines()[0]
    return None


def dry_run_summary(result, runner: str) -> str:
    job = getattr(result, "job", None)
    proto = getattr(job, "proto_pipeline", None)
    size = f" ({len(proto.components.transforms)} transforms)" if proto is not None else ""
    return (
        f"dry run: {runner} built and validated the job graph{size}; nothing was run, "
        "no output or stats.json written"
    )


if __name__ == "__main__":
    code = main()
    if _quiet.interrupted:
        # The runner's threads may still be winding down; the run is over and cleaned up.
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
