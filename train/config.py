"""Trainer configuration: typed dataclasses, loaded from YAML with ``yaml.safe_load`` and validated in one
place (pipeline.config.build_params, shared with the pipeline). Any problem (unknown key, wrong type, bad
choice) raises ``ConfigError`` whose message is one line naming the key; the CLI turns it into exit code 2."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from pipeline.config import ConfigError, apply_set, build_params, load_yaml

__all__ = ["ConfigError", "TrainConfig", "load_config", "to_dict", "validate"]


@dataclasses.dataclass
class ModelConfig:
    """Architecture of a model built from scratch (used only when ``--model`` is not given)."""

    hidden_size: int = 64
    intermediate_size: int = 172
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 4
    max_position_embeddings: int = 2048
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    tie_word_embeddings: bool = False
    initializer_range: float = 0.02


@dataclasses.dataclass
class DataConfig:
    # Token folders to blend, each "NAME=DIR:WEIGHT" (or "DIR", "DIR:WEIGHT"), e.g. [zh=out_zh:0.6, en=out_en:0.4];
    # --data on the command line replaces this list.
    sources: list[str] = dataclasses.field(default_factory=list)
    seq_len: int = 512
    # Reset position_ids at every document start so attention never crosses documents (HF builds the
    # block-diagonal causal mask from them); the cross-document next-token target is ignored too.
    doc_mask: bool = True
    shuffle: bool = True
    # Used only when DATA/tokens/holdout/ is absent: this fraction of the training blocks is held out.
    holdout_fraction: float = 0.02


@dataclasses.dataclass
class LoraConfig:
    r: int = 8
    alpha: int = 32
    dropout: float = 0.05
    targets: list[str] = dataclasses.field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    modules_to_save: list[str] = dataclasses.field(default_factory=lambda: ["embed_tokens", "lm_head"])


@dataclasses.dataclass
class OptimConfig:
    mode: str = "full"  # full | lora
    micro_batch_size: int = 8
    grad_accum: int = 1
    max_steps: int | None = None  # None: derived from `epochs`
    epochs: float = 1.0
    # Ends the run early at this step (checkpoint written, no final model), as a pre-emption would; the
    # schedule still follows max_steps, so a later --resume continues the same curve.
    stop_at_step: int | None = None
    lr: float = 2e-4
    min_lr_ratio: float = 0.1
    warmup_ratio: float = 0.05
    warmup_steps: int | None = None  # overrides warmup_ratio
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0
    # Two-stage recipe: the first N steps train only the input embeddings and LM head.
    embed_only_steps: int = 0
    gradient_checkpointing: bool = False
    precision: str = "auto"  # auto (bf16 autocast on GPU, fp32 on CPU) | fp32 | bf16
    attn_implementation: str = "sdpa"  # sdpa | eager | flash_attention_2 ...


@dataclasses.dataclass
class LogConfig:
    log_every: int = 10
    eval_every: int = 100  # 0: evaluate only at the end
    eval_batches: int = 20
    save_every: int = 500  # 0: checkpoint only at the end
    keep_checkpoints: int = 2


@dataclasses.dataclass
class TrainConfig:
    seed: int = 1234
    # How new token rows are initialised when the tokenizer is larger than the model: `decompose` (input
    # embedding and LM-head row = mean of the base rows of the pieces the new token splits into under the
    # base tokenizer), `decompose_input` (input rows so, LM-head rows = mean of all base rows) or `mean`.
    embed_init: str = "decompose_input"
    # The tokenizer the --model checkpoint was trained with; default: MODEL/tokenizer.model.
    base_tokenizer: str | None = None
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    train: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    lora: LoraConfig = dataclasses.field(default_factory=LoraConfig)
    log: LogConfig = dataclasses.field(default_factory=LogConfig)


CHOICES: dict[str, tuple[str, ...]] = {
    "embed_init": ("decompose", "decompose_input", "mean"),
    "train.mode": ("full", "lora"),
    "train.precision": ("auto", "fp32", "bf16"),
}
POSITIVE: tuple[str, ...] = (
    "data.seq_len",
    "train.micro_batch_size",
    "train.grad_accum",
    "train.max_steps",
    "train.epochs",
    "train.lr",
    "log.log_every",
    "log.eval_batches",
    "lora.r",
    "model.hidden_size",
    "model.num_hidden_layers",
    "model.num_attention_heads",
    "model.num_key_value_heads",
)


def _get(cfg: TrainConfig, dotted: str) -> Any:
    obj: Any = cfg
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def validate(cfg: TrainConfig) -> TrainConfig:
    for key, allowed in CHOICES.items():
        if _get(cfg, key) not in allowed:
            raise ConfigError(
                f"config key '{key}': must be one of {', '.join(allowed)}, got {_get(cfg, key)!r}"
            )
    for key in POSITIVE:
        value = _get(cfg, key)
        if value is not None and value <= 0:
            raise ConfigError(f"config key '{key}': must be > 0, got {value!r}")
    if not 0.0 <= cfg.data.holdout_fraction < 1.0:
        raise ConfigError(
            f"config key 'data.holdout_fraction': must be in [0, 1), got {cfg.data.holdout_fraction!r}"
        )
    embeddings_trainable = cfg.train.mode == "full" or any(
        m in ("embed_tokens", "lm_head") for m in cfg.lora.modules_to_save
    )
    if cfg.train.embed_only_steps > 0 and not embeddings_trainable:
        raise ConfigError(
            "config key 'train.embed_only_steps': needs lora.modules_to_save to include embed_tokens or lm_head"
        )
    if cfg.model.num_attention_heads % cfg.model.num_key_value_heads:
        raise ConfigError("config key 'model.num_key_value_heads': must divide model.num_attention_heads")
    if cfg.model.hidden_size % cfg.model.num_attention_heads:
        raise ConfigError("config key 'model.hidden_size': must be a multiple of model.num_attention_heads")
    return cfg


def load_config(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:
    """YAML file <- ``--set key=value`` overrides, validated by the same code as the pipeline's config."""
    data: dict[str, Any] = load_yaml(path) if path is not None else {}
    for item in overrides:
        apply_set(data, item)
    return validate(build_params(TrainConfig, data, ""))


def to_dict(cfg: TrainConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)
