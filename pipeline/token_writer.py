"""Training shards for the trainer: ``OUTPUT/tokens/{train,holdout}/part-NNNNN-of-MMMMM.arrow``.

Format in stages/token_shards.py (one row of token ids per document, uint16 when the vocabulary
fits). Documents are split and shuffled deterministically by a seeded hash of their id, so the
same input gives the same shards on any runner and worker count: the hash picks the split
(marked once, right after reading), the shard, and the order inside the shard. Token ids travel through the
shuffle as packed bytes (2 or 4 bytes a token, not Python ints), and each shard is written by
one worker, then committed by pipeline.writer.finalize_output like every other output file.
"""

from __future__ import annotations

import hashlib
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.ipc
from apache_beam.io.filesystems import FileSystems

from stages.token_shards import COLUMN, token_batches


def id_hash(doc_id: str, seed: int) -> int:
    return int.from_bytes(hashlib.blake2b(f"{seed}\x00{doc_id}".encode(), digest_size=8).digest(), "big")


def is_holdout(doc_id: str, fraction: float, seed: int) -> bool:
    """The one definition of the held-out split (shared by every stage that needs it)."""
    return fraction > 0 and (id_hash(doc_id, seed) % 1_000_000) < fraction * 1_000_000


class WriteTrainingShards(beam.PTransform):
    """Documents the graph marked ``holdout`` (see ``is_holdout``) go to tokens/holdout."""

    def __init__(self, out_dir: str, run_id: str, schema: pa.Schema, num_shards: int, seed: int):
        super().__init__()
        self.out_dir = out_dir
        self.run_id = run_id
        self.schema = schema
        self.num_shards = max(1, num_shards)
        self.seed = seed
        self.dtype = np.dtype(schema.field(COLUMN).type.value_type.to_pandas_dtype())

    def key(self, doc: dict[str, Any]) -> tuple[str, tuple[int, bytes]]:
        h = id_hash(doc["id"], self.seed)
        split = "holdout" if doc.get("holdout") else "train"
        shard = (h >> 24) % self.num_shards
        return f"{split}/{shard:05d}", (h, np.asarray(doc["input_ids"], dtype=self.dtype).tobytes())

    def write(self, element: tuple[str, list[tuple[int, bytes]]]) -> dict[str, Any]:
        key, rows = element
        split, shard = key.split("/")
        rows = sorted(rows)  # the deterministic shuffle: order by the seeded id hash
        path = FileSystems.join(self.out_dir, "tokens", split, f".tmp-{self.run_id}", f"{shard}.arrow")
        ids = (np.frombuffer(data, dtype=self.dtype) for _, data in rows)
        tokens = sum(len(data) for _, data in rows) // self.dtype.itemsize
        with FileSystems.create(path) as sink:
            with pa.ipc.new_stream(pa.PythonFile(sink, mode="w"), self.schema) as writer:
                for batch in token_batches(ids, self.schema):
                    writer.write_batch(batch)
        return {"kind": f"tokens/{split}", "tmp": path, "rows": len(rows), "tokens": tokens, "first_id": shard}

    def expand(self, docs):
        return (
            docs
            | "key by shard" >> beam.Map(self.key)
            | "group shards" >> beam.GroupByKey()
            | "write token shards" >> beam.Map(self.write)
        )
