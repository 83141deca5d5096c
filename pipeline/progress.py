"""Progress a person can follow while a run goes: documents read/kept, MB/s, elapsed, ETA.

One tracker per worker process (module state, created lazily on the worker, never at graph
construction). Readers and writers report into it; it prints at most every few seconds to stderr,
rewriting one line on a terminal. With several worker processes each prints its own totals.
In a chunked run (pipeline.chunks) each line names the chunk and adds an ETA for the whole run.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time


@dataclasses.dataclass(frozen=True)
class ChunkProgress:
    """Where a chunk stands in a chunked run: its ``label`` ("chunk 3/10"), the input bytes of
    the chunks still to run after it, and the input bytes per second of this session's earlier
    chunks (None before the first: this chunk's own rate is used)."""

    label: str
    bytes_after: int
    rate: float | None = None


def eta(bytes_left: float, bytes_done: float, elapsed: float) -> float | None:
    """Seconds left at the rate so far (None before anything is done)."""
    if bytes_done <= 0 or elapsed <= 0:
        return None
    return max(bytes_left, 0) * elapsed / bytes_done


class Progress:
    def __init__(self, total_bytes: int | None, interval: float, chunk: ChunkProgress | None = None):
        self.total_bytes = total_bytes
        self.chunk = chunk
        self.interval = interval
        self.start = time.monotonic()
        self.last_print = self.start  # first line after one interval, not at once
        self.bytes_read = 0
        self.docs_read = 0
        self.docs_kept = 0
        # A worker's stderr may be the launcher's pipe to a terminal (pipeline.run's interrupt gate).
        self.tty = sys.stderr.isatty() or os.environ.get("CC_PIPELINE_TTY") == "1"

    def add(self, bytes_read: int = 0, docs_read: int = 0, docs_kept: int = 0) -> None:
        self.bytes_read += bytes_read
        self.docs_read += docs_read
        self.docs_kept += docs_kept
        now = time.monotonic()
        if now - self.last_print >= self.interval:
            self.last_print = now
            self.show(now)

    def line(self, now: float) -> str:
        elapsed = max(now - self.start, 1e-9)
        mb = self.bytes_read / 1e6
        parts = [
            f"read {self.docs_read:,} docs",
            f"{mb:,.1f} MB at {mb / elapsed:.1f} MB/s",
            f"kept {self.docs_kept:,}",
            f"elapsed {clock(elapsed)}",
        ]
        if self.total_bytes and self.bytes_read:
            left = eta(self.total_bytes - self.bytes_read, self.bytes_read, elapsed) or 0.0
            parts.append(f"ETA {clock(left)} ({100 * self.bytes_read / self.total_bytes:.0f}%)")
            if self.chunk is not None:
                rate = self.chunk.rate or self.bytes_read / elapsed
                parts.append(f"run ETA {clock(left + self.chunk.bytes_after / rate)}")
        if self.chunk is not None:
            parts.insert(0, self.chunk.label)
        return " | ".join(parts)

    def show(self, now: float | None = None) -> None:
        text = self.line(now or time.monotonic())
        if self.tty:
            sys.stderr.write("\r\x1b[K" + text)
        else:
            sys.stderr.write(f"[progress pid {os.getpid()}] {text}\n")
        sys.stderr.flush()


_tracker: Progress | None = None


def tracker(total_bytes: int | None, interval: float, chunk: ChunkProgress | None = None) -> Progress:
    global _tracker
    if _tracker is None:
        _tracker = Progress(total_bytes, interval, chunk)
    return _tracker


def clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
