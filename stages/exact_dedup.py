"""Exact dedup: one document per hash of folded text (case, whitespace, punctuation folded).

Pure core: ``text_fingerprint``. Beam: ``fingerprint + node`` records are grouped by fingerprint
(no text in the shuffle, ``dedup_common.group_by_key_prefix``), every non-best node of a group
becomes an ``(id, survivor_id)`` drop, and the drops are joined back onto the documents
(``dedup_common.join_drops``).
"""

from __future__ import annotations

import dataclasses
import hashlib

import apache_beam as beam

from stages.base import Doc, Params, RunContext, Stage, path_param
from stages.beam import STATS
from stages.dedup_common import (
    TimedFlatMap,
    check_join,
    check_policy,
    duplicates_in_group,
    fold_text,
    group_by_key_prefix,
    join_drops,
    make_node,
    spill_location,
)

FINGERPRINT_BYTES = 16


def text_fingerprint(text: str) -> bytes:
    """16-byte hash of the folded text: texts that differ only in case, spacing or punctuation
    (ASCII or CJK) share it."""
    return hashlib.blake2b(fold_text(text).encode("utf-8"), digest_size=FINGERPRINT_BYTES).digest()


@dataclasses.dataclass
class ExactDedupParams(Params):
    # Which document of a duplicate group survives: quality_score | smallest_id | longest
    # (ties -> smallest id).
    survivor: str = "quality_score"
    # How decisions reach the documents: auto (spill on the DirectRunner, a shuffle elsewhere),
    # shuffle (CoGroupByKey by id), or spill (text waits in files under spill_dir, default the
    # run's work folder; decisions are a side input).
    join: str = "auto"
    spill_dir: str | None = path_param()

    def validate(self) -> None:
        check_join(self.join)


class ExactDedupStage(Stage):
    name = "exact_dedup"
    Params = ExactDedupParams
    reasons = ("exact_duplicate",)
    is_global = True

    def __init__(self, params: ExactDedupParams | None = None):
        super().__init__(params)
        check_policy(self.params.survivor)

    def shuffle_records(self, doc: Doc) -> list[bytes]:
        """What the shuffle carries for one document: its 16-byte fingerprint, then its node."""
        return [text_fingerprint(doc.get("text") or "") + make_node(doc, self.params.survivor)]

    def expand(self, docs, keep_rejected: bool, ctx: RunContext):
        name = self.name
        spill = spill_location(self.params.join, self.params.spill_dir, ctx, name)
        keys = docs | f"{name}:fingerprint" >> beam.ParDo(
            TimedFlatMap(name, self.shuffle_records)
        ).with_outputs(STATS, main="keys")
        ctx.stats.append(keys[STATS])
        drops = group_by_key_prefix(
            keys.keys, name, FINGERPRINT_BYTES, spill
        ) | f"{name}:pick" >> beam.FlatMap(duplicates_in_group)
        return join_drops(docs, drops, name, "exact_duplicate", keep_rejected, spill, ctx)
