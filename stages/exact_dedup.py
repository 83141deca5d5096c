"""Exact dedup: one document per hash of folded text (case, whitespace, punctuation folded).

Pure core: ``text_fingerprint``. Beam: ``fingerprint + node`` records are grouped by fingerprint
(no text in the shuffle, ``dedup_common.group_by_key_prefix``), every non-best node of a group
becomes an ``(id, survivor_id)`` drop, and the drops are joined back onto the documents
(``dedup_common.join_drops``).

Index mode: with ``save_index`` the fingerprints of the documents this step keeps become
``OUTPUT/exact_index/`` (16-byte fingerprint + id). A later run lists it in ``against``: index
entries whose fingerprint one of its documents shares join the shuffle as nodes of rank
``INDEXED_RANK``, so that document is dropped as ``exact_duplicate`` with ``duplicate_of`` the
indexed id, and indexed documents never are (dedup_common's index section).
"""

from __future__ import annotations

import dataclasses
import hashlib

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.transforms.window import GlobalWindows

from stages.base import Doc, Params, RunContext, Stage, path_list_param, path_param
from stages.beam import STATS, BundleCounts, CpuClock
from stages.dedup_common import (
    INDEXED_RANK,
    KeepSurvivors,
    KeySet,
    RowFile,
    check_index_locations,
    check_join,
    check_policy,
    contains,
    duplicates_in_group,
    fixed_width,
    fold_text,
    group_by_key_prefix,
    index_batches,
    index_files,
    join_drops,
    key_prefixes,
    make_node,
    spill_location,
)

FINGERPRINT_BYTES = 16
INDEX_KIND = "exact_index"
# Bump when folding or hashing changes what a fingerprint is.
FINGERPRINT_VERSION = "1"


def text_fingerprint(text: str) -> bytes:
    """16-byte hash of the folded text: texts that differ only in case, spacing or punctuation
    (ASCII or CJK) share it."""
    return hashlib.blake2b(fold_text(text).encode("utf-8"), digest_size=FINGERPRINT_BYTES).digest()


def index_identity() -> dict[str, str]:
    """What must match for fingerprints of two runs to be comparable."""
    return {
        "fingerprint": f"blake2b-{FINGERPRINT_BYTES}(fold_text)",
        "fingerprint_version": FINGERPRINT_VERSION,
    }


def index_schema() -> pa.Schema:
    return pa.schema(
        [("fingerprint", pa.binary(FINGERPRINT_BYTES)), ("id", pa.string())], metadata=index_identity()
    )


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
    # Save the fingerprints of the documents this step keeps to OUTPUT/exact_index/, so a later
    # run can be deduplicated against this one with ``against``.
    save_index: bool = False
    # Earlier runs' outputs (or their exact_index folders): a document whose folded text is in
    # one is dropped as exact_duplicate with duplicate_of = the indexed id.
    against: list[str] = path_list_param()

    def validate(self) -> None:
        check_join(self.join)
        check_index_locations(
            self.against, INDEX_KIND, index_identity(), "exact-dedup index", "exact_dedup.save_index: true"
        )


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
        name, p = self.name, self.params
        spill = spill_location(p.join, p.spill_dir, ctx, name)
        seen_dir = ctx.work_dir(f"{name}-seen") if p.save_index else None
        keyed = docs | f"{name}:fingerprint" >> beam.ParDo(
            _Fingerprint(self, collect_keys=bool(p.against), seen_dir=seen_dir)
        ).with_outputs(STATS, "keys", "seen", main="records")
        ctx.stats.append(keyed[STATS])
        records = keyed.records
        if p.against:
            keys = keyed.keys | f"{name}:key_set" >> beam.CombineGlobally(KeySet())
            indexed = (
                docs.pipeline
                | f"{name}:against" >> beam.Create(p.against)
                | f"{name}:index_files" >> beam.FlatMap(index_files, INDEX_KIND)
                | f"{name}:spread_index" >> beam.Reshuffle()
                | f"{name}:match_index" >> beam.ParDo(_MatchIndex(), beam.pvalue.AsSingleton(keys))
            )
            records = (records, indexed) | f"{name}:with_index" >> beam.Flatten()
        picked = group_by_key_prefix(records, name, FINGERPRINT_BYTES, spill) | f"{name}:pick" >> beam.ParDo(
            _Pick(name)
        ).with_outputs(STATS, main="drops")
        ctx.stats.append(picked[STATS])
        if p.save_index:
            dropped = picked.drops | f"{name}:dropped_ids" >> beam.Map(lambda drop: drop[0])
            index = keyed.seen | f"{name}:index" >> beam.ParDo(
                KeepSurvivors(INDEX_KIND, ctx.staging(INDEX_KIND), index_schema()),
                beam.pvalue.AsList(dropped),
            )
            ctx.files.append(index)
            ctx.schemas[INDEX_KIND] = index_schema()
        return join_drops(docs, picked.drops, name, "exact_duplicate", keep_rejected, spill, ctx)


class _Fingerprint(beam.DoFn):
    """doc -> its shuffle record (fingerprint + node). With ``collect_keys``, each bundle's
    fingerprint prefixes also go out on ``keys`` (one uint64 array; see dedup_common.KeySet);
    with ``seen_dir``, each bundle's (fingerprint, id) rows go to a file there, described on
    ``seen`` (the index is those rows less the documents this step drops)."""

    def __init__(self, stage: ExactDedupStage, collect_keys: bool, seen_dir: str | None):
        self.stage, self.collect_keys, self.seen_dir = stage, collect_keys, seen_dir

    def setup(self):
        self.clock = CpuClock(f"{self.stage.name}.cpu_ns")

    def start_bundle(self):
        self.tally = BundleCounts()
        self.prefixes: list[bytes] = []
        self.seen = RowFile("seen", self.seen_dir, index_schema()) if self.seen_dir else None

    def process(self, doc):
        started = self.clock.start()
        (record,) = self.stage.shuffle_records(doc)
        if self.collect_keys:
            self.prefixes.append(record[:8])
        if self.seen is not None:
            self.seen.add((record[:FINGERPRINT_BYTES], str(doc["id"])))
        self.clock.stop(started, self.tally)
        return (record,)

    def finish_bundle(self):
        if self.prefixes:
            keys = np.frombuffer(b"".join(self.prefixes), dtype=">u8").astype(np.uint64)
            yield beam.pvalue.TaggedOutput("keys", GlobalWindows.windowed_value(keys))
        if self.seen is not None:
            info = self.seen.close()
            if info is not None:
                yield beam.pvalue.TaggedOutput("seen", GlobalWindows.windowed_value(info))
        yield from self.tally.emit_windowed()


class _MatchIndex(beam.DoFn):
    """(index file, this run's fingerprint prefixes) -> shuffle records (fingerprint + indexed
    node) of the index entries whose fingerprint prefix one of this run's documents shares."""

    def process(self, path, keys):
        for batch in index_batches(path, index_identity()):
            fingerprints = fixed_width(batch.column("fingerprint"), FINGERPRINT_BYTES)
            rows = np.flatnonzero(contains(keys, key_prefixes(fingerprints)))
            if len(rows) == 0:
                continue
            ids = batch.column("id").take(pa.array(rows)).to_pylist()
            for row, doc_id in zip(rows, ids, strict=True):
                yield fingerprints[row].tobytes() + INDEXED_RANK + doc_id.encode("utf-8")


class _Pick(beam.DoFn):
    """A group of records sharing a fingerprint -> ``(id, survivor_id)`` drops; drops whose
    survivor is an indexed document of an earlier run are counted as ``duplicate_of_index``."""

    def __init__(self, name: str):
        self.name = name

    def start_bundle(self):
        self.tally = BundleCounts()

    def process(self, nodes):
        drops = list(duplicates_in_group(nodes))
        if drops and min(nodes)[:8] == INDEXED_RANK:
            self.tally.add(f"{self.name}.count.duplicate_of_index", len(drops))
        return drops

    def finish_bundle(self):
        yield from self.tally.emit_windowed()
