"""Training-shard format: Arrow IPC stream, list<uint16|int32> per document, atomic, zero-copy reads."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest
from pyarrow import ipc

from stages.token_shards import (
    read_token_shard,
    shard_name,
    token_shard_metadata,
    write_token_shard,
)


def _docs(n: int, vocab: int, seed: int = 0) -> list[list[int]]:
    rng = random.Random(seed)
    return [[1, *(rng.randrange(3, vocab) for _ in range(rng.randrange(0, 300))), 2] for _ in range(n)] + [[]]


@pytest.mark.parametrize(
    ("vocab", "arrow_type"), [(49953, pa.uint16()), (65535, pa.uint16()), (128256, pa.int32())]
)
def test_round_trip(tmp_path, vocab, arrow_type):
    docs = _docs(2500, vocab)
    docs[0][1] = vocab - 1  # the largest id must survive (no uint16 wrap)
    path = tmp_path / shard_name(3, 8)
    assert path.name == "part-00003-of-00008.arrow"
    assert write_token_shard(path, iter(docs), vocab, bos_id=1, eos_id=2) == len(docs)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no .tmp left behind
    arrays = read_token_shard(path)
    assert [len(a) for a in arrays] == [1024, 1024, 453]
    assert all(a.type == pa.list_(arrow_type) for a in arrays)
    assert [row for a in arrays for row in a.to_pylist()] == docs
    assert token_shard_metadata(path) == {"vocab_size": vocab, "bos_id": 1, "eos_id": 2}
    # An Arrow IPC *stream* (what datasets.Dataset.from_file reads), single column input_ids.
    with pa.OSFile(str(path)) as f:
        assert ipc.open_stream(f).schema.names == ["input_ids"]


def test_reads_are_memory_mapped(tmp_path):
    path = tmp_path / shard_name(0, 1)
    write_token_shard(path, _docs(3000, 32000), 32000, 1, 2)
    before = pa.total_allocated_bytes()
    arrays = read_token_shard(path)
    values = arrays[0].values.to_numpy(zero_copy_only=True)
    assert pa.total_allocated_bytes() == before  # nothing copied into Arrow's memory pool
    assert values.dtype == np.uint16 and not values.flags.owndata


def test_rejects_ids_outside_the_vocabulary(tmp_path):
    path = tmp_path / shard_name(0, 1)
    with pytest.raises(ValueError, match="outside"):
        write_token_shard(path, [[1, 2], [70000]], 65535, 1, 2)
    with pytest.raises(ValueError, match="outside"):
        write_token_shard(path, [[-1]], 65535, 1, 2)
    assert list(tmp_path.iterdir()) == []  # neither the shard nor its temporary file


def test_empty_shard(tmp_path):
    path = tmp_path / shard_name(0, 1)
    assert write_token_shard(path, [], 32000, 1, 2) == 0
    assert read_token_shard(path) == []
    assert token_shard_metadata(path)["vocab_size"] == 32000


def test_numpy_rows_give_the_same_shard_as_lists(tmp_path):
    """Packed rows (what pipeline.token_writer passes) are written without widening, byte for byte
    like lists, and checked against the vocabulary the same way."""
    docs = _docs(1500, 32000)
    write_token_shard(tmp_path / "lists.arrow", docs, 32000, 1, 2)
    mixed = [np.asarray(d, dtype=np.uint16 if i % 2 else np.int32) for i, d in enumerate(docs)]
    write_token_shard(tmp_path / "arrays.arrow", mixed, 32000, 1, 2)
    assert (tmp_path / "lists.arrow").read_bytes() == (tmp_path / "arrays.arrow").read_bytes()
    for bad in (np.array([40000], np.uint16), np.array([-1], np.int32)):
        with pytest.raises(ValueError, match="outside"):
            write_token_shard(tmp_path / "bad.arrow", [bad], 32000, 1, 2)
