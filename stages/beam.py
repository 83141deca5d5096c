"""Thin Beam wrappers around stages: counting and routing, nothing else.

Counters live in the namespace ``stats`` and are named ``<stage>.in``, ``<stage>.out`` and
``<stage>.drop.<reason>`` (plus ``<stage>.count.<key>`` for a stage's own tallies); pipeline.stats turns them into stats.json. Counts are kept in a
local dict and flushed once per bundle: a Beam counter increment per element is measurable.
"""

from __future__ import annotations

from collections import Counter

import apache_beam as beam
from apache_beam.metrics import Metrics

from stages.base import Drop, RunContext, Stage

NAMESPACE = "stats"
REJECTED = "rejected"


class BundleCounts:
    """Per-bundle tallies flushed into Beam counters."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add(self, name: str, n: int = 1) -> None:
        self.counts[name] += n

    def flush(self) -> None:
        for name, n in self.counts.items():
            if n:
                Metrics.counter(NAMESPACE, name).inc(n)
        self.counts.clear()


def rejected_record(doc: dict, stage: str, drop: Drop) -> dict:
    """A dropped document as written under rejected/: the document plus why."""
    doc["stage"] = stage
    doc["reason"] = drop.reason
    doc["detail"] = drop.detail
    return doc


class ApplyStage(beam.DoFn):
    """Runs one per-document stage; kept docs on the main output, drops on ``rejected``."""

    def __init__(self, stage: Stage, keep_rejected: bool):
        self.stage = stage
        self.keep_rejected = keep_rejected
        self.tally = BundleCounts()

    def setup(self):
        self.stage.setup()

    def start_bundle(self):
        self.tally = BundleCounts()

    def process(self, doc):
        name = self.stage.name
        self.tally.add(f"{name}.in")
        result = self.stage.process(doc)
        if isinstance(result, Drop):
            self.tally.add(f"{name}.drop.{result.reason}")
            if self.keep_rejected:
                yield beam.pvalue.TaggedOutput(REJECTED, rejected_record(doc, name, result))
            return
        self.tally.add(f"{name}.out")
        yield result

    def finish_bundle(self):
        for key, n in self.stage.counts.items():
            self.tally.add(f"{self.stage.name}.count.{key}", n)
        self.stage.counts.clear()
        self.tally.flush()


def apply_stage(docs, stage: Stage, keep_rejected: bool, ctx: RunContext | None = None):
    """Apply ``stage`` to a PCollection; returns (kept, rejected)."""
    if stage.is_global:
        if ctx is None:
            raise ValueError(f"global stage {stage.name} needs a RunContext")
        return stage.expand(docs, keep_rejected, ctx)
    outputs = docs | f"stage:{stage.name}" >> beam.ParDo(ApplyStage(stage, keep_rejected)).with_outputs(
        REJECTED, main="kept"
    )
    return outputs.kept, outputs[REJECTED]
