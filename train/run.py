"""Command line: ``python -m train.run --config C --data OUT [NAME=OUT:WEIGHT ...] --tokenizer TOK --output CKPT
[--model HF_DIR] [--max-steps N] [--resume | --overwrite] [--set key=value ...]``. Under ``torchrun`` the same
command trains with DDP."""

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
    p.add_argument(
        "--data",
        nargs="+",
        metavar="[NAME=]DIR[:WEIGHT]",
        help="pipeline output dir(s) holding tokens/train/; several are blended by weight "
        "(e.g. zh=out_zh:0.6 en=out_en:0.4); default: data.sources of the config",
    )
    p.add_argument("--tokenizer", required=True, type=Path, help="tokenizer.model or a tokenizer directory")
    p.add_argument("--output", required=True, type=Path, help="checkpoint directory")
    p.add_argument("--model", type=Path, help="local Hugging Face checkpoint to continue pretraining")
    p.add_argument("--max-steps", type=int, help="overrides train.max_steps")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --output")
    p.add_argument(
        "--overwrite", action="store_true", help="start over: delete an earlier run's checkpoints and metrics"
    )
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
    from train.data import DataError, parse_sources
    from train.tokenizer import TokenizerError
    from train.trainer import Trainer, earlier_run

    if args.resume and args.overwrite:
        print("error: --resume and --overwrite: give one of them", file=sys.stderr)
        return 2
    found = earlier_run(args.output) if not (args.resume or args.overwrite) else []
    if found:
        print(
            f"error: --output {args.output} holds an earlier run ({', '.join(found)}): "
            "give --resume to continue it or --overwrite to start over",
            file=sys.stderr,
        )
        return 2
    try:
        specs = args.data or cfg.data.sources
        if not specs:
            raise DataError("--data: no token folder given (nor data.sources in the config)")
        sources = parse_sources(specs, "--data" if args.data else "config key 'data.sources':")
        trainer = Trainer(cfg, sources, args.tokenizer, args.output, args.model, args.resume, args.overwrite)
    except (DataError, TokenizerError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = trainer.fit()
    if trainer.dist.main:
        print(json.dumps({k: summary[k] for k in ("step", "finished", "first_loss", "last", "resize")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
