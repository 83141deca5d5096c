"""The one abstraction every pipeline step shares.

A document is a plain ``dict`` (cheap to pickle between Beam workers) with at least
``id``, ``url`` and ``text``; stages add their own keys (``lang``, ``quality_score`` ...),
declared in ``Stage.columns`` so the Arrow writer knows the schema up front.

A per-document stage is a pure object: ``process(doc)`` returns the (possibly changed)
document to keep it, or a ``Drop`` naming the reason. It is unit-tested without Beam;
``stages.beam.ApplyStage`` is the thin Beam wrapper that counts and routes. Global stages
(dedup) override ``expand`` instead and receive the whole PCollection.

A step is one entry of the user's ``steps:`` list: a *type* (the class, a built-in name such as
``quality`` or an import path such as ``my_pkg.filters:Toxicity``) and a *name*, unique in the run
(the type's ``name`` unless the config gives another, e.g. ``quality_late``). The name is what
counters, stats.json, rejected/ and the report use, so a type may run twice under two names.

Documents are not owned by a step. Beam may hand one element to several consumers (a branch, a
sample, a retry), so a step must never change a document it received in place: ``ApplyStage``
gives ``process`` a shallow copy, on which setting or deleting top-level keys is fine, while nested
values (``meta``, lists) are shared and must be replaced, never mutated. Global stages route the
documents they receive without changing them, or copy first.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any, ClassVar

import pyarrow as pa

Doc = dict[str, Any]

# The document model, in one place. Every document has the base fields (strings). A field a
# built-in step writes is a top-level key with one meaning, whatever the document was read from
# (WARC, JSONL, Parquet, an earlier run's Arrow output): readers lift these out of their input,
# and the writer stores them as columns. Anything else a reader finds goes to ``meta`` (a dict,
# written as JSON). Steps declare what they write in ``Stage.columns``; a test keeps the built-in
# steps' columns equal to this table.
BASE_FIELDS: tuple[str, ...] = ("id", "url", "text", "date", "source")
STEP_FIELDS: dict[str, pa.DataType] = {
    "lang": pa.string(),  # langid
    "lang_score": pa.float32(),  # langid
    "quality_score": pa.float32(),  # quality
    "holdout": pa.bool_(),  # the held-out split (write.holdout_fraction), marked after reading
    "input_ids": pa.list_(pa.int32()),  # tokenize
    "n_tokens": pa.int64(),  # tokenize
}
# Step fields every documents/ shard carries (null where unknown), so that re-reading an output
# and writing it again keeps them even when the step that wrote them does not run again.
CARRIED_FIELDS: tuple[str, ...] = ("lang", "lang_score", "quality_score")


@dataclasses.dataclass(frozen=True, slots=True)
class Drop:
    """Why a document was rejected. ``reason`` is a short snake_case key counted in stats.json;
    ``detail`` is optional free text stored with the document under ``--keep-rejected``."""

    reason: str
    detail: str = ""


@dataclasses.dataclass
class Params:
    """Base class for a stage's parameters. Subclass it as a dataclass with typed defaults;
    pipeline.config validates YAML against the fields (unknown keys, wrong types)."""


def path_param(default: str | None = None) -> Any:
    """A Params field that holds a file or folder path (model, tokenizer, spill folder).

    pipeline.config makes a relative local value absolute where the command runs: workers
    (other processes, other machines) do not share the launcher's working directory. Remote
    paths (``gs://``, ``s3://``, ``https://``) are left as they are."""
    return dataclasses.field(default=default, metadata={"path": True})


def path_list_param() -> Any:
    """A Params field holding a list of paths (resolved like ``path_param``); default empty."""
    return dataclasses.field(default_factory=list, metadata={"path": True})


class Stage:
    """One pipeline step. Subclasses set ``name`` (the default step name, the built-in type name),
    ``Params`` and ``columns``; an instance's ``name`` is its step name in the run."""

    name: str = ""
    Params: ClassVar[type[Params]] = Params
    # Columns this stage adds to a document, as Arrow types (for the writer's schema).
    columns: ClassVar[dict[str, pa.DataType]] = {}
    # Drop reasons this stage can emit: listed so reports and docs can name them all.
    reasons: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: Params | None = None):
        self.params = params if params is not None else self.Params()
        # Extra named counts (e.g. PII replacements per type), reported in stats.json under
        # stages.<name>.counts. The Beam wrapper flushes and clears them once per bundle.
        self.counts: Counter[str] = Counter()

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] += n

    def setup(self) -> None:
        """Load models and compile expensive state; called once per worker (DoFn.setup)."""

    def process(self, doc: Doc) -> Doc | Drop:
        """Return the kept document or a Drop. ``doc`` is this step's own shallow copy: its
        top-level keys may be set in place, nested values must not be mutated (module doc)."""
        raise NotImplementedError

    # Global stages (whole-collection, e.g. dedup) set this and implement ``expand``.
    is_global: ClassVar[bool] = False

    def expand(self, docs, keep_rejected: bool, ctx: RunContext):  # pragma: no cover - overridden
        """Beam composite for a global stage: take the docs PCollection, return
        ``(kept, rejected)`` PCollections, counting with ``stages.beam.BundleCounts`` under
        the same ``<name>.in/out/drop.<reason>`` names as per-document stages and adding the
        ``STATS`` outputs of its counting DoFns to ``ctx.stats``."""
        raise NotImplementedError


def run_temp_dir(output: str, run_id: str) -> str:
    """Everything a run writes before its commit lives here (pipeline.writer.commit_output)."""
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.join(output, f".tmp-{run_id}")


def staging_dir(output: str, run_id: str, kind: str) -> str:
    """Where the files of one output kind (``documents``, ``tokens/train``, ``minhash_index`` ...)
    wait until the commit renames them into ``<output>/<kind>/``."""
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.join(run_temp_dir(output, run_id), "out", kind)


@dataclasses.dataclass
class RunContext:
    """What a global stage may use of the run it is part of.

    ``work_dir(name)`` is a folder for intermediate files under ``<output>/.tmp-<run_id>/work/``,
    deleted when the run commits. A stage that writes an output of its own (e.g. the MinHash
    index) writes its files under ``staging(kind)``, adds its Arrow schema to ``schemas`` and the
    PCollection of file descriptions to ``files``; the commit renames them like documents.
    ``max_errors`` / ``max_error_share``: when a step's per-document errors stop being one-offs
    (stages.beam.ErrorBudget).
    """

    output: str
    run_id: str
    # True when the runner holds every shuffle in memory (the DirectRunner): dedup stages then
    # spill document text to files instead of joining it through a shuffle.
    in_memory_shuffle: bool = False
    files: list[Any] = dataclasses.field(default_factory=list)
    schemas: dict[str, pa.Schema] = dataclasses.field(default_factory=dict)
    # The STATS outputs (per-bundle tallies, see stages.beam) of every counting DoFn: a global
    # stage appends those of its own DoFns, and the graph sums them all into stats.json.
    stats: list[Any] = dataclasses.field(default_factory=list)
    max_errors: int = 100
    max_error_share: float = 0.01

    def work_dir(self, name: str) -> str:
        from apache_beam.io.filesystems import FileSystems

        return FileSystems.join(run_temp_dir(self.output, self.run_id), "work", name)

    def staging(self, kind: str) -> str:
        return staging_dir(self.output, self.run_id, kind)
