"""Shared pieces of the dedup stages: text folding, survivor ranking, the key shuffle, and
joining drop decisions back onto the documents.

Both dedup stages work the same way: from each document they derive a few small keys (a hash,
band keys) plus a compact *node* (ranking key + id), shuffle only those, decide which ids to drop
(``(id, duplicate_of)`` pairs), and then join the decisions back onto the documents. Text never
travels through the dedup shuffles.

A node is ``bytes``: 8 order-preserving bytes of the ranking key followed by the UTF-8 id. Byte
order of UTF-8 equals code point order, so ``min(nodes)`` is the best document (best rank, then
smallest id) on every runner, with no Python objects to compare and a few dozen bytes per node.

Keys are shuffled as flat ``key + payload`` byte records grouped by a few bits of the key
(``group_by_key_prefix``), packed into blobs of a few KB per group: the shuffle carries raw bytes
instead of a key, a list and a value object per record, which is what an in-memory runner
(DirectRunner) would hold per record until the group is processed. Each group is sorted to find
equal keys.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import pickle
import struct
import sys
import unicodedata
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.ipc
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindows

from stages.base import Doc, Drop, RunContext
from stages.beam import REJECTED, STATS, BundleCounts, rejected_record

SURVIVOR_POLICIES = ("quality_score", "smallest_id", "longest")
# Rank prefixes that sort before every score: a document of an earlier run's MinHash index first
# (a new document never survives over one), then a held-out document (decontamination), then the
# smallest_id policy's constant.
INDEXED_RANK = bytes(8)
HOLDOUT_RANK = bytes(7) + b"\x01"
SMALLEST_ID_RANK = bytes(7) + b"\x02"
# Groups of the key shuffle: enough for parallelism on any runner, few enough that records of a
# group travel in blobs of up to _BLOB_BYTES (at 10^9 documents x 17 bands: ~4 * 10^6 records of 20
# bytes, ~80 MB, per group).
SHUFFLE_GROUPS = 1 << 12
_BLOB_BYTES = 2048
# Spill mode: partitions (one file each per bundle; few enough for a low open-file limit) and the
# records a bundle buffers before appending them to its files.
SPILL_PARTITIONS = 128
_SPILL_BUFFER_BYTES = 4 << 20


# ---------------------------------------------------------------- text folding


@functools.lru_cache(maxsize=1)
def _fold_table() -> dict[int, int]:
    """Every punctuation (P*) and control (Cc) code point -> space. Built once per process
    (~0.3 s); covers CJK punctuation such as 。、「」《》 that NFKC leaves alone."""
    space = ord(" ")
    return {
        cp: space
        for cp in range(sys.maxunicode + 1)
        if unicodedata.category(chr(cp))[0] == "P" or unicodedata.category(chr(cp)) == "Cc"
    }


def fold_text(text: str) -> str:
    """Canonical form for duplicate detection: NFKC (full-width -> ASCII), case folded,
    punctuation removed, whitespace runs collapsed to one space."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_fold_table())
    return " ".join(text.split())


@functools.lru_cache(maxsize=1)
def _space_mask() -> np.ndarray:
    """Boolean table over the BMP and SMP: True where ``fold_text`` would produce a space
    (punctuation, controls, whitespace)."""
    table = np.zeros(0x20000, dtype=bool)
    for cp in _fold_table():
        if cp < len(table):
            table[cp] = True
    for cp in range(len(table)):
        if chr(cp).isspace():
            table[cp] = True
    return table


def fold_codepoints(text: str) -> np.ndarray:
    """Vectorised ``fold_text`` as a uint32 code point array (words separated by single spaces).
    Instead of full NFKC (slow, and half the cost of a signature) it folds the full-width ASCII
    block, which is what NFKC changes in real Chinese/Japanese text; the normalize stage has
    already applied NFC."""
    cps = np.frombuffer(text.casefold().encode("utf-32-le"), dtype=np.uint32).copy()
    wide = (cps >= 0xFF01) & (cps <= 0xFF5E)
    cps[wide] -= 0xFEE0
    mask = _space_mask()
    space = np.zeros(len(cps), dtype=bool)
    small = cps < len(mask)
    space[small] = mask[cps[small]]
    cps[space] = 32
    # Collapse space runs and drop leading/trailing spaces.
    keep = ~(space & np.r_[True, space[:-1]])
    cps = cps[keep]
    return cps[:-1] if len(cps) and cps[-1] == 32 else cps


# ---------------------------------------------------------------- survivor ranking


def _ordered_float(x: float) -> bytes:
    """8 bytes whose byte order equals the numeric order of ``x`` (IEEE-754 trick)."""
    (bits,) = struct.unpack(">Q", struct.pack(">d", x + 0.0))  # + 0.0 folds -0.0 into 0.0
    bits = bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | (1 << 63)
    return struct.pack(">Q", bits)


def rank_bytes(doc: Doc, policy: str) -> bytes:
    """Ranking prefix of a node; smaller is better.

    ``quality_score``: highest score first, documents without a score after all scored ones;
    ``longest``: longest text first; ``smallest_id``: id only. Ties always go to the smallest id.
    A held-out document (``doc["holdout"]``, set when --holdout-fraction is used) ranks before all
    others, so a training document that duplicates it is the one removed (decontamination).
    """
    if doc.get("holdout"):
        return HOLDOUT_RANK
    if policy == "quality_score":
        score = doc.get("quality_score")
        if score is None or not isinstance(score, (int, float)) or math.isnan(score):
            return _ordered_float(math.inf)
        return _ordered_float(-float(score))
    if policy == "longest":
        return _ordered_float(-float(len(doc.get("text") or "")))
    if policy == "smallest_id":
        return SMALLEST_ID_RANK
    raise ValueError(f"unknown survivor policy {policy!r}; choose one of {SURVIVOR_POLICIES}")


def check_policy(policy: str) -> None:
    if policy not in SURVIVOR_POLICIES:
        raise ValueError(f"unknown survivor policy {policy!r}; choose one of {SURVIVOR_POLICIES}")


def make_node(doc: Doc, policy: str) -> bytes:
    return rank_bytes(doc, policy) + str(doc["id"]).encode("utf-8")


def node_id(node: bytes) -> str:
    return node[8:].decode("utf-8")


def node_digest(node: bytes) -> bytes:
    """12-byte stand-in for a node in the band shuffle (collisions ~n^2/2^97: none in practice)."""
    return hashlib.blake2b(node, digest_size=12).digest()


def duplicates_in_group(nodes: Iterable[bytes]) -> Iterator[tuple[str, str]]:
    """For a group of equivalent documents, ``(id, survivor_id)`` for every non-survivor.
    Repeated identical nodes (the same id twice) are not duplicates of themselves, and documents
    of an earlier run's index (``INDEXED_RANK``) are never dropped: they are not in this run."""
    distinct = set(nodes)
    best = min(distinct)
    best_id = node_id(best)
    for node in distinct:
        if node != best and node[:8] != INDEXED_RANK:
            yield node_id(node), best_id


# ---------------------------------------------------------------- the key shuffle


def _append_record(blobs: dict[int, bytearray], key: int, record: bytes) -> bytearray:
    """Appends ``record`` to the blob of ``key`` (made on first use); returns that blob."""
    blob = blobs.get(key)
    if blob is None:
        blob = blobs[key] = bytearray()
    blob += len(record).to_bytes(2, "big")
    blob += record
    return blob


def unpack_records(blob: bytes) -> Iterator[bytes]:
    """The records of a blob: each a 2-byte big-endian length, then the record (< 64 KiB)."""
    pos = 0
    while pos < len(blob):
        size = int.from_bytes(blob[pos : pos + 2], "big")
        yield blob[pos + 2 : pos + 2 + size]
        pos += 2 + size


class _PackByGroup(beam.DoFn):
    """record -> (group, blob of records): records of one group travel together, a few KB at a
    time, so neither this bundle nor the shuffle holds a Python object per record."""

    def start_bundle(self):
        self.pending: dict[int, bytearray] = {}

    def process(self, record):
        group = int.from_bytes(record[:4], "big") % SHUFFLE_GROUPS
        blob = _append_record(self.pending, group, record)
        if len(blob) >= _BLOB_BYTES:  # bounded: at most SHUFFLE_GROUPS x _BLOB_BYTES held
            del self.pending[group]
            yield group, bytes(blob)

    def finish_bundle(self):
        for group, blob in self.pending.items():
            yield GlobalWindows.windowed_value((group, bytes(blob)))
        self.pending.clear()


class _SpillByPartition(beam.DoFn):
    """record -> appended to this bundle's file for its partition; emits ``(partition, path)``
    per file at the end of the bundle. Used in place of the shuffle where the runner would hold
    it in memory (spill mode): the runner then carries one path per partition and bundle."""

    def __init__(self, folder: str, prefix: str):
        self.folder = folder
        self.prefix = prefix

    def start_bundle(self):
        self.bundle = uuid.uuid4().hex
        self.buffers: dict[int, bytearray] = {}
        self.buffered = 0
        self.files: dict[int, tuple[str, Any]] = {}

    def process(self, record):
        _append_record(self.buffers, int.from_bytes(record[:4], "big") % SPILL_PARTITIONS, record)
        self.buffered += len(record) + 2
        if self.buffered >= _SPILL_BUFFER_BYTES:
            self._flush()

    def _flush(self):
        for part, buffer in self.buffers.items():
            if part not in self.files:
                path = FileSystems.join(self.folder, f"{self.prefix}-{self.bundle}-{part:03d}.bin")
                self.files[part] = (path, FileSystems.create(path))
            self.files[part][1].write(bytes(buffer))
        self.buffers.clear()
        self.buffered = 0

    def finish_bundle(self):
        self._flush()
        for part, (path, handle) in self.files.items():
            handle.close()
            yield GlobalWindows.windowed_value((part, path))
        self.files.clear()


def _blobs_from_files(group) -> tuple[int, list[bytes]]:
    part, paths = group
    blobs = []
    for path in paths:
        with FileSystems.open(path, compression_type="uncompressed") as handle:
            blobs.append(handle.read())
    # Deleted once read, like spilled documents: a spill_dir outside the run's work folder is not
    # cleaned up by anyone else.
    FileSystems.delete(list(paths))
    return part, blobs


def _runs(group, key_len: int) -> Iterator[list[bytes]]:
    """Payloads of the records of one group that share a key, for keys with 2+ records."""
    records = sorted(r for blob in group[1] for r in unpack_records(blob))
    start = 0
    for end in range(1, len(records) + 1):
        if end == len(records) or records[end][:key_len] != records[start][:key_len]:
            if end - start > 1:
                yield [r[key_len:] for r in records[start:end]]
            start = end


def group_by_key_prefix(records, name: str, key_len: int, spill: str | None = None):
    """``records``: PCollection of ``key + payload`` bytes (keys of ``key_len`` >= 4 bytes,
    uniformly distributed). Returns a PCollection of payload lists, one per key held by 2+
    records. With ``spill`` (a folder) the records travel through files instead of the runner's
    shuffle, which on the DirectRunner is held in memory."""
    if spill is None:
        grouped = (
            records | f"{name}:pack" >> beam.ParDo(_PackByGroup()) | f"{name}:group" >> beam.GroupByKey()
        )
    else:
        grouped = (
            records
            | f"{name}:spill_keys" >> beam.ParDo(_SpillByPartition(spill, "keys-" + name.replace(":", "-")))
            | f"{name}:group" >> beam.GroupByKey()
            | f"{name}:read_keys" >> beam.Map(_blobs_from_files)
        )
    return grouped | f"{name}:runs" >> beam.FlatMap(_runs, key_len)


# ---------------------------------------------------------------- joining decisions back


class _RouteDocs(beam.DoFn):
    """Base of the two ways drop decisions meet the documents: ``route`` sends one document to
    the kept output, to ``rejected`` (with what it duplicates) or nowhere, counting each."""

    def __init__(self, name: str, reason: str, keep_rejected: bool):
        self.name, self.reason, self.keep_rejected = name, reason, keep_rejected
        self.tally = BundleCounts()

    def start_bundle(self):
        self.tally = BundleCounts()

    def route(self, doc: Doc, dup_of: str | None):
        self.tally.add(f"{self.name}.in")
        if dup_of is None:
            self.tally.add(f"{self.name}.out")
            return doc
        self.tally.add(f"{self.name}.drop.{self.reason}")
        if self.keep_rejected:
            record = rejected_record(doc, self.name, Drop(self.reason, f"duplicate of {dup_of}"))
            record["duplicate_of"] = dup_of
            return beam.pvalue.TaggedOutput(REJECTED, record)
        return None

    def finish_bundle(self):
        yield from self.tally.emit_windowed()


class _JoinDrops(_RouteDocs):
    """CoGroupByKey result -> kept docs / rejected docs. One key holds one id's docs only."""

    def process(self, element):
        _, grouped = element
        drops = list(grouped["drop"])
        dup_of = min(drops) if drops else None
        for doc in grouped["doc"]:
            out = self.route(doc, dup_of)
            if out is not None:
                yield out


class _SpillDocs(beam.DoFn):
    """Writes each bundle's documents to one pickle-stream file and emits the file's path, so the
    text waits on disk (not in the runner's in-memory shuffle) while decisions are computed."""

    def __init__(self, spill_dir: str):
        self.spill_dir = spill_dir
        self.handle: Any = None
        self.path = ""

    def start_bundle(self):
        self.handle = None

    def process(self, doc):
        if self.handle is None:
            self.path = FileSystems.join(self.spill_dir, f"spill-{uuid.uuid4().hex}.pkl")
            self.handle = FileSystems.create(self.path)
        pickle.dump(doc, self.handle, protocol=pickle.HIGHEST_PROTOCOL)
        return ()

    def finish_bundle(self):
        if self.handle is not None:
            self.handle.close()
            self.handle = None
            yield GlobalWindows.windowed_value(self.path)


class _ReadSpilled(_RouteDocs):
    """Streams one spill file back, routing each document with the drop map (side input)."""

    def process(self, path, drops):
        with FileSystems.open(path) as handle:
            while True:
                try:
                    doc = pickle.load(handle)
                except EOFError:
                    break
                out = self.route(doc, drops.get(str(doc["id"])))
                if out is not None:
                    yield out
        # Deleted once fully read: a retry after this point would not find it (documented caveat).
        FileSystems.delete([path])


JOIN_MODES = ("auto", "shuffle", "spill")


def check_join(join: str) -> None:
    if join not in JOIN_MODES:
        raise ValueError(f"join: must be one of {', '.join(JOIN_MODES)}, not {join!r}")


def spill_location(join: str, spill_dir: str | None, ctx: RunContext, name: str) -> str | None:
    """Where a dedup stage spills documents, or None to join with a shuffle.

    ``auto`` spills when the runner keeps shuffles in memory (the DirectRunner), or when a
    ``spill_dir`` is given; a distributed runner's shuffle lives on disk and needs no spill."""
    check_join(join)
    if join == "shuffle" or (join == "auto" and not spill_dir and not ctx.in_memory_shuffle):
        return None
    return spill_dir or ctx.work_dir(f"{name}-spill")


def join_drops(
    docs, drops, name: str, reason: str, keep_rejected: bool, spill_dir: str | None, ctx: RunContext
):
    """Route ``docs`` by ``drops`` (PCollection of ``(id, duplicate_of)``); returns (kept, rejected).

    Without ``spill_dir``: CoGroupByKey on id (a distributed runner's shuffle holds one id's
    values at a time). With ``spill_dir``: documents are spilled to files while decisions are
    computed and re-read afterwards with the drop map as a side input; this keeps peak memory
    flat on the in-memory DirectRunner, where every shuffle is held in RAM.
    """
    if spill_dir is None:
        keyed = docs | f"{name}:key_docs" >> beam.Map(lambda d: (str(d["id"]), d))
        routed = (
            {"doc": keyed, "drop": drops}
            | f"{name}:join" >> beam.CoGroupByKey()
            | f"{name}:route"
            >> beam.ParDo(_JoinDrops(name, reason, keep_rejected)).with_outputs(REJECTED, STATS, main="kept")
        )
    else:
        if "://" not in spill_dir:  # local path; object stores need no directories
            os.makedirs(spill_dir, exist_ok=True)
        # One-id-per-key first (min duplicate_of), so AsDict sees unique keys.
        unique = drops | f"{name}:one_drop_per_id" >> beam.CombinePerKey(min)
        paths = docs | f"{name}:spill" >> beam.ParDo(_SpillDocs(spill_dir))
        # Reshuffle so re-reading spill files spreads over workers instead of one fused bundle.
        routed = (
            paths
            | f"{name}:spread" >> beam.Reshuffle()
            | f"{name}:reread"
            >> beam.ParDo(_ReadSpilled(name, reason, keep_rejected), beam.pvalue.AsDict(unique)).with_outputs(
                REJECTED, STATS, main="kept"
            )
        )
    ctx.stats.append(routed[STATS])
    return routed.kept, routed[REJECTED]


# ---------------------------------------------------------------- indexes of earlier runs
#
# A dedup step can save what it knows of this run's documents as an output (``save_index``) and
# deduplicate a later run against such indexes (``against``). A later run never scans an index
# document by document through its shuffle: each index file is read in Arrow batches, its keys
# (fingerprints, band keys) are computed or sliced as numpy arrays and looked up in the sorted
# set of this run's keys (``KeySet``, one side input), and only the index entries that share a
# key with a document of this run enter the shuffle, as nodes of rank ``INDEXED_RANK``.


def shards_in(folder: str) -> list[str]:
    """The ``part-*.arrow`` shards of an output folder, sorted; none when it does not exist."""
    try:
        found = FileSystems.match([FileSystems.join(folder, "part-*.arrow")])[0].metadata_list
    except Exception:  # noqa: BLE001 - a missing folder is "no index here"
        return []
    return sorted(m.path for m in found)


def index_files(location: str, kind: str) -> list[str]:
    """Index shards at ``location``: a run's output folder (its ``kind`` folder) or that folder."""
    return shards_in(FileSystems.join(location, kind)) or shards_in(location)


def schema_identity(schema: pa.Schema) -> dict[str, str]:
    """The settings an index was built with, from its schema metadata."""
    return {k.decode(): v.decode() for k, v in (schema.metadata or {}).items()}


def file_identity(path: str) -> dict[str, str]:
    with FileSystems.open(path, compression_type="uncompressed") as handle:
        return schema_identity(pa.ipc.open_stream(pa.PythonFile(handle, mode="r")).schema)


def check_index_locations(
    locations: list[str], kind: str, identity: dict[str, str], what: str, writer: str
) -> None:
    """Each location must hold an index of ``kind`` whose metadata includes ``identity``
    (``ValueError("against: ...")``, which the config loader turns into one line). ``what`` names
    the index for the user, ``writer`` the setting that makes one."""
    for location in locations:
        files = index_files(location, kind)
        if not files:
            raise ValueError(f"against: no {what} in {location!r} (an earlier run writes one with {writer})")
        theirs = file_identity(files[0])
        differ = [f"{k}={theirs.get(k)} (this run: {v})" for k, v in identity.items() if theirs.get(k) != v]
        if differ:
            raise ValueError(f"against: the index in {location!r} was built with " + ", ".join(differ))


def index_batches(path: str, identity: dict[str, str]) -> Iterator[pa.RecordBatch]:
    """The record batches of one index file, after checking it was built like this run's keys."""
    with FileSystems.open(path, compression_type="uncompressed") as handle:
        reader = pa.ipc.open_stream(pa.PythonFile(handle, mode="r"))
        theirs = schema_identity(reader.schema)
        if any(theirs.get(k) != v for k, v in identity.items()):
            raise ValueError(f"{path}: index built with {theirs}, this run uses {identity}")
        yield from reader


def fixed_width(column: pa.Array, width: int) -> np.ndarray:
    """A ``binary(width)`` column as an (n, width) uint8 array, without a Python object per row."""
    data = np.frombuffer(column.buffers()[1], dtype=np.uint8)
    return data[column.offset * width : (column.offset + len(column)) * width].reshape(len(column), width)


def key_prefixes(keys: np.ndarray) -> np.ndarray:
    """The first 8 bytes of each row of an (n, >= 8) uint8 array, as big-endian uint64."""
    return np.ascontiguousarray(keys[:, :8]).view(">u8").ravel().astype(np.uint64)


def contains(sorted_keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Boolean mask of ``values`` found in ``sorted_keys`` (sorted, unique uint64)."""
    if len(sorted_keys) == 0:
        return np.zeros(values.shape, dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, values), len(sorted_keys) - 1)
    return sorted_keys[at] == values


class KeySet(beam.CombineFn):
    """Per-bundle uint64 key arrays -> one sorted array of distinct keys (8 bytes a key, no
    Python object per key): the side input against which index files are matched."""

    def create_accumulator(self):
        return []

    def add_input(self, parts, keys):
        parts.append(keys)
        return parts

    def merge_accumulators(self, accumulators):
        merged = [np.unique(np.concatenate(parts)) for parts in accumulators if parts]
        return [np.unique(np.concatenate(merged))] if merged else []

    def extract_output(self, parts):
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.uint64)


class RowFile:
    """Rows (tuples in ``schema`` order) written to one Arrow stream file under ``folder``, opened
    on the first row; ``close()`` returns the file's description as pipeline.writer.commit_output
    expects it (``kind``, ``tmp``, ``rows``, ``first_id``), or None when no row came."""

    def __init__(self, kind: str, folder: str, schema: pa.Schema, batch_rows: int = 8192):
        self.kind, self.folder, self.schema, self.batch_rows = kind, folder, schema, batch_rows
        self.id_column = schema.names.index("id")
        self.rows: list[tuple] = []
        self.sink = self.writer = self.info = None

    def add(self, row: tuple) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.batch_rows:
            self.flush()

    def write_batch(self, batch: pa.RecordBatch) -> None:
        if self.writer is None:
            path = FileSystems.join(self.folder, f"{uuid.uuid4().hex}.arrow")
            self.sink = FileSystems.create(path)
            self.writer = pa.ipc.new_stream(pa.PythonFile(self.sink, mode="w"), self.schema)
            first = batch.column(self.id_column)[0].as_py() if batch.num_rows else None
            self.info = {"kind": self.kind, "tmp": path, "rows": 0, "first_id": first}
        self.writer.write_batch(batch)
        self.info["rows"] += batch.num_rows

    def flush(self) -> None:
        if not self.rows:
            return
        columns = list(zip(*self.rows, strict=True))
        self.rows = []
        self.write_batch(
            pa.record_batch(
                [pa.array(values, field.type) for values, field in zip(columns, self.schema, strict=True)],
                schema=self.schema,
            )
        )

    def close(self) -> dict[str, Any] | None:
        self.flush()
        if self.writer is None:
            return None
        self.writer.close()
        self.sink.close()
        self.writer = None
        return self.info


class WriteArrowRows(beam.DoFn):
    """Rows -> one ``RowFile`` per bundle; emits each file's description (an output kind)."""

    def __init__(self, kind: str, folder: str, schema: pa.Schema):
        self.kind, self.folder, self.schema = kind, folder, schema

    def start_bundle(self):
        self.file = RowFile(self.kind, self.folder, self.schema)

    def process(self, row):
        self.file.add(row)

    def finish_bundle(self):
        info = self.file.close()
        if info is not None:
            yield GlobalWindows.windowed_value(info)


class KeepSurvivors(beam.DoFn):
    """(file description of a RowFile with an ``id`` column, dropped ids) -> the same rows less
    those of dropped documents, as a file of ``kind`` under ``folder``: an index of the documents
    a dedup step kept. The input file stays (it is in the run's work folder) so a retry can read it."""

    def __init__(self, kind: str, folder: str, schema: pa.Schema):
        self.kind, self.folder, self.schema = kind, folder, schema
        self._dropped_from: Any = None
        self._dropped = pa.array([], pa.string())

    def process(self, info, dropped):
        import pyarrow.compute as pc

        if dropped is not self._dropped_from:
            self._dropped_from, self._dropped = dropped, pa.array(list(dropped), pa.string())
        out = RowFile(self.kind, self.folder, self.schema)
        with FileSystems.open(info["tmp"], compression_type="uncompressed") as handle:
            for batch in pa.ipc.open_stream(pa.PythonFile(handle, mode="r")):
                kept = batch.filter(pc.invert(pc.is_in(batch.column("id"), value_set=self._dropped)))
                if kept.num_rows:
                    out.write_batch(kept)
        written = out.close()
        if written is not None:
            yield written
