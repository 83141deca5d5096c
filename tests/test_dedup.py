"""Exact and MinHash-LSH dedup: pure cores without Beam, then the Beam composites."""

from __future__ import annotations

import itertools
import random
import tempfile

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
from datasketch import MinHash

from stages import load_step_class
from stages.base import RunContext
from stages.components import connected_components, large_star, resolve_labels, small_star
from stages.dedup_common import duplicates_in_group, fold_codepoints, fold_text, make_node, node_id
from stages.exact_dedup import ExactDedupParams, ExactDedupStage, text_fingerprint
from stages.minhash_dedup import (
    SCHEME,
    MinHashDedupParams,
    MinHashDedupStage,
    MinHasher,
    affine32_permutations,
    band_key_matrix,
    band_keys,
    candidate_probability,
    choose_bands,
    key_bytes,
)

RNG = random.Random(7)
VOCAB = [f"w{i}" for i in range(3000)]


def words(n: int, rng: random.Random = RNG) -> list[str]:
    return [rng.choice(VOCAB) for _ in range(n)]


def shingle_jaccard(hasher: MinHasher, a: str, b: str) -> float:
    sa, sb = set(hasher.shingle_hashes(a).tolist()), set(hasher.shingle_hashes(b).tolist())
    return len(sa & sb) / len(sa | sb)


# ---------------------------------------------------------------- pure: folding, ranking


def test_fold_text_folds_case_space_and_ascii_and_cjk_punctuation():
    assert fold_text("  Hello,\tWORLD!!\n") == "hello world"
    assert fold_text("你好，世界。「测试」") == fold_text("你好 世界 测试")
    assert fold_text("ＡＢＣ１２３") == "abc123"  # full-width forms (NFKC)
    assert text_fingerprint("Hello, world.") == text_fingerprint("hello   WORLD")
    assert text_fingerprint("你好，世界！") == text_fingerprint("你好 世界")
    assert text_fingerprint("hello world") != text_fingerprint("hello word")


def test_survivor_ranking_default_highest_quality_then_smallest_id():
    docs = [
        {"id": "b", "quality_score": 0.9},
        {"id": "a", "quality_score": 0.5},
        {"id": "c", "quality_score": 0.9},
        {"id": "0"},  # no score: after every scored doc
    ]
    ranked = [node_id(n) for n in sorted(make_node(d, "quality_score") for d in docs)]
    assert ranked == ["b", "c", "a", "0"]
    neg = [
        {"id": "x", "quality_score": -1.0},
        {"id": "y", "quality_score": -0.0},
        {"id": "z", "quality_score": 0.0},
    ]
    assert [node_id(n) for n in sorted(make_node(d, "quality_score") for d in neg)] == ["y", "z", "x"]
    assert [node_id(n) for n in sorted(make_node(d, "smallest_id") for d in docs)] == ["0", "a", "b", "c"]
    longest = [{"id": "a", "text": "x"}, {"id": "b", "text": "xyz"}, {"id": "c", "text": "xyz"}]
    assert [node_id(n) for n in sorted(make_node(d, "longest") for d in longest)] == ["b", "c", "a"]
    with pytest.raises(ValueError):
        ExactDedupStage(ExactDedupParams(survivor="newest"))


def test_duplicates_in_group_never_drops_the_best_or_a_repeated_id():
    nodes = [
        make_node({"id": i, "quality_score": s}, "quality_score")
        for i, s in [("a", 0.1), ("b", 0.7), ("c", 0.7)]
    ]
    assert sorted(duplicates_in_group(nodes + nodes[:1])) == [("a", "b"), ("c", "b")]
    assert list(duplicates_in_group(nodes[:1] * 2)) == []


# ---------------------------------------------------------------- pure: shingles, signatures, bands


def test_fold_codepoints_matches_fold_text():
    for text in ["  Hello,\tWORLD!!\n", "你好，世界。「测试」 ＡＢＣ１２３", "a -- b\u3000c", "", " ... "]:
        assert fold_codepoints(text).tobytes().decode("utf-32-le") == fold_text(text)


def test_word_shingles_are_position_independent_5grams():
    h = MinHasher(shingle_size=5)
    text = " ".join(words(40))
    hashes = h.shingle_hashes(text)
    assert len(hashes) == 36
    shifted = h.shingle_hashes("Prefix, " + text.upper())  # case/punctuation folded, shifted by one word
    assert np.array_equal(shifted[1:], hashes)
    assert len(h.shingle_hashes("only three words")) == 1
    assert len(h.shingle_hashes(" ,。 ")) == 0 and h.signature("...") is None


def test_chinese_uses_character_ngrams_by_lang_or_cjk_share():
    h = MinHasher(char_shingle_size=5)
    zh = "我们今天去公园散步，天气非常好。"
    n_chars = len(fold_text(zh).replace(" ", ""))
    assert len(h.shingle_hashes(zh)) == n_chars - 4  # detected by CJK share
    assert len(h.shingle_hashes(zh, lang="zh")) == n_chars - 4
    assert len(h.shingle_hashes(zh.replace("，", " "), lang="zh-Hans")) == n_chars - 4  # spacing ignored
    # The same text declared English is shingled by (space-delimited) words: 2 "words" -> 1 shingle.
    assert len(h.shingle_hashes(zh, lang="en")) == 1
    ja = "今日は公園を散歩しました"
    assert len(h.shingle_hashes(ja, lang="ja")) == len(ja) - 4
    assert not h.uses_chars(np.frombuffer("hello world".encode("utf-32-le"), np.uint32), None)


def test_signature_equals_datasketch_affine32_update_batch():
    for num_perm, seed in ((64, 3), (128, 1), (7, 12345)):
        a, b = affine32_permutations(num_perm, seed)
        assert np.array_equal(
            np.array([a, b]), MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME).permutations
        )
    h = MinHasher(num_perm=64, seed=3)
    hashes = h.shingle_hashes(" ".join(words(300)))
    reference = MinHash(num_perm=64, seed=3, scheme=SCHEME, hashfunc=lambda x: x)
    reference.update_batch([int(x) for x in hashes])
    assert np.array_equal(h.hashvalues(hashes), reference.hashvalues)
    # Blocks: a document longer than one block gives the same result as one big batch.
    big = np.random.default_rng(0).integers(0, 2**32, 20000, dtype=np.uint64).astype(np.uint32)
    ref_big = MinHash(num_perm=64, seed=3, scheme=SCHEME, hashfunc=lambda x: x)
    ref_big.update_batch([int(x) for x in big])
    assert np.array_equal(h.hashvalues(big), ref_big.hashvalues)


def test_signature_estimates_jaccard():
    h = MinHasher(num_perm=128)
    base = words(600)
    for keep in (1.0, 0.9, 0.6, 0.3):
        other = base[: int(len(base) * keep)] + words(int(len(base) * (1 - keep)))
        a, b = " ".join(base), " ".join(other)
        true = shingle_jaccard(h, a, b)
        est = h.signature(a).jaccard(h.signature(b))
        assert abs(est - true) < 0.12, (keep, true, est)
    assert (
        MinHasher(seed=1).signature("a b c d e f").jaccard(MinHasher(seed=1).signature("a b c d e f")) == 1.0
    )


def test_banding_math_and_keys():
    assert candidate_probability(1.0, 17, 7) == 1.0
    assert candidate_probability(0.8, 1, 1) == pytest.approx(0.8)
    assert candidate_probability(0.5, 2, 2) == pytest.approx(1 - 0.75**2)
    bands, rows = choose_bands(0.8, 128)
    assert bands * rows <= 128 and candidate_probability(0.8, bands, rows) >= 0.98
    assert candidate_probability(0.4, bands, rows) < 0.05
    values = np.arange(128, dtype=np.uint32)
    keys = band_keys(values, bands, rows)
    assert len(keys) == bands and len(set(keys)) == bands and all(len(k) == 8 for k in keys)
    changed = values.copy()
    changed[0] += 1  # only band 0 changes
    assert band_keys(changed, bands, rows)[1:] == keys[1:] and band_keys(changed, bands, rows)[0] != keys[0]
    # The vectorised form (used for whole batches and for earlier runs' indexes) gives the same keys.
    many = np.random.default_rng(0).integers(0, 2**32, size=(50, 128), dtype=np.uint32)
    matrix = band_key_matrix(many, bands, rows)
    assert matrix.shape == (50, bands)
    assert all(key_bytes(matrix[i]) == b"".join(band_keys(many[i], bands, rows)) for i in range(50))
    assert len(np.unique(matrix)) == matrix.size
    with pytest.raises(ValueError):
        MinHashDedupStage(MinHashDedupParams(bands=20, rows=10))


def test_star_steps_and_residual_union_find():
    assert sorted(large_star(2, [1, 3, 4])) == [(3, 1), (4, 1)]
    assert sorted(small_star(5, [3, 4])) == [(4, 3), (5, 3)]
    assert resolve_labels([(5, 3), (3, 9), (7, 8)]) == {3: 3, 5: 3, 9: 3, 7: 7, 8: 7}


# ---------------------------------------------------------------- Beam


def run_stage(stage, docs, kept_ids, rejected, keep_rejected=True, options=None) -> dict[str, int]:
    """Runs ``stage`` over ``docs`` and asserts (with assert_that, so it also holds on
    multi-process runners) the kept ids and the rejected ``(id, duplicate_of, reason)``.
    Returns the stats counters."""
    p = BeamTestPipeline(options=options) if options is not None else BeamTestPipeline()
    kept, rej = stage.expand(p | beam.Create(docs), keep_rejected, RunContext(tempfile.mkdtemp(), "test"))
    assert_that(kept | "kept_ids" >> beam.Map(lambda d: d["id"]), equal_to(kept_ids), label="check_kept")
    assert_that(
        rej | "rejected_ids" >> beam.Map(lambda d: (d["id"], d["duplicate_of"], d["reason"])),
        equal_to(rejected),
        label="check_rejected",
    )
    result = p.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_namespace("stats"))["counters"]
    return {c.key.metric.name: c.committed for c in counters}


def assert_balanced(counters: dict[str, int], name: str) -> None:
    dropped = sum(n for k, n in counters.items() if k.startswith(f"{name}.drop."))
    assert counters[f"{name}.in"] == counters.get(f"{name}.out", 0) + dropped


@pytest.mark.slow
def test_exact_dedup_keeps_best_per_folded_text(tmp_path):
    docs = [
        {"id": "a", "text": "Hello, World!", "quality_score": 0.2},
        {"id": "b", "text": "hello world", "quality_score": 0.9},
        {"id": "c", "text": "HELLO   world."},
        {"id": "d", "text": "你好，世界。"},
        {"id": "e", "text": "你好 世界"},
        {"id": "f", "text": "something else entirely"},
    ]
    expected_rejected = [
        ("a", "b", "exact_duplicate"),
        ("c", "b", "exact_duplicate"),
        ("e", "d", "exact_duplicate"),
    ]
    counters = run_stage(ExactDedupStage(), [dict(d) for d in docs], ["b", "d", "f"], expected_rejected)
    assert counters["exact_dedup.in"] == 6 and counters["exact_dedup.drop.exact_duplicate"] == 3
    assert_balanced(counters, "exact_dedup")
    # Spilling the text to files instead of joining by CoGroupByKey gives the same routing.
    spill = ExactDedupStage(ExactDedupParams(spill_dir=str(tmp_path / "spill")))
    counters = run_stage(spill, [dict(d) for d in docs], ["b", "d", "f"], expected_rejected)
    assert_balanced(counters, "exact_dedup")
    assert list((tmp_path / "spill").iterdir()) == []  # spill files removed after re-reading
    # Without keep_rejected nothing is emitted on the rejected side, but drops are still counted.
    counters = run_stage(ExactDedupStage(), [dict(d) for d in docs], ["b", "d", "f"], [], keep_rejected=False)
    assert counters["exact_dedup.drop.exact_duplicate"] == 3


def chain_docs() -> list[dict]:
    """A~B and B~C are near-duplicates (Jaccard >= 0.8), A and C are not: one cluster."""
    rng = random.Random(11)
    a = words(400, rng)
    b = words(25, rng) + a[25:]
    c = b[:375] + words(25, rng)
    h = MinHasher()
    ta, tb, tc = (" ".join(x) for x in (a, b, c))
    assert shingle_jaccard(h, ta, tb) > 0.8 and shingle_jaccard(h, tb, tc) > 0.8
    assert shingle_jaccard(h, ta, tc) < 0.8
    return [
        {"id": "A", "text": ta, "quality_score": 0.1},
        {"id": "B", "text": tb, "quality_score": 0.2},
        {"id": "C", "text": tc, "quality_score": 0.3},
        {"id": "D", "text": " ".join(words(400, rng))},
        {"id": "E", "text": " ".join(words(400, rng))},
    ]


def zh_docs() -> list[dict]:
    rng = random.Random(5)
    chars = [chr(0x4E00 + i) for i in range(2000)]
    base = "".join(rng.choice(chars) for _ in range(600))
    edited = base[:300] + "，新的内容。" + base[305:] + "版权所有"
    return [
        {"id": "z1", "text": base, "lang": "zh"},
        {"id": "z2", "text": edited, "lang": "zh"},
        {"id": "z3", "text": "".join(rng.choice(chars) for _ in range(600)), "lang": "zh"},
    ]


CHAIN_KEPT = ["C", "D", "E", "z1", "z3"]
CHAIN_REJECTED = [("A", "C", "near_duplicate"), ("B", "C", "near_duplicate"), ("z2", "z1", "near_duplicate")]


@pytest.mark.slow
def test_minhash_chain_is_one_cluster_with_one_survivor():
    counters = run_stage(MinHashDedupStage(), chain_docs() + zh_docs(), CHAIN_KEPT, CHAIN_REJECTED)
    assert counters["minhash_dedup.in"] == 8 and counters["minhash_dedup.drop.near_duplicate"] == 3
    assert_balanced(counters, "minhash_dedup")


@pytest.mark.slow
def test_minhash_survivor_policy_and_spill(tmp_path):
    params = MinHashDedupParams(survivor="smallest_id", spill_dir=str(tmp_path))
    expected = [("B", "A", "near_duplicate"), ("C", "A", "near_duplicate"), ("z2", "z1", "near_duplicate")]
    run_stage(MinHashDedupStage(params), chain_docs() + zh_docs(), ["A", "D", "E", "z1", "z3"], expected)


@pytest.mark.slow
def test_minhash_without_verification_and_without_star_rounds():
    # cc_rounds=0 leaves the whole clustering to the label check + residual resolution.
    params = MinHashDedupParams(verify=False, cc_rounds=0)
    run_stage(MinHashDedupStage(params), chain_docs() + zh_docs(), CHAIN_KEPT, CHAIN_REJECTED)


@pytest.mark.slow
@pytest.mark.parametrize("rounds", [0, 1, 3])
def test_connected_components_long_chain_any_rounds(rounds):
    nodes = [f"n{i:03d}" for i in range(40)]
    rng = random.Random(rounds)
    order = nodes[:]
    rng.shuffle(order)  # a path visiting the nodes in random order: long diameter
    edges = list(itertools.pairwise(order)) + [("x1", "x2"), ("x3", "x2")]
    expected = [(n, "n000") for n in nodes[1:]] + [("x2", "x1"), ("x3", "x1")]
    with BeamTestPipeline() as p:
        roots = connected_components(p | beam.Create(edges), "cc", rounds)
        assert_that(roots, equal_to(expected))


@pytest.mark.slow
def test_minhash_same_result_with_two_worker_processes():
    options = PipelineOptions(
        runner="DirectRunner", direct_num_workers=2, direct_running_mode="multi_processing"
    )
    run_stage(MinHashDedupStage(), chain_docs() + zh_docs(), CHAIN_KEPT, CHAIN_REJECTED, options=options)


def test_stages_are_registered():
    assert load_step_class("exact_dedup") is ExactDedupStage
    assert load_step_class("minhash_dedup") is MinHashDedupStage


def test_join_mode_auto_spills_only_where_shuffles_live_in_memory(tmp_path):
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.graph import runs_shuffles_in_memory
    from stages.dedup_common import spill_location

    local, cluster = RunContext(str(tmp_path), "r", in_memory_shuffle=True), RunContext(str(tmp_path), "r")
    assert spill_location("auto", None, local, "exact_dedup") == str(
        tmp_path / ".tmp-r" / "work" / "exact_dedup-spill"
    )
    assert spill_location("auto", None, cluster, "exact_dedup") is None
    assert spill_location("auto", "/s", cluster, "exact_dedup") == "/s"  # an explicit folder means spill
    assert spill_location("shuffle", "/s", local, "exact_dedup") is None
    assert spill_location("spill", None, cluster, "m") == str(tmp_path / ".tmp-r" / "work" / "m-spill")
    with pytest.raises(ValueError, match="join: must be one of"):
        spill_location("disk", None, local, "m")
    assert runs_shuffles_in_memory(PipelineOptions([]))
    assert runs_shuffles_in_memory(PipelineOptions(["--runner=DirectRunner"]))
    assert not runs_shuffles_in_memory(PipelineOptions(["--runner=DataflowRunner"]))
    assert not runs_shuffles_in_memory(PipelineOptions(["--runner=PortableRunner"]))
