"""Incremental dedup across crawls: a run saves its MinHash signatures (minhash_index/), a later
run drops documents that near-duplicate an indexed one without reading the old crawl again."""

from __future__ import annotations

import json

import pytest
from conftest import distinct_paragraphs, near_copy, read_shards, write_jsonl

from pipeline.run import main
from stages.minhash_dedup import INDEX_KIND, index_files

# Every test here runs whole pipelines (or loads a large vocabulary): `pytest -m "not slow"` skips them.
pytestmark = pytest.mark.slow


def run(*args: str) -> int:
    return main(
        [*args, "--no-progress", "--runner=DirectRunner", "--stages", "minhash_dedup", "--keep-rejected"]
    )


@pytest.fixture(scope="module")
def crawls(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("crawls")
    paragraphs = distinct_paragraphs(limit=600, min_chars=200)
    old, new = paragraphs[:20], paragraphs[20:32]
    crawl1 = [{"id": f"old-{i}", "text": t} for i, t in enumerate(old)]
    crawl2 = (
        [{"id": f"copy-{i}", "text": near_copy(old[i]), "quality_score": 0.99} for i in range(8)]
        + [{"id": f"new-{i}", "text": t} for i, t in enumerate(new)]
        + [{"id": "new-0-copy", "text": near_copy(new[0])}]
    )
    out1 = tmp / "out1"
    assert (
        run(
            "--input",
            write_jsonl(tmp / "crawl1.jsonl", crawl1),
            "--output",
            str(out1),
            "--set",
            "minhash_dedup.save_index=true",
        )
        == 0
    )
    return tmp, crawl1, crawl2, out1


def test_a_run_saves_its_signatures_as_an_index(crawls):
    _, crawl1, _, out1 = crawls
    manifest = json.loads((out1 / "manifest.json").read_text())
    assert manifest[INDEX_KIND]["rows"] == len(crawl1)
    index = read_shards(out1 / INDEX_KIND)
    assert sorted(index.column("id").to_pylist()) == sorted(d["id"] for d in crawl1)
    assert index.schema.metadata[b"num_perm"] == b"128"
    assert index_files(str(out1)) == index_files(str(out1 / INDEX_KIND)) != []
    # Intermediate files (signatures of a run without save_index, spills) never stay behind.
    assert not [p for p in out1.rglob(".tmp-*")]


def test_a_later_crawl_is_deduplicated_against_the_index(crawls):
    tmp, _, crawl2, out1 = crawls
    out2 = tmp / "out2"
    assert (
        run(
            "--input",
            write_jsonl(tmp / "crawl2.jsonl", crawl2),
            "--output",
            str(out2),
            "--set",
            f"minhash_dedup.against=[{out1}]",
            "--set",
            "minhash_dedup.save_index=true",
        )
        == 0
    )
    kept = set(read_shards(out2 / "documents").column("id").to_pylist())
    rejected = read_shards(out2 / "rejected").to_pylist()
    # Near copies of old documents go, even though they score higher: the old crawl already has them.
    assert {(r["id"], r["reason"]) for r in rejected} == {
        (f"copy-{i}", "near_duplicate") for i in range(8)
    } | {("new-0-copy", "near_duplicate")}
    assert {r["detail"] for r in rejected if r["id"].startswith("copy-")} == {
        f"duplicate of old-{i}" for i in range(8)
    }
    assert kept == {f"new-{i}" for i in range(12)}
    stats = json.loads((out2 / "stats.json").read_text())["stages"]["minhash_dedup"]
    assert stats["dropped"]["near_duplicate"] == 9
    assert stats["counts"]["duplicate_of_index"] == 8
    # The next crawl can use both indexes: an exact repeat of crawl 2 keeps nothing new.
    out3 = tmp / "out3"
    assert (
        run(
            "--input",
            str(tmp / "crawl2.jsonl"),
            "--output",
            str(out3),
            "--set",
            f"minhash_dedup.against=[{out1}, {out2 / INDEX_KIND}]",
        )
        == 0
    )
    assert read_shards(out3 / "documents").num_rows == 0
    stats = json.loads((out3 / "stats.json").read_text())["stages"]["minhash_dedup"]
    assert stats["counts"]["duplicate_of_index"] == len(crawl2)


def test_an_incompatible_or_missing_index_is_a_config_error(crawls, capsys):
    tmp, _, _, out1 = crawls
    args = ("--input", str(tmp / "crawl1.jsonl"), "--output", str(tmp / "bad"))
    assert run(*args, "--set", f"minhash_dedup.against=[{out1}]", "--set", "minhash_dedup.num_perm=64") == 2
    err = capsys.readouterr().err
    assert "config key 'minhash_dedup.against'" in err and "num_perm=128 (this run: 64)" in err
    assert run(*args, "--set", f"minhash_dedup.against=[{tmp / 'nowhere'}]") == 2
    assert "no MinHash index" in capsys.readouterr().err


def test_shuffle_and_spill_joins_give_the_same_documents(crawls):
    tmp, _, _, out1 = crawls
    outs = {}
    for join in ("shuffle", "spill"):
        out = tmp / f"join-{join}"
        assert (
            run(
                "--input",
                str(tmp / "crawl2.jsonl"),
                "--output",
                str(out),
                "--set",
                f"minhash_dedup.join={join}",
                "--set",
                f"minhash_dedup.against=[{out1}]",
            )
            == 0
        )
        outs[join] = sorted(read_shards(out / "documents").column("id").to_pylist())
        assert not list(out.rglob(".tmp-*"))  # spill files and signatures are gone with the work folder
    assert outs["shuffle"] == outs["spill"] and len(outs["spill"]) == 12


def test_an_unknown_join_mode_is_a_config_error(crawls, capsys):
    tmp, _, _, _ = crawls
    assert (
        run(
            "--input",
            str(tmp / "crawl1.jsonl"),
            "--output",
            str(tmp / "x"),
            "--set",
            "minhash_dedup.join=disk",
        )
        == 2
    )
    assert "config key 'minhash_dedup.join'" in capsys.readouterr().err


def test_the_indexed_root_is_replaced_by_the_document_kept_in_its_run(crawls):
    """Crawl A keeps ``old-b`` (higher score) and drops its near copy ``old-a``; both are in A's
    index (every document that reached the step). A near copy in crawl B links to both, the
    smallest indexed node is ``old-a``: duplicate_of must name ``old-b``, which A kept."""
    tmp, crawl1, _, _ = crawls
    text = crawl1[0]["text"]
    out_a, out_b = tmp / "chain-a", tmp / "chain-b"
    crawl_a = [{"id": "old-b", "text": text, "quality_score": 0.9}, {"id": "old-a", "text": near_copy(text)}]
    assert run("--input", write_jsonl(tmp / "chain-a.jsonl", crawl_a), "--output", str(out_a),
               "--set", "minhash_dedup.save_index=true") == 0  # fmt: skip
    assert read_shards(out_a / "documents").column("id").to_pylist() == ["old-b"]
    assert read_shards(out_a / INDEX_KIND / "duplicates").to_pylist() == [
        {"id": "old-a", "duplicate_of": "old-b"}
    ]
    crawl_b = [{"id": "new", "text": near_copy(near_copy(text)), "quality_score": 1.0}]
    assert run("--input", write_jsonl(tmp / "chain-b.jsonl", crawl_b), "--output", str(out_b),
               "--set", f"minhash_dedup.against=[{out_a}]") == 0  # fmt: skip
    (rejected,) = read_shards(out_b / "rejected").to_pylist()
    assert rejected["id"] == "new" and rejected["detail"] == "duplicate of old-b"


def test_exact_dedup_saves_the_fingerprints_it_keeps_and_a_later_run_drops_their_copies(crawls, capsys):
    tmp, crawl1, _, _ = crawls
    first = crawl1[:6] + [{"id": "old-0-twin", "text": crawl1[0]["text"].upper()}]
    later = [
        {"id": "copy-0", "text": "  " + crawl1[0]["text"] + "!!", "quality_score": 0.99},  # folds equal
        {"id": "copy-3", "text": crawl1[3]["text"], "quality_score": 0.99},
        {"id": "fresh", "text": crawl1[10]["text"]},
    ]
    out1, out2 = tmp / "exact-1", tmp / "exact-2"
    args = ["--no-progress", "--runner=DirectRunner", "--stages", "exact_dedup", "--keep-rejected"]
    assert main([*args, "--input", write_jsonl(tmp / "exact-1.jsonl", first), "--output", str(out1),
                 "--set", "exact_dedup.save_index=true"]) == 0  # fmt: skip
    index = read_shards(out1 / "exact_index")
    # The survivors only: old-0-twin was dropped as a copy of old-0, and is not indexed.
    assert sorted(index.column("id").to_pylist()) == [f"old-{i}" for i in range(6)]
    assert index.schema.metadata[b"fingerprint_version"] == b"1"
    assert main([*args, "--input", write_jsonl(tmp / "exact-2.jsonl", later), "--output", str(out2),
                 "--set", f"exact_dedup.against=[{out1}]"]) == 0  # fmt: skip
    assert read_shards(out2 / "documents").column("id").to_pylist() == ["fresh"]
    assert {(r["id"], r["detail"]) for r in read_shards(out2 / "rejected").to_pylist()} == {
        ("copy-0", "duplicate of old-0"),
        ("copy-3", "duplicate of old-3"),
    }
    stats = json.loads((out2 / "stats.json").read_text())["stages"]["exact_dedup"]
    assert stats["counts"]["duplicate_of_index"] == 2 and stats["dropped"]["exact_duplicate"] == 2
    capsys.readouterr()
    assert main([*args, "--input", str(tmp / "exact-2.jsonl"), "--output", str(tmp / "exact-3"),
                 "--set", f"exact_dedup.against=[{tmp / 'nowhere'}]"]) == 2  # fmt: skip
    assert "config key 'exact_dedup.against'" in capsys.readouterr().err
