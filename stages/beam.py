"""Thin Beam wrappers around stages: counting, timing and routing, nothing else.

Tallies are named ``<step>.in``, ``<step>.out``, ``<step>.drop.<reason>`` (plus
``<step>.count.<key>`` for a step's own tallies and ``<step>.cpu_ns`` for the CPU time spent in
it). Each DoFn keeps them in a local dict for a bundle and, when the bundle ends, does two things
with it: increments Beam counters of namespace ``stats`` (live monitoring in a runner's UI) and
emits the tally as an element on the ``STATS`` output. The graph sums those elements and writes
stats.json itself: unlike counters, the output of a bundle that failed and was retried is
discarded by the runner, so the sums are exact, and they exist on runners without metrics and
when the launcher does not wait for the job.
"""

from __future__ import annotations

import time
from collections import Counter

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.window import GlobalWindows

from stages.base import Drop, RunContext, Stage

NAMESPACE = "stats"
REJECTED = "rejected"
STATS = "stats"  # the tagged output of every counting DoFn: one {name: count} dict per bundle


class BundleCounts:
    """Per-bundle tallies: live Beam counters and, as data, the ``STATS`` output."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add(self, name: str, n: int = 1) -> None:
        self.counts[name] += n

    def flush(self) -> dict[str, int]:
        """Increment the live counters; return the tally as data and start afresh."""
        tally = {name: n for name, n in self.counts.items() if n}
        for name, n in tally.items():
            Metrics.counter(NAMESPACE, name).inc(n)
        self.counts.clear()
        return tally

    def emit(self) -> list[TaggedOutput]:
        """The tally as a ``STATS`` output from ``process`` (empty when nothing was counted)."""
        tally = self.flush()
        return [TaggedOutput(STATS, tally)] if tally else []

    def emit_windowed(self) -> list[TaggedOutput]:
        """The same from ``finish_bundle``, where outputs carry their window explicitly."""
        tally = self.flush()
        return [TaggedOutput(STATS, GlobalWindows.windowed_value(tally))] if tally else []


class CpuClock:
    """CPU time of a step's own code, for ``<step>.cpu_ns``. Reading a thread's CPU clock is a
    system call (about 3 µs on the development VM), too dear twice per document in every step, so
    one call in ``SAMPLE`` is timed and counts for ``SAMPLE`` calls. The first call is timed and
    counts once (it often pays for lazy set-up). Over thousands of documents the total is close;
    over a handful it is rough."""

    SAMPLE = 16

    def __init__(self, key: str):
        self.key = key
        self.calls = 0

    def start(self) -> int:
        self.calls += 1
        return time.thread_time_ns() if self.calls % self.SAMPLE == 1 else -1

    def stop(self, started: int, tally: BundleCounts) -> None:
        if started >= 0:
            weight = 1 if self.calls == 1 else self.SAMPLE
            tally.add(self.key, (time.thread_time_ns() - started) * weight)


def rejected_record(doc: dict, stage: str, drop: Drop) -> dict:
    """A dropped document as written under rejected/: a copy of the document plus why."""
    return {**doc, "stage": stage, "reason": drop.reason, "detail": drop.detail}


def error_drop(exc: BaseException) -> Drop:
    """What an exception on one document becomes: a drop naming the exception class."""
    return Drop("step_error", f"{type(exc).__name__}: {exc}"[:300])


class TooManyErrors(RuntimeError):
    """A step fails on many documents: a systematic problem, not one hostile document."""


class ErrorBudget:
    """Counts one step's errors on a worker and stops the run when they stop being one-offs:
    more than ``max_errors`` AND more than ``max_share`` of the documents the step saw there."""

    def __init__(self, step: str, max_errors: int, max_share: float):
        self.step, self.max_errors, self.max_share = step, max_errors, max_share
        self.errors = 0
        self.seen = 0
        self.first = ""

    def ok(self) -> None:
        self.seen += 1

    def failed(self, detail: str) -> None:
        self.seen += 1
        self.errors += 1
        self.first = self.first or detail
        if self.errors > self.max_errors and self.errors > self.max_share * self.seen:
            raise TooManyErrors(
                f"{self.step}: {self.errors} of {self.seen} documents failed on this worker "
                f"(max_errors {self.max_errors}, max_error_share {self.max_share}); first: {self.first}"
            )


class ApplyStage(beam.DoFn):
    """Runs one per-document stage on its own shallow copy of each document (the contract in
    stages.base); kept docs on the main output, drops on ``rejected``, tallies on ``stats``.
    An exception on one document is that document's ``step_error`` drop, not a failed bundle."""

    def __init__(
        self, stage: Stage, keep_rejected: bool, max_errors: int = 100, max_error_share: float = 0.01
    ):
        self.stage = stage
        self.keep_rejected = keep_rejected
        self.max_errors = max_errors
        self.max_error_share = max_error_share
        self.tally = BundleCounts()

    def setup(self):
        self.stage.setup()
        self.budget = ErrorBudget(self.stage.name, self.max_errors, self.max_error_share)
        self.clock = CpuClock(f"{self.stage.name}.cpu_ns")

    def start_bundle(self):
        self.tally = BundleCounts()

    def process(self, doc):
        name = self.stage.name
        self.tally.add(f"{name}.in")
        started = self.clock.start()
        try:
            result = self.stage.process(dict(doc))
        except Exception as exc:  # noqa: BLE001 - one document's failure is that document's drop
            result = error_drop(exc)
            self.budget.failed(result.detail)
        else:
            self.budget.ok()
        self.clock.stop(started, self.tally)
        if isinstance(result, Drop):
            self.tally.add(f"{name}.drop.{result.reason}")
            if self.keep_rejected:
                yield TaggedOutput(REJECTED, rejected_record(doc, name, result))
            return
        self.tally.add(f"{name}.out")
        yield result

    def finish_bundle(self):
        for key, n in self.stage.counts.items():
            self.tally.add(f"{self.stage.name}.count.{key}", n)
        self.stage.counts.clear()
        yield from self.tally.emit_windowed()


def apply_stage(docs, stage: Stage, keep_rejected: bool, ctx: RunContext | None = None):
    """Apply ``stage`` to a PCollection; returns (kept, rejected). Tallies go to ``ctx.stats``
    (a global stage needs the context; a per-document one can run without, e.g. in tests)."""
    if stage.is_global:
        if ctx is None:
            raise ValueError(f"global stage {stage.name} needs a RunContext")
        return stage.expand(docs, keep_rejected, ctx)
    limits = (ctx.max_errors, ctx.max_error_share) if ctx is not None else ()
    outputs = docs | f"stage:{stage.name}" >> beam.ParDo(
        ApplyStage(stage, keep_rejected, *limits)
    ).with_outputs(REJECTED, STATS, main="kept")
    if ctx is not None:
        ctx.stats.append(outputs[STATS])
    return outputs.kept, outputs[REJECTED]
