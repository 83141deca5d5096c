"""The HTTP layer of a WARC ``response`` record: status line, headers, and the body with its
transfer and content encodings undone (chunked; gzip, deflate, brotli)."""

from __future__ import annotations

import gzip
import zlib

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


def parse_http_response(payload: bytes) -> tuple[int, dict[str, str], bytes] | Drop:
    """Split an HTTP response into status, headers and a decoded body (chunked, gzip, br...)."""
    end = payload.find(b"\r\n\r\n")
    sep = 4
    lf_end = payload.find(b"\n\n")
    if end < 0 or (0 <= lf_end < end):
        end, sep = lf_end, 2
    if end < 0:
        return Drop("bad_http_headers")
    lines = payload[:end].decode("latin-1").splitlines()
    status_line = lines[0].split() if lines else []
    if len(status_line) < 2 or not status_line[0].upper().startswith("HTTP/") or not status_line[1].isdigit():
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
        decoded = decode_content(body, encoding)
        if decoded is None:
            return Drop("bad_content_encoding", encoding)
        body = decoded
    return int(status_line[1]), headers, body


def dechunk(body: bytes) -> bytes:
    """Undo chunked transfer encoding; if the body is not really chunked, return it as is."""
    out = bytearray()
    pos = 0
    while pos < len(body):
        line_end = body.find(b"\r\n", pos)
        if line_end < 0:
            return body
        size_text = body[pos:line_end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return body  # archivers often store the de-chunked body but keep the header
        if size == 0:
            return bytes(out)
        out += body[line_end + 2 : line_end + 2 + size]
        pos = line_end + 2 + size + 2
    return bytes(out)


def decode_content(body: bytes, encoding: str) -> bytes | None:
    try:
        if encoding in ("gzip", "x-gzip"):
            return gzip.decompress(body)
        if encoding == "deflate":
            try:
                return zlib.decompress(body)
            except zlib.error:
                return zlib.decompress(body, -15)  # raw deflate, as some servers send
        if encoding == "br":
            import brotli

            return brotli.decompress(body)
    except Exception:  # noqa: BLE001 - any decoder failure is the same counted drop
        # Archivers sometimes store the decoded body but keep the header: accept it if it looks like markup.
        return body if body.lstrip()[:1] == b"<" else None
    return body if body.lstrip()[:1] == b"<" else None
