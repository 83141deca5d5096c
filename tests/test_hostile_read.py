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
import json
import zlib

import brotli
import pytest
from conftest import read_shards
from warc_builders import PAGE, compressed, http_record, text_record, zeros

import pipeline.readers
from pipeline.config import ConfigError, load_config
from pipeline.http_payload import dechunk, decode_content, parse_http_response
from pipeline.readers import Note, read_warc
from pipeline.run import main
from pipeline.warc import READ_SIZE, decompressed_chunks, iter_records
from stages.base import Drop

CAP = 1_000_000  # max_decoded_bytes for these tests: a "bomb" only has to pass 1 MB


def read(data: bytes, cap: int = CAP, **kwargs) -> tuple[list, list[tuple[str, str]], list[str]]:
    """(documents, drops as (reason, detail), notes) of one in-memory WARC file."""
    docs, drops, notes = [], [], []
    for item in read_warc(io.BytesIO(data), "mem.warc", max_decoded_bytes=cap, **kwargs):
        if isinstance(item, Drop):
            drops.append((item.reason, item.detail))
        elif isinstance(item, Note):
            notes.append(item.key)
        else:
            docs.append(item)
    return docs, drops, notes


def reasons(drops: list[tuple[str, str]]) -> list[str]:
    return [reason for reason, _ in drops]


def gzip_of_zeros(n: int) -> bytes:
    return b"".join(compressed(zeros(n)))


# ----------------------------------------------------------------------------- decoder caps


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate", "br"])
def test_content_encoding_bomb_is_one_counted_drop(encoding):
    inflated = bytes(3 * CAP)  # 3 MB of zeros: a few KB on the wire
    body = {
        "gzip": lambda: gzip.compress(inflated, mtime=0),
        "deflate": lambda: zlib.compress(inflated, 9),
        "raw-deflate": lambda: zlib.compress(inflated, 9)[2:-4],
        "br": lambda: brotli.compress(inflated, quality=5),
    }[encoding]()
    assert len(body) < 20_000
    header = "deflate" if encoding == "raw-deflate" else encoding
    data = (
        http_record(PAGE, "first")
        + http_record(body, "bomb", f"Content-Encoding: {header}\r\n")
        + http_record(PAGE, "last")
    )
    docs, drops, _ = read(data)
    assert [d["url"].rsplit("/", 1)[1] for d in docs] == ["first", "last"]
    assert reasons(drops) == ["decoded_too_large"]  # 3 records: 2 documents + 1 drop
    assert header in drops[0][1]


def test_bodies_under_the_cap_still_decode():
    page = PAGE * 1000
    for encoding, body in [
        ("gzip", gzip.compress(page) + gzip.compress(page)),  # two members, as gzip.decompress reads
        ("deflate", zlib.compress(page)),
        ("br", brotli.compress(page)),
    ]:
        out = decode_content(body, encoding, CAP)
        assert out == (page * 2 if encoding == "gzip" else page), encoding
    # A cut-off stream is still refused (or kept as is when it is plainly markup), as before.
    assert decode_content(gzip.compress(page)[:-20], "gzip", CAP).reason == "bad_content_encoding"
    assert decode_content(brotli.compress(page)[:-5], "br", CAP).reason == "bad_content_encoding"
    assert decode_content(PAGE, "gzip", CAP) == PAGE


def test_gzip_member_over_the_cap_is_skipped_unbuffered_and_counted_once():
    # A record that declares (and has) 3 MB of zeros, in its own gzip member between good ones.
    big = text_record("\0" * (3 * CAP), "big")
    data = b"".join(
        gzip.compress(m, mtime=0) for m in (text_record("one", "a"), big, text_record("two", "b"))
    )
    docs, drops, _ = read(data)
    assert [d["text"] for d in docs] == ["one", "two"]
    assert reasons(drops) == ["record_too_large"]  # once: its body is not counted again as garbage


def test_record_claiming_a_huge_length_does_not_hide_the_next_record():
    data = text_record("short body", "liar", length="2147483648") + text_record("next", "b")
    docs, drops, _ = read(data)
    assert [d["text"] for d in docs] == ["next"]
    assert drops == [("record_too_large", "Content-Length 2147483648")]


def test_record_without_length_over_the_cap_is_skipped_and_counted_once():
    data = text_record("x" * (2 * CAP), "big", length="") + text_record("after", "b")
    docs, drops, _ = read(data)
    assert [d["text"] for d in docs] == ["after"]
    assert reasons(drops) == ["record_too_large"]
    # Within the cap, the same missing length is repaired and the record kept.
    docs, drops, notes = read(text_record("fine", "a", length="") + text_record("after", "b"))
    assert [d["text"] for d in docs] == ["fine", "after"] and drops == []
    assert notes == ["repaired_missing_content_length"]


def test_zeros_between_gzip_members_are_one_counted_drop():
    data = (
        gzip.compress(text_record("one", "a"), mtime=0)
        + gzip_of_zeros(3 * CAP)
        + gzip.compress(text_record("two", "b"), mtime=0)
    )
    docs, drops, _ = read(data)
    assert [d["text"] for d in docs] == ["one", "two"]
    # (the count includes the CRLF CRLF that closes the record before the zeros)
    assert drops == [("not_warc_data", f"{3 * CAP + 4} bytes are not a WARC record")]


def test_a_record_right_after_junk_or_at_the_very_end_is_found():
    # No line break between the junk and the next record, and a last record shorter than the
    # bytes the scanner wants to see after a candidate: both records still come out.
    tiny = b"WARC/1.0\r\nWARC-Type: conversion\r\nContent-Length: 1\r\n\r\nz"
    docs, drops, _ = read(text_record("fine", "a") + b"\0\0" + tiny)
    assert [d["text"] for d in docs] == ["fine", "z"] and reasons(drops) == ["not_warc_data"]
    docs, drops, notes = read(text_record("no length", "a", length="") + tiny)
    assert [d["text"] for d in docs] == ["no length", "z"] and drops == []


def test_inflating_is_bounded_per_chunk():
    # 3 MB of zeros in one small member come out READ_SIZE at a time, never in one piece.
    sizes = [len(c) for c in decompressed_chunks(io.BytesIO(gzip_of_zeros(3 * CAP)), lambda *a: None)]
    assert sum(sizes) == 3 * CAP and max(sizes) <= READ_SIZE


def test_config_key_sets_the_cap():
    assert load_config().read.max_decoded_mb == 32
    assert load_config(sets=["read.max_decoded_mb=0.5"]).read.max_decoded_mb == 0.5
    with pytest.raises(ConfigError, match="'read.max_decoded_mb': must be a positive number"):
        load_config(sets=["read.max_decoded_mb=0"])


# ----------------------------------------------------------------------------- hangs, crashes


def test_negative_chunk_size_ends():
    body = b"-ffff\r\n" + PAGE + b"\r\n0\r\n\r\n"
    assert dechunk(body) == body  # not valid chunked encoding: the body is kept as stored
    for size in (b"+5", b"1_0", b"0x5", "٣".encode()):
        assert dechunk(size + b"\r\nhello\r\n0\r\n\r\n").startswith(size)
    data = (
        http_record(PAGE, "first")
        + http_record(body, "neg", "Transfer-Encoding: chunked\r\n")
        + http_record(PAGE, "last")
    )
    docs, drops, _ = read(data)
    assert [d["url"].rsplit("/", 1)[1] for d in docs] == ["first", "neg", "last"] and drops == []


def test_unicode_digits_in_lengths_and_status_are_not_numbers():
    assert parse_http_response(b"HTTP/1.1 \xb2\xb2\xb2 OK\r\n\r\n<html></html>") == Drop("bad_http_headers")
    data = (
        text_record("one", "a")
        + text_record("superscript length", "b", length="²")
        + http_record(PAGE, "status", status="²²² OK")
        + text_record("huge", "c", length="9" * 5000)  # int() refuses more than 4,300 digits
        + text_record("two", "d")
    )
    docs, drops, notes = read(data)
    assert [d["text"] for d in docs] == ["one", "superscript length", "two"]
    assert reasons(drops) == ["bad_http_headers", "record_too_large"]
    assert notes == ["repaired_missing_content_length"]


# ----------------------------------------------------------------------------- silent damage


def test_garbage_between_correct_records_is_counted_not_appended():
    junk = b"<script>not part of any record</script>\n" * 3
    data = text_record("first text", "a") + junk + text_record("second text", "b")
    docs, drops, notes = read(data)
    assert [d["text"] for d in docs] == ["first text", "second text"]
    assert drops == [("not_warc_data", f"{len(junk) + 4} bytes are not a WARC record")]
    assert notes == []  # not a "repaired length": the length was right


def test_wrong_length_without_record_end_is_still_repaired():
    # The declared length stops mid-text (no CRLF CRLF after it): the length is wrong, the text kept.
    data = text_record("a text longer than it says", "a", length="6") + text_record("next", "b")
    docs, drops, notes = read(data)
    assert [d["text"] for d in docs] == ["a text longer than it says", "next"] and drops == []
    assert notes == ["repaired_bad_content_length"]


# ----------------------------------------------------------------------------- smaller


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


def test_an_unexpected_error_in_one_record_is_one_counted_drop(monkeypatch):
    real = pipeline.readers.parse_http_response

    def fragile(payload, max_decoded_bytes):
        if b"explode" in payload:
            raise ZeroDivisionError("division by zero")
        return real(payload, max_decoded_bytes)

    monkeypatch.setattr(pipeline.readers, "parse_http_response", fragile)
    data = http_record(PAGE, "first") + http_record(b"<p>explode</p>", "bad") + http_record(PAGE, "last")
    docs, drops, _ = read(data)
    assert [d["url"].rsplit("/", 1)[1] for d in docs] == ["first", "last"]
    assert reasons(drops) == ["reader_error"] and drops[0][1].startswith("ZeroDivisionError")


def test_an_error_in_the_framing_layer_ends_the_file_as_one_counted_drop(monkeypatch):
    real = pipeline.readers.iter_records

    def breaks_after_one(chunks, max_record_bytes):
        records = real(chunks, max_record_bytes)
        yield next(records)
        raise RuntimeError("a framing bug")

    monkeypatch.setattr(pipeline.readers, "iter_records", breaks_after_one)
    docs, drops, _ = read(text_record("one", "a") + text_record("two", "b"))
    assert [d["text"] for d in docs] == ["one"]
    assert reasons(drops) == ["reader_error"] and drops[0][1].startswith("RuntimeError")

    class Unreadable(io.BytesIO):
        def read(self, n=-1):
            raise OSError("connection reset")

    # A failing stream is not a record's fault: it reaches ReadFile, which counts unreadable_file.
    with pytest.raises(OSError):
        list(read_warc(Unreadable(), "net.warc"))


@pytest.mark.slow
def test_a_run_over_hostile_records_completes_and_balances(tmp_path):
    gz_bomb = gzip_of_zeros(3 * CAP)
    data = b"".join(
        gzip.compress(member, mtime=0)
        for member in (
            http_record(PAGE, "first"),
            http_record(gz_bomb, "bomb", "Content-Encoding: gzip\r\n"),
            text_record("x" * (2 * CAP), "big"),
            text_record("wrong length ²", "odd", length="²"),
            http_record(b"-ffff\r\n" + PAGE, "chunked", "Transfer-Encoding: chunked\r\n"),
            text_record("a last good text", "last"),
        )
    ) + gzip_of_zeros(2 * CAP)
    path = tmp_path / "hostile.warc.gz"
    path.write_bytes(data)
    out = tmp_path / "out"
    args = [
        "--input",
        str(path),
        "--output",
        str(out),
        "--stages",
        "extract",
        "--set",
        "read.max_decoded_mb=1",
    ]
    assert main([*args, "--no-progress", "--runner=DirectRunner"]) == 0
    read_stats = json.loads((out / "stats.json").read_text())["stages"]["read"]
    assert read_stats["in"] == 7 == read_stats["out"] + sum(read_stats["dropped"].values())
    assert read_stats["dropped"] == {"decoded_too_large": 1, "record_too_large": 1, "not_warc_data": 1}
    urls = set(read_shards(out / "documents").column("url").to_pylist())
    assert {f"https://example.com/{rid}" for rid in ("first", "odd", "last")} <= urls
