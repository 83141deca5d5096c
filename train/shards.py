"""Small token-shard datasets for tests and benchmarks, in the trainer's input format — written by
the same code as the pipeline's tokenize stage (stages.token_shards), round-robin over shards."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from stages.token_shards import shard_name, write_token_shard


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
    paths = []
    for shard in range(num_shards):
        path = Path(directory) / shard_name(shard, num_shards)
        write_token_shard(
            path, docs[shard::num_shards], vocab_size, bos_id, eos_id, batch_rows=rows_per_batch
        )
        paths.append(path)
    return paths
