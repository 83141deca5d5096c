"""JSONL, Arrow and HTTP-level reading."""

from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa

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
    assert docs[0]["meta"] == {"lang": "en", "extra": {"a": 1}}
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
    assert items[0]["text"] == "one" and items[0]["meta"] == {"k": 1, "lang": "en"}
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
