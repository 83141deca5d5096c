"""Finding and opening input files: globs, CommonCrawl listings, any Beam filesystem, HTTPS.

Expansion happens on the workers at run time (a listing or a gs:// glob is never resolved on the
launcher); the launcher only checks that local patterns match something, so a typo is a clear
configuration error instead of an empty run.
"""

from __future__ import annotations

import glob
import io
import os
import urllib.request
from collections.abc import Iterator
from typing import BinaryIO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipeline.readers import input_format, read_file
from pipeline.warc import decompressed_chunks
from stages.base import Doc

LISTING_SUFFIXES = (".paths.gz", ".paths")


def is_listing(path: str) -> bool:
    return path.lower().endswith(LISTING_SUFFIXES)


def is_url(path: str) -> bool:
    return path.startswith(("http://", "https://"))


def has_scheme(path: str) -> bool:
    return "://" in path


def open_input(path: str) -> BinaryIO:
    """A raw binary stream (never auto-decompressed: the readers handle broken gzip themselves)."""
    if is_url(path):
        return urllib.request.urlopen(path, timeout=120)  # noqa: S310 - user-given input URL
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def documents_in(path: str) -> Iterator[Doc]:
    """The documents of one file, outside Beam (tools such as the quality-model and tokenizer
    trainers): the pipeline's own tolerant readers, HTML records skipped, drops not counted."""
    with open_input(path) as raw:
        for item in read_file(raw, path, input_format(path), extract_enabled=False):
            if isinstance(item, dict):
                yield item


def read_listing(path: str, base_url: str) -> Iterator[str]:
    """Entries of a CommonCrawl ``warc.paths.gz``/``wet.paths.gz``, resolved against ``base_url``."""
    with open_input(path) as raw:
        data = b"".join(decompressed_chunks(raw, lambda reason, detail: None))
    for line in io.StringIO(data.decode("utf-8", "replace")):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        yield entry if has_scheme(entry) else base_url.rstrip("/") + "/" + entry.lstrip("/")


def expand_input(pattern: str, base_url: str) -> Iterator[tuple[str, int | None]]:
    """(path, size or None) for every file a pattern, listing or URL names."""
    if is_listing(pattern):
        for entry in read_listing(pattern, base_url):
            yield from expand_input(entry, base_url)
        return
    if is_url(pattern):
        yield pattern, None
        return
    if pattern.endswith("/") or (not has_scheme(pattern) and os.path.isdir(pattern)):
        pattern = FileSystems.join(pattern, "*")  # a folder means every file in it
    result = FileSystems.match([pattern])[0]
    for meta in sorted(result.metadata_list, key=lambda m: m.path):
        if not meta.path.endswith("/"):
            yield meta.path, meta.size_in_bytes


def check_local_inputs(patterns: list[str]) -> int | None:
    """Raise FileNotFoundError naming a local pattern that matches nothing; return the total
    size of local inputs (for the progress ETA), or None when some input is remote."""
    total = 0
    known = True
    for pattern in patterns:
        if has_scheme(pattern):
            known = False
            continue
        if os.path.isdir(pattern):
            pattern = os.path.join(pattern, "*")
        matches = [m for m in glob.glob(pattern, recursive=True) if os.path.isfile(m)]
        if not matches:
            raise FileNotFoundError(pattern)
        if is_listing(pattern):
            known = False
            continue
        total += sum(os.path.getsize(m) for m in matches)
    return total if known else None
