"""Pipeline stages, one module per stage. ``STAGE_ORDER`` is the canonical pipeline order;
``load_stage_class`` imports a stage lazily so a run only pays for the stages it uses."""

from __future__ import annotations

import importlib

from stages.base import Doc, Drop, Params, Stage

# Canonical names in pipeline order. Other issues and their tests rely on these exact names.
STAGE_ORDER: tuple[str, ...] = (
    "extract",
    "normalize",
    "langid",
    "heuristics",
    "quality",
    "exact_dedup",
    "minhash_dedup",
    "pii",
    "tokenize",
)

# name -> "module:Class" for the stages that exist. A canonical name missing here is
# "not implemented yet": selecting it is a configuration error, never a silent no-op.
IMPLEMENTED: dict[str, str] = {
    "extract": "stages.extract:ExtractStage",
    "normalize": "stages.normalize:NormalizeStage",
    "langid": "stages.langid:LangIdStage",
    "heuristics": "stages.heuristics:HeuristicsStage",
    "quality": "stages.quality:QualityStage",
    "exact_dedup": "stages.exact_dedup:ExactDedupStage",
    "minhash_dedup": "stages.minhash_dedup:MinHashDedupStage",
    "pii": "stages.pii:PIIStage",
    "tokenize": "stages.tokenize:TokenizeStage",
}


class StageNotImplemented(LookupError):
    pass


def load_stage_class(name: str) -> type[Stage]:
    if name not in STAGE_ORDER:
        raise KeyError(name)
    target = IMPLEMENTED.get(name)
    if target is None:
        raise StageNotImplemented(name)
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


__all__ = ["STAGE_ORDER", "IMPLEMENTED", "Doc", "Drop", "Params", "Stage", "load_stage_class"]
