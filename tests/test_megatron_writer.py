"""Megatron-LM indexed datasets (.bin/.idx) from the tokenize step, read back by a reader written here from
the format's description (Megatron-LM's megatron/core/datasets/readme.md and indexed_dataset docstrings:
header, version, dtype code, sequence and document counts, then sequence lengths, sequence pointers and
document indices); no Megatron install."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tok_assets import llama_style_model, people_daily_lines

from pipeline.megatron_writer import write_indexed_dataset
from stages.token_shards import read_token_shard

REPO = Path(__file__).resolve().parents[1]
DTYPES = {
    1: np.uint8,
    2: np.int8,
    3: np.int16,
    4: np.int32,
    5: np.int64,
    6: np.float64,
    7: np.float32,
    8: np.uint16,
}


def read_indexed_dataset(prefix: Path) -> tuple[list[np.ndarray], np.ndarray, np.dtype]:
    """Documents (as token arrays), document indices and token dtype of PREFIX.bin/.idx."""
    idx = prefix.with_name(prefix.name + ".idx").read_bytes()
    assert idx[:9] == b"MMIDIDX\x00\x00"
    (version,) = struct.unpack_from("<Q", idx, 9)
    (code,) = struct.unpack_from("<B", idx, 17)
    sequences, documents = struct.unpack_from("<QQ", idx, 18)
    assert version == 1
    pos = 34
    lengths = np.frombuffer(idx, "<i4", sequences, pos)
    pos += 4 * sequences
    pointers = np.frombuffer(idx, "<i8", sequences, pos)
    pos += 8 * sequences
    doc_index = np.frombuffer(idx, "<i8", documents, pos)
    assert pos + 8 * documents == len(idx)  # nothing after the document indices
    dtype = np.dtype(DTYPES[code]).newbyteorder("<")
    data = prefix.with_name(prefix.name + ".bin").read_bytes()
    seqs = [np.frombuffer(data, dtype, int(n), int(p)) for n, p in zip(lengths, pointers, strict=True)]
    assert sum(int(n) for n in lengths) * dtype.itemsize == len(data)
    docs = [np.concatenate(seqs[a:b]) for a, b in zip(doc_index[:-1], doc_index[1:], strict=True)]
    return docs, doc_index, dtype


@pytest.mark.parametrize(("vocab", "dtype"), [(32000, np.uint16), (65499, np.uint16), (131072, np.int32)])
def test_round_trip(tmp_path: Path, vocab: int, dtype) -> None:
    rng = np.random.default_rng(vocab)
    docs = [rng.integers(0, vocab, size=int(rng.integers(0, 300))) for _ in range(500)]
    docs[7] = np.array([vocab - 1, 0])  # the extremes survive
    batches = [
        (np.concatenate(docs[i : i + 64]), np.array([len(d) for d in docs[i : i + 64]]))
        for i in range(0, 500, 64)
    ]
    info = write_indexed_dataset(str(tmp_path / "x_text_document"), batches, vocab)
    got, doc_index, got_dtype = read_indexed_dataset(tmp_path / "x_text_document")
    assert got_dtype == np.dtype(dtype) and info["dtype"] == np.dtype(dtype).name
    assert doc_index.tolist() == list(range(501)) and info["documents"] == 500
    assert all(np.array_equal(a, b) for a, b in zip(got, docs, strict=True))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x_text_document.bin", "x_text_document.idx"]


def test_ids_outside_the_vocabulary_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="outside"):
        write_indexed_dataset(str(tmp_path / "x"), [(np.array([1, 70000]), np.array([2]))], 65000)


@pytest.mark.slow
def test_tokenize_step_writes_megatron_files_matching_the_training_shards(tmp_path: Path) -> None:
    docs = tmp_path / "docs.jsonl"
    lines = people_daily_lines()[:400]
    docs.write_text(
        "".join(
            json.dumps({"id": f"d{i}", "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(lines)
        ),
        encoding="utf-8",
    )
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "pipeline.run",
        "--input",
        str(docs),
        "--stages",
        "tokenize",
        "--no-progress",
    ]
    cmd += ["--tokenizer", str(llama_style_model()), "--holdout-fraction", "0.1", "--output", str(out)]
    cmd += ["--set", "write.token_shards=3", "--set", "tokenize.megatron=true"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["megatron"]) == {"train", "holdout"}
    for split in ("train", "holdout"):
        rows = [
            np.asarray(row)
            for shard in manifest[f"tokens/{split}"]["shards"]
            for arr in read_token_shard(out / shard["file"])
            for row in arr.to_pylist()
        ]
        got, _, dtype = read_indexed_dataset(out / "megatron" / f"{split}_text_document")
        assert dtype == np.dtype(np.uint16)
        assert len(got) == len(rows) == manifest["megatron"][split]["documents"] > 0
        assert all(np.array_equal(a, b) for a, b in zip(got, rows, strict=True))
        assert all(d[0] == 1 and d[-1] == 2 for d in got)  # BOS ... EOS per document
        assert manifest["megatron"][split]["tokens"] == manifest[f"tokens/{split}"]["tokens"]
    assert sum(len(d) for d in got) > 0
