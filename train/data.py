"""Training data: memory-mapped Arrow token shards packed into fixed-length blocks.

Shards are Arrow IPC stream files (``part-NNNNN-of-MMMMM.arrow``), one row per document, one column
``input_ids`` (list<uint16> or list<int32>), each row already ``BOS ... EOS``. They are opened with
``pa.memory_map`` so every record batch's flat values buffer is a zero-copy view of the file: nothing but
the per-document offsets index (8 bytes a document) lives in RAM.

All documents, in shard then row order, form one virtual token stream that is cut into ``seq_len``
blocks; only the very last partial block is dropped. Block order is a seeded permutation per epoch, and
each DDP rank takes every ``world``-th block of it, so a data position is just ``(epoch, cursor)``.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

SHARD_RE = re.compile(r"part-(\d{5})-of-(\d{5})\.arrow$")
IGNORE_INDEX = -100


class DataError(ValueError):
    pass


def list_shards(directory: Path) -> list[Path]:
    shards = sorted(p for p in directory.glob("part-*-of-*.arrow") if SHARD_RE.search(p.name))
    if shards:
        totals = {SHARD_RE.search(p.name).group(2) for p in shards}
        if len(totals) != 1 or int(totals.pop()) != len(shards):
            raise DataError(f"{directory}: incomplete shard set ({len(shards)} files found)")
    return shards


class TokenStream:
    """The concatenated tokens of every document in a list of shards, read through memory maps."""

    def __init__(self, paths: list[Path]):
        if not paths:
            raise DataError("no token shards given")
        self.paths = paths
        self.segments: list[np.ndarray] = []  # zero-copy views, one per record batch
        doc_starts: list[np.ndarray] = []
        seg_starts = [0]
        self.metadata: dict[str, str] = {}
        self._keep: list[object] = []  # readers and maps must outlive the views into them
        for path in paths:
            source = pa.memory_map(str(path), "r")
            reader = pa.ipc.open_stream(source)
            self._keep.append(source)
            meta = {k.decode(): v.decode() for k, v in (reader.schema.metadata or {}).items()}
            if not self.metadata:
                self.metadata = meta
            elif meta.get("vocab_size") != self.metadata.get("vocab_size"):
                raise DataError(f"{path}: vocab_size {meta.get('vocab_size')} differs from other shards")
            if "input_ids" not in reader.schema.names:
                raise DataError(f"{path}: no input_ids column")
            for batch in reader:
                col = batch.column("input_ids")
                if col.null_count:
                    raise DataError(f"{path}: null input_ids rows")
                offsets = col.offsets.to_numpy().astype(np.int64)
                values = col.values.to_numpy(zero_copy_only=True)[offsets[0] : offsets[-1]]
                if len(values) == 0:
                    continue
                base = seg_starts[-1]
                doc_starts.append(offsets[:-1] - offsets[0] + base)
                self.segments.append(values)
                seg_starts.append(base + len(values))
        self.seg_starts = np.asarray(seg_starts, dtype=np.int64)
        self.doc_starts = np.concatenate(doc_starts) if doc_starts else np.zeros(0, np.int64)
        self.total_tokens = int(self.seg_starts[-1])
        self.vocab_size = int(self.metadata.get("vocab_size", 0)) or None
        self.bos_id = int(self.metadata["bos_id"]) if "bos_id" in self.metadata else None

    @property
    def num_docs(self) -> int:
        return len(self.doc_starts)

    def tokens(self, start: int, end: int) -> np.ndarray:
        """Tokens ``[start, end)`` of the stream as int64 (copies only this slice)."""
        out = np.empty(end - start, dtype=np.int64)
        seg = int(np.searchsorted(self.seg_starts, start, side="right")) - 1
        pos = start
        while pos < end:
            seg_begin = self.seg_starts[seg]
            take = min(end, self.seg_starts[seg + 1]) - pos
            out[pos - start : pos - start + take] = self.segments[seg][
                pos - seg_begin : pos - seg_begin + take
            ]
            pos += take
            seg += 1
        return out

    def doc_starts_in(self, start: int, end: int) -> np.ndarray:
        lo = np.searchsorted(self.doc_starts, start, side="left")
        hi = np.searchsorted(self.doc_starts, end, side="left")
        return self.doc_starts[lo:hi]


@dataclasses.dataclass
class Blocks:
    """Fixed-length blocks ``[first, first + count)`` of a token stream."""

    stream: TokenStream
    seq_len: int
    first: int
    count: int
    doc_mask: bool

    def example(self, i: int) -> dict[str, np.ndarray]:
        if not 0 <= i < self.count:
            raise IndexError(i)
        start = (self.first + i) * self.seq_len
        end = start + self.seq_len
        ids = self.stream.tokens(start, end)
        labels = ids.copy()
        if not self.doc_mask:
            return {"input_ids": ids, "labels": labels}
        # Position restarts at 0 at each document start inside the block (the block's first token counts as
        # a start even mid-document); HF turns such position_ids into a block-diagonal causal mask.
        starts = self.stream.doc_starts_in(start, end) - start
        marker = np.zeros(self.seq_len, dtype=np.int64)
        marker[starts] = starts
        positions = np.arange(self.seq_len, dtype=np.int64) - np.maximum.accumulate(marker)
        # Predicting a document's first token from the previous document is noise: ignore that target.
        labels[starts] = IGNORE_INDEX
        return {"input_ids": ids, "labels": labels, "position_ids": positions}

    def batch(self, indices: list[int]) -> dict[str, torch.Tensor]:
        examples = [self.example(i) for i in indices]
        return {k: torch.from_numpy(np.stack([e[k] for e in examples])) for k in examples[0]}


def open_splits(
    data_dir: Path, seq_len: int, doc_mask: bool, holdout_fraction: float
) -> tuple[Blocks, Blocks | None, TokenStream]:
    """Train and eval blocks for a pipeline output directory (``DATA/tokens/{train,holdout}``)."""
    train_dir = data_dir / "tokens" / "train"
    if not train_dir.is_dir():
        raise DataError(f"{train_dir}: not found (expected the pipeline's token shards)")
    train_shards = list_shards(train_dir)
    if not train_shards:
        raise DataError(f"{train_dir}: no part-NNNNN-of-MMMMM.arrow shards")
    stream = TokenStream(train_shards)
    n = stream.total_tokens // seq_len
    holdout_shards = (
        list_shards(data_dir / "tokens" / "holdout") if (data_dir / "tokens" / "holdout").is_dir() else []
    )
    if holdout_shards:
        hstream = TokenStream(holdout_shards)
        hn = hstream.total_tokens // seq_len
        eval_blocks = Blocks(hstream, seq_len, 0, hn, doc_mask) if hn else None
        train_blocks = Blocks(stream, seq_len, 0, n, doc_mask)
    elif holdout_fraction > 0 and n >= 2:
        hn = max(1, int(n * holdout_fraction))
        train_blocks = Blocks(stream, seq_len, 0, n - hn, doc_mask)
        eval_blocks = Blocks(stream, seq_len, n - hn, hn, doc_mask)
    else:
        train_blocks, eval_blocks = Blocks(stream, seq_len, 0, n, doc_mask), None
    if train_blocks.count == 0:
        raise DataError(f"{train_dir}: {stream.total_tokens} tokens is less than one {seq_len}-token block")
    return train_blocks, eval_blocks, stream


class BlockOrder:
    """Deterministic, resumable order of block indices for one rank: a fresh permutation per epoch
    (seeded by ``seed + epoch``), dealt round-robin to ranks; batches run on across epoch ends."""

    def __init__(self, count: int, seed: int, shuffle: bool, rank: int = 0, world: int = 1):
        self.count, self.seed, self.shuffle, self.rank, self.world = count, seed, shuffle, rank, world
        self.per_rank = count // world
        if self.per_rank == 0:
            raise DataError(f"{count} training blocks cannot be shared among {world} ranks")
        self.epoch = 0
        self.cursor = 0
        self._order = self._epoch_order(0)

    def _epoch_order(self, epoch: int) -> np.ndarray:
        order = (
            np.random.default_rng(self.seed + epoch).permutation(self.count)
            if self.shuffle
            else np.arange(self.count)
        )
        return order[self.rank :: self.world][: self.per_rank]

    def take(self, k: int) -> list[int]:
        out: list[int] = []
        while len(out) < k:
            if self.cursor == self.per_rank:
                self.epoch += 1
                self.cursor = 0
                self._order = self._epoch_order(self.epoch)
            n = min(k - len(out), self.per_rank - self.cursor)
            out.extend(int(i) for i in self._order[self.cursor : self.cursor + n])
            self.cursor += n
        return out

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "cursor": self.cursor, "count": self.count, "world": self.world}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state["count"] != self.count or state["world"] != self.world:
            raise DataError(
                f"checkpoint was taken on {state['count']} blocks x {state['world']} ranks, "
                f"now {self.count} x {self.world}: data changed, cannot resume the data position"
            )
        self.epoch, self.cursor = state["epoch"], state["cursor"]
        self._order = self._epoch_order(self.epoch)
