"""Train a sentencepiece model on pipeline output with options that fit LLaMA's tokenizer.

    python -m tokenizer_training.train --input out/documents --lang zh --vocab-size 20000 --output zh.model

LLaMA's model is BPE with the identity normaliser, a dummy ``▁`` prefix, kept whitespace, split
digits and byte fallback; a model meant to be merged into it must be trained the same way, or its
pieces do not fit the text the merged model sees (e.g. NFKC-trained pieces never contain
full-width characters).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import sentencepiece as spm

from tokenizer_training.corpus import expand_inputs, iter_documents, reservoir_sample, training_lines

DEFAULT_MAX_LINE_CHARS = 4000


def llama_trainer_options(
    vocab_size: int, model_type: str = "bpe", max_line_chars: int = DEFAULT_MAX_LINE_CHARS
) -> dict:
    return {
        "model_type": model_type,
        "vocab_size": vocab_size,
        "normalization_rule_name": "identity",
        "add_dummy_prefix": True,
        "remove_extra_whitespaces": False,
        "split_digits": True,
        "byte_fallback": True,
        "allow_whitespace_only_pieces": True,
        "split_by_unicode_script": True,
        "split_by_whitespace": True,
        "max_sentencepiece_length": 16,
        "unk_id": 0,
        "bos_id": 1,
        "eos_id": 2,
        "pad_id": -1,
        # The default (4192 bytes) silently skips Chinese lines longer than ~1,400 characters;
        # lines are cut to max_line_chars characters, at most 4 UTF-8 bytes each.
        "max_sentence_length": 4 * max_line_chars + 16,
        # We sample ourselves (deterministically); let the trainer take every line we hand it.
        "input_sentence_size": 0,
        "shuffle_input_sentence": False,
    }


def train(
    inputs: Iterable[str],
    output: str | Path,
    vocab_size: int,
    lang: str | None = None,
    model_type: str = "bpe",
    sample_lines: int = 2_000_000,
    seed: int = 0,
    character_coverage: float = 0.9995,
    max_line_chars: int = DEFAULT_MAX_LINE_CHARS,
    num_threads: int | None = None,
    quiet: bool = False,
) -> dict:
    """Train ``output`` (a ``.model`` path; ``.vocab`` is written beside it). Returns a summary."""
    output = Path(output)
    prefix = output.with_suffix("") if output.suffix == ".model" else output
    prefix.parent.mkdir(parents=True, exist_ok=True)
    files = expand_inputs(inputs)
    stats: Counter[str] = Counter()
    texts = (text for path in files for text in iter_documents(path, lang, stats))
    lines, seen = reservoir_sample(training_lines(texts, max_line_chars), sample_lines, seed)
    if not lines:
        raise ValueError("no training text found (check --input and --lang)")
    options = llama_trainer_options(vocab_size, model_type, max_line_chars)
    options.update(
        model_prefix=str(prefix),
        character_coverage=character_coverage,
        num_threads=num_threads or os.cpu_count() or 1,
    )
    start = time.perf_counter()
    spm.set_min_log_level(2 if quiet else 0)  # the trainer logs every meta piece at INFO level
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), **options)
    return {
        "model": str(prefix) + ".model",
        "files": len(files),
        "records": stats["records"],
        "skipped_lang": stats["skipped_lang"],
        "lines_seen": seen,
        "lines_used": len(lines),
        "longest_line_chars": max(map(len, lines)),
        "train_seconds": round(time.perf_counter() - start, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--input", nargs="+", required=True, help="files, globs or directories (.txt/.jsonl/.arrow)"
    )
    ap.add_argument("--output", required=True, help="model path, e.g. zh.model")
    ap.add_argument("--vocab-size", type=int, default=20000)
    ap.add_argument("--lang", default=None, help="only JSONL/Arrow records with this lang (e.g. zh)")
    ap.add_argument("--model-type", default="bpe", choices=["bpe", "unigram"])
    ap.add_argument("--sample-lines", type=int, default=2_000_000, help="reservoir-sample this many lines")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--character-coverage", type=float, default=0.9995)
    ap.add_argument(
        "--max-line-chars",
        type=int,
        default=DEFAULT_MAX_LINE_CHARS,
        help="longer lines are cut at sentence ends into pieces of at most this many characters",
    )
    ap.add_argument("--num-threads", type=int, default=None)
    ap.add_argument("--quiet", action="store_true", help="hide sentencepiece's trainer log")
    args = ap.parse_args(argv)
    summary = train(
        args.input,
        args.output,
        args.vocab_size,
        lang=args.lang,
        model_type=args.model_type,
        sample_lines=args.sample_lines,
        seed=args.seed,
        character_coverage=args.character_coverage,
        max_line_chars=args.max_line_chars,
        num_threads=args.num_threads,
        quiet=args.quiet,
    )
    for key, value in summary.items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
