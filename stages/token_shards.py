"""Training shards: the trainer's input, one row of token ids per document.

Format (the trainer reads exactly this):

- Arrow IPC **stream** files ``<dir>/part-NNNNN-of-MMMMM.arrow``;
- one column ``input_ids``: ``list<uint16>`` when ``vocab_size <= 65535``, else ``list<int32>``;
- record batches of about 1024 rows;
- schema metadata ``{"vocab_size": str, "bos_id": str, "eos_id": str}``;
- written atomically: ``<name>.tmp`` first, then ``os.replace``, so a crashed run never leaves a
  half-written file under a final name.

``read_token_shard`` memory-maps a file: the returned arrays point into the page cache, so a
trainer can index documents without reading the shard into RAM.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from itertools import islice
from pathlib import Path

import numpy as np
import pyarrow as pa
from pyarrow import ipc

BATCH_ROWS = 1024
COLUMN = "input_ids"


def shard_name(index: int, count: int) -> str:
    return f"part-{index:05d}-of-{count:05d}.arrow"


def token_type(vocab_size: int) -> pa.DataType:
    return pa.uint16() if vocab_size <= 65535 else pa.int32()


def token_schema(vocab_size: int, bos_id: int, eos_id: int) -> pa.Schema:
    meta = {"vocab_size": str(vocab_size), "bos_id": str(bos_id), "eos_id": str(eos_id)}
    return pa.schema([(COLUMN, pa.list_(token_type(vocab_size)))], metadata=meta)


def _batch(docs: Sequence[Sequence[int]], value_type: pa.DataType, vocab_size: int) -> pa.ListArray:
    lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
    offsets = np.zeros(len(docs) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    # Integer arrays are joined as they are (packed uint16 stays 2 bytes a token, not 8); lists become int64.
    parts = [
        d if isinstance(d, np.ndarray) and d.dtype.kind in "iu" else np.asarray(d, dtype=np.int64)
        for d in docs
    ]
    values = np.concatenate(parts) if offsets[-1] else np.zeros(0, np.int64)
    if values.size and (values.min() < 0 or values.max() >= vocab_size):
        # A cast to uint16 would wrap silently; refuse ids outside the vocabulary instead.
        raise ValueError(f"token id outside [0, {vocab_size}): {values.min()}..{values.max()}")
    return pa.ListArray.from_arrays(
        pa.array(offsets), pa.array(values.astype(value_type.to_pandas_dtype(), copy=False))
    )


def token_batches(docs_ids: Iterable[Sequence[int]], schema: pa.Schema, batch_rows: int = BATCH_ROWS):
    """Record batches of ``schema`` (see ``token_schema``) holding ``docs_ids``, ``batch_rows`` at a time."""
    value_type = schema.field(COLUMN).type.value_type
    vocab_size = int(schema.metadata[b"vocab_size"])
    docs = iter(docs_ids)
    while chunk := list(islice(docs, batch_rows)):
        yield pa.record_batch([_batch(chunk, value_type, vocab_size)], schema=schema)


def write_token_shard(
    path: str | Path,
    docs_ids: Iterable[Sequence[int]],
    vocab_size: int,
    bos_id: int,
    eos_id: int,
    batch_rows: int = BATCH_ROWS,
) -> int:
    """Write one shard atomically; returns the number of rows (documents)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = token_schema(vocab_size, bos_id, eos_id)
    tmp = path.with_name(path.name + ".tmp")
    rows = 0
    try:
        with pa.OSFile(str(tmp), "wb") as sink, ipc.new_stream(sink, schema) as writer:
            for batch in token_batches(docs_ids, schema, batch_rows):
                writer.write_batch(batch)
                rows += batch.num_rows
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return rows


def read_token_shard(path: str | Path) -> list[pa.ListArray]:
    """The ``input_ids`` column of each record batch, memory-mapped (zero-copy)."""
    reader = ipc.open_stream(pa.memory_map(str(path), "r"))
    return [batch.column(0) for batch in reader]


def token_shard_metadata(path: str | Path) -> dict[str, int]:
    """``vocab_size``, ``bos_id`` and ``eos_id`` from a shard's schema metadata."""
    reader = ipc.open_stream(pa.memory_map(str(path), "r"))
    return {k.decode(): int(v) for k, v in (reader.schema.metadata or {}).items()}
