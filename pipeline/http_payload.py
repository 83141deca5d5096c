"""The HTTP layer of a WARC ``response`` record: status line, headers, and the body with its
transfer and content encodings undone (chunked; gzip, deflate, brotli)."""

from __future__ import annotations

import re
import zlib

from pipeline.warc import MAX_DECODED_BYTES
from stages.base import Drop

HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xhtml")


def is_html(content_type: str | None, body: bytes) -> bool:
    if content_type:
        mime = content_type.split(";", 1)[0].strip().lower()
        if mime in HTML_TYPES:
            return True
        if mime not in ("", "application/octet-stream", "unknown/unknown", "text/plain"):
            return False
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head


def parse_http_response(
    payload: bytes, max_decoded_bytes: int = MAX_DECODED_BYTES
) -> tuple[int, dict[str, str], bytes] | Drop:
    """Split an HTTP response into status, headers and a decoded body (chunked, gzip, br...).
    A body that would decode to more than ``max_decoded_bytes`` is dropped (``decoded_too_large``)
    before more than that is ever produced."""
    end = payload.find(b"\r\n\r\n")
    sep = 4
    lf_end = payload.find(b"\n\n")
    if end < 0 or (0 <= lf_end < end):
        end, sep = lf_end, 2
    if end < 0:
        return Drop("bad_http_headers")
    lines = payload[:end].decode("latin-1").splitlines()
    status_line = lines[0].split() if lines else []
    if (
        len(status_line) < 2
        or not status_line[0].upper().startswith("HTTP/")
        or not _is_status(status_line[1])
    ):
        return Drop("bad_http_headers")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, found, value = line.partition(":")
        if found:
            headers.setdefault(name.strip().lower(), value.strip())
    body = payload[end + sep :]
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = dechunk(body)
    encoding = headers.get("content-encoding", "").lower().strip()
    if encoding and encoding != "identity":
        decoded = decode_content(body, encoding, max_decoded_bytes)
        if isinstance(decoded, Drop):
            return decoded
        body = decoded
    return int(status_line[1]), headers, body


def _is_status(code: str) -> bool:
    # Three ASCII digits (RFC 9110). str.isdigit alone accepts "²²²", which int() refuses.
    return len(code) == 3 and code.isascii() and code.isdigit()


_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")  # int(x, 16) would also take "-5", "+5" and "1_0"


def dechunk(body: bytes) -> bytes:
    """Undo chunked transfer encoding; if the body is not really chunked, return it as is."""
    out = bytearray()
    pos = 0
    while pos < len(body):
        line_end = body.find(b"\r\n", pos)
        if line_end < 0:
            return body
        size_text = body[pos:line_end].split(b";", 1)[0].strip()
        if not _CHUNK_SIZE.fullmatch(size_text):
            return body  # archivers often store the de-chunked body but keep the header
        size = int(size_text, 16)
        if size == 0:
            return bytes(out)
        out += body[line_end + 2 : line_end + 2 + size]
        pos = line_end + 2 + size + 2
    return bytes(out)


class DecodedTooLarge(Exception):
    """A body decodes to more than the cap; raised as soon as the cap is passed."""


def decode_content(body: bytes, encoding: str, max_bytes: int = MAX_DECODED_BYTES) -> bytes | Drop:
    """``body`` with its Content-Encoding undone; never builds more than about ``max_bytes``."""
    try:
        if encoding in ("gzip", "x-gzip"):
            return _gunzip(body, max_bytes)
        if encoding == "deflate":
            try:
                return _inflate(body, zlib.MAX_WBITS, max_bytes)[0]
            except zlib.error:
                return _inflate(body, -zlib.MAX_WBITS, max_bytes)[0]  # raw deflate, as some servers send
        if encoding == "br":
            return _unbrotli(body, max_bytes)
    except DecodedTooLarge:
        return Drop("decoded_too_large", f"{encoding} body over {max_bytes} bytes")
    except Exception:  # noqa: BLE001 - any decoder failure is the same counted drop
        pass
    # Archivers sometimes store the decoded body but keep the header: accept it if it looks like markup.
    return body if body.lstrip()[:1] == b"<" else Drop("bad_content_encoding", encoding)


def _inflate(data: bytes, wbits: int, max_bytes: int) -> tuple[bytes, bytes]:
    """(the output of one complete zlib/gzip/raw deflate stream at the start of ``data``, what follows it)."""
    inflater = zlib.decompressobj(wbits)
    out = inflater.decompress(data, max_bytes + 1)  # the output limit is what defuses a bomb
    if len(out) > max_bytes:
        raise DecodedTooLarge
    if not inflater.eof:
        raise zlib.error("compressed stream is cut off")
    return out, inflater.unused_data


def _gunzip(data: bytes, max_bytes: int) -> bytes:
    """Like gzip.decompress (members one after the other, zero padding between them), capped."""
    parts = []
    budget = max_bytes
    while data:
        out, data = _inflate(data, 31, budget)
        parts.append(out)
        budget -= len(out)
        data = data.lstrip(b"\0")
    return b"".join(parts)


def _unbrotli(data: bytes, max_bytes: int) -> bytes:
    import brotli

    # output_buffer_limit bounds each call (brotli >= 1.2), so a few KB that expand to gigabytes
    # are stopped after max_bytes; calls with no input continue where the last one stopped.
    decoder = brotli.Decompressor()
    parts = []
    total = 0
    piece = decoder.process(data, output_buffer_limit=_BROTLI_STEP)
    while True:
        parts.append(piece)
        total += len(piece)
        if total > max_bytes:
            raise DecodedTooLarge
        if decoder.is_finished():
            return b"".join(parts)
        if not piece:
            raise ValueError("brotli stream is cut off")
        piece = decoder.process(b"", output_buffer_limit=_BROTLI_STEP)


_BROTLI_STEP = 1 << 20
