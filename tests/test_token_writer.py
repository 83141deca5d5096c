"""WriteTrainingShards: spill pieces per bundle, one write per shard, the seeded-hash shuffle."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.token_writer import WriteTrainingShards, _SpillTokens, id_hash, read_pieces, shuffle_order
from pipeline.writer import commit_output
from stages.token_shards import read_token_shard, shard_name, token_schema

SCHEMA = token_schema(32000, 1, 2)
SHARDS, SEED, RUN = 3, 11, "run1"


def make_docs(n: int = 1200) -> list[dict]:
    rng = random.Random(5)
    docs = []
    for i in range(n):
        ids = [1] + [rng.randrange(3, 32000) for _ in range(rng.randint(0, 120))] + [2]
        doc = {"id": f"file.warc.gz/{i}", "text": "x", "input_ids": ids}
        if rng.random() < 0.25:
            doc["holdout"] = True
        docs.append(doc)
    return docs


def expected_shards(docs: list[dict]) -> dict[tuple[str, int], list[list[int]]]:
    """Written independently of the module: split by the mark, shard by hash bits, order by hash."""
    groups = defaultdict(list)
    for doc in docs:
        h = id_hash(doc["id"], SEED)
        groups["holdout" if doc.get("holdout") else "train", (h >> 24) % SHARDS].append((h, doc["input_ids"]))
    return {key: [ids for _, ids in sorted(rows)] for key, rows in groups.items()}


def run_writer(docs: list[dict], out: Path, options: list[str], buffer_bytes: int) -> list[dict]:
    with beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner", *options])) as p:
        _ = (
            p
            | beam.Create(docs, reshuffle=True)
            | WriteTrainingShards(str(out), RUN, SCHEMA, SHARDS, SEED, spill_buffer_bytes=buffer_bytes)
            | beam.combiners.ToList()
            | beam.Map(lambda files: (out / "files.json").write_text(json.dumps(files)))
        )
    return json.loads((out / "files.json").read_text())


def shard_rows(path: Path) -> list[list[int]]:
    return [row for arr in read_token_shard(path) for row in arr.to_pylist()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple[Path, list[dict]]]:
    docs = make_docs()
    base = tmp_path_factory.mktemp("tokens")
    # One worker with the default buffer (one piece per shard), and two worker processes with a buffer
    # of a few documents, so each shard is gathered from many pieces written by several bundles.
    return {
        "one": (base / "one", run_writer(docs, base / "one", [], 0)),
        "two": (
            base / "two",
            run_writer(
                docs, base / "two", ["--direct_num_workers=2", "--direct_running_mode=multi_processing"], 3000
            ),
        ),
    }


@pytest.mark.slow
def test_spill_pieces_come_from_several_bundles(runs):
    out, files = runs["two"]
    pieces = sorted((out / f".tmp-{RUN}" / "work" / "token-spill").glob("*/*.arrow"))
    bundles = {p.name.split("-")[1] for p in pieces}
    assert len(bundles) >= 2 and len(pieces) > 4 * SHARDS
    assert sorted(f["tmp"] for f in files) == sorted(
        str(out / f".tmp-{RUN}" / "out" / "tokens" / split / f"{shard:05d}.arrow")
        for split in ("train", "holdout")
        for shard in range(SHARDS)
    )


@pytest.mark.parametrize("name", ["one", "two"])
def test_shards_hold_every_document_once_in_hash_order(runs, name):
    out, files = runs[name]
    docs = make_docs()
    expected = expected_shards(docs)
    manifest = commit_output(files, str(out), RUN, {"tokens/train": SCHEMA, "tokens/holdout": SCHEMA}, {}, {})
    for (split, shard), rows in expected.items():
        assert shard_rows(out / "tokens" / split / shard_name(shard, SHARDS)) == rows, (split, shard)
    for split in ("train", "holdout"):
        want = [rows for (s, _), rows in expected.items() if s == split]
        assert manifest[f"tokens/{split}"]["rows"] == sum(len(r) for r in want)
        assert manifest[f"tokens/{split}"]["tokens"] == sum(len(ids) for r in want for ids in r)
        # Shards committed, spill pieces and the temporary folder gone.
        assert sorted(p.name for p in (out / "tokens" / split).iterdir()) == [
            shard_name(i, SHARDS) for i in range(SHARDS)
        ]
    assert manifest["tokens/holdout"]["rows"] == sum(1 for d in docs if d.get("holdout"))


def test_worker_count_and_pieces_do_not_change_a_byte(runs):
    (one, _), (two, _) = runs["one"], runs["two"]
    names = sorted(p.relative_to(one) for p in (one / "tokens").rglob("part-*.arrow"))
    assert len(names) == 2 * SHARDS
    assert names == sorted(p.relative_to(two) for p in (two / "tokens").rglob("part-*.arrow"))
    for name in names:
        assert (one / name).read_bytes() == (two / name).read_bytes(), name


def spill_bundle(docs: list[dict], out: Path, buffer_bytes: int = 1 << 20) -> dict[str, list[str]]:
    """One bundle of _SpillTokens by hand: shard key -> the piece paths it emitted."""
    fn = _SpillTokens(str(out), RUN, SCHEMA.field("input_ids").type.value_type, SHARDS, SEED, buffer_bytes)
    fn.setup()
    fn.start_bundle()
    for doc in docs:
        fn.process(doc)
    emitted = defaultdict(list)
    for wv in fn.finish_bundle():
        key, path = wv.value
        emitted[key].append(path)
    return emitted


def test_a_retried_bundle_adds_no_rows(tmp_path):
    docs = make_docs(300)
    first = spill_bundle(docs, tmp_path)  # a failed attempt: its files stay, its output is discarded
    retry = spill_bundle(docs, tmp_path)
    assert not {p for ps in first.values() for p in ps} & {p for ps in retry.values() for p in ps}
    writer = WriteTrainingShards(str(tmp_path), RUN, SCHEMA, SHARDS, SEED)
    expected = expected_shards(docs)
    for key, paths in retry.items():
        info = writer.write((key, paths))
        split, shard = key.split("/")
        assert info["rows"] == len(expected[split, int(shard)])
        assert shard_rows(Path(info["tmp"])) == expected[split, int(shard)]


def test_equal_hashes_are_ordered_by_their_ids_whatever_the_piece_order(tmp_path):
    # The same id twice (e.g. an input listed twice) gives equal hashes: the packed ids decide, as they did
    # when rows were sorted as (hash, bytes) tuples.
    rows = [
        ("a", [1, 9, 2]),
        ("a", [1, 2]),
        ("b", [1, 5, 2]),
        ("a", [1, 9, 2]),
        ("c", []),
        ("a", [1, 300, 2]),
    ]
    docs = [{"id": doc_id, "input_ids": ids} for doc_id, ids in rows] * 3
    pieces = spill_bundle(docs, tmp_path, buffer_bytes=1)  # one document a piece
    assert max(len(paths) for paths in pieces.values()) >= 12  # the shard of "a" at least
    for key, paths in pieces.items():
        shard = int(key.split("/")[1])
        mine = [
            (id_hash(d["id"], SEED), np.asarray(d["input_ids"], np.uint16).tobytes(), d["input_ids"])
            for d in docs
            if (id_hash(d["id"], SEED) >> 24) % SHARDS == shard
        ]
        want = [ids for _, _, ids in sorted(mine)]
        for order in (paths, paths[::-1]):
            hashes, offsets, values = read_pieces(order, np.dtype(np.uint16))
            got = [
                values[offsets[i] : offsets[i + 1]].tolist() for i in shuffle_order(hashes, offsets, values)
            ]
            assert got == want


def test_commit_removes_spill_pieces_where_folders_do_not_exist(tmp_path, monkeypatch):
    """On an object store (gs://) the temporary "folder" is only a name prefix: ``exists`` is False for
    it, so the commit must delete the files under it one by one."""
    from apache_beam.io.filesystems import FileSystems

    docs = make_docs(200)
    pieces = spill_bundle(docs, tmp_path)
    writer = WriteTrainingShards(str(tmp_path), RUN, SCHEMA, SHARDS, SEED)
    files = [writer.write(item) for item in pieces.items()]
    real_exists = FileSystems.exists
    # The temporary folders do not "exist" (an object store has only the files under a prefix).
    monkeypatch.setattr(
        FileSystems,
        "exists",
        staticmethod(lambda path: (".tmp-" not in path or path.endswith(".arrow")) and real_exists(path)),
    )
    commit_output(files, str(tmp_path), RUN, {"tokens/train": SCHEMA, "tokens/holdout": SCHEMA}, {}, {})
    left = [p for p in tmp_path.rglob("*") if p.is_file() and ".tmp-" in str(p)]
    assert not left
    assert len(list((tmp_path / "tokens").rglob("part-*.arrow"))) == 2 * SHARDS
