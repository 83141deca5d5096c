"""A tolerant, streaming WARC record reader.

Real crawl files are broken in many ways (truncated gzip, whole-file gzip instead of one member
per record, wrong Content-Length, LF-only headers, garbage between records). warcio and FastWARC
stop at the first such fault; this reader reports the fault as a counted problem and resumes at
the next record, so good records before and after a broken one are kept.

Two layers, both generators over bounded memory, whatever the input (a 2 GiB gzip member of
zeros, a record that claims or has gigabytes):
- ``decompressed_chunks`` turns a binary stream (plain or gzip, any number of members) into chunks
  of at most ``READ_SIZE`` bytes, reporting ``bad_gzip`` / ``truncated_gzip`` and skipping to the
  next gzip member on corruption;
- ``iter_records`` cuts that byte stream into ``WarcRecord`` or ``Problem`` items, holding at most
  one record of ``max_record_bytes`` plus a chunk; what it skips it lets go of as it goes.
"""

from __future__ import annotations

import dataclasses
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

READ_SIZE = 1 << 20  # compressed bytes per read, and decompressed bytes per chunk at most
GZIP_MAGIC = b"\x1f\x8b\x08"
# The default of read.max_decoded_mb: a record (or an HTTP body once decoded) larger than this is
# skipped and counted, never held whole: one giant or hostile record must not exhaust a worker.
MAX_DECODED_BYTES = 32_000_000
MAX_HEADER_BYTES = 1 << 16  # a WARC header block is a few hundred bytes; search no further
_VERSION_MARKS = (b"WARC/1.", b"WARC/0.")
_NOT_BLANK = re.compile(rb"\S")
_VERSION_LINE = re.compile(rb"WARC/[01]\.[0-9]+\r?\n[!-9;-~]+:")  # the version, then a header field
_LOOKAHEAD = 64  # bytes after a candidate mark needed to judge it


@dataclasses.dataclass(slots=True)
class WarcRecord:
    headers: dict[str, str]  # header names lower-cased; the first value wins on repeats
    body: bytes
    offset: int  # offset of the record in the decompressed stream
    repaired: str = ""  # which length fault was repaired, if any (counted, content kept)

    @property
    def type(self) -> str:
        return self.headers.get("warc-type", "").lower()


@dataclasses.dataclass(slots=True)
class Problem:
    reason: str
    offset: int
    detail: str = ""


def decompressed_chunks(
    raw: BinaryIO, report: Callable[[str, str], None], start: int = 0, end: int | None = None
) -> Iterator[bytes]:
    """Yield the decompressed bytes of ``raw``; detect gzip by magic, not by file name.

    With a byte range (``raw`` positioned at ``start``), only the gzip members that *begin* in
    ``[start, end)`` are read, each in full: ranges that tile a file read every member exactly
    once, so one large multi-member file (CommonCrawl writes one member per record) can be read
    by several workers. A range after the first starts at the first member found in it whose
    content begins with a WARC header; a file with one member for everything (or none) is read
    entirely by the range that holds offset 0."""
    raw = _Counted(raw)
    if start > 0:
        head, offset = first_member(raw, start)
        if not head or (end is not None and offset >= end):
            return  # no member begins in this range
    else:
        head = raw.read(READ_SIZE)
    if not head.startswith(GZIP_MAGIC[:2]):
        if start > 0:
            return
        while head:
            yield head
            head = raw.read(READ_SIZE)
        return
    pending = head
    inflater = zlib.decompressobj(31)
    in_member = True  # inside a gzip member whose end we have not seen yet
    while True:
        if len(pending) < len(GZIP_MAGIC):
            # A member may begin in the last byte or two of a read: never judge a partial magic.
            more = raw.read(READ_SIZE)
            if not more and not pending:
                break
            pending += more
        if not in_member:
            if end is not None and start + raw.total - len(pending) >= end:
                if len(pending) < 65536:
                    pending += raw.read(READ_SIZE)
                if _starts_warc(pending):
                    return  # the next record begins in the following range
                # A member that continues a record (or is not WARC at all) belongs to this range:
                # the next range skips it, as it starts at a member beginning with a WARC header.
            # Between members: the next bytes must start a new member. Anything else is
            # garbage (e.g. an appended non-gzip fragment); skip to the next gzip magic.
            if not pending.startswith(GZIP_MAGIC):
                report("bad_gzip", "data between gzip members")
                pending = _seek_magic(raw, pending)
                if not pending:
                    return
            inflater = zlib.decompressobj(31)
            in_member = True
        rest = pending
        try:
            # Output is taken READ_SIZE at a time: 1 MiB of input can inflate to 1 GiB.
            while True:
                out = inflater.decompress(rest, READ_SIZE)
                rest = inflater.unconsumed_tail
                if out:
                    yield out
                if inflater.eof or len(out) < READ_SIZE:
                    break
        except zlib.error as exc:
            report("bad_gzip", str(exc))
            # Resume at the next member after the corrupt one.
            pending = _seek_magic(raw, rest[1:])
            in_member = False
            if not pending:
                return
            continue
        if inflater.eof:
            pending = inflater.unused_data
            in_member = False
        else:
            pending = b""
    if in_member:
        tail = inflater.flush()
        if tail:
            yield tail
        report("truncated_gzip", "stream ended inside a gzip member")


class _Counted:
    """A raw stream that counts the bytes read from it (to know file offsets in range reads)."""

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.total = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.total += len(data)
        return data


def _starts_warc(data: bytes) -> bool:
    """Whether ``data`` begins a gzip member whose content begins with a WARC header."""
    if not data.startswith(GZIP_MAGIC):
        return False
    try:
        return zlib.decompressobj(31).decompress(data[:65536], 8).startswith(b"WARC/")
    except zlib.error:
        return False


def first_member(raw: BinaryIO, start: int) -> tuple[bytes, int]:
    """(bytes from the first gzip member at or after ``start`` whose content starts with
    ``WARC/``, its file offset); (b"", start) when there is none. ``raw`` is at ``start``."""
    data = raw.read(READ_SIZE)
    base = start
    while data:
        pos = data.find(GZIP_MAGIC)
        while pos >= 0:
            if len(data) - pos < 65536:  # enough compressed bytes to check the header
                more = raw.read(READ_SIZE)
                data += more
            if _starts_warc(data[pos:]):
                return data[pos:], base + pos
            pos = data.find(GZIP_MAGIC, pos + 1)
        keep = data[-2:]
        base += len(data) - len(keep)
        more = raw.read(READ_SIZE)
        if not more:
            break
        data = keep + more
    return b"", start


def _seek_magic(raw: BinaryIO, data: bytes) -> bytes:
    """Return ``data`` (plus more of ``raw``) from the next gzip magic on, or b"" at EOF."""
    while True:
        pos = data.find(GZIP_MAGIC)
        if pos >= 0:
            return data[pos:]
        keep = data[-2:]
        more = raw.read(READ_SIZE)
        if not more:
            return b""
        data = keep + more


class _Buffer:
    """A growable window over an iterator of byte chunks, with an absolute offset."""

    def __init__(self, chunks: Iterable[bytes]):
        self.chunks = iter(chunks)
        self.data = bytearray()
        self.pos = 0  # read position in ``data``
        self.base = 0  # absolute offset of data[0]
        self.eof = False

    def fill(self) -> bool:
        if self.eof:
            return False
        chunk = next(self.chunks, None)
        if chunk is None:
            self.eof = True
            return False
        self.data += chunk
        return True

    def compact(self) -> None:
        """Drop consumed bytes. Only call between records: it shifts every window index."""
        if self.pos > (1 << 22) and self.pos > len(self.data) // 2:
            self.release(self.pos)

    def release(self, upto: int) -> None:
        """Forget the bytes before window index ``upto``; shifts every window index."""
        if upto > 0:
            del self.data[:upto]
            self.base += upto
            self.pos -= upto

    def find(self, needle: bytes, start: int, limit: int | None = None) -> int:
        """Window index of ``needle`` at/after ``start`` (and before ``start + limit``), reading
        more as needed but never past the limit."""
        end = None if limit is None else start + limit
        scan = start
        while True:
            i = self.data.find(needle, scan, end)
            if i >= 0:
                return i
            if end is not None and len(self.data) >= end:
                return -1
            scan = max(scan, len(self.data) - len(needle) + 1)
            if not self.fill():
                return -1

    def ensure(self, end: int) -> bool:
        while len(self.data) < end:
            if not self.fill():
                return False
        return True

    @property
    def offset(self) -> int:
        return self.base + self.pos


def _record_start_in(data: bytearray, scan: int, line_start: int, final: bool, end: int | None = None) -> int:
    """Index of the first record start in ``data`` at/after ``scan`` (and before ``end``), -1 if
    there is none. A record starts with a WARC version mark at the start of a line (``line_start``
    counts as one), or anywhere if a header field follows it (the mark then follows data that is
    not a record, e.g. zeros, with no line break). Unless ``final`` (no more data will come), a
    candidate too close to the end to be judged ends the scan: callers read more and scan again
    from ``_LOOKAHEAD`` bytes before the end."""
    i = data.find(b"WARC/", scan, end)
    while i >= 0:
        if not final and i > len(data) - 7:
            return -1
        if data[i : i + 7] in _VERSION_MARKS:
            if i == line_start or (i > 0 and data[i - 1] in (0x0A, 0x0D)):
                return i
            if not final and i > len(data) - _LOOKAHEAD:
                return -1
            if _VERSION_LINE.match(data, i):
                return i
        i = data.find(b"WARC/", i + 1, end)
    return -1


def _find_record_start(buf: _Buffer, start: int, limit: int) -> int:
    """Window index of the next record start at/after ``start`` (a line start), reading more as
    needed but not past ``start + limit``; -1 if there is none there."""
    end = start + limit
    scan = start
    while True:
        i = _record_start_in(buf.data, scan, start, buf.eof, end)
        if i >= 0 or buf.eof or len(buf.data) >= end + _LOOKAHEAD:
            return i
        scan = max(start, len(buf.data) - _LOOKAHEAD)
        buf.fill()


def _skip_to_record_start(buf: _Buffer) -> tuple[int, bool]:
    """Move ``buf.pos`` to the next record start (the end of the stream if there is none), letting
    go of what it passes over as it goes: skipping gigabytes holds one chunk. Returns the number of
    bytes passed over and whether any of them was not blank."""
    passed, not_blank = 0, False
    entry = buf.offset  # the position after a record (or the stream start) counts as a line start
    while True:
        i = _record_start_in(buf.data, buf.pos, entry - buf.base, buf.eof)
        if i >= 0:
            stop = i
        elif buf.eof:
            stop = len(buf.data)
        else:  # keep the bytes a record start may still begin in, and the one byte before them
            stop = max(buf.pos, len(buf.data) - _LOOKAHEAD)
        if stop > buf.pos:
            not_blank = not_blank or _NOT_BLANK.search(buf.data, buf.pos, stop) is not None
            passed += stop - buf.pos
            buf.pos = stop
        if i >= 0 or buf.eof:
            return passed, not_blank
        buf.release(buf.pos - 1)
        buf.fill()


def _declared_length(text: str) -> int:
    """Content-Length as a number, -1 when missing or not ASCII digits (str.isdigit accepts "²",
    which int() refuses). A length of 19 digits or more is past any limit; int() refuses 4,300."""
    if not (text.isascii() and text.isdigit()):
        return -1
    return int(text) if len(text) < 19 else 10**18


def _parse_headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    last = None
    for line in block.split(b"\n")[1:]:  # first line is the version
        line = line.rstrip(b"\r")
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and last is not None:
            headers[last] += " " + line.strip().decode("utf-8", "replace")
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        key = name.strip().decode("latin-1").lower()
        last = key
        headers.setdefault(key, value.strip().decode("utf-8", "replace"))
    return headers


def iter_records(
    chunks: Iterable[bytes], max_record_bytes: int = MAX_DECODED_BYTES
) -> Iterator[WarcRecord | Problem]:
    """Cut a decompressed byte stream into WARC records.

    Length faults are repaired, not fatal: when Content-Length is missing or wrong, or the stream
    ends inside a body, the body runs to the next WARC header line (or EOF) and the record carries
    ``repaired`` naming the fault, so its content is kept and the repair is counted. A length that
    is followed by the proper record end (CRLF CRLF) is trusted even when what comes next is not a
    record: that data is counted as ``not_warc_data``, never appended to the record. Only data that
    is not a record at all (garbage, headers that never end) becomes a ``Problem``, and so does a
    record over ``max_record_bytes`` (``record_too_large``), which is passed over without being held.
    """
    buf = _Buffer(chunks)
    buf.fill()
    while True:
        buf.compact()
        offset = buf.offset
        passed, not_blank = _skip_to_record_start(buf)
        if not_blank:
            yield Problem("not_warc_data", offset, f"{passed} bytes are not a WARC record")
        if buf.pos >= len(buf.data):
            return
        start = buf.pos
        offset = buf.offset
        # Header block ends at the first empty line; accept LF-only files too.
        end_crlf = buf.find(b"\r\n\r\n", start, MAX_HEADER_BYTES)
        # An LF-only header end only counts if it comes first; bounded by the CRLF one, this
        # search is a few hundred bytes instead of 64 KiB per record.
        end_lf = buf.find(b"\n\n", start, (end_crlf - start) if end_crlf >= 0 else MAX_HEADER_BYTES)
        ends = [(e, 4) for e in (end_crlf,) if e >= 0] + [(e, 2) for e in (end_lf,) if e >= 0]
        if not ends:
            if buf.ensure(start + MAX_HEADER_BYTES):
                # Plenty of data but no end of headers: this was not a real header; resync.
                yield Problem("bad_warc_header", offset, "no end of headers within 64 KiB")
                buf.pos = start + 5
                continue
            yield Problem("truncated_record", offset, "headers never end")
            return
        head_end, sep_len = min(ends)
        headers = _parse_headers(bytes(buf.data[start:head_end]))
        body_start = head_end + sep_len
        repaired = ""
        length = _declared_length(headers.get("content-length", ""))
        if length > max_record_bytes:
            yield Problem("record_too_large", offset, f"Content-Length {length}")
            buf.pos = body_start
            _skip_to_record_start(buf)  # the body, counted with its record
            continue
        if length < 0:
            repaired = "missing_content_length"
        elif not buf.ensure(body_start + length):
            repaired = "truncated_record"
        else:
            # A correct body is followed by blank lines, then the next record or EOF.
            buf.ensure(body_start + length + 16)
            tail = bytes(buf.data[body_start + length : body_start + length + 16])
            after = tail.lstrip(b"\r\n")
            if after and not after.startswith(b"WARC/") and not tail.startswith(b"\r\n\r\n"):
                repaired = "bad_content_length"
        if repaired:
            body_end = _find_record_start(buf, body_start, max_record_bytes + 4)
            if body_end < 0 and len(buf.data) > body_start + max_record_bytes + 4:
                yield Problem("record_too_large", offset, f"no record end within {max_record_bytes} bytes")
                buf.pos = body_start + max_record_bytes
                _skip_to_record_start(buf)  # the rest of the body, counted with its record
                continue
            if body_end < 0:
                body_end = len(buf.data)
            body = bytes(buf.data[body_start:body_end]).rstrip(b"\r\n")
            if len(body) > max_record_bytes:
                yield Problem("record_too_large", offset, f"{len(body)} bytes")
                buf.pos = body_end
                continue
        else:
            body_end = body_start + length
            body = bytes(buf.data[body_start:body_end])
        buf.pos = body_end
        yield WarcRecord(headers, body, offset, repaired)
