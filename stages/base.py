"""The one abstraction every pipeline step shares.

A document is a plain ``dict`` (cheap to pickle between Beam workers) with at least
``id``, ``url`` and ``text``; stages add their own keys (``lang``, ``quality_score`` ...),
declared in ``Stage.columns`` so the Arrow writer knows the schema up front.

A per-document stage is a pure object: ``process(doc)`` returns the (possibly changed)
document to keep it, or a ``Drop`` naming the reason. It is unit-tested without Beam;
``stages.beam.ApplyStage`` is the thin Beam wrapper that counts and routes. Global stages
(dedup) override ``expand`` instead and receive the whole PCollection.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any, ClassVar

import pyarrow as pa

Doc = dict[str, Any]


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
    """One pipeline step. Subclasses set ``name``, ``Params`` and ``columns``."""

    name: ClassVar[str] = ""
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
        """Return the kept document (may be modified in place) or a Drop."""
        raise NotImplementedError

    # Global stages (whole-collection, e.g. dedup) set this and implement ``expand``.
    is_global: ClassVar[bool] = False

    def expand(self, docs, keep_rejected: bool, ctx: RunContext):  # pragma: no cover - overridden
        """Beam composite for a global stage: take the docs PCollection, return
        ``(kept, rejected)`` PCollections, counting with ``stages.beam.BundleCounts`` under
        the same ``<name>.in/out/drop.<reason>`` names as per-document stages."""
        raise NotImplementedError


@dataclasses.dataclass
class RunContext:
    """What a global stage may use of the run it is part of.

    ``work_dir(name)`` is a folder for intermediate files under ``<output>/.tmp-<run_id>/``,
    which ``pipeline.writer.finalize_output`` deletes at the end of the run. A stage that writes
    an output of its own (e.g. the MinHash index) adds its Arrow schema to ``schemas`` and the
    PCollection of file descriptions to ``files``; finalize_output commits them like documents.
    """

    output: str
    run_id: str
    # True when the runner holds every shuffle in memory (the DirectRunner): dedup stages then
    # spill document text to files instead of joining it through a shuffle.
    in_memory_shuffle: bool = False
    files: list[Any] = dataclasses.field(default_factory=list)
    schemas: dict[str, pa.Schema] = dataclasses.field(default_factory=dict)

    def work_dir(self, name: str) -> str:
        from apache_beam.io.filesystems import FileSystems

        return FileSystems.join(self.output, f".tmp-{self.run_id}", name)
