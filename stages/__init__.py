"""Pipeline steps. ``STEP_TYPES`` names the built-in step types, in the order of the default recipe;
``load_step_class`` imports one lazily (a run only pays for the steps it uses) and also accepts a
user's own step by import path (``my_pkg.filters:Toxicity``)."""

from __future__ import annotations

import importlib

from stages.base import Doc, Drop, Params, Stage

# Built-in type name -> "module:Class", in the default recipe's order (configs/default.yaml).
STEP_TYPES: dict[str, str] = {
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


class StepTypeError(LookupError):
    """A step type that cannot be used: unknown name, import failure, not a Stage subclass."""


def is_import_path(step_type: str) -> bool:
    return ":" in step_type


def load_step_class(step_type: str) -> type[Stage]:
    """The class of a built-in type (``quality``) or of a user's step (``my_pkg.filters:Toxicity``)."""
    target = STEP_TYPES.get(step_type)
    if target is None:
        if not is_import_path(step_type):
            raise StepTypeError(
                f"unknown step type {step_type!r} (built-in: {', '.join(STEP_TYPES)}; "
                "a step of your own is named by import path, e.g. my_pkg.filters:Toxicity)"
            )
        target = step_type
    module_name, _, class_name = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except ImportError as exc:
        raise StepTypeError(f"step type {step_type!r}: cannot import {module_name!r} ({exc})") from None
    except AttributeError:
        raise StepTypeError(f"step type {step_type!r}: {module_name!r} has no {class_name!r}") from None
    if not (isinstance(cls, type) and issubclass(cls, Stage)):
        raise StepTypeError(f"step type {step_type!r}: {class_name} is not a stages.base.Stage subclass")
    return cls


__all__ = ["STEP_TYPES", "Doc", "Drop", "Params", "Stage", "StepTypeError", "load_step_class"]
