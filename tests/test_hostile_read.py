"""One hostile record costs one counted drop, never the run (issue 18, the reader's part).

Every input here is built by the test and small (KB, a few MB inflated at most: the caps are set
low so a bomb needs little). Each test checks that the read ends, that every record is accounted
for exactly once (documents + drops), that the good records around the hostile one come out, and
that the hostile one is counted under its own reason. Peak memory is measured in
benchmarks/bench_hostile.py, not here.
"""

from __future__ import annotations

import gzip
import io

import pytest

from pipeline.readers import read_warc
from pipeline.warc import READ_SIZE, decompressed_chunks, iter_records
from stages.base import Drop


def warc_record(rtype: str, block: bytes, rid: str, content_type: str, length: str | None = None) -> bytes:
    length = str(len(block)) if length is None else length
    head = (
        f"WARC/1.0\r\nWARC-Type: {rtype}\r\nWARC-Record-ID: <urn:uuid:{rid}>\r\n"
        f"WARC-Target-URI: https://example.com/{rid}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    )
    return head.encode() + block + b"\r\n\r\n"


def text_record(text: str, rid: str, length: str | None = None) -> bytes:
    return warc_record("conversion", text.encode(), rid, "text/plain", length)


def member_of_size(size: int, rid: str) -> bytes:
    """A stored (level 0) gzip member of exactly ``size`` bytes holding one record."""
    text_len = size
    while True:
        member = gzip.compress(text_record("t" * text_len, rid), compresslevel=0, mtime=0)
        if len(member) == size:
            return member
        text_len += size - len(member)


@pytest.mark.parametrize("before_boundary", [1, 2, 3])
def test_member_starting_just_before_a_read_boundary_is_not_bad_gzip(before_boundary):
    first = member_of_size(READ_SIZE - before_boundary, "a")
    data = first + gzip.compress(text_record("second", "b"), mtime=0)
    problems = []
    records = list(iter_records(decompressed_chunks(io.BytesIO(data), lambda *p: problems.append(p))))
    assert problems == [] and len(records) == 2
    # Byte ranges that tile the file, one boundary right at the second member: each record once.
    for split in (len(first) - 1, len(first), len(first) + 1):
        texts, drops = [], []
        for start, end in ((0, split), (split, None)):
            raw = io.BytesIO(data)
            raw.seek(start)
            for item in read_warc(raw, "mem.warc.gz", start=start, end=end):
                (drops if isinstance(item, Drop) else texts).append(item)
        assert [d["text"][:6] for d in texts] == ["tttttt", "second"] and drops == [], split
