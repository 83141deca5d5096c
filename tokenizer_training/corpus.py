"""Training text for the tokenizer: read plain text, JSONL and the pipeline's Arrow shards, cut
documents into training lines, and sample lines deterministically."""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

# Sentence ends we may cut after (Chinese full-width and unambiguous ASCII ones; "." is left out
# because it also sits inside numbers and abbreviations).
_SENTENCE_END = re.compile(r"(?<=[。！？；…!?;])")


def expand_inputs(specs: Iterable[str]) -> list[Path]:
    """Files named by paths, globs or folders (read recursively), each once, in a stable order:
    the pipeline's one input expander (pipeline.inputs). FileNotFoundError names a spec that
    matches nothing."""
    from pipeline.inputs import expand_patterns

    return [Path(p) for p in expand_patterns(specs)]


def iter_documents(path: Path, lang: str | None = None, stats: Counter | None = None) -> Iterator[str]:
    """Texts in one file, read by the pipeline's own readers (text, JSONL, Arrow, Parquet, WET).
    With ``lang``, records whose ``lang`` differs (or is missing) are skipped; plain text has no
    language field and is taken whole."""
    from pipeline.inputs import documents_in
    from pipeline.readers import input_format

    stats = stats if stats is not None else Counter()
    filter_lang = lang is not None and input_format(str(path)) != "text"
    for doc in documents_in(str(path)):
        stats["records"] += 1
        if filter_lang and doc.get("lang") != lang:
            stats["skipped_lang"] += 1
            continue
        yield doc["text"]


def split_line(line: str, max_chars: int) -> list[str]:
    """Cut a long line into pieces of at most ``max_chars`` characters, preferring sentence ends;
    the pieces concatenate back to ``line``."""
    if len(line) <= max_chars:
        return [line]
    chunks: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(line):
        while len(sentence) > max_chars:  # a single over-long sentence: hard cut
            if current:
                chunks.append(current)
                current = ""
            chunks.append(sentence[:max_chars])
            sentence = sentence[max_chars:]
        if len(current) + len(sentence) > max_chars:
            chunks.append(current)
            current = ""
        current += sentence
    if current:
        chunks.append(current)
    return chunks


def training_lines(texts: Iterable[str], max_chars: int) -> Iterator[str]:
    """Documents -> non-empty stripped lines of at most ``max_chars`` characters each."""
    for text in texts:
        for line in text.splitlines():
            line = line.strip()
            if line:
                yield from split_line(line, max_chars)


def first_lines(specs: Iterable[str], lang: str | None, limit: int) -> list[str]:
    """The first ``limit`` non-empty lines of the files named by ``specs`` (held-out text), uncut."""
    texts = (text for path in expand_inputs(specs) for text in iter_documents(path, lang))
    lines: list[str] = []
    for line in training_lines(texts, max_chars=10**9):
        lines.append(line)
        if len(lines) >= limit:
            break
    return lines


def reservoir_sample(items: Iterable[str], n: int, seed: int) -> tuple[list[str], int]:
    """A uniform sample of ``n`` items (all when fewer), deterministic for a given input order and
    seed, in O(n) memory. Returns (sample, number of items seen)."""
    rng = random.Random(seed)
    sample: list[str] = []
    seen = 0
    for seen, item in enumerate(items, start=1):
        if len(sample) < n:
            sample.append(item)
        else:
            j = rng.randrange(seen)
            if j < n:
                sample[j] = item
    return sample, seen
