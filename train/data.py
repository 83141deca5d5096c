"""Training data: memory-mapped Arrow token shards packed into fixed-length blocks.

Shards are Arrow IPC stream files (``part-NNNNN-of-MMMMM.arrow``), one row per document, one column
``input_ids`` (list<uint16> or list<int32>), each row already ``BOS ... EOS``. They are opened with
``pa.memory_map`` so every record batch's flat values buffer is a zero-copy view of the file: nothing but
the per-document offsets index (8 bytes a document) lives in RAM.

All documents, in shard then row order, form one virtual token stream that is cut into ``seq_len``
blocks; only the very last partial block is dropped. Several token folders (sources) can be blended by
weight (``BlendOrder``): block order is a seeded permutation per source and epoch, the blend one global
sequence of which each DDP rank takes every ``world``-th example, so a data position is just the global
example index and the per-source counts.
"""

from __future__ import annotations

import dataclasses
import json
import math
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
        return stack([self.example(i) for i in indices])


def stack(examples: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
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


@dataclasses.dataclass
class Source:
    """One token folder of a blend: ``name=DIR:WEIGHT`` on the command line and in ``data.sources``."""

    name: str
    path: Path
    weight: float = 1.0

    @classmethod
    def parse(cls, spec: str, label: str = "--data") -> Source:
        """``DIR``, ``DIR:WEIGHT``, ``NAME=DIR`` or ``NAME=DIR:WEIGHT`` (the name defaults to the
        folder's name). Raises DataError naming the spec."""
        name, sep, rest = spec.partition("=")
        if not sep or "/" in name or not name:
            name, rest = "", spec
        path, weight = rest, 1.0
        head, colon, tail = rest.rpartition(":")
        if colon:
            try:
                path, weight = head, float(tail)
            except ValueError:
                path, weight = rest, 1.0
        if not path:
            raise DataError(f"{label} {spec!r}: no folder given (expected NAME=DIR:WEIGHT)")
        if not weight > 0 or math.isinf(weight):
            raise DataError(f"{label} {spec!r}: the weight must be a positive number")
        return cls(name or Path(path).name or "data", Path(path), weight)


def parse_sources(specs: list[str], label: str = "--data") -> list[Source]:
    sources = [Source.parse(spec, label) for spec in specs]
    names = [s.name for s in sources]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise DataError(f"{label}: source name {duplicated[0]!r} is used twice (name them: NAME=DIR:WEIGHT)")
    return sources


@dataclasses.dataclass
class SourceData:
    """A source opened: its training and held-out blocks, its share of the blend, and the tokenizer
    its manifest names (None when the folder has no manifest.json)."""

    name: str
    share: float
    train: Blocks
    eval: Blocks | None
    stream: TokenStream
    tokenizer_sha256: str | None

    @property
    def train_tokens(self) -> int:
        return self.train.count * self.train.seq_len


def manifest_tokenizer(data_dir: Path) -> dict | None:
    """The tokenizer identity the pipeline wrote into DATA/manifest.json, if any."""
    path = data_dir / "manifest.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("tokenizer")
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable manifest ({exc})") from None


def open_sources(
    sources: list[Source], seq_len: int, doc_mask: bool, holdout_fraction: float
) -> list[SourceData]:
    """Every source opened; token folders written with different tokenizers are refused."""
    total = sum(s.weight for s in sources)
    opened = []
    for source in sources:
        train, held, stream = open_splits(source.path, seq_len, doc_mask, holdout_fraction)
        tokenizer = manifest_tokenizer(source.path)
        sha = tokenizer.get("sha256") if tokenizer else None
        opened.append(SourceData(source.name, source.weight / total, train, held, stream, sha))
    with_hash = [s for s in opened if s.tokenizer_sha256]
    for other in with_hash[1:]:
        if other.tokenizer_sha256 != with_hash[0].tokenizer_sha256:
            first = with_hash[0]
            raise DataError(
                f"--data: {first.name} and {other.name} were tokenised with different tokenizers "
                f"(manifest sha256 {first.tokenizer_sha256[:12]} vs {other.tokenizer_sha256[:12]}); "
                "tokenise every source with the same tokenizer"
            )
    shapes = {(s.stream.vocab_size, s.stream.bos_id) for s in opened}
    if len(shapes) > 1:
        raise DataError(
            "--data: the sources' token shards disagree on vocab_size/bos_id "
            f"({', '.join(f'{s.name}: {s.stream.vocab_size}/{s.stream.bos_id}' for s in opened)}); "
            "they were written with different tokenizers"
        )
    return opened


class BlendOrder:
    """Which block of which source each training example is: deterministic and resumable.

    The blend is one global sequence of examples. Example ``g`` comes from the source whose share of
    the first ``g + 1`` examples is furthest behind its weight (ties: the first source), so every
    prefix of the sequence is within one example of the weights. A source's ``j``-th example is block
    ``j mod count`` of that source's permutation for epoch ``j // count`` (seeded by the run seed,
    the source's position and the epoch). Rank ``r`` of ``world`` takes examples ``g ≡ r (mod
    world)``, so DDP sees what one process with ``world`` times the batch would. The position is
    the global example index plus the per-source counts: saved in checkpoints, it continues the
    same sequence on resume.
    """

    def __init__(
        self,
        counts: list[int],
        shares: list[float],
        seed: int,
        shuffle: bool,
        rank: int = 0,
        world: int = 1,
    ):
        if len(counts) != len(shares) or not counts:
            raise ValueError("one count and one share per source")
        self.counts, self.shares = list(counts), list(shares)
        self.seed, self.shuffle, self.rank, self.world = seed, shuffle, rank, world
        self.position = 0  # global examples dealt so far (all ranks)
        self.taken = [0] * len(counts)  # per source, of those
        self._orders: dict[tuple[int, int], np.ndarray] = {}

    def _block(self, source: int, j: int) -> int:
        epoch, index = divmod(j, self.counts[source])
        key = (source, epoch)
        if key not in self._orders:
            # Keep only the current epoch's permutation of each source.
            self._orders = {k: v for k, v in self._orders.items() if k[0] != source}
            count = self.counts[source]
            self._orders[key] = (
                np.random.default_rng([self.seed, source, epoch]).permutation(count)
                if self.shuffle
                else np.arange(count)
            )
        return int(self._orders[key][index])

    def _next_source(self) -> int:
        want = self.position + 1
        return max(range(len(self.counts)), key=lambda i: (self.shares[i] * want - self.taken[i], -i))

    def take(self, k: int) -> list[tuple[int, int]]:
        """This rank's next ``k`` examples as (source index, block index)."""
        out: list[tuple[int, int]] = []
        while len(out) < k:
            source = self._next_source() if len(self.counts) > 1 else 0
            if self.position % self.world == self.rank:
                out.append((source, self._block(source, self.taken[source])))
            self.taken[source] += 1
            self.position += 1
        return out

    def epochs(self) -> list[float]:
        """Passes over each source's training blocks so far (all ranks)."""
        return [t / c for t, c in zip(self.taken, self.counts, strict=True)]

    def state_dict(self) -> dict:
        return {
            "position": self.position,
            "taken": list(self.taken),
            "counts": list(self.counts),
            "shares": list(self.shares),
            "world": self.world,
        }

    def load_state_dict(self, state: dict) -> None:
        if "position" not in state:
            raise DataError("the checkpoint's data position was saved by an older trainer: cannot resume it")
        if state["counts"] != self.counts or state["world"] != self.world or state["shares"] != self.shares:
            raise DataError(
                f"checkpoint was taken on {state['counts']} blocks x {state['world']} ranks with shares "
                f"{state['shares']}, now {self.counts} x {self.world} with {self.shares}: the data or the "
                "blend changed, cannot resume the data position"
            )
        self.position, self.taken = state["position"], list(state["taken"])


def blend_batch(sources: list[SourceData], picks: list[tuple[int, int]]) -> dict[str, torch.Tensor]:
    """One batch of examples drawn from several sources."""
    return stack([sources[s].train.example(b) for s, b in picks])
