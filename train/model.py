"""Model construction: load a local HF checkpoint or build a tiny LLaMA from the config, grow the vocabulary
to the tokenizer's with informed initial rows, and optionally wrap in LoRA (peft)."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from train.config import TrainConfig
from train.tokenizer import TokenizerError, load_tokenizer, new_token_pieces

log = logging.getLogger(__name__)


def build_model(
    cfg: TrainConfig, model_dir: Path | None, vocab_size: int, bos_id: int, eos_id: int
) -> nn.Module:
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    attn = cfg.train.attn_implementation
    if model_dir is not None:
        # A missing local dir would otherwise be taken for a hub repo id and fetched from the network.
        if not (model_dir / "config.json").is_file():
            raise FileNotFoundError(f"{model_dir}: not a Hugging Face checkpoint directory (no config.json)")
        return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation=attn)
    m = cfg.model
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=m.hidden_size,
        intermediate_size=m.intermediate_size,
        num_hidden_layers=m.num_hidden_layers,
        num_attention_heads=m.num_attention_heads,
        num_key_value_heads=m.num_key_value_heads,
        max_position_embeddings=m.max_position_embeddings,
        rope_theta=m.rope_theta,
        rms_norm_eps=m.rms_norm_eps,
        tie_word_embeddings=m.tie_word_embeddings,
        initializer_range=m.initializer_range,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        pad_token_id=None,
        attn_implementation=attn,
    )
    torch.manual_seed(cfg.seed)  # the same seed builds the same weights, which --resume relies on
    return LlamaForCausalLM(config)


def new_token_sources(
    tokenizer: str | Path, base_tokenizer: str | Path, old_vocab: int, new_vocab: int
) -> list[list[int]]:
    """For each new id in ``[old_vocab, new_vocab)``, the base ids its token decomposes into ([] = none)."""
    new, base = load_tokenizer(tokenizer), load_tokenizer(base_tokenizer)
    mismatched = sum(new.token(i) != base.token(i) for i in range(min(old_vocab, base.vocab_size)))
    if mismatched:
        log.warning(
            "%d of the first %d tokens differ between the tokenizer and the base tokenizer: "
            "the tokenizer does not extend the model's",
            mismatched,
            old_vocab,
        )
    return [[j for j in new_token_pieces(new, base, i) if j < old_vocab] for i in range(old_vocab, new_vocab)]


@torch.no_grad()
def resize_vocab(
    model: nn.Module,
    new_vocab: int,
    init: str,
    tokenizer: str | Path | None = None,
    base_tokenizer: str | Path | None = None,
) -> dict[str, int]:
    """Grow input embeddings and LM head to ``new_vocab`` rows. New rows are the mean of the base rows of
    the pieces each new token decomposes into (``init='decompose'``), else the mean of all base rows."""
    old_vocab = model.get_input_embeddings().weight.shape[0]
    if new_vocab <= old_vocab:
        return {"old_vocab": old_vocab, "new_vocab": old_vocab, "decomposed": 0, "mean": 0}
    sources: list[list[int]] = [[] for _ in range(new_vocab - old_vocab)]
    if init in ("decompose", "decompose_input"):
        if base_tokenizer is None or tokenizer is None:
            raise TokenizerError(
                "decompose init needs the base tokenizer "
                "(config base_tokenizer, or MODEL/tokenizer.model or MODEL/tokenizer.json)"
            )
        sources = new_token_sources(tokenizer, base_tokenizer, old_vocab, new_vocab)
    tied = model.get_output_embeddings() is None or (
        model.get_output_embeddings().weight is model.get_input_embeddings().weight
    )
    model.resize_token_embeddings(new_vocab, mean_resizing=False)
    matrices = [model.get_input_embeddings().weight]
    if not tied:
        matrices.append(model.get_output_embeddings().weight)
    for m, weight in enumerate(matrices):
        mean = weight[:old_vocab].mean(dim=0)
        # decompose_input: LM-head rows stay at the mean. A head row averaged from its pieces gives the new
        # token roughly its pieces' logits, i.e. far too much probability for a multi-piece string.
        from_pieces = init == "decompose" or (init == "decompose_input" and m == 0)
        for k, src in enumerate(sources):
            weight[old_vocab + k] = weight[src].mean(dim=0) if src and from_pieces else mean
    model.config.vocab_size = new_vocab
    decomposed = sum(1 for s in sources if s) if init != "mean" else 0
    return {
        "old_vocab": old_vocab,
        "new_vocab": new_vocab,
        "decomposed": decomposed,
        "mean": len(sources) - decomposed,
    }


def default_base_tokenizer(cfg: TrainConfig, model_dir: Path | None) -> Path | None:
    """config ``base_tokenizer``, else the tokenizer saved with the --model checkpoint (if any)."""
    if cfg.base_tokenizer:
        return Path(load_tokenizer(cfg.base_tokenizer).path)
    if model_dir is not None:
        for name in ("tokenizer.model", "tokenizer.json"):
            if (model_dir / name).is_file():
                return model_dir / name
    return None


def wrap_lora(model: nn.Module, cfg: TrainConfig) -> nn.Module:
    from peft import LoraConfig, get_peft_model

    lc = cfg.lora
    peft_config = LoraConfig(
        r=lc.r,
        lora_alpha=lc.alpha,
        lora_dropout=lc.dropout,
        target_modules=list(lc.targets),
        modules_to_save=list(lc.modules_to_save) or None,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, peft_config)


def is_embedding_param(name: str) -> bool:
    return "embed_tokens" in name or "lm_head" in name


def trainable_names(model: nn.Module, mode: str) -> list[str]:
    """Parameters this run may train: everything (full) or LoRA weights plus peft's saved module copies."""
    names = []
    for name, _ in model.named_parameters():
        if mode == "full" or "lora_" in name or "modules_to_save" in name:
            names.append(name)
    return names


def set_stage(model: nn.Module, names: list[str], embed_only: bool) -> None:
    """Freeze everything except ``names``; in the embeddings-only stage also freeze non-embedding ones."""
    allowed = set(names)
    for name, p in model.named_parameters():
        p.requires_grad_(name in allowed and (not embed_only or is_embedding_param(name)))
