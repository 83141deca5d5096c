"""Steps of a user's own, referenced from configs by import path (``user_steps:Shouting``): the
tests check that they get the same validation, counting, routing and reporting as built-in steps.
"""

from __future__ import annotations

import dataclasses

import pyarrow as pa

from stages.base import Doc, Drop, Params, Stage


@dataclasses.dataclass
class ShoutingParams(Params):
    max_upper_share: float = 0.5  # drop a document whose letters are more upper case than this

    def validate(self) -> None:
        if not 0.0 <= self.max_upper_share <= 1.0:
            raise ValueError(f"max_upper_share: must be in [0, 1], got {self.max_upper_share}")


class Shouting(Stage):
    """Drops documents written mostly in capitals; writes the share as ``upper_share``."""

    name = "shouting"
    Params = ShoutingParams
    columns = {"upper_share": pa.float32()}
    reasons = ("too_much_shouting",)

    def process(self, doc: Doc) -> Doc | Drop:
        letters = [ch for ch in doc["text"] if ch.isalpha() and ch.isascii()]
        share = sum(ch.isupper() for ch in letters) / len(letters) if letters else 0.0
        if share > self.params.max_upper_share:
            return Drop("too_much_shouting", f"{share:.2f} upper case")
        doc["upper_share"] = share
        return doc


class Upcase(Stage):
    """Changes every document's text (on its own copy, as the contract in stages.base asks)."""

    name = "upcase"

    def process(self, doc: Doc) -> Doc:
        doc["text"] = doc["text"].upper()
        return doc


class Explodes(Stage):
    """Raises on documents whose text contains a marker: one hostile document, not the run."""

    name = "explodes"

    def process(self, doc: Doc) -> Doc:
        if "BOOM" in doc["text"]:
            raise ValueError("cannot handle this one")
        return doc


class NotAStep:
    pass
