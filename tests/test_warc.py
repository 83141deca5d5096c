"""The tolerant WARC reader on real (and deliberately broken) crawl files."""

from __future__ import annotations

import gzip
import io
from collections import Counter

import pytest
from conftest import WARC_DIR, real_warc_files

from pipeline.readers import Note, read_file, read_warc
from pipeline.warc import decompressed_chunks, iter_records
from stages.base import Drop


def read_all(path) -> tuple[list[dict], Counter, Counter]:
    docs, drops, notes = [], Counter(), Counter()
    with open(path, "rb") as raw:
        for item in read_file(raw, str(path), "warc"):
            if isinstance(item, Drop):
                drops[item.reason] += 1
            elif isinstance(item, Note):
                notes[item.key] += 1
            else:
                docs.append(item)
    return docs, drops, notes


def record(rtype: str, body: bytes, rid: str, url: str = "https://example.com/") -> bytes:
    head = (
        f"WARC/1.0\r\nWARC-Type: {rtype}\r\nWARC-Record-ID: <urn:uuid:{rid}>\r\nWARC-Target-URI: {url}\r\n"
        f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body + b"\r\n\r\n"


def test_every_real_file_reads_without_failing():
    files = real_warc_files()
    assert len(files) >= 45
    total = Counter()
    n_docs = 0
    ids = set()
    for path in files:
        docs, drops, _ = read_all(path)
        n_docs += len(docs)
        total.update(drops)
        for doc in docs:
            assert doc["id"] and doc["source"] == str(path)
            assert ("text" in doc) != ("html" in doc)
            ids.add((doc["source"], doc["id"]))
    # Every document id is unique within its file, even where a file reuses record ids.
    assert len(ids) == n_docs
    # A tolerant reader gets roughly 300 documents out of this folder; the rest are explained.
    assert n_docs >= 285, (n_docs, total)
    for reason in (
        "truncated_gzip",
        "revisit_record",
        "http_status_not_ok",
        "not_html",
        "skipped_request_record",
    ):
        assert total[reason] > 0, reason


def test_truncated_gzip_keeps_the_records_before_it():
    docs, drops, notes = read_all(
        WARC_DIR / "jeffharwell__CommonCrawlScalaTools/appended_zip_fragment_unexpected_eof.wet.gz"
    )
    assert drops["truncated_gzip"] == 1
    assert len(docs) == 16  # the 15 whole conversions and the clipped last one, repaired
    assert notes["repaired_truncated_record"] == 1


@pytest.mark.parametrize(
    "name",
    [
        "corrupt_two_warcinfo.wet.gz",
        "corrupt_warcconversion_1.wet.gz",
        "corrupt_starts_with_conversion.wet.gz",
        "filter_test_1.wet.gz",
    ],
)
def test_whole_file_gzip_is_read(name):
    # warcio reads one record of these (the file is one gzip member) and then fails.
    docs, drops, _ = read_all(WARC_DIR / "jeffharwell__CommonCrawlScalaTools" / name)
    assert len(docs) >= 5
    assert not {"bad_gzip", "not_warc_file"} & set(drops)


def test_lf_only_file_with_wrong_lengths_is_repaired():
    docs, drops, notes = read_all(WARC_DIR / "facebookresearch__cc_net/sample.warc.txt")
    assert len(docs) == 3
    assert notes["repaired_bad_content_length"] >= 3
    assert any("Mark Twain" in d["text"] for d in docs)
    assert len({d["id"] for d in docs}) == 3  # two records share a WARC-Record-ID in this file


def test_brotli_and_gzip_bodies_are_decoded():
    for name in ("transfer_compression_brotli.warc.gz", "transfer_compression_gzip.warc.gz"):
        docs, drops, _ = read_all(WARC_DIR / "ukwa__webarchive-discovery" / name)
        assert len(docs) == 1, (name, drops)
        assert b"<html" in docs[0]["html"].lower()


def test_revisit_and_request_records_are_counted_not_kept():
    docs, drops, _ = read_all(
        WARC_DIR / "ukwa__webarchive-discovery/BL-20140325122341434-00000-32090~opera~8443.warc.gz"
    )
    assert drops["revisit_record"] == 55
    assert drops["skipped_request_record"] == 62


def test_not_a_warc_file_is_one_counted_drop(tmp_path):
    path = tmp_path / "notes.warc"
    path.write_text("this is just some text\nnot an archive at all\n")
    docs, drops, _ = read_all(path)
    assert docs == [] and drops == Counter({"not_warc_file": 1})


def test_corrupt_gzip_member_loses_only_itself():
    members = [
        gzip.compress(record("conversion", f"text number {i}".encode(), f"id-{i}"), mtime=0) for i in range(3)
    ]
    bad = bytearray(members[1])
    bad[20:40] = b"\x00" * 20  # destroy the middle of member 2's deflate stream
    data = members[0] + bytes(bad) + members[2]
    items = list(read_warc(io.BytesIO(data), "mem"))
    texts = [i["text"] for i in items if isinstance(i, dict)]
    assert "text number 0" in texts and "text number 2" in texts
    assert any(isinstance(i, Drop) and i.reason == "bad_gzip" for i in items)


def test_garbage_between_members_is_skipped():
    data = (
        gzip.compress(record("conversion", b"first", "a"), mtime=0)
        + b"GARBAGE" * 10
        + gzip.compress(record("conversion", b"second", "b"), mtime=0)
    )
    items = list(read_warc(io.BytesIO(data), "mem"))
    assert [i["text"] for i in items if isinstance(i, dict)] == ["first", "second"]
    assert [i.reason for i in items if isinstance(i, Drop)] == ["bad_gzip"]


def test_records_are_streamed_across_read_chunks():
    # Many records spanning several 1 MiB reads and a buffer compaction: all come out intact.
    bodies = [(f"doc {i} " * 300).encode() for i in range(3000)]
    data = b"".join(record("conversion", b, f"r{i}") for i, b in enumerate(bodies))
    assert len(data) > 5 << 20
    out = [r.body for r in iter_records(decompressed_chunks(io.BytesIO(data), lambda *a: None))]
    assert out == bodies
