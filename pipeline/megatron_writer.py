"""Megatron-LM's indexed dataset (``.bin`` + ``.idx``, the ``MMIDIDX`` format that Megatron-LM's
``megatron.core.datasets.indexed_dataset`` and NeMo read), written from the pipeline's training
shards: ``--data-path OUTPUT/megatron/train_text_document`` in Megatron-LM.

Layout, little-endian throughout:

``PREFIX.bin``: the token ids of every document, back to back, as ``uint16`` when the vocabulary
has fewer than 65,500 ids, else ``int32`` (Megatron's own rule).

``PREFIX.idx``:

- the magic ``b"MMIDIDX\\x00\\x00"`` (9 bytes), the version (u64, 1), the dtype code (u8: 8 =
  uint16, 4 = int32), the number of sequences N (u64) and of document indices N + 1 (u64);
- the length of each sequence in tokens (int32 x N);
- the byte offset of each sequence in ``.bin`` (int64 x N);
- the document indices (int64 x (N + 1)): 0, 1, ..., N — one sequence per document, as
  Megatron's ``preprocess_data.py`` writes without sentence splitting.

A document is one row of the training shards, already ``BOS ... EOS`` (the tokenize stage adds
them), in shard and row order, so the Megatron files hold the same tokens in the same (seeded,
shuffled) order as ``tokens/<split>/``. Both files are written under temporary names and renamed
when complete.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
DTYPE_CODES = {np.dtype(np.uint16): 8, np.dtype(np.int32): 4}
FOLDER = "megatron"


def megatron_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size < 65500 else np.dtype(np.int32)


def index_bytes(lengths: np.ndarray, dtype: np.dtype) -> bytes:
    """The ``.idx`` content for sequences of ``lengths`` tokens, one document each."""
    count = len(lengths)
    offsets = np.zeros(count, dtype=np.int64)
    if count:
        np.cumsum(lengths[:-1].astype(np.int64) * dtype.itemsize, out=offsets[1:])
    header = MAGIC + struct.pack("<Q", VERSION) + struct.pack("<B", DTYPE_CODES[dtype])
    header += struct.pack("<Q", count) + struct.pack("<Q", count + 1)
    documents = np.arange(count + 1, dtype=np.int64)
    return header + lengths.astype("<i4").tobytes() + offsets.astype("<i8").tobytes() + documents.tobytes()


def write_indexed_dataset(
    prefix: str, batches: Iterable[tuple[np.ndarray, np.ndarray]], vocab_size: int
) -> dict[str, Any]:
    """Write ``PREFIX.bin`` and ``PREFIX.idx`` (local or any Beam filesystem path) from batches of
    documents, each batch given as (all its token ids, the length of each document)."""
    dtype = megatron_dtype(vocab_size)
    lengths: list[np.ndarray] = []
    tokens = 0
    tmp_bin, tmp_idx = f"{prefix}.bin.tmp", f"{prefix}.idx.tmp"
    with FileSystems.create(tmp_bin) as sink:
        for values, batch_lengths in batches:
            if values.size and (values.min() < 0 or values.max() >= vocab_size):
                raise ValueError(f"token id outside [0, {vocab_size}) in a document for {prefix}.bin")
            sink.write(values.astype(dtype.newbyteorder("<"), copy=False).tobytes())
            lengths.append(np.asarray(batch_lengths, dtype=np.int32))
            tokens += int(values.size)
    all_lengths = np.concatenate(lengths) if lengths else np.zeros(0, np.int32)
    with FileSystems.create(tmp_idx) as sink:
        sink.write(index_bytes(all_lengths, dtype))
    for tmp, final in ((tmp_bin, f"{prefix}.bin"), (tmp_idx, f"{prefix}.idx")):
        if FileSystems.exists(final):
            FileSystems.delete([final])
        FileSystems.rename([tmp], [final])
    return {"prefix": prefix, "documents": len(all_lengths), "tokens": tokens, "dtype": dtype.name}


def shard_batches(paths: list[str]) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """The training shards at ``paths``, in order, one record batch at a time: (token ids, row lengths)."""
    for path in paths:
        with FileSystems.open(path) as handle:
            for batch in pa.ipc.open_stream(handle):
                column = batch.column(0)
                offsets = column.offsets.to_numpy()
                yield column.values.to_numpy()[offsets[0] : offsets[-1]], np.diff(offsets)


def write_megatron_outputs(manifest: dict[str, Any], out_dir: str) -> dict[str, Any]:
    """For each token split in ``manifest`` (the training shards the commit has just put in place),
    ``OUT/megatron/<split>_text_document.{bin,idx}``; returns the manifest's ``megatron`` entry.
    Called by pipeline.writer.commit_output before manifest.json is written, so the files are part
    of the run's commit."""
    vocab_size = manifest["tokenizer"]["vocab_size"]
    written = {}
    for kind in sorted(k for k in manifest if k.startswith("tokens/")):
        split = kind.split("/", 1)[1]
        paths = [FileSystems.join(out_dir, shard["file"]) for shard in manifest[kind]["shards"]]
        prefix = FileSystems.join(out_dir, FOLDER, f"{split}_text_document")
        info = write_indexed_dataset(prefix, shard_batches(paths), vocab_size)
        info["prefix"] = f"{FOLDER}/{split}_text_document"
        written[split] = info
    return {"megatron": written}
