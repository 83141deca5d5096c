"""fastText quality classifier (GPT-3's recipe: curated text as positives, raw crawl as negatives).

Train:  ``python -m stages.quality train --positive GLOB... --negative GLOB... --output model.bin``
reads JSONL (field ``text``), Arrow IPC stream (column ``text``), WET (``*.wet``, ``*.wet.gz``:
conversion records) and plain ``.txt`` (one document per line), holds out ``--holdout`` of
each class and prints precision/recall of the positive class on it.

Chinese has no spaces, so ``features`` puts a space around every CJK character: fastText then
sees characters as words and, with ``wordNgrams >= 2``, character bigrams, which is what a word
segmenter would mostly give, at regex speed. Text is lower-cased, newlines become spaces
(fastText ends an example at a newline), and only the first ``max_chars`` characters are used:
the score of a long page is settled by its first few thousand characters, and the cost of
prediction is linear in what it reads.

Stage: writes ``quality_score`` = P(positive) in [0, 1]. ``mode: threshold`` keeps documents with
``score >= threshold`` (``threshold: 0`` keeps everything); ``mode: pareto`` keeps a document when
``pareto(alpha) > 1 - score`` (GPT-3, alpha = 9), with the random draw seeded by the document id
so a rerun keeps exactly the same documents.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import hashlib
import os
import random
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from stages.base import Doc, Drop, Params, Stage, path_param
from stages.heuristics import CJK_SPACED

POSITIVE = "__label__pos"
NEGATIVE = "__label__neg"


class ModelMissing(RuntimeError):
    pass


def features(text: str, max_chars: int = 4000) -> str:
    """The text as fastText sees it: CJK characters as words, one line, lower-cased."""
    if max_chars > 0:
        text = text[:max_chars]
    return " ".join(text.lower().translate(CJK_SPACED).split())


# ---------------------------------------------------------------------------- reading inputs
def read_texts(path: str) -> Iterator[str]:
    """Documents' text from one file, read like the pipeline reads it: WET/WARC, Arrow, JSONL or
    plain text (one document a line)."""
    from pipeline.inputs import documents_in

    for doc in documents_in(path):
        yield doc["text"]


def expand(patterns: Iterable[str]) -> list[str]:
    paths: list[str] = []
    for pattern in patterns:
        found = sorted(glob.glob(pattern, recursive=True))
        if not found:
            raise FileNotFoundError(f"no input matches {pattern}")
        paths.extend(found)
    return paths


# ---------------------------------------------------------------------------- training
@dataclasses.dataclass
class TrainResult:
    precision: float
    recall: float
    n_train: int
    n_test: int


def _write_examples(path: Path, examples: list[tuple[str, str]]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for label, text in examples:
            f.write(f"{label} {text}\n")


def train(
    positive: list[str],
    negative: list[str],
    output: str,
    epoch: int = 5,
    word_ngrams: int = 2,
    dim: int = 32,
    lr: float = 0.2,
    holdout: float = 0.1,
    max_chars: int = 4000,
    seed: int = 0,
    min_chars: int = 20,
    threads: int = 0,
) -> TrainResult:
    """Train on texts (not paths); save the model to ``output``; return held-out P/R of positives.
    ``threads=1`` makes training reproducible (fastText's threads race by design)."""
    import fasttext

    rng = random.Random(seed)
    data: dict[str, list[str]] = {}
    for label, texts in ((POSITIVE, positive), (NEGATIVE, negative)):
        feats = [f for f in (features(t, max_chars) for t in texts if len(t) >= min_chars) if f]
        if len(feats) < 2:
            raise ValueError(f"need at least 2 {label.removeprefix('__label__')} examples, got {len(feats)}")
        rng.shuffle(feats)
        data[label] = feats
    train_set: list[tuple[str, str]] = []
    test_set: list[tuple[str, str]] = []
    for label, feats in data.items():
        k = max(1, int(len(feats) * holdout)) if holdout > 0 else 0
        test_set += [(label, f) for f in feats[:k]]
        train_set += [(label, f) for f in feats[k:]]
    rng.shuffle(train_set)
    with tempfile.TemporaryDirectory() as tmp:
        train_path = Path(tmp) / "train.txt"
        _write_examples(train_path, train_set)
        model = fasttext.train_supervised(
            input=str(train_path),
            epoch=epoch,
            wordNgrams=word_ngrams,
            dim=dim,
            lr=lr,
            minCount=1,
            bucket=200_000,
            thread=threads or max(1, min(4, os.cpu_count() or 1)),
            seed=seed,
            verbose=0,
        )
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    model.save_model(output)
    tp = fp = fn = 0
    for label, text in test_set:
        predicted = model.predict(text)[0][0]
        tp += predicted == POSITIVE and label == POSITIVE
        fp += predicted == POSITIVE and label == NEGATIVE
        fn += predicted != POSITIVE and label == POSITIVE
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return TrainResult(precision, recall, len(train_set), len(test_set))


# ---------------------------------------------------------------------------- scoring
class QualityScorer:
    """Pure core: ``score(text) -> P(positive)`` with a trained model."""

    def __init__(self, model_path: str, max_chars: int = 4000):
        import fasttext

        if not Path(model_path).is_file():
            raise ModelMissing(f"quality model {model_path} does not exist")
        fasttext.FastText.eprint = lambda *args, **kwargs: None
        self.model = fasttext.load_model(model_path)
        if POSITIVE not in self.model.get_labels():
            raise ModelMissing(
                f"{model_path} has no {POSITIVE} label: not a model from `stages.quality train`"
            )
        self.max_chars = max_chars

    def score(self, text: str) -> float:
        labels, probs = self.model.predict(features(text, self.max_chars), k=2)
        for label, prob in zip(labels, probs, strict=True):
            if label == POSITIVE:
                return float(min(max(prob, 0.0), 1.0))
        return 0.0


def pareto_keep(doc_id: str, score: float, alpha: float, seed: int = 0) -> bool:
    """GPT-3's rule, with the draw seeded by the document id (reruns agree)."""
    digest = hashlib.blake2b(f"{seed}:{doc_id}".encode(), digest_size=8).digest()
    rng = np.random.default_rng(int.from_bytes(digest, "little"))
    return bool(rng.pareto(alpha) > 1.0 - score)


@dataclasses.dataclass
class QualityParams(Params):
    model: str | None = path_param()  # required: a model from `python -m stages.quality train`
    mode: str = "threshold"  # threshold | pareto
    threshold: float = 0.5  # mode threshold: keep score >= threshold; 0 keeps everything
    alpha: float = 9.0  # mode pareto: GPT-3's shape parameter
    seed: int = 0
    max_chars: int = 4000

    def validate(self) -> None:
        """Checked when the stage is selected, so a missing model is a config error, not a crash."""
        if not self.model:
            raise ValueError(
                "model: required when the quality stage runs (train one with "
                "`python -m stages.quality train --positive ... --negative ... --output model.bin`)"
            )
        if not os.path.isfile(self.model) and "://" not in self.model:
            raise ValueError(f"model: file {self.model!r} does not exist")
        if self.mode not in ("threshold", "pareto"):
            raise ValueError(f"mode: must be threshold or pareto, not {self.mode!r}")


class QualityStage(Stage):
    name = "quality"
    Params = QualityParams
    columns = {"quality_score": pa.float32()}
    reasons = ("quality_low_score", "quality_pareto")

    def setup(self) -> None:
        p: QualityParams = self.params  # type: ignore[assignment]
        if not p.model:
            raise ModelMissing(
                "the quality stage needs a model: set quality.model (train one with "
                "`python -m stages.quality train --positive ... --negative ... --output model.bin`)"
            )
        if p.mode not in ("threshold", "pareto"):
            raise ValueError(f"quality.mode must be threshold or pareto, not {p.mode!r}")
        self.scorer = QualityScorer(p.model, p.max_chars)

    def process(self, doc: Doc) -> Doc | Drop:
        p: QualityParams = self.params  # type: ignore[assignment]
        score = self.scorer.score(doc["text"])
        doc["quality_score"] = round(score, 4)
        if p.mode == "pareto":
            if not pareto_keep(str(doc.get("id", "")), score, p.alpha, p.seed):
                return Drop("quality_pareto", f"{score:.3f}")
        elif score < p.threshold:
            return Drop("quality_low_score", f"{score:.3f}")
        return doc


# ---------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stages.quality", description="fastText quality classifier")
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train on positive and negative files (JSONL, Arrow, WET, txt)")
    t.add_argument("--positive", nargs="+", required=True, metavar="GLOB")
    t.add_argument("--negative", nargs="+", required=True, metavar="GLOB")
    t.add_argument("--output", required=True)
    t.add_argument("--epoch", type=int, default=5)
    t.add_argument("--wordNgrams", dest="word_ngrams", type=int, default=2)
    t.add_argument("--dim", type=int, default=32)
    t.add_argument("--lr", type=float, default=0.2)
    t.add_argument("--threads", type=int, default=0, help="0: up to 4; 1: reproducible")
    t.add_argument("--holdout", type=float, default=0.1, help="fraction of each class held out")
    t.add_argument("--max-chars", type=int, default=4000)
    t.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("score", help="print the quality score of each document in files")
    s.add_argument("--model", required=True)
    s.add_argument("inputs", nargs="+", metavar="GLOB")
    args = ap.parse_args(argv)
    if args.command == "train":
        pos = [text for path in expand(args.positive) for text in read_texts(path)]
        neg = [text for path in expand(args.negative) for text in read_texts(path)]
        result = train(
            pos,
            neg,
            args.output,
            args.epoch,
            args.word_ngrams,
            args.dim,
            args.lr,
            args.holdout,
            args.max_chars,
            args.seed,
            threads=args.threads,
        )
        print(
            f"trained on {result.n_train} examples; held-out {result.n_test}: "
            f"precision {result.precision:.3f} recall {result.recall:.3f}; model -> {args.output}"
        )
        return 0
    scorer = QualityScorer(args.model)
    for path in expand(args.inputs):
        for text in read_texts(path):
            print(f"{scorer.score(text):.4f}\t{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
