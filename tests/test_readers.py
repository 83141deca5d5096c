"""JSONL, Arrow, Parquet and HTTP-level reading, and the document model they share."""

from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa
import pytest

from pipeline.http_payload import dechunk, parse_http_response
from pipeline.readers import read_arrow, read_jsonl
from stages.base import Drop


def test_jsonl_ids_metadata_and_bad_lines():
    lines = [
        json.dumps({"id": 7, "text": "hello", "url": "u", "lang": "en", "extra": {"a": 1}}),
        "{not json",
        json.dumps({"text": "no id here"}),
        json.dumps({"title": "no text"}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"text": "   "}),
    ]
    data = gzip.compress(("\n".join(lines) + "\n").encode())
    items = list(read_jsonl(io.BytesIO(data), "file.jsonl.gz"))
    docs = [i for i in items if isinstance(i, dict)]
    drops = [i.reason for i in items if isinstance(i, Drop)]
    assert docs[0]["id"] == "7" and docs[0]["url"] == "u"
    # A step field is a top-level field whatever the input; anything else is metadata.
    assert docs[0]["lang"] == "en"
    assert docs[0]["meta"] == {"extra": {"a": 1}}
    assert docs[1]["id"] and docs[1]["id"] != docs[0]["id"]  # derived from file and offset
    assert drops == ["bad_json", "missing_text", "bad_json", "empty_text"]


def test_arrow_rows_come_back_as_documents():
    table = pa.table(
        {
            "id": ["a", "b"],
            "url": ["u1", "u2"],
            "text": ["one", ""],
            "date": ["d", "d"],
            "source": ["s", "s"],
            "lang": ["en", "zh"],
            "meta": ['{"k": 1}', None],
        }
    )
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    items = list(read_arrow(io.BytesIO(sink.getvalue()), "x.arrow"))
    assert items[0]["text"] == "one" and items[0]["lang"] == "en" and items[0]["meta"] == {"k": 1}
    assert isinstance(items[1], Drop) and items[1].reason == "empty_text"
    assert [i.reason for i in read_arrow(io.BytesIO(b"garbage"), "bad.arrow")] == ["bad_arrow"]


def test_http_chunked_and_gzip_body():
    body = gzip.compress(b"<html><body>hi</body></html>")
    chunked = (
        b"%x\r\n" % 10 + body[:10] + b"\r\n" + b"%x\r\n" % (len(body) - 10) + body[10:] + b"\r\n0\r\n\r\n"
    )
    payload = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Encoding: gzip\r\n\r\n" + chunked
    )
    status, headers, out = parse_http_response(payload)
    assert status == 200 and headers["content-type"] == "text/html"
    assert out == b"<html><body>hi</body></html>"


def test_dechunk_leaves_an_already_dechunked_body_alone():
    assert dechunk(b"<html>not chunked</html>") == b"<html>not chunked</html>"


def test_bad_http_is_a_drop():
    assert parse_http_response(b"garbage without headers") == Drop("bad_http_headers")
    assert (
        parse_http_response(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\nnot gzip").reason
        == "bad_content_encoding"
    )


def test_plain_text_is_one_document_per_line():
    from pipeline.readers import input_format, read_text_lines

    assert input_format("notes.txt.gz") == "text"
    assert input_format("sample.warc.txt") == "warc"  # cc_net names a WARC file this way
    docs = list(
        read_text_lines(io.BytesIO(gzip.compress("第一行\n\n  second line  \n".encode())), "n.txt.gz")
    )
    assert [d["text"] for d in docs] == ["第一行", "second line"]
    assert len({d["id"] for d in docs}) == 2


def _arrow_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def test_step_fields_mean_the_same_from_every_format(tmp_path):
    """lang, lang_score, quality_score and holdout come back as top-level fields from JSONL,
    Parquet and Arrow alike; a value of the wrong type stays in meta rather than being trusted."""
    import pyarrow.parquet as pq

    from pipeline.readers import read_parquet

    record = {"id": "d1", "text": "some text", "lang": "zh", "lang_score": 0.9, "quality_score": 0.75,
              "holdout": True, "topic": "news"}  # fmt: skip
    from_jsonl = next(read_jsonl(io.BytesIO(json.dumps(record).encode()), "a.jsonl"))
    table = pa.Table.from_pylist([record])
    from_arrow = next(read_arrow(io.BytesIO(_arrow_bytes(table)), "a.arrow"))
    pq.write_table(table, tmp_path / "a.parquet")
    with open(tmp_path / "a.parquet", "rb") as raw:
        from_parquet = next(read_parquet(raw, "a.parquet"))
    for doc in (from_jsonl, from_arrow, from_parquet):
        assert doc["lang"] == "zh" and doc["quality_score"] == pytest.approx(0.75) and doc["holdout"] is True
        assert doc["meta"] == {"topic": "news"}
    wrong = next(
        read_jsonl(io.BytesIO(json.dumps({"text": "t", "quality_score": "high"}).encode()), "b.jsonl")
    )
    assert "quality_score" not in wrong and wrong["meta"] == {"quality_score": "high"}


def test_parquet_with_configured_column_names(tmp_path):
    """FineWeb-style Parquet: columns named otherwise are mapped through read.fields."""
    import pyarrow.parquet as pq

    from pipeline.readers import ReadOptions, input_format, read_parquet

    pq.write_table(
        pa.table(
            {
                "content": ["第一篇", "second", ""],
                "doc_id": ["x", "y", "z"],
                "language": ["zh", "en", "en"],
                "dump": ["CC-MAIN-2024-10"] * 3,
            }
        ),  # fmt: skip
        tmp_path / "shard.parquet",
        row_group_size=2,
    )
    assert input_format(str(tmp_path / "shard.parquet")) == "parquet"
    options = ReadOptions(fields={"text": "content", "id": "doc_id", "lang": "language"})
    with open(tmp_path / "shard.parquet", "rb") as raw:
        items = list(read_parquet(raw, "shard.parquet", options))
    assert [(d["id"], d["text"], d["lang"]) for d in items[:2]] == [
        ("x", "第一篇", "zh"),
        ("y", "second", "en"),
    ]
    assert items[0]["meta"] == {"dump": "CC-MAIN-2024-10"}
    assert items[2] == Drop("empty_text")
    with open(tmp_path / "shard.parquet", "rb") as raw:
        assert list(read_parquet(raw, "shard.parquet")) == [Drop("missing_text")] * 3  # no "text" column


def test_hostile_jsonl_values_are_counted_drops_not_crashes():
    """A lone surrogate (Beam's coders refuse it) is replaced; metadata nested 100,000 deep
    (RecursionError) or 900 deep (crashes a later serialiser) is one counted drop; a repeated
    id is made unique (dedup joins by id)."""
    deep = "[" * 100_000 + "]" * 100_000
    lines = [
        '{"id": "a", "text": "bad \\ud800 surrogate", "meta": {"k": "\\udfff"}}',
        '{"id": "b", "text": "deep", "x": ' + deep + "}",
        '{"id": "c", "text": "fairly deep", "x": ' + "[" * 900 + "]" * 900 + "}",
        '{"id": "a", "text": "same id again"}',
        '{"id": "d", "text": "fine"}',
    ]
    items = list(read_jsonl(io.BytesIO("\n".join(lines).encode()), "h.jsonl"))
    docs = [i for i in items if isinstance(i, dict)]
    assert [i.reason for i in items if isinstance(i, Drop)] == ["bad_json", "bad_metadata"]
    assert docs[0]["text"] == "bad \ufffd surrogate" and docs[0]["meta"] == {"k": "\ufffd"}
    docs[0]["text"].encode("utf-8")  # encodable now
    assert [d["id"] for d in docs][1:] == [f"a@{sum(len(x) + 1 for x in lines[:3])}", "d"]


def test_corrupt_arrow_input_is_counted_not_fatal():
    """An Arrow input whose meta is not a JSON object is kept (the string stays as metadata);
    flipped bytes inside a batch are counted as bad_arrow, never read as garbage or a crash."""
    table = pa.table({"id": ["a", "b"], "text": ["one", "two"], "meta": ["[1, 2]", "not json"]})
    docs = list(read_arrow(io.BytesIO(_arrow_bytes(table)), "m.arrow"))
    assert docs[0]["meta"] == {"meta": [1, 2]} and docs[1]["meta"] == {"meta": "not json"}

    good = _arrow_bytes(
        pa.table({"id": [f"id{i}" for i in range(50)], "text": [f"text {i}" for i in range(50)]})
    )
    flipped = 0
    for position in range(200, len(good), 7):
        damaged = bytearray(good)
        damaged[position] ^= 0xFF
        items = list(read_arrow(io.BytesIO(bytes(damaged)), "f.arrow"))  # must not raise or crash
        assert all(isinstance(i, dict) or i.reason == "bad_arrow" for i in items)
        flipped += any(isinstance(i, Drop) for i in items)
    assert flipped > 0


def test_an_over_long_line_is_skipped_unbuffered_and_counted():
    """A JSONL or text line longer than read.max_decoded_mb is one record_too_large drop; the lines
    around it are read, and offsets (ids) after it stay right."""
    from pipeline.readers import ReadOptions, read_text_lines, stream_lines

    cap = ReadOptions(max_decoded_bytes=1000)
    long_line = json.dumps({"id": "big", "text": "x" * 5000})
    data = "\n".join(
        [json.dumps({"id": "a", "text": "first"}), long_line, json.dumps({"id": "c", "text": "last"})]
    )
    items = list(read_jsonl(io.BytesIO(gzip.compress(data.encode())), "l.jsonl.gz", cap))
    assert [i["id"] if isinstance(i, dict) else i.reason for i in items] == ["a", "record_too_large", "c"]
    lines = list(stream_lines(io.BytesIO(data.encode()), lambda r, d: None, max_line=1000))
    assert [offset for offset, _ in lines] == [0, data.index(long_line), data.index('{"id": "c"')]
    text = list(read_text_lines(io.BytesIO(("short\n" + "y" * 3000 + "\nend").encode()), "t.txt", cap))
    assert [i["text"] if isinstance(i, dict) else i.reason for i in text] == [
        "short",
        "record_too_large",
        "end",
    ]


def test_parquet_behind_the_progress_counter_is_read_a_row_group_at_a_time(tmp_path):
    # The run wraps every input in a byte counter for progress; a Parquet file behind it must
    # still be read by seeking (footer, then row groups), never buffered whole.
    import pyarrow.parquet as pq

    from pipeline.graph import _CountingReader
    from pipeline.readers import read_parquet

    texts = [f"document {i} " + "x" * 2000 for i in range(2000)]
    pq.write_table(pa.table({"id": [str(i) for i in range(2000)], "text": texts}), tmp_path / "a.parquet",
                   row_group_size=200, compression="none")  # fmt: skip
    size = (tmp_path / "a.parquet").stat().st_size
    reads: list[int] = []
    with open(tmp_path / "a.parquet", "rb") as raw:
        docs = list(read_parquet(_CountingReader(raw, reads.append), "a.parquet"))
    assert [d["text"] for d in docs] == texts
    assert max(reads) < size / 5
