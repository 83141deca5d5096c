"""Write token shards in the trainer's input format (the pipeline's tokenize stage writes the same):
Arrow IPC stream files ``part-NNNNN-of-MMMMM.arrow`` with one ``input_ids`` list column and the schema
metadata ``vocab_size``, ``bos_id``, ``eos_id``. Used by tests and benchmarks to make small datasets."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa


def write_token_shards(
    directory: Path,
    docs: Sequence[Sequence[int]],
    vocab_size: int,
    bos_id: int,
    eos_id: int,
    num_shards: int = 1,
    rows_per_batch: int = 256,
) -> list[Path]:
    """Write ``docs`` (each already BOS ... EOS) round-robin into ``num_shards`` shards."""
    directory.mkdir(parents=True, exist_ok=True)
    value_type = pa.uint16() if vocab_size <= 65535 else pa.int32()
    schema = pa.schema(
        [pa.field("input_ids", pa.list_(value_type))],
        metadata={"vocab_size": str(vocab_size), "bos_id": str(bos_id), "eos_id": str(eos_id)},
    )
    paths = []
    for shard in range(num_shards):
        rows = list(docs[shard::num_shards])
        path = directory / f"part-{shard:05d}-of-{num_shards:05d}.arrow"
        tmp = path.with_suffix(".arrow.tmp")
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
            for i in range(0, max(len(rows), 1), rows_per_batch):
                chunk = rows[i : i + rows_per_batch]
                np_type = np.uint16 if value_type == pa.uint16() else np.int32
                values = pa.array(
                    np.concatenate([np.asarray(r, dtype=np_type) for r in chunk])
                    if chunk
                    else np.zeros(0, np_type)
                )
                offsets = pa.array(np.cumsum([0] + [len(r) for r in chunk]).astype(np.int32))
                arr = pa.ListArray.from_arrays(offsets, values, type=pa.list_(value_type))
                writer.write_batch(pa.record_batch([arr], schema=schema))
        os.replace(tmp, path)
        paths.append(path)
    return paths
