"""The training loop: AdamW + warmup/cosine, gradient accumulation and clipping, bf16 autocast on GPU,
DDP under torchrun, periodic evaluation, metrics.jsonl, exact resume from checkpoints."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from train.config import TrainConfig, to_dict
from train.data import IGNORE_INDEX, BlendOrder, DataError, Source, blend_batch, open_sources
from train.model import (
    build_model,
    default_base_tokenizer,
    resize_vocab,
    set_stage,
    trainable_names,
    wrap_lora,
)
from train.tokenizer import load_tokenizer, save_tokenizer_files

log = logging.getLogger(__name__)
STEP_DIR_RE = re.compile(r"^step-(\d+)$")


class Dist:
    """Rank/world/device for this process; process group initialised when WORLD_SIZE > 1 (torchrun)."""

    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if torch.cuda.is_available():
            self.device = torch.device("cuda", local_rank)
            torch.cuda.set_device(self.device)
        else:
            self.device = torch.device("cpu")
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def sum(self, values: list[float]) -> list[float]:
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()


def lr_lambda(warmup: int, total: int, min_ratio: float):
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return f


def make_optimizer(model: nn.Module, names: list[str], cfg: TrainConfig) -> torch.optim.Optimizer:
    params = dict(model.named_parameters())
    # Norm gains and biases (1-D) are not decayed, as is usual for transformers.
    decay = [params[n] for n in names if params[n].ndim >= 2]
    no_decay = [params[n] for n in names if params[n].ndim < 2]
    t = cfg.train
    groups = [{"params": decay, "weight_decay": t.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    kwargs: dict[str, Any] = {"lr": t.lr, "betas": (t.beta1, t.beta2), "eps": t.eps}
    # The fused kernel (one launch for all parameters) exists for CPU and CUDA in current torch.
    try:
        return torch.optim.AdamW([g for g in groups if g["params"]], fused=True, **kwargs)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW([g for g in groups if g["params"]], **kwargs)


def latest_checkpoint(out_dir: Path) -> Path | None:
    root = out_dir / "checkpoints"
    if not root.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := STEP_DIR_RE.match(p.name)) and p.is_dir()]
    return max(found)[1] if found else None


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# What a finished or interrupted run leaves in --output (removed by --overwrite).
RUN_FILES = ("metrics.jsonl", "config.json", "generation_config.json", "model.safetensors")
RUN_GLOBS = ("model-*.safetensors", "model.safetensors.index.json")


def earlier_run(output: Path) -> list[str]:
    """What in ``output`` shows an earlier training run there (empty: none)."""
    return [
        name for name in ("metrics.jsonl", "checkpoints", "model.safetensors") if (output / name).exists()
    ]


def remove_earlier_run(output: Path) -> None:
    """Delete what an earlier run wrote to ``output`` (nothing else in the folder)."""
    shutil.rmtree(output / "checkpoints", ignore_errors=True)
    for path in [output / n for n in RUN_FILES] + [p for g in RUN_GLOBS for p in output.glob(g)]:
        path.unlink(missing_ok=True)


class Trainer:
    def __init__(
        self,
        cfg: TrainConfig,
        data: Path | list[Source],
        tokenizer: Path,
        output: Path,
        model_dir: Path | None = None,
        resume: bool = False,
        overwrite: bool = False,
    ) -> None:
        self.cfg, self.output, self.tokenizer = cfg, output, tokenizer
        self.dist = Dist()
        t = cfg.train
        tok = load_tokenizer(tokenizer)
        self.vocab = tok.vocab_size
        if isinstance(data, (str, Path)):
            data = [Source(Path(data).name or "data", Path(data), 1.0)]
        self.sources = open_sources(data, cfg.data.seq_len, cfg.data.doc_mask, cfg.data.holdout_fraction)
        self._check_tokenizer(tok)
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        model = build_model(cfg, model_dir, self.vocab, tok.bos_id, tok.eos_id)
        model.config.use_cache = False  # a KV cache is useless in training and disables packed masking
        self.resize_info = resize_vocab(
            model, self.vocab, cfg.embed_init, tokenizer, default_base_tokenizer(cfg, model_dir)
        )
        grown = self.resize_info["new_vocab"] > self.resize_info["old_vocab"]
        if grown and t.mode == "lora" and not set(cfg.lora.modules_to_save) & {"embed_tokens", "lm_head"}:
            log.warning(
                "the vocabulary grew but LoRA trains neither embed_tokens nor lm_head: new rows stay as set"
            )
        if t.gradient_checkpointing:
            # Non-reentrant checkpointing needs no input grads, so it also works with frozen embeddings.
            kwargs = {"use_reentrant": False}
            if hasattr(model, "activation_checkpointing_enable"):  # the transformers 5.x name
                model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
            else:
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
        if t.mode == "lora":
            model = wrap_lora(model, cfg)
        self.model = model.to(self.dist.device)
        self.names = trainable_names(self.model, t.mode)
        self.embed_only = t.embed_only_steps > 0
        set_stage(self.model, self.names, self.embed_only)
        self.ddp_model = self._wrap()

        self.order = BlendOrder(
            [s.train.count for s in self.sources],
            [s.share for s in self.sources],
            cfg.seed,
            cfg.data.shuffle,
            self.dist.rank,
            self.dist.world,
        )
        self.examples_per_step = t.micro_batch_size * t.grad_accum * self.dist.world
        total_blocks = sum(s.train.count for s in self.sources)
        self.max_steps = t.max_steps or max(1, math.ceil(t.epochs * total_blocks / self.examples_per_step))
        warmup = t.warmup_steps if t.warmup_steps is not None else int(t.warmup_ratio * self.max_steps)
        self.optimizer = make_optimizer(self.model, self.names, cfg)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_lambda(max(1, warmup), self.max_steps, t.min_lr_ratio)
        )
        self.step = 0
        self.tokens_seen = 0
        if self.dist.device.type == "cuda" and t.precision in ("auto", "bf16"):
            self.autocast = lambda: torch.autocast("cuda", dtype=torch.bfloat16)
        elif t.precision == "bf16":
            self.autocast = lambda: torch.autocast("cpu", dtype=torch.bfloat16)
        else:
            self.autocast = contextlib.nullcontext
        self.resumed_from: Path | None = None
        if overwrite and not resume:
            if self.dist.main:
                remove_earlier_run(output)
            self.dist.barrier()
        if resume:
            ckpt = latest_checkpoint(output)
            if ckpt is None:
                log.warning("--resume: no checkpoint under %s/checkpoints, starting from step 0", output)
            else:
                self._load(ckpt)

    def _check_tokenizer(self, tok) -> None:
        for source in self.sources:
            if source.stream.vocab_size and source.stream.vocab_size > self.vocab:
                raise DataError(
                    f"{source.name}: shards were tokenised with a {source.stream.vocab_size}-token "
                    f"vocabulary, but --tokenizer has {self.vocab} tokens"
                )
        hashes = {s.tokenizer_sha256 for s in self.sources} - {None}
        if hashes and tok.sha256 not in hashes:
            log.warning(
                "the token folders' manifest names tokenizer sha256 %s, --tokenizer %s is %s: "
                "make sure they are the same tokenizer",
                next(iter(hashes))[:12],
                self.tokenizer,
                tok.sha256[:12],
            )

    def summary(self) -> dict[str, Any]:
        """What this run will do: model size, batch, steps, and per source what the steps consume."""
        seq = self.cfg.data.seq_len
        examples = self.max_steps * self.examples_per_step
        return {
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "trainable_parameters": sum(p.numel() for p in self.model.parameters() if p.requires_grad),
            "vocab_size": self.vocab,
            "world_size": self.dist.world,
            "effective_batch_sequences": self.examples_per_step,
            "tokens_per_step": self.examples_per_step * seq,
            "steps": self.max_steps,
            "start_step": self.step,
            "planned_tokens": examples * seq,
            "sources": [
                {
                    "name": s.name,
                    "train_tokens": s.train_tokens,
                    "heldout_tokens": s.eval.count * seq if s.eval is not None else 0,
                    "share": s.share,
                    # Passes over the source's training tokens that the planned steps imply.
                    "epochs": examples * s.share / s.train.count,
                }
                for s in self.sources
            ],
        }

    def log_summary(self) -> None:
        if not self.dist.main:
            return
        info = self.summary()
        log.info(
            "model: %.2fM parameters (%.2fM trainable), vocabulary %d",
            info["parameters"] / 1e6,
            info["trainable_parameters"] / 1e6,
            info["vocab_size"],
        )
        log.info(
            "batch: %d sequences x %d tokens = %d tokens per step (%d rank(s)); %d steps (from step %d), "
            "%d tokens planned",
            info["effective_batch_sequences"],
            self.cfg.data.seq_len,
            info["tokens_per_step"],
            info["world_size"],
            info["steps"],
            info["start_step"],
            info["planned_tokens"],
        )
        for src in info["sources"]:
            log.info(
                "source %s: %d training tokens (%d held out), %.1f%% of the blend, %.3g epochs",
                src["name"],
                src["train_tokens"],
                src["heldout_tokens"],
                100 * src["share"],
                src["epochs"],
            )

    def _wrap(self) -> nn.Module:
        if self.dist.world == 1:
            return self.model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.dist.device.index] if self.dist.device.type == "cuda" else None
        return DistributedDataParallel(self.model, device_ids=ids)

    # -- one optimizer step ---------------------------------------------------------------------------
    def _forward(self, batch: dict[str, torch.Tensor], num_items: torch.Tensor) -> torch.Tensor:
        batch = {k: v.to(self.dist.device, non_blocking=True) for k, v in batch.items()}
        with self.autocast():
            out = self.ddp_model(**batch, num_items_in_batch=num_items, use_cache=False)
        return out.loss

    def train_step(self) -> float:
        t = self.cfg.train
        micro = [blend_batch(self.sources, self.order.take(t.micro_batch_size)) for _ in range(t.grad_accum)]
        # Loss = sum over every target token of the whole step, on all ranks / their count (not a mean of
        # per-rank means: with document masking ranks have different counts). DDP averages gradients over
        # ranks, so each rank divides its sum by count / world.
        num_items = sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in micro)
        if self.dist.world > 1:
            num_items = self.dist.sum([num_items])[0] / self.dist.world
        num_items_t = torch.tensor(max(num_items, 1), device=self.dist.device)
        total = torch.zeros((), device=self.dist.device)
        for k, batch in enumerate(micro):
            sync = k == len(micro) - 1 or self.dist.world == 1
            ctx = contextlib.nullcontext() if sync else self.ddp_model.no_sync()
            with ctx:
                loss = self._forward(batch, num_items_t)
                loss.backward()
            total += loss.detach()
        if t.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(
                [p for p in self.model.parameters() if p.requires_grad], t.grad_clip
            )
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.tokens_seen += self.examples_per_step * self.cfg.data.seq_len
        return float(total)

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Held-out loss per source (sources without held-out blocks are left out)."""
        mbs = self.cfg.train.micro_batch_size
        self.model.eval()
        losses: dict[str, float] = {}
        for source in self.sources:
            if source.eval is None:
                continue
            # The first eval_batches x micro_batch x world held-out blocks, dealt round-robin to the ranks.
            n_blocks = min(source.eval.count, self.cfg.log.eval_batches * mbs * self.dist.world)
            mine = list(range(self.dist.rank, n_blocks, self.dist.world))
            loss_sum, count = 0.0, 0.0
            for b in range(0, len(mine), mbs):
                batch = source.eval.batch(mine[b : b + mbs])
                n = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
                # num_items_in_batch=1 makes HF return the summed token loss.
                loss_sum += float(self._forward(batch, torch.tensor(1, device=self.dist.device)))
                count += n
            loss_sum, count = self.dist.sum([loss_sum, count])
            losses[source.name] = loss_sum / max(count, 1.0)
        self.model.train()
        return losses

    def eval_record(self) -> dict[str, float]:
        """``eval_loss`` (one source: its loss; several: their losses weighted by blend share) and
        ``eval_ppl``, plus ``eval_loss/<source>`` when there are several sources."""
        losses = self.evaluate()
        if not losses:
            return {}
        shares = {s.name: s.share for s in self.sources if s.name in losses}
        overall = sum(losses[n] * shares[n] for n in losses) / sum(shares.values())
        record = {"eval_loss": overall, "eval_ppl": math.exp(min(overall, 50.0))}
        if len(self.sources) > 1:
            record.update({f"eval_loss/{name}": loss for name, loss in losses.items()})
        return record

    # -- checkpoints ----------------------------------------------------------------------------------
    def _model_state(self) -> dict[str, torch.Tensor]:
        state = self.model.state_dict()
        if self.cfg.train.mode == "full":
            return state
        keep = set(self.names)
        # Frozen base weights are rebuilt from --model (or the seed) on resume; save only what trains.
        return {k: v for k, v in state.items() if k in keep}

    def save_checkpoint(self) -> Path:
        root = self.output / "checkpoints"
        final = root / f"step-{self.step}"
        tmp = root / f"step-{self.step}.tmp"
        if self.dist.main:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        self.dist.barrier()
        torch.save(rng_state(), tmp / f"rng-rank{self.dist.rank}.pt")
        if self.dist.main:
            torch.save(self._model_state(), tmp / "model.pt")
            torch.save(self.optimizer.state_dict(), tmp / "optimizer.pt")
            torch.save(self.scheduler.state_dict(), tmp / "scheduler.pt")
            state = {
                "step": self.step,
                "max_steps": self.max_steps,
                "tokens_seen": self.tokens_seen,
                "data": self.order.state_dict(),
                "config": to_dict(self.cfg),
            }
            (tmp / "trainer_state.json").write_text(json.dumps(state, indent=2) + "\n")
        self.dist.barrier()
        if self.dist.main:
            shutil.rmtree(final, ignore_errors=True)
            tmp.rename(final)  # atomic: a checkpoint directory without the .tmp suffix is complete
            done = sorted(
                ((int(m.group(1)), p) for p in root.iterdir() if (m := STEP_DIR_RE.match(p.name))),
            )
            for _, old in done[: max(0, len(done) - self.cfg.log.keep_checkpoints)]:
                shutil.rmtree(old, ignore_errors=True)
        self.dist.barrier()
        return final

    def _load(self, ckpt: Path) -> None:
        state = json.loads((ckpt / "trainer_state.json").read_text())
        model_state = torch.load(ckpt / "model.pt", map_location=self.dist.device, weights_only=True)
        missing, unexpected = self.model.load_state_dict(model_state, strict=False)
        if unexpected or (self.cfg.train.mode == "full" and missing):
            raise RuntimeError(
                f"{ckpt}: checkpoint does not match the model ({len(missing)} missing, "
                f"{len(unexpected)} unexpected keys, e.g. {(unexpected or missing)[:3]})"
            )
        self.step = state["step"]
        self.tokens_seen = state["tokens_seen"]
        self.embed_only = self.step < self.cfg.train.embed_only_steps
        set_stage(self.model, self.names, self.embed_only)
        self.ddp_model = self._wrap()
        self.optimizer.load_state_dict(
            torch.load(ckpt / "optimizer.pt", map_location=self.dist.device, weights_only=True)
        )
        self.scheduler.load_state_dict(torch.load(ckpt / "scheduler.pt", weights_only=True))
        self.order.load_state_dict(state["data"])
        rng_file = ckpt / f"rng-rank{self.dist.rank}.pt"
        if rng_file.exists():
            # numpy/python RNG states are plain objects, not tensors; this file is our own.
            set_rng_state(torch.load(rng_file, weights_only=False))
        self.resumed_from = ckpt
        log.info("resumed from %s at step %d", ckpt, self.step)

    def save_final(self) -> None:
        if not self.dist.main:
            return
        model = self.model
        if self.cfg.train.mode == "lora":
            model = model.merge_and_unload()
        model.config.use_cache = True
        model.save_pretrained(self.output, safe_serialization=True)
        save_tokenizer_files(self.tokenizer, self.output)

    # -- the loop -------------------------------------------------------------------------------------
    def _metrics_file(self) -> Path:
        path = self.output / "metrics.jsonl"
        if self.dist.main and path.exists():
            # After a resume, lines past the checkpoint step belong to the abandoned run: drop them.
            lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
            keep = [ln for ln in lines if json.loads(ln).get("step", 0) <= self.step]
            path.write_text("".join(ln + "\n" for ln in keep))
        return path

    def fit(self) -> dict[str, Any]:
        t, lg = self.cfg.train, self.cfg.log
        self.output.mkdir(parents=True, exist_ok=True)
        self.log_summary()
        metrics_path = self._metrics_file()
        stop_at = min(self.max_steps, t.stop_at_step) if t.stop_at_step else self.max_steps
        bar = None
        if self.dist.main and sys.stderr.isatty():
            from tqdm import tqdm

            bar = tqdm(total=self.max_steps, initial=self.step, unit="step", dynamic_ncols=True)
        self.model.train()
        first_loss: float | None = None
        window_loss, window_steps, window_tokens, window_time = 0.0, 0, 0, 0.0
        last: dict[str, Any] = {}
        with open(metrics_path, "a", encoding="utf-8") if self.dist.main else contextlib.nullcontext() as mf:
            while self.step < stop_at:
                embed_only = self.step < t.embed_only_steps
                if embed_only != self.embed_only:
                    self.embed_only = embed_only
                    set_stage(self.model, self.names, embed_only)
                    self.ddp_model = self._wrap()  # DDP fixes its parameter set at construction
                tokens_before = self.tokens_seen
                started = time.perf_counter()
                loss = self.train_step()
                if self.dist.device.type == "cuda":
                    torch.cuda.synchronize()
                window_time += time.perf_counter() - started
                window_tokens += self.tokens_seen - tokens_before
                window_loss += loss
                window_steps += 1
                if first_loss is None:
                    first_loss = loss
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.4f}")
                is_last = self.step == stop_at
                do_eval = (lg.eval_every and self.step % lg.eval_every == 0) or self.step == self.max_steps
                if self.step % lg.log_every == 0 or do_eval or is_last:
                    # Each rank's loss covers its own blocks; the logged loss is their mean.
                    mean_loss = self.dist.sum([window_loss])[0] / self.dist.world / window_steps
                    record: dict[str, Any] = {
                        "step": self.step,
                        "loss": mean_loss,
                        "lr": self.scheduler.get_last_lr()[0],
                        "tokens_per_s": window_tokens / window_time if window_time else 0.0,
                        "tokens": self.tokens_seen,
                        "epoch": self.order.position / sum(self.order.counts),
                    }
                    if len(self.sources) > 1:
                        epochs = self.order.epochs()
                        record.update(
                            {f"epoch/{s.name}": e for s, e in zip(self.sources, epochs, strict=True)}
                        )
                    if do_eval:
                        record.update(self.eval_record())
                    if mf is not None:
                        mf.write(json.dumps(record) + "\n")
                        mf.flush()
                        if bar is None:
                            log.info("%s", json.dumps(record))
                    last = record
                    window_loss, window_steps, window_tokens, window_time = 0.0, 0, 0, 0.0
                if (lg.save_every and self.step % lg.save_every == 0) or is_last:
                    self.save_checkpoint()
        if bar is not None:
            bar.close()
        finished = self.step >= self.max_steps
        if finished:
            self.save_final()
        self.dist.barrier()
        return {
            "step": self.step,
            "finished": finished,
            "first_loss": first_loss,
            "last": last,
            "resize": self.resize_info,
        }
