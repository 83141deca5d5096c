"""Command line: ``python -m train.run --config C --data OUT --tokenizer TOK --output CKPT [--model HF_DIR]
[--max-steps N] [--resume] [--set key=value ...]``. Under ``torchrun`` the same command trains with DDP."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from train.config import ConfigError, load_config


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m train.run", description=__doc__)
    p.add_argument("--config", help="YAML config (configs/train_tiny.yaml, configs/train_cpt.yaml)")
    p.add_argument("--data", required=True, type=Path, help="pipeline output dir holding tokens/train/")
    p.add_argument("--tokenizer", required=True, type=Path, help="tokenizer.model or a tokenizer directory")
    p.add_argument("--output", required=True, type=Path, help="checkpoint directory")
    p.add_argument("--model", type=Path, help="local Hugging Face checkpoint to continue pretraining")
    p.add_argument("--max-steps", type=int, help="overrides train.max_steps")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --output")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set train.lr=1e-4 --set lora.r=16",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides = list(args.overrides)
    if args.max_steps is not None:
        overrides.append(f"train.max_steps={args.max_steps}")
    try:
        cfg = load_config(args.config, overrides)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    # Heavy imports only after the config is known to be valid, so config errors are instant.
    from train.data import DataError
    from train.tokenizer import TokenizerError
    from train.trainer import Trainer

    try:
        trainer = Trainer(cfg, args.data, args.tokenizer, args.output, args.model, args.resume)
    except (DataError, TokenizerError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = trainer.fit()
    if trainer.dist.main:
        print(json.dumps({k: summary[k] for k in ("step", "finished", "first_loss", "last", "resize")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
