"""fastText quality classifier (GPT-3's recipe: curated text as positives, raw crawl as negatives).

Train:  ``python -m stages.quality train --positive GLOB... --negative GLOB... --output model.bin``
reads files like the pipeline does (``pipeline.inputs``: folders, globs; JSONL, Parquet, the
pipeline's Arrow output, WARC/WET, plain ``.txt``, Wikipedia XML dumps), holds out ``--holdout`` of each class
(by URL, so one page's clean text and raw dump never sit on both sides), scales epochs and
learning rate to the number of examples (``auto_schedule``) and prints held-out precision,
recall and balanced accuracy. A model whose held-out separation is at chance is not written and
the command exits 1 (``--force`` saves it anyway).

Labels and text conventions are options, so models trained elsewhere work too: the positive
label (DCLM: ``__label__hq``) and how text becomes words (``Featurizer``: ``chars``,
``whitespace``, sentencepiece or Hugging Face tokenizer pieces).

Chinese has no spaces, so ``features`` puts a space around every CJK character: fastText then
sees characters as words and, with ``wordNgrams >= 2``, character bigrams, which is what a word
segmenter would mostly give, at regex speed. Text is lower-cased, newlines become spaces
(fastText ends an example at a newline), and only the first ``max_chars`` characters are used:
the score of a long page is settled by its first few thousand characters, and the cost of
prediction is linear in what it reads.

Stage: writes ``quality_score`` = P(positive) in [0, 1]. ``mode: threshold`` keeps documents with
``score >= threshold`` (``threshold: 0`` keeps everything); ``mode: pareto`` keeps a document when
``pareto(alpha) > 1 - score`` (GPT-3, alpha = 9), with the random draw seeded by the document id
so a rerun keeps exactly the same documents; ``mode: annotate`` keeps every document and only
writes the score (RedPajama-V2 style).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import math
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
TOKENS = ("chars", "whitespace", "sentencepiece:PATH", "hf:PATH")


class ModelMissing(RuntimeError):
    pass


def features(text: str, max_chars: int = 4000) -> str:
    """The text as fastText sees it (``tokens: chars``): CJK characters as words, one line, lower-cased."""
    if max_chars > 0:
        text = text[:max_chars]
    return " ".join(text.lower().translate(CJK_SPACED).split())


def parse_tokens(tokens: str) -> tuple[str, str]:
    """``(kind, path)`` of a ``tokens`` setting (chars | whitespace | sentencepiece:PATH | hf:PATH)."""
    kind, _, path = tokens.partition(":")
    if (kind in ("chars", "whitespace") and not path) or (kind in ("sentencepiece", "hf") and path):
        return kind, path
    raise ValueError(f"tokens: must be one of {', '.join(TOKENS)}, not {tokens!r}")


class Featurizer:
    """Text -> the one line fastText reads, in the convention the model was trained with:

    - ``chars`` (default): lower-cased, every CJK character a word (``features``);
    - ``whitespace``: whitespace-separated words as they are (plain fastText, e.g. DCLM's model);
    - ``sentencepiece:PATH``: the pieces of a sentencepiece model (e.g. a LLaMA ``tokenizer.model``,
      as Ultra-FineWeb's classifier splits text);
    - ``hf:PATH``: the tokens of a Hugging Face ``tokenizer.json`` (``tokenizers`` library).

    Only the first ``max_chars`` characters are read (0: all)."""

    def __init__(self, tokens: str = "chars", max_chars: int = 4000):
        self.tokens, self.max_chars = tokens, max_chars
        kind, path = parse_tokens(tokens)
        if kind == "sentencepiece":
            import sentencepiece as spm

            self._sp = spm.SentencePieceProcessor(model_file=path)
            self._split = lambda t: self._sp.encode(t, out_type=str)
        elif kind == "hf":
            try:
                from tokenizers import Tokenizer
            except ImportError:
                raise ValueError(
                    "tokens: hf:PATH needs the tokenizers package (pip install 'cc-pretrain-pipeline[hf]')"
                ) from None

            self._hf = Tokenizer.from_file(path)
            self._split = lambda t: self._hf.encode(t, add_special_tokens=False).tokens
        elif kind == "whitespace":
            self._split = str.split
        else:
            self._split = None

    def __call__(self, text: str) -> str:
        if self._split is None:
            return features(text, self.max_chars)
        if self.max_chars > 0:
            text = text[: self.max_chars]
        # fastText reads one example a line and splits on whitespace: no piece may hold either.
        return " ".join(p for p in (piece.strip() for piece in self._split(text)) if p and " " not in p)


# ---------------------------------------------------------------------------- reading inputs
def read_texts(path: str) -> Iterator[str]:
    """Documents' text from one file, read like the pipeline reads it: WET/WARC, Arrow, JSONL or
    plain text (one document a line)."""
    from pipeline.inputs import documents_in

    for doc in documents_in(path):
        yield doc["text"]


def expand(patterns: Iterable[str]) -> list[str]:
    """Files the patterns name, as the pipeline expands its inputs (folders recursively, globs,
    listings); FileNotFoundError names a pattern that matches nothing."""
    from pipeline.inputs import expand_patterns

    return expand_patterns(patterns)


# ---------------------------------------------------------------------------- training
@dataclasses.dataclass
class TrainResult:
    """Held-out figures of the positive class, and the schedule used."""

    precision: float
    recall: float
    accuracy: float
    balanced_accuracy: float  # mean of the two classes' recall: 0.5 is chance
    interval: tuple[float, float]  # bootstrap 95% interval of balanced_accuracy
    n_train: int
    n_test: int
    epoch: int
    lr: float
    learned: bool  # held-out separation better than chance (see ``train``)


def auto_schedule(n_train: int) -> tuple[int, float]:
    """(epochs, learning rate) for ``n_train`` examples. fastText's defaults (5 epochs, lr 0.1)
    assume a large set: with 72 examples that is ~400 updates and the model stays at its
    initial 0.5 for every text. Small sets get many passes at a high rate (as fastText's own
    tutorial does for a 12k-example set: 25 epochs, lr 1.0), large sets the usual few."""
    epoch = max(5, min(100, math.ceil(5000 / max(n_train, 1))))
    lr = 1.0 if n_train < 2000 else 0.5 if n_train < 20000 else 0.2
    return epoch, lr


def _balanced_accuracy(pairs: list[tuple[bool, bool]]) -> float:
    """Mean recall of the two classes over (is positive, predicted positive) pairs."""
    pos = [p for t, p in pairs if t]
    neg = [not p for t, p in pairs if not t]
    return (sum(pos) / max(len(pos), 1) + sum(neg) / max(len(neg), 1)) / 2


def _bootstrap_interval(pairs: list[tuple[bool, bool]], seed: int, rounds: int = 1000) -> tuple[float, float]:
    rng = random.Random(seed)
    values = sorted(_balanced_accuracy([rng.choice(pairs) for _ in pairs]) for _ in range(rounds))
    return values[int(0.025 * rounds)], values[int(0.975 * rounds) - 1]


def _write_examples(path: Path, examples: list[tuple[str, str]]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for label, text in examples:
            f.write(f"{label} {text}\n")


def train(
    positive: list[str] | list[tuple[str, str]],
    negative: list[str] | list[tuple[str, str]],
    output: str,
    epoch: int = 0,
    word_ngrams: int = 2,
    dim: int = 32,
    lr: float = 0.0,
    holdout: float = 0.1,
    max_chars: int = 4000,
    seed: int = 0,
    min_chars: int = 20,
    threads: int = 0,
    tokens: str = "chars",
    positive_label: str = POSITIVE,
    negative_label: str = NEGATIVE,
    min_balanced_accuracy: float = 0.6,
    force: bool = False,
) -> TrainResult:
    """Train on texts or (text, group) pairs (not paths), evaluate on the held-out share
    (``holdout``, by a hash of the group) of each class, and save the
    model to ``output`` only if it learned something: held-out balanced accuracy above
    ``min_balanced_accuracy`` and both classes predicted (or ``force``). ``epoch``/``lr`` 0:
    ``auto_schedule``. ``threads=1`` makes training reproducible (fastText's threads race)."""
    import fasttext

    fasttext.FastText.eprint = lambda *args, **kwargs: None
    featurize = Featurizer(tokens, max_chars)
    rng = random.Random(seed)
    train_set: list[tuple[str, str]] = []
    test_set: list[tuple[str, str]] = []
    for label, items in ((positive_label, positive), (negative_label, negative)):
        n = 0
        for item in items:
            text, group = (item, "") if isinstance(item, str) else item
            feats = featurize(text) if len(text) >= min_chars else ""
            if not feats:
                continue
            n += 1
            # Held out by group (the page's URL when known, else the text): the clean text and
            # the raw dump of one page never end up on both sides.
            key = hashlib.blake2b(f"{seed}:{group or text}".encode(), digest_size=8).digest()
            held = int.from_bytes(key, "little") / 2**64 < holdout
            (test_set if held else train_set).append((label, feats))
        if n < 2:
            raise ValueError(f"need at least 2 {label.removeprefix('__label__')} examples, got {n}")
        if holdout > 0 and not any(held_label == label for held_label, _ in test_set):
            # The hash held none of this class out (a small class): hold out one example.
            i = next(i for i, (train_label, _) in enumerate(train_set) if train_label == label)
            test_set.append(train_set.pop(i))
    rng.shuffle(train_set)
    auto_epoch, auto_lr = auto_schedule(len(train_set))
    epoch, lr = epoch or auto_epoch, lr or auto_lr
    with tempfile.TemporaryDirectory() as tmp:
        train_path = Path(tmp) / "train.txt"
        _write_examples(train_path, train_set)
        for _attempt in range(4):
            try:
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
                break
            except RuntimeError as exc:  # "Encountered NaN": the rate was too high for this data
                if "NaN" not in str(exc):
                    raise
                lr /= 2
        else:
            raise RuntimeError("fastText training diverged (NaN) even at a quarter of the learning rate")
    pairs = [
        (label == positive_label, model.predict(text)[0][0] == positive_label) for label, text in test_set
    ]
    tp = sum(t and p for t, p in pairs)
    fp = sum(p and not t for t, p in pairs)
    fn = sum(t and not p for t, p in pairs)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    accuracy = sum(t == p for t, p in pairs) / max(len(pairs), 1)
    balanced = _balanced_accuracy(pairs)
    one_class = len({p for _, p in pairs}) < 2
    # Without held-out examples (holdout 0) nothing can be checked: the caller is told (n_test 0).
    learned = not pairs or (not one_class and balanced > min_balanced_accuracy)
    if learned or force:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        model.save_model(output)
    return TrainResult(
        precision,
        recall,
        accuracy,
        balanced,
        _bootstrap_interval(pairs, seed) if pairs else (0.0, 0.0),
        len(train_set),
        len(test_set),
        epoch,
        lr,
        learned,
    )


# ---------------------------------------------------------------------------- scoring
class QualityScorer:
    """Pure core: ``score(text) -> P(positive label)`` with a trained fastText model."""

    def __init__(
        self, model_path: str, max_chars: int = 4000, tokens: str = "chars", positive_label: str = POSITIVE
    ):
        import fasttext

        if not Path(model_path).is_file():
            raise ModelMissing(f"quality model {model_path} does not exist")
        fasttext.FastText.eprint = lambda *args, **kwargs: None
        self.model = fasttext.load_model(model_path)
        labels = self.model.get_labels()
        if positive_label not in labels:
            raise ModelMissing(
                f"quality.positive_label {positive_label!r} is not a label of {model_path} "
                f"(its labels: {', '.join(labels[:10])})"
            )
        self.positive_label = positive_label
        self.featurize = Featurizer(tokens, max_chars)

    def score(self, text: str) -> float:
        labels, probs = self.model.predict(self.featurize(text), k=-1)
        for label, prob in zip(labels, probs, strict=True):
            if label == self.positive_label:
                return float(min(max(prob, 0.0), 1.0))
        return 0.0


def pareto_keep(doc_id: str, score: float, alpha: float, seed: int = 0) -> bool:
    """GPT-3's rule, with the draw seeded by the document id (reruns agree)."""
    digest = hashlib.blake2b(f"{seed}:{doc_id}".encode(), digest_size=8).digest()
    rng = np.random.default_rng(int.from_bytes(digest, "little"))
    return bool(rng.pareto(alpha) > 1.0 - score)


MODES = ("threshold", "pareto", "annotate")
TRAIN_HINT = (
    "train one with `python -m stages.quality train --positive REFERENCE... --negative CRAWL... "
    "--output quality.bin`, or leave quality out of `stages`"
)


@dataclasses.dataclass
class QualityParams(Params):
    model: str | None = path_param()  # required: a fastText model (`python -m stages.quality train`)
    # threshold: keep score >= threshold | pareto: GPT-3's seeded rule | annotate: keep every
    # document, only write quality_score (RedPajama-V2 style: choose a cut later)
    mode: str = "threshold"
    threshold: float = 0.5
    alpha: float = 9.0  # mode pareto: GPT-3's shape parameter
    seed: int = 0
    max_chars: int = 4000
    # How the model was trained: its positive label (DCLM's classifier: __label__hq) and how text
    # is split into words (chars | whitespace | sentencepiece:PATH | hf:PATH; see Featurizer).
    positive_label: str = POSITIVE
    tokens: str = "chars"

    def validate(self) -> None:
        """Checked when the stage is selected, so a missing model is a config error, not a crash."""
        if not self.model:
            raise ValueError(f"model: required when the quality stage runs ({TRAIN_HINT})")
        if not os.path.isfile(self.model) and "://" not in self.model:
            raise ValueError(f"model: file {self.model!r} does not exist ({TRAIN_HINT})")
        if self.mode not in MODES:
            raise ValueError(f"mode: must be one of {', '.join(MODES)}, not {self.mode!r}")
        _, path = parse_tokens(self.tokens)
        if path and not os.path.isfile(path) and "://" not in path:
            raise ValueError(f"tokens: tokenizer file {path!r} does not exist")


class QualityStage(Stage):
    name = "quality"
    Params = QualityParams
    columns = {"quality_score": pa.float32()}
    reasons = ("quality_low_score", "quality_pareto")

    def setup(self) -> None:
        p: QualityParams = self.params  # type: ignore[assignment]
        if not p.model:
            raise ModelMissing(f"the quality stage needs a model: set quality.model ({TRAIN_HINT})")
        if p.mode not in MODES:
            raise ValueError(f"quality.mode must be one of {', '.join(MODES)}, not {p.mode!r}")
        self.scorer = QualityScorer(p.model, p.max_chars, p.tokens, p.positive_label)

    def process(self, doc: Doc) -> Doc | Drop:
        p: QualityParams = self.params  # type: ignore[assignment]
        score = self.scorer.score(doc["text"])
        doc["quality_score"] = round(score, 4)
        if p.mode == "pareto":
            if not pareto_keep(str(doc.get("id", "")), score, p.alpha, p.seed):
                return Drop("quality_pareto", f"{score:.3f}")
        elif p.mode == "threshold" and score < p.threshold:
            return Drop("quality_low_score", f"{score:.3f}")
        return doc


# ---------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stages.quality", description="fastText quality classifier")
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser(
        "train",
        help="train on positive and negative files (JSONL, Arrow, WET/WARC, txt, Wikipedia XML dumps)",
    )
    t.add_argument("--positive", nargs="+", required=True, metavar="GLOB")
    t.add_argument("--negative", nargs="+", required=True, metavar="GLOB")
    t.add_argument("--output", required=True)
    t.add_argument("--epoch", type=int, default=0, help="0: scaled to the number of examples")
    t.add_argument("--lr", type=float, default=0.0, help="0: scaled to the number of examples")
    t.add_argument("--wordNgrams", dest="word_ngrams", type=int, default=2)
    t.add_argument("--dim", type=int, default=32)
    t.add_argument("--threads", type=int, default=0, help="0: up to 4; 1: reproducible")
    t.add_argument("--holdout", type=float, default=0.1, help="fraction of each class held out")
    t.add_argument("--max-chars", type=int, default=4000)
    t.add_argument(
        "--max-docs", type=int, default=100_000, help="read at most this many documents per class (0: all)"
    )
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--tokens", default="chars", help="chars | whitespace | sentencepiece:PATH | hf:PATH")
    t.add_argument("--positive-label", default=POSITIVE)
    t.add_argument("--negative-label", default=NEGATIVE)
    t.add_argument("--min-balanced-accuracy", type=float, default=0.6)
    t.add_argument("--force", action="store_true", help="save the model even if it learned nothing")
    s = sub.add_parser("score", help="print the quality score of each document in files")
    s.add_argument("--model", required=True)
    s.add_argument("--tokens", default="chars")
    s.add_argument("--positive-label", default=POSITIVE)
    s.add_argument("inputs", nargs="+", metavar="GLOB")
    args = ap.parse_args(argv)
    try:
        if args.command == "train":
            return _train_command(args)
        scorer = QualityScorer(args.model, tokens=args.tokens, positive_label=args.positive_label)
    except (FileNotFoundError, ValueError, ModelMissing) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in expand(args.inputs):
        for text in read_texts(path):
            print(f"{scorer.score(text):.4f}\t{path}")
    return 0


def _read_class(patterns: list[str], max_docs: int) -> list[tuple[str, str]]:
    """(text, URL) of the documents of every file the patterns match."""
    from pipeline.inputs import documents_in

    examples: list[tuple[str, str]] = []
    for path in expand(patterns):
        for doc in documents_in(path):
            if max_docs and len(examples) >= max_docs:
                return examples
            examples.append((doc["text"], doc.get("url") or ""))
    return examples


def _train_command(args: argparse.Namespace) -> int:
    pos = _read_class(args.positive, args.max_docs)
    neg = _read_class(args.negative, args.max_docs)
    result = train(
        pos,
        neg,
        args.output,
        epoch=args.epoch,
        word_ngrams=args.word_ngrams,
        dim=args.dim,
        lr=args.lr,
        holdout=args.holdout,
        max_chars=args.max_chars,
        seed=args.seed,
        threads=args.threads,
        tokens=args.tokens,
        positive_label=args.positive_label,
        negative_label=args.negative_label,
        min_balanced_accuracy=args.min_balanced_accuracy,
        force=args.force,
    )
    low, high = result.interval
    print(
        f"trained on {result.n_train} examples ({result.epoch} epochs, lr {result.lr:g}); "
        f"held-out {result.n_test}: precision {result.precision:.3f} recall {result.recall:.3f} "
        f"accuracy {result.accuracy:.3f} balanced accuracy {result.balanced_accuracy:.3f} "
        f"(95% bootstrap {low:.3f}-{high:.3f})"
    )
    if not result.learned:
        print(
            f"ERROR: the model did not learn to separate the classes: held-out balanced accuracy "
            f"{result.balanced_accuracy:.3f} (chance is 0.5; required > {args.min_balanced_accuracy}). "
            + (
                f"Saved anyway (--force): {args.output}"
                if args.force
                else "No model written. More or more distinct examples help; --force saves it anyway."
            ),
            file=sys.stderr,
        )
        return 0 if args.force else 1
    print(
        f"model -> {args.output}  (quality: {{model: {args.output}, tokens: {args.tokens}, "
        f"positive_label: '{args.positive_label}'}})"
    )
    if result.n_test == 0:
        print(
            "warning: --holdout 0: nothing was held out, so nothing checked what the model learned",
            file=sys.stderr,
        )
    elif result.n_test < 50:
        print(
            f"warning: only {result.n_test} held-out examples: the figures above are rough", file=sys.stderr
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
