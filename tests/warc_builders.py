"""Build small WARC records, and large hostile gzip streams without holding them in memory.

Used by tests/test_hostile_read.py (KB-sized inputs) and benchmarks/bench_hostile.py (the sizes
found in issue 18: bombs inflating to gigabytes, a 300 MB record), so both build the same shapes.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import BinaryIO

PAGE = b"<html><body><p>a good page</p></body></html>"
ZEROS = bytes(1 << 20)


def warc_record(rtype: str, block: bytes, rid: str, content_type: str, length: str | None = None) -> bytes:
    """One WARC/1.0 record with its closing CRLF CRLF; ``length`` overrides Content-Length
    ("" leaves the header's value empty)."""
    return (
        warc_head(rtype, rid, content_type, str(len(block)) if length is None else length)
        + block
        + b"\r\n\r\n"
    )


def warc_head(rtype: str, rid: str, content_type: str, length: str) -> bytes:
    return (
        f"WARC/1.0\r\nWARC-Type: {rtype}\r\nWARC-Record-ID: <urn:uuid:{rid}>\r\n"
        f"WARC-Target-URI: https://example.com/{rid}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def text_record(text: str, rid: str, length: str | None = None) -> bytes:
    """A WET-style ``conversion`` record holding plain text."""
    return warc_record("conversion", text.encode(), rid, "text/plain", length)


def http_record(body: bytes, rid: str, headers: str = "", status: str = "200 OK") -> bytes:
    """A ``response`` record: an HTML HTTP response with extra header lines ``headers``."""
    payload = f"HTTP/1.1 {status}\r\nContent-Type: text/html\r\n{headers}\r\n".encode() + body
    return warc_record("response", payload, rid, "application/http; msgtype=response")


def zeros(n: int) -> Iterator[bytes]:
    """``n`` zero bytes, a MiB at a time."""
    while n > 0:
        yield ZEROS[: min(n, len(ZEROS))]
        n -= len(ZEROS)


def compressed(parts: Iterable[bytes], wbits: int = 31) -> Iterator[bytes]:
    """One zlib stream (31: a gzip member, 15: zlib, -15: raw deflate) of ``parts``, streamed."""
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    for part in parts:
        yield packer.compress(part)
    yield packer.flush()


def write_gzip_member(out: BinaryIO, parts: Iterable[bytes]) -> None:
    for piece in compressed(parts):
        out.write(piece)
