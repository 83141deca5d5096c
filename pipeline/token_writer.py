"""Training shards for the trainer: ``OUTPUT/tokens/{train,holdout}/part-NNNNN-of-MMMMM.arrow``.

Format in stages/token_shards.py (one row of token ids per document, uint16 when the vocabulary
fits). Documents are split and shuffled deterministically by a seeded hash of their id, so the
same input gives the same shards on any runner and worker count: the hash picks the split
(marked once, right after reading), the shard, and the order inside the shard.

Token ids never go through a shuffle: each bundle writes its documents' rows (id hash + packed
ids) to small Arrow spill files, one per shard at a time, under the split's temporary folder
(``.tmp-<run>/work/token-spill/<split>/``), and emits only ``(shard, spill path)`` pairs. A
GroupByKey gathers those paths, and one worker per shard reads its pieces, orders the rows by
hash and writes the shard. The in-memory DirectRunner thus holds a few paths per bundle instead
of every document's tokens, and multi-process runs pass no token bytes between processes.
pipeline.writer.commit_output commits the shards like every other output file and removes the
temporary folder, spill files included.
"""

from __future__ import annotations

import hashlib
import uuid
from array import array
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.ipc
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindows

from stages.base import run_temp_dir, staging_dir
from stages.token_shards import COLUMN, token_batches

# Token bytes a bundle buffers before writing them out as spill pieces: a fixed cost per worker,
# whatever the input size. With many shards it grows so that pieces stay about MIN_PIECE_BYTES.
SPILL_BUFFER_BYTES = 4 << 20
MIN_PIECE_BYTES = 64 << 10


def id_hash(doc_id: str, seed: int) -> int:
    return int.from_bytes(hashlib.blake2b(f"{seed}\x00{doc_id}".encode(), digest_size=8).digest(), "big")


def is_holdout(doc_id: str, fraction: float, seed: int) -> bool:
    """The one definition of the held-out split (shared by every stage that needs it)."""
    return fraction > 0 and (id_hash(doc_id, seed) % 1_000_000) < fraction * 1_000_000


def spill_schema(token_type: pa.DataType) -> pa.Schema:
    return pa.schema([("hash", pa.uint64()), (COLUMN, pa.list_(token_type))])


def piece_schema(schema: pa.Schema) -> pa.Schema:
    """A training shard's rows with their id hash in front: what a chunk of a chunked run
    commits (pipeline.chunks merges the chunks' pieces of a shard into the shard)."""
    return spill_schema(schema.field(COLUMN).type.value_type).with_metadata(schema.metadata)


class _SpillTokens(beam.DoFn):
    """Documents -> spill pieces; emits ``("<split>/<shard>", piece path)`` at the end of the bundle.

    Rows wait in a small buffer per shard; when all buffers together pass the limit, each is
    written as one complete piece (no file stays open, so object stores need no upload buffer per
    shard). Every bundle names its pieces afresh and only emitted paths are read, so a retried
    bundle cannot add rows twice.
    """

    def __init__(
        self,
        out_dir: str,
        run_id: str,
        token_type: pa.DataType,
        num_shards: int,
        seed: int,
        buffer_bytes: int,
    ):
        self.out_dir = out_dir
        self.run_id = run_id
        self.token_type = token_type
        self.num_shards = num_shards
        self.seed = seed
        self.limit = buffer_bytes

    def setup(self):
        self.dtype = np.dtype(self.token_type.to_pandas_dtype())
        self.schema = spill_schema(self.token_type)

    def start_bundle(self):
        self.bundle = uuid.uuid4().hex
        # Per shard: id hashes, row lengths, packed ids. Flat buffers, not an array object per
        # document: less overhead, and nothing small left behind to fragment the heap.
        self.buffers: dict[str, tuple[array, array, bytearray]] = {}
        self.buffered = 0
        self.pieces: list[tuple[str, str]] = []

    def process(self, doc):
        h = id_hash(doc["id"], self.seed)
        split = "holdout" if doc.get("holdout") else "train"
        key = f"{split}/{(h >> 24) % self.num_shards:05d}"
        ids = np.ascontiguousarray(doc["input_ids"], dtype=self.dtype)
        if key not in self.buffers:
            self.buffers[key] = (array("Q"), array("q"), bytearray())
        hashes, lengths, data = self.buffers[key]
        hashes.append(h)
        lengths.append(len(ids))
        data += ids.data
        self.buffered += ids.nbytes + 16
        if self.buffered >= self.limit:
            self._spill()
        return ()

    def _spill(self):
        for key, (hashes, lengths, data) in self.buffers.items():
            split, shard = key.split("/")
            path = FileSystems.join(
                run_temp_dir(self.out_dir, self.run_id),
                "work",
                "token-spill",
                split,
                f"{shard}-{self.bundle}-{len(self.pieces):06d}.arrow",
            )
            offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
            np.cumsum(lengths, out=offsets[1:])
            values = pa.Array.from_buffers(
                self.token_type, len(data) // self.dtype.itemsize, [None, pa.py_buffer(data)]
            )
            ids = pa.ListArray.from_arrays(pa.array(offsets), values)
            batch = pa.record_batch([pa.array(np.frombuffer(hashes, np.uint64)), ids], schema=self.schema)
            with FileSystems.create(path) as sink:
                with pa.ipc.new_stream(pa.PythonFile(sink, mode="w"), self.schema) as writer:
                    writer.write_batch(batch)
            self.pieces.append((key, path))
        self.buffers = {}
        self.buffered = 0

    def finish_bundle(self):
        self._spill()
        for piece in self.pieces:
            yield GlobalWindows.windowed_value(piece)


def read_pieces(paths: list[str], dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of spill pieces as arrays: id hashes, offsets (len + 1) and all token ids."""
    hashes, lengths, values = [], [], []
    for path in paths:
        with FileSystems.open(path) as handle:
            for batch in pa.ipc.open_stream(handle.read()):
                ids = batch.column(1)
                hashes.append(batch.column(0).to_numpy())
                lengths.append(np.diff(ids.offsets.to_numpy()))
                values.append(ids.flatten().to_numpy())
    offsets = np.zeros(sum(len(x) for x in lengths) + 1, dtype=np.int64)
    if lengths:
        np.cumsum(np.concatenate(lengths), out=offsets[1:])
    hashes_all = np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)
    return hashes_all, offsets, np.concatenate(values) if values else np.zeros(0, dtype)


def write_shard(pieces: list[str], path: str, schema: pa.Schema, keep_hash: bool = False) -> tuple[int, int]:
    """The rows of spill pieces (or of chunk pieces, same layout) in shuffle order, as one file
    at ``path``: a training shard of ``schema``, or with ``keep_hash`` a piece (``piece_schema``)
    that can be merged with others later. Returns (rows, tokens)."""
    dtype = np.dtype(schema.field(COLUMN).type.value_type.to_pandas_dtype())
    hashes, offsets, values = read_pieces(sorted(pieces), dtype)
    order = shuffle_order(hashes, offsets, values)
    ids = (values[offsets[i] : offsets[i + 1]] for i in order)
    out_schema = piece_schema(schema) if keep_hash else schema
    with FileSystems.create(path) as sink:
        with pa.ipc.new_stream(pa.PythonFile(sink, mode="w"), out_schema) as writer:
            done = 0
            for batch in token_batches(ids, schema):
                if keep_hash:
                    rows = pa.array(hashes[order[done : done + batch.num_rows]])
                    batch = pa.record_batch([rows, batch.column(0)], schema=out_schema)
                done += batch.num_rows
                writer.write_batch(batch)
    return len(order), len(values)


def shuffle_order(hashes: np.ndarray, offsets: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Row order by (id hash, packed ids): the deterministic shuffle, total whatever order the
    pieces were read in. Equal hashes (the same id twice) are ordered by their bytes."""
    order = np.argsort(hashes)
    ordered = hashes[order]
    for h in np.unique(ordered[1:][ordered[1:] == ordered[:-1]]):
        run = np.flatnonzero(ordered == h)  # contiguous: ordered is sorted
        order[run] = sorted(order[run], key=lambda i: values[offsets[i] : offsets[i + 1]].tobytes())
    return order


class WriteTrainingShards(beam.PTransform):
    """Documents the graph marked ``holdout`` (see ``is_holdout``) go to tokens/holdout. With
    ``keep_hash`` (a chunk of a chunked run) each shard is written as a piece that keeps the id
    hash of its rows (``piece_schema``), for the run's final merge."""

    def __init__(
        self,
        out_dir: str,
        run_id: str,
        schema: pa.Schema,
        num_shards: int,
        seed: int,
        spill_buffer_bytes: int | None = None,
        keep_hash: bool = False,
    ):
        super().__init__()
        self.keep_hash = keep_hash
        self.out_dir = out_dir
        self.run_id = run_id
        self.schema = schema
        self.num_shards = max(1, num_shards)
        self.seed = seed
        self.token_type = schema.field(COLUMN).type.value_type
        # Two splits of num_shards buffers each share the limit.
        self.buffer_bytes = spill_buffer_bytes or max(
            SPILL_BUFFER_BYTES, 2 * self.num_shards * MIN_PIECE_BYTES
        )

    def write(self, element: tuple[str, list[str]]) -> dict[str, Any]:
        key, pieces = element
        split, shard = key.split("/")
        path = FileSystems.join(staging_dir(self.out_dir, self.run_id, f"tokens/{split}"), f"{shard}.arrow")
        rows, tokens = write_shard(pieces, path, self.schema, self.keep_hash)
        return {
            "kind": f"tokens/{split}",
            "tmp": path,
            "rows": rows,
            "tokens": tokens,
            "first_id": shard,
            "shard": int(shard),
        }

    def expand(self, docs):
        spill = _SpillTokens(
            self.out_dir, self.run_id, self.token_type, self.num_shards, self.seed, self.buffer_bytes
        )
        return (
            docs
            | "spill token rows" >> beam.ParDo(spill)
            | "group pieces by shard" >> beam.GroupByKey()
            | "write token shards" >> beam.Map(self.write)
        )
