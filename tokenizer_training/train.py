"""Train a sentencepiece model on pipeline output with options that fit LLaMA's tokenizer, or extend
a byte-level BPE tokenizer (LLaMA-3, Qwen, Mistral tekken) with Chinese merges.

    python -m tokenizer_training.train --input out/documents --lang zh --vocab-size 20000 --output zh.model
    python -m tokenizer_training.train --continue-from llama3/ --input out/documents --lang zh \
        --add-tokens 20000 --output tok/llama3-zh [--heldout held_out.txt]

LLaMA's model is BPE with the identity normaliser, a dummy ``▁`` prefix, kept whitespace, split
digits and byte fallback; a model meant to be merged into it must be trained the same way, or its
pieces do not fit the text the merged model sees (e.g. NFKC-trained pieces never contain
full-width characters).

With ``--continue-from`` (a Hugging Face ``tokenizer.json`` or a folder with one), merges are
learned on top of the base's own encoding of the text and appended after its merges, every base
token and special token keeping its id (tokenizer_training/bpe_extend.py); ``--output`` is then a
folder for the extended tokenizer.json (+ tokenizer_config.json). The sentencepiece options
(--vocab-size, --model-type, --character-coverage, --num-threads) do not apply there.
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

from pipeline.inputs import NoMatch
from tokenizer_training.corpus import expand_inputs, iter_documents, reservoir_sample, training_lines

DEFAULT_MAX_LINE_CHARS = 4000
# Learning merges holds every distinct Han word of the sample with its pair index (~4 KB a word measured,
# ~7 distinct words a line on news and reviews): 300,000 lines stay within a few GB.
CONTINUE_SAMPLE_LINES = 300_000


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


def sample_lines_of(
    inputs: Iterable[str], lang: str | None, sample_lines: int, seed: int, max_line_chars: int
) -> tuple[list[str], dict]:
    """Training lines: a deterministic sample of the inputs' lines, and where they came from."""
    files = expand_inputs(inputs)
    stats: Counter[str] = Counter()
    texts = (text for path in files for text in iter_documents(path, lang, stats))
    lines, seen = reservoir_sample(training_lines(texts, max_line_chars), sample_lines, seed)
    if not lines:
        raise ValueError("no training text found (check --input and --lang)")
    return lines, {
        "files": len(files),
        "records": stats["records"],
        "skipped_lang": stats["skipped_lang"],
        "lines_seen": seen,
        "lines_used": len(lines),
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
    lines, summary = sample_lines_of(inputs, lang, sample_lines, seed, max_line_chars)
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
        **summary,
        "longest_line_chars": max(map(len, lines)),
        "train_seconds": round(time.perf_counter() - start, 1),
    }


def continue_from(
    base_path: str,
    inputs: Iterable[str],
    output: str | Path,
    add_tokens: int,
    lang: str | None = None,
    sample_lines: int = CONTINUE_SAMPLE_LINES,
    seed: int = 0,
    max_line_chars: int = DEFAULT_MAX_LINE_CHARS,
    min_frequency: int = 2,
    heldout: list[str] | None = None,
    heldout_lines: int = 10000,
) -> dict:
    """Extend the byte-level BPE tokenizer at ``base_path``; returns a summary (held-out figures too
    when ``heldout`` names files). ``unreachable`` must be 0."""
    from tokenizer_training import bpe_extend
    from tokenizer_training.corpus import first_lines

    base = bpe_extend.load_base(base_path)
    lines, summary = sample_lines_of(inputs, lang, sample_lines, seed, max_line_chars)
    start = time.process_time()
    extension = bpe_extend.extend(base, lines, add_tokens, min_frequency)
    learn_seconds = time.process_time() - start
    out = bpe_extend.write_extended(extension, base, output)
    new_ids = range(extension.base_size, extension.base_size + len(extension.new_tokens))
    summary.update(
        base_vocab_size=extension.base_size,
        han_words=extension.words,
        tokens_added=len(extension.new_tokens),
        vocab_size=extension.base_size + len(extension.new_tokens),
        unreachable=len(bpe_extend.unreachable_tokens(extension.tokenizer, new_ids)),
        learn_cpu_seconds=round(learn_seconds, 1),
    )
    if heldout:
        summary.update(bpe_extend.evaluate(base, out, first_lines(heldout, lang, heldout_lines)))
    summary["written"] = str(out)
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--input", nargs="+", required=True, help="files, globs or directories (.txt/.jsonl/.arrow)"
    )
    ap.add_argument(
        "--output", required=True, help="model path, e.g. zh.model (with --continue-from: a folder)"
    )
    ap.add_argument("--vocab-size", type=int, default=20000)
    ap.add_argument("--lang", default=None, help="only JSONL/Arrow records with this lang (e.g. zh)")
    ap.add_argument("--model-type", default="bpe", choices=["bpe", "unigram"])
    ap.add_argument(
        "--sample-lines",
        type=int,
        default=None,
        help="reservoir-sample this many lines (default 2,000,000; with --continue-from 300,000: learning "
        "merges keeps every distinct Han word in memory, about 4 KB each)",
    )
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
    ap.add_argument(
        "--continue-from",
        metavar="BASE",
        help="a byte-level BPE tokenizer.json (or its folder) to extend with merges learned on --input",
    )
    ap.add_argument(
        "--add-tokens", type=int, default=20000, help="with --continue-from: tokens to add at most"
    )
    ap.add_argument(
        "--min-frequency", type=int, default=2, help="with --continue-from: rarer pairs are not merged"
    )
    ap.add_argument(
        "--heldout", nargs="*", default=[], help="with --continue-from: held-out text to evaluate on"
    )
    ap.add_argument("--heldout-lines", type=int, default=10000)
    args = ap.parse_args(argv)
    if args.sample_lines is None:
        args.sample_lines = CONTINUE_SAMPLE_LINES if args.continue_from else 2_000_000
    if args.continue_from and args.add_tokens < 1:
        print("error: --add-tokens: must be at least 1", file=sys.stderr)
        return 2
    try:  # bad input (and a base that is no byte-level BPE tokenizer): one line, like pipeline.run
        if args.continue_from:
            summary = continue_from(
                args.continue_from,
                args.input,
                args.output,
                args.add_tokens,
                lang=args.lang,
                sample_lines=args.sample_lines,
                seed=args.seed,
                max_line_chars=args.max_line_chars,
                min_frequency=args.min_frequency,
                heldout=args.heldout,
                heldout_lines=args.heldout_lines,
            )
        else:
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
    except NoMatch as exc:
        print(f"error: --input: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as exc:  # BaseTokenizerError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for key, value in summary.items():
        print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
    return 0 if not summary.get("unreachable") else 1


if __name__ == "__main__":
    sys.exit(main())
