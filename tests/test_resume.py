"""Resumable runs (--resume, pipeline.chunks): a run killed in the middle of a chunk continues
where it stopped and ends with what an uninterrupted run with the same chunking gives; changed
inputs or config are refused; dedup reaches across chunks; bad input is counted, not fatal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import (
    counts_only,
    ctrl_c_as_in_a_terminal,
    distinct_paragraphs,
    near_copy,
    read_shards,
    write_jsonl,
)
from tok_assets import llama_style_model

from pipeline.chunks import cut_chunks, describe_change
from pipeline.run import main
from pipeline.token_writer import id_hash

# Every test here runs whole pipelines (or loads a large vocabulary): `pytest -m "not slow"` skips them.
pytestmark = pytest.mark.slow


REPO = Path(__file__).resolve().parents[1]
STEPS = "normalize,exact_dedup,minhash_dedup,tokenize"


@pytest.fixture(scope="module")
def crawl(tmp_path_factory) -> Path:
    """Three inputs, one chunk each (chunks.files=1): a.jsonl; b.jsonl with an exact copy (other
    case and punctuation, higher score) and a near copy of documents of a.jsonl, and a pair of its
    own; c.warc.gz, which is not a WARC file at all."""
    folder = tmp_path_factory.mktemp("crawl") / "in"
    folder.mkdir()
    texts = distinct_paragraphs(limit=400, min_chars=150)
    assert len(texts) >= 22
    a = [{"id": f"a-{i:02d}", "text": t} for i, t in enumerate(texts[:12])]
    b = [{"id": f"b-{i:02d}", "text": t} for i, t in enumerate(texts[12:22])]
    b += [
        {"id": "b-exact-of-a-03", "text": "  " + texts[3].replace("，", ",") + " ", "quality_score": 0.99},
        {"id": "b-near-of-a-07", "text": near_copy(texts[7]), "quality_score": 0.99},
        {"id": "b-twin-of-b-00", "text": texts[12]},
    ]
    write_jsonl(folder / "a.jsonl", a)
    write_jsonl(folder / "b.jsonl", b)
    (folder / "c.warc.gz").write_bytes(b"\x1f\x8b not a gzip member at all " * 50)
    return folder


def args(inputs: Path, out: Path, *extra: str) -> list[str]:
    return ["--input", str(inputs), "--output", str(out), "--stages", STEPS, "--resume",
            "--set", "chunks.files=1", "--tokenizer", str(llama_style_model()), "--holdout-fraction", "0.3",
            "--set", "write.token_shards=2", "--keep-rejected", "--no-progress", *extra]  # fmt: skip


def token_rows(out: Path) -> dict[str, list[list[int]]]:
    return {
        f"{split}/{path.name}": read_shards_file(path)
        for split in ("train", "holdout")
        for path in sorted((out / "tokens" / split).glob("part-*.arrow"))
    }


def read_shards_file(path: Path) -> list[list[int]]:
    import pyarrow as pa

    with pa.ipc.open_stream(path) as reader:
        return reader.read_all().column("input_ids").to_pylist()


def documents(out: Path) -> list[tuple[str, str]]:
    table = read_shards(out / "documents")
    return sorted(zip(table.column("id").to_pylist(), table.column("text").to_pylist(), strict=True))


def start_and_wait_inside_chunk_1(inputs: Path, out: Path, **pipes) -> subprocess.Popen:
    """A chunked run in its own process group, returned once chunk 0 is committed and chunk 1
    is under way (the middle of a chunk)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.run", *args(inputs, out)],
        cwd=REPO,
        start_new_session=True,
        preexec_fn=ctrl_c_as_in_a_terminal,
        **pipes,
    )
    deadline = time.monotonic() + 240
    committed_at = None
    while time.monotonic() < deadline and proc.poll() is None:
        if committed_at is None and (out / "chunks" / "00000" / "manifest.json").exists():
            committed_at = time.monotonic()
        # Chunk 1 writing, or chunk 0 committed a moment ago: a chunk's Beam start-up alone takes
        # seconds, so chunk 1 is under way and far from its commit either way.
        if committed_at is not None and (
            list(out.glob("chunks/00001/.tmp-*")) or time.monotonic() - committed_at > 0.5
        ):
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before chunk 1 was under way"
    return proc


@pytest.fixture(scope="module")
def uninterrupted(crawl, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "whole"
    assert main(args(crawl, out)) == 0
    return out


def test_dedup_reaches_across_chunks_and_the_earlier_chunk_keeps_its_copy(uninterrupted):
    out = uninterrupted
    kept = {doc_id for doc_id, _ in documents(out)}
    rejected = {r["id"]: r for r in read_shards(out / "rejected").to_pylist()}
    # The copies in chunk 1 go although they score higher: chunk 0 kept the originals.
    assert rejected["b-exact-of-a-03"]["reason"] == "exact_duplicate"
    assert rejected["b-exact-of-a-03"]["detail"] == "duplicate of a-03"
    assert rejected["b-near-of-a-07"]["reason"] == "near_duplicate"
    assert rejected["b-near-of-a-07"]["detail"] == "duplicate of a-07"
    assert rejected["b-twin-of-b-00"]["detail"] == "duplicate of b-00"  # within a chunk, as always
    assert set(rejected) == {"b-exact-of-a-03", "b-near-of-a-07", "b-twin-of-b-00"}
    assert kept == {f"a-{i:02d}" for i in range(12)} | {f"b-{i:02d}" for i in range(10)}

    stats = json.loads((out / "stats.json").read_text())
    assert stats["accounting"] == "ok" and stats["chunks"] == 3
    # The chunk of a bad file is counted like any bad input, and the run goes on.
    assert stats["stages"]["read"]["dropped"]["not_warc_file"] == 1
    assert stats["stages"]["exact_dedup"]["counts"]["duplicate_of_index"] == 1
    assert stats["stages"]["minhash_dedup"]["counts"]["duplicate_of_index"] == 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["documents"]["rows"] == len(kept) and manifest["inputs"]["files"] == 3
    # Training shards cover every kept document: the held-out split by the seeded id hash.
    tokens = token_rows(out)
    holdout = sum(len(rows) for name, rows in tokens.items() if name.startswith("holdout"))
    assert holdout + sum(len(rows) for name, rows in tokens.items() if name.startswith("train")) == len(kept)
    assert holdout == sum(id_hash(doc_id, 0) % 1_000_000 < 300_000 for doc_id in kept) > 0
    assert manifest["tokens/train"]["rows"] + manifest["tokens/holdout"]["rows"] == len(kept)
    # What a finished run leaves: the outputs of a one-shot run, and the plan.
    assert sorted(p.name for p in (out / "chunks").iterdir()) == ["plan.json"]
    assert not list(out.glob(".tmp-*")) and not (out / ".lock").exists()


def test_a_run_killed_in_a_chunk_resumes_and_equals_an_uninterrupted_one(
    crawl, uninterrupted, tmp_path, capsys
):
    out = tmp_path / "killed"
    proc = start_and_wait_inside_chunk_1(crawl, out, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    proc.stderr.close()
    committed = {p.parent.name for p in out.glob("chunks/*/manifest.json")}
    assert "00000" in committed and "00002" not in committed and not (out / "manifest.json").exists()
    first = {name: json.loads((out / "chunks" / name / "manifest.json").read_text()) for name in committed}

    # Changed inputs or config are refused with one line, and leave the folder as it was.
    capsys.readouterr()
    assert main(args(crawl, out, "--set", "write.shuffle_seed=1")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "config key write.shuffle_seed changed (0 -> 1)" in err[0]
    stat = os.stat(crawl / "b.jsonl")
    os.utime(crawl / "b.jsonl", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert main(args(crawl, out)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"input {crawl / 'b.jsonl'} was modified" in err[0]
    os.utime(crawl / "b.jsonl", ns=(stat.st_atime_ns, stat.st_mtime_ns))

    assert main(args(crawl, out)) == 0
    err = capsys.readouterr().err
    assert f"resuming: {len(committed)} of 3 chunks are already committed and are not read again" in err
    manifest = json.loads((out / "manifest.json").read_text())
    # Counted: the committed chunks were read by the killed run only, the rest by the resumed one.
    sessions = manifest["chunks"]["committed_by"]
    assert [sessions[int(name)] for name in sorted(committed)] == [
        m["chunk"]["session"] for _, m in sorted(first.items())
    ]
    assert (
        len(
            {sessions[int(name)] for name in committed}
            & {sessions[i] for i in range(3) if f"{i:05d}" not in committed}
        )
        == 0
    )
    whole = json.loads((uninterrupted / "manifest.json").read_text())
    assert manifest["chunks"]["records_read"] == whole["chunks"]["records_read"]

    assert documents(out) == documents(uninterrupted)
    stats, expected = (json.loads((d / "stats.json").read_text()) for d in (out, uninterrupted))
    assert counts_only(stats) == counts_only(expected) and stats["accounting"] == "ok"
    assert token_rows(out) == token_rows(uninterrupted) != {}
    assert manifest["documents"] == whole["documents"] and manifest["tokens/train"] == whole["tokens/train"]

    # Run again: nothing is left to do.
    assert main(args(crawl, out)) == 0
    assert "nothing to do" in capsys.readouterr().err


def test_ctrl_c_in_a_chunk_prints_one_line_and_keeps_the_committed_chunks(crawl, tmp_path):
    out = tmp_path / "interrupted"
    proc = start_and_wait_inside_chunk_1(
        crawl, out, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert lines[-1].startswith("interrupted: 1 of 3 chunks are committed in") and "Traceback" not in err
    # The committed chunk stays; the one that was running is gone, and so is the lock.
    assert sorted(p.name for p in (out / "chunks").iterdir()) == ["00000", "plan.json"]
    assert not (out / ".lock").exists() and not (out / "manifest.json").exists()


def test_progress_names_the_chunk_and_the_whole_run_eta():
    from pipeline.progress import ChunkProgress, Progress

    tracker = Progress(100_000_000, 5.0, ChunkProgress("chunk 3/10", bytes_after=400_000_000, rate=None))
    tracker.bytes_read = 50_000_000
    line = tracker.line(tracker.start + 10)
    # Half of this chunk in 10 s: 10 s left in it, then 400 MB at 5 MB/s.
    assert line.startswith("chunk 3/10 | ") and "ETA 0:00:10 (50%)" in line and "run ETA 0:01:30" in line
    tracker.chunk = ChunkProgress("chunk 3/10", bytes_after=400_000_000, rate=10_000_000.0)
    assert "run ETA 0:00:50" in tracker.line(tracker.start + 10)  # the rate of the earlier chunks


def test_resume_refuses_another_run_and_needs_inputs(crawl, uninterrupted, tmp_path, capsys):
    plain = tmp_path / "plain"
    assert main(["--input", str(crawl / "a.jsonl"), "--output", str(plain), "--stages", "normalize",
                 "--no-progress"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["--input", str(crawl / "a.jsonl"), "--output", str(plain), "--stages", "normalize",
                 "--no-progress", "--resume"]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds an earlier run" in err[0]
    assert main(["--output", str(tmp_path / "x"), "--resume", "--no-progress"]) == 2
    assert "--resume needs --input" in capsys.readouterr().err
    # A one-shot run into a chunked run's folder replaces it whole with --overwrite, plan included.
    assert main(["--input", str(crawl / "a.jsonl"), "--output", str(uninterrupted), "--stages", "normalize",
                 "--no-progress", "--overwrite"]) == 0  # fmt: skip
    assert not (uninterrupted / "chunks").exists() and not (uninterrupted / "tokens").exists()


def test_chunks_cut_files_and_byte_ranges_and_plans_name_their_difference():
    files = [("a.warc.gz", 250), ("b.jsonl", 30), ("c.jsonl", 30), ("d.jsonl", 30)]
    chunks = cut_chunks(files, max_bytes=100, max_files=2)
    assert chunks == [
        [["a.warc.gz", 0, 100, 250]],
        [["a.warc.gz", 100, 200, 250]],
        [["a.warc.gz", 200, None, 250], ["b.jsonl", 0, None, 30]],  # 50 + 30 bytes, 2 files
        [["c.jsonl", 0, None, 30], ["d.jsonl", 0, None, 30]],
    ]
    assert cut_chunks(files, max_bytes=0, max_files=0) == [[[p, 0, None, s] for p, s in files]]
    plan = {"version": 1, "software": {"package_version": "1"}, "inputs": [["a", 1, 5]],
            "config": {"steps": [{"pii": {"types": ["email"]}}]}, "models": {}, "expansion": {}, "chunks": []}  # fmt: skip
    assert describe_change(plan, plan) is None
    other = {**plan, "config": {"steps": [{"pii": {"types": ["ip"]}}]}}
    assert describe_change(plan, other) == "config key steps.pii.types changed (['email'] -> ['ip'])"
    assert describe_change(plan, {**plan, "inputs": [["a", 2, 5]]}) == "input a changed size (1 -> 2 bytes)"
    assert describe_change(plan, {**plan, "inputs": []}) == "input a is no longer among the inputs"
    assert describe_change(plan, {**plan, "software": {"package_version": "2"}}) == (
        "the pipeline's code changed (package_version 1 -> 2)"
    )


def test_a_chunked_run_writes_megatron_files_once_from_the_merged_shards(crawl, tmp_path):
    import numpy as np
    from test_megatron_writer import read_indexed_dataset

    out = tmp_path / "out"
    assert main(args(crawl, out, "--set", "tokenize.megatron=true")) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["megatron"]) == {"train", "holdout"}
    for split, rows in (("train", []), ("holdout", [])):
        for shard in manifest[f"tokens/{split}"]["shards"]:
            rows += read_shards_file(out / shard["file"])
        got, _, _ = read_indexed_dataset(out / "megatron" / f"{split}_text_document")
        assert len(got) == len(rows) == manifest["megatron"][split]["documents"] > 0
        assert all(np.array_equal(a, b) for a, b in zip(got, rows, strict=True))
    # The chunks made none of their own (they would have been thrown away with their folders).
    assert sorted(p.name for p in (out / "chunks").iterdir()) == ["plan.json"]


def test_the_plan_fingerprints_every_file_of_a_tokenizer_folder(tmp_path):
    # A tokenizer.json folder: its BOS/EOS come from tokenizer_config.json, so both are in the plan.
    from types import SimpleNamespace

    from pipeline.chunks import model_files
    from pipeline.config import StepConfig
    from stages.tokenize import TokenizeParams

    folder = tmp_path / "tok"
    folder.mkdir()
    (folder / "tokenizer.json").write_text("{}")
    (folder / "tokenizer_config.json").write_text("{}")
    cfg = SimpleNamespace(steps=[StepConfig("tokenize", "tokenize", TokenizeParams(tokenizer=str(folder)))])
    before = model_files(cfg)
    assert set(before) == {str(folder / "tokenizer.json"), str(folder / "tokenizer_config.json")}
    (folder / "tokenizer_config.json").write_text('{"bos_token": "<s>"}')
    assert model_files(cfg) != before
