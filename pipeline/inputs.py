"""Finding and opening input files: folders, globs, CommonCrawl listings, any Beam filesystem, HTTPS.

``expand_input`` is the one expander: the pipeline's workers, the launcher's check and the
quality-model and tokenizer trainers (``expand_patterns``) all use it. A folder means every file
under it, recursively (hidden entries such as a run's ``.tmp-*`` folders excepted). Local walks
follow symbolic links but never into a loop, and skip what is not a regular file (a FIFO would
block ``open`` forever) or is a dangling link: each skipped entry is yielded as ``Skipped`` so it is
named and counted, never silently lost.

Expansion happens on the workers at run time (a listing or a gs:// glob is never resolved on the
launcher); the launcher only checks that local patterns match something, so a typo is a clear
configuration error instead of an empty run.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import stat
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipeline.readers import ReadOptions, input_format, read_file, stream_lines
from stages.base import Doc

log = logging.getLogger("pipeline")

LISTING_SUFFIXES = (".paths.gz", ".paths")
DEFAULT_CC_BASE_URL = "https://data.commoncrawl.org/"


class NoMatch(FileNotFoundError):
    """An input pattern that matches no file; ``str()`` says so in one line."""

    def __init__(self, pattern: str):
        super().__init__(pattern)
        self.pattern = pattern

    def __str__(self) -> str:
        return f"{self.pattern!r} matches no file"


@dataclasses.dataclass(frozen=True)
class Skipped:
    """An entry an input pattern names that is not read: counted as ``read.drop.<reason>``."""

    path: str
    reason: str  # not_regular_file, dangling_symlink, symlink_loop


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


def documents_in(path: str, options: ReadOptions | None = None) -> Iterator[Doc]:
    """The documents of one file, outside Beam (tools such as the quality-model and tokenizer
    trainers): the pipeline's own tolerant readers, HTML records skipped, drops not counted."""
    options = options or ReadOptions(extract_enabled=False)
    with open_input(path) as raw:
        for item in read_file(raw, path, input_format(path), options):
            if isinstance(item, dict):
                yield item


def read_listing(path: str, base_url: str) -> Iterator[str]:
    """Entries of a CommonCrawl ``warc.paths.gz``/``wet.paths.gz``, resolved against ``base_url``."""
    with open_input(path) as raw:
        # Streamed line by line: a listing of ~100,000 paths stays small, a bomb posing as one too.
        for _, line in stream_lines(raw, lambda reason, detail: None, max_line=1 << 16):
            entry = line.decode("utf-8", "replace").strip() if line is not None else ""
            if not entry or entry.startswith("#"):
                continue
            yield entry if has_scheme(entry) else base_url.rstrip("/") + "/" + entry.lstrip("/")


# ----------------------------------------------------------------------------- local walks


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob over relative paths: ``*``, ``?`` and ``[...]`` within one name, ``**`` across folders."""
    out = []
    for part in pattern.split("/"):
        if part == "**":
            out.append("(?:[^/]+/)*")
            continue
        i = 0
        while i < len(part):
            ch = part[i]
            close = part.find("]", i + 2) if ch == "[" else -1
            if ch == "*":
                out.append("[^/]*")
            elif ch == "?":
                out.append("[^/]")
            elif close > 0:
                body = part[i + 1 : close]
                out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
                i = close
            else:
                out.append(re.escape(ch))
            i += 1
        out.append("/")
    return re.compile("".join(out).removesuffix("/") + r"\Z", re.DOTALL)


def _walk(root: str) -> Iterator[tuple[str, int] | Skipped]:
    """Every regular file under ``root`` (sorted), following links but never into a loop."""
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            info = os.stat(folder)
        except OSError:
            yield Skipped(folder, "dangling_symlink")
            continue
        if (info.st_dev, info.st_ino) in seen:
            yield Skipped(folder, "symlink_loop")
            continue
        seen.add((info.st_dev, info.st_ino))
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            found = _file_entry(entry.path)
            if found == "folder":
                subfolders.append(entry.path)
            elif found is not None:
                yield found
        stack.extend(reversed(subfolders))


def _file_entry(path: str) -> tuple[str, int] | Skipped | str | None:
    """(path, size) for a regular file, ``"folder"``, or why it is skipped."""
    try:
        info = os.stat(path)
    except OSError:
        return Skipped(path, "dangling_symlink") if os.path.islink(path) else None
    if stat.S_ISDIR(info.st_mode):
        return "folder"
    if not stat.S_ISREG(info.st_mode):
        return Skipped(path, "not_regular_file")
    return path, info.st_size


def _local_matches(pattern: str) -> Iterator[tuple[str, int] | Skipped]:
    pattern = os.path.expanduser(pattern)
    if not any(ch in pattern for ch in "*?["):
        found = _file_entry(pattern)
        if found == "folder":
            yield from _walk(pattern)
        elif found is not None:
            yield found
        return
    # The folder part before the first wildcard is walked; the rest is matched as a glob.
    parts = pattern.split(os.sep)
    first = next(i for i, part in enumerate(parts) if any(ch in part for ch in "*?["))
    base = os.sep.join(parts[:first]) or (os.sep if pattern.startswith(os.sep) else ".")
    matcher = _glob_regex("/".join(parts[first:]))
    for found in _walk(base):
        path = found.path if isinstance(found, Skipped) else found[0]
        if matcher.match(os.path.relpath(path, base).replace(os.sep, "/")):
            yield found


# ----------------------------------------------------------------------------- the expander


def expand_input(
    pattern: str, base_url: str = DEFAULT_CC_BASE_URL
) -> Iterator[tuple[str, int | None] | Skipped]:
    """(path, size or None) for every file a pattern, folder, listing or URL names, and a
    ``Skipped`` for every entry it names that cannot be read as a file."""
    if is_listing(pattern):
        for entry in read_listing(pattern, base_url):
            yield from expand_input(entry, base_url)
        return
    if is_url(pattern):
        yield pattern, None
        return
    if not has_scheme(pattern):
        yield from _local_matches(pattern)
        return
    if pattern.endswith("/"):
        pattern = FileSystems.join(pattern, "**")  # a folder means every file under it
    result = FileSystems.match([pattern])[0]
    for meta in sorted(result.metadata_list, key=lambda m: m.path):
        if not meta.path.endswith("/"):
            yield meta.path, meta.size_in_bytes


def expand_counted(
    pattern: str, base_url: str, drop: Callable[[str], None]
) -> Iterator[tuple[str, int | None]]:
    """``(path, size)`` of every file ``pattern`` names, for a run: what it names but cannot be read
    (a FIFO, a link loop) and a pattern that yields nothing (or whose listing fails) are logged
    and reported to ``drop(reason)``, one call per input lost."""
    found = False
    try:
        for item in expand_input(pattern, base_url):
            if isinstance(item, Skipped):
                log.warning("input %s: %s skipped (%s)", pattern, item.path, item.reason.replace("_", " "))
                drop(item.reason)
                continue
            found = True
            yield item
    except Exception as exc:  # noqa: BLE001 - a bad listing is one counted drop, not a failed run
        log.warning("input %s cannot be expanded: %s", pattern, exc)
    if not found:
        log.warning("input %s matches no file", pattern)
        drop("input_not_found")


def expand_patterns(patterns: Iterable[str], base_url: str = DEFAULT_CC_BASE_URL) -> list[str]:
    """The files of every pattern, each file once, in order: for tools that read inputs outside
    Beam. Raises NoMatch (a FileNotFoundError) naming a pattern that matches no file."""
    files: list[str] = []
    seen: set[str] = set()
    for pattern in patterns:
        found = [item[0] for item in expand_input(pattern, base_url) if not isinstance(item, Skipped)]
        if not found:
            raise NoMatch(pattern)
        for path in found:
            if path not in seen:
                seen.add(path)
                files.append(path)
    return files


def check_local_inputs(patterns: list[str]) -> int | None:
    """Raise FileNotFoundError naming a local pattern that matches nothing; return the total
    size of local inputs (for the progress ETA), or None when some input is remote."""
    total = 0
    known = True
    for pattern in patterns:
        if has_scheme(pattern):
            known = False
            continue
        if is_listing(pattern):
            if not os.path.isfile(pattern):
                raise FileNotFoundError(pattern)
            known = False
            continue
        files = [item for item in _local_matches(pattern) if not isinstance(item, Skipped)]
        if not files:
            raise FileNotFoundError(pattern)
        total += sum(size for _, size in files)
    return total if known else None
