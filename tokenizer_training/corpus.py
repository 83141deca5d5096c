"""Training text for the tokenizer: read plain text, JSONL and the pipeline's Arrow shards, cut
documents into training lines, and sample lines deterministically."""

from __future__ import annotations

import glob
import gzip
import io
import json
import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
from pyarrow import ipc

TEXT_SUFFIXES = (".txt", ".jsonl", ".json", ".arrow")

# Sentence ends we may cut after (Chinese full-width and unambiguous ASCII ones; "." is left out
# because it also sits inside numbers and abbreviations).
_SENTENCE_END = re.compile(r"(?<=[。！？；…!?;])")


def expand_inputs(specs: Iterable[str]) -> list[Path]:
    """Files named by paths, globs or directories (searched recursively), in a stable order."""
    files: list[Path] = []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and _base_suffix(p) in TEXT_SUFFIXES)
        elif path.is_file():
            found = [path]
        else:
            found = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
        if not found:
            raise FileNotFoundError(f"no input files match {spec!r}")
        files.extend(found)
    return files


def _base_suffix(path: Path) -> str:
    name = path.name.removesuffix(".gz")
    return Path(name).suffix


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def iter_documents(path: Path, lang: str | None = None, stats: Counter | None = None) -> Iterator[str]:
    """Texts in one file. With ``lang``, JSONL/Arrow records whose ``lang`` differs (or is missing)
    are skipped; plain text has no language field and is taken whole."""
    stats = stats if stats is not None else Counter()
    suffix = _base_suffix(path)
    if suffix == ".arrow":
        yield from _iter_arrow(path, lang, stats)
    elif suffix in (".jsonl", ".json"):
        with _open_text(path) as f:
            for line in f:
                if not line.strip():
                    continue
                rec = json.loads(line)
                stats["records"] += 1
                if lang is not None and rec.get("lang") != lang:
                    stats["skipped_lang"] += 1
                    continue
                text = rec.get("text")
                if isinstance(text, str):
                    yield text
    else:
        with _open_text(path) as f:
            for line in f:
                stats["records"] += 1
                yield line


def _iter_arrow(path: Path, lang: str | None, stats: Counter) -> Iterator[str]:
    with pa.memory_map(str(path)) as source:
        try:
            reader = ipc.open_stream(source)
        except pa.ArrowInvalid:  # an Arrow IPC *file* (random-access format) also works
            source.seek(0)
            reader = ipc.open_file(source)
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
        else:
            batches = iter(reader)
        for batch in batches:
            texts = batch.column("text").to_pylist()
            stats["records"] += len(texts)
            if lang is not None:
                names = batch.schema.names
                langs = batch.column("lang").to_pylist() if "lang" in names else [None] * len(texts)
                for text, doc_lang in zip(texts, langs, strict=False):
                    if doc_lang == lang and isinstance(text, str):
                        yield text
                    else:
                        stats["skipped_lang"] += 1
            else:
                yield from (t for t in texts if isinstance(t, str))


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
