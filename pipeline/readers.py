"""Turn input files into documents: pure generators, unit-tested without Beam.

Every reader yields, for each unit of input it looked at (a WARC record, a JSONL line, an Arrow
row), either a document dict or a ``Drop`` naming why that unit produced no document. The Beam
wrapper counts them as the ``read`` stage, so ``in == out + dropped`` holds by construction.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.ipc

from pipeline.http_payload import is_html, parse_http_response
from pipeline.warc import MAX_DECODED_BYTES, Problem, WarcRecord, decompressed_chunks, iter_records
from stages.base import Doc, Drop

BASE_FIELDS = ("id", "url", "text", "date", "source")  # every document has these (all strings)


def input_format(path: str) -> str:
    """The reader for a file, chosen by its name; anything unknown is tried as WARC."""
    name = path.lower().rsplit("/", 1)[-1]
    if name.endswith((".jsonl", ".jsonl.gz", ".json.gz", ".ndjson", ".ndjson.gz")):
        return "jsonl"
    if name.endswith(".arrow"):
        return "arrow"
    # Plain text, one document a line; "x.warc.txt"-style names are archives (cc_net ships one).
    if name.endswith((".txt", ".txt.gz")) and ".warc" not in name and ".wet" not in name:
        return "text"
    return "warc"


def document_lang(doc: Doc) -> str | None:
    """A document's language: the langid column, else a ``lang`` kept in its metadata."""
    return doc.get("lang") or (doc.get("meta") or {}).get("lang")


def source_tag(source: str) -> str:
    """A short stable tag of an input file. For CommonCrawl paths only the part from
    ``crawl-data/`` on counts, so a local mirror, s3:// and https:// give the same ids."""
    marker = source.find("crawl-data/")
    key = source[marker:] if marker >= 0 else source
    return hashlib.sha1(key.encode()).hexdigest()[:10]


def fallback_id(source: str, offset: int) -> str:
    """A stable id from the source file and an offset, for records that carry none."""
    return f"{source_tag(source)}-{offset}"


def read_file(
    raw: BinaryIO,
    source: str,
    fmt: str,
    extract_enabled: bool = True,
    start: int = 0,
    end: int | None = None,
    max_decoded_bytes: int = MAX_DECODED_BYTES,
) -> Iterator[Doc | Drop | Note]:
    """``start``/``end``: a byte range of a WARC/WET file (see pipeline.warc.decompressed_chunks);
    ``raw`` is positioned at ``start``. Other formats are always read whole.
    ``max_decoded_bytes`` (read.max_decoded_mb): the largest WARC record or decoded HTTP body kept."""
    if fmt == "jsonl":
        yield from read_jsonl(raw, source)
    elif fmt == "text":
        yield from read_text_lines(raw, source)
    elif fmt == "arrow":
        yield from read_arrow(raw, source)
    else:
        yield from read_warc(raw, source, extract_enabled, start, end, max_decoded_bytes)


# ----------------------------------------------------------------------------- WARC / WET


@dataclasses.dataclass(frozen=True, slots=True)
class Note:
    """Something worth counting that is neither a document nor a drop (e.g. a repaired record)."""

    key: str


def read_warc(
    raw: BinaryIO,
    source: str,
    extract_enabled: bool = True,
    start: int = 0,
    end: int | None = None,
    max_decoded_bytes: int = MAX_DECODED_BYTES,
) -> Iterator[Doc | Drop | Note]:
    problems: list[tuple[str, str]] = []
    chunks = decompressed_chunks(raw, lambda reason, detail: problems.append((reason, detail)), start, end)
    # Record offsets restart at 0 in each byte range: ids derived from offsets name the range.
    id_source = f"{source}#{start}" if start else source
    seen_record = False
    seen_ids: set[str] = set()  # real files reuse record ids (cc_net's sample does); ids must be unique
    garbage: Problem | None = None  # leading non-WARC data: a bad file, or junk before records
    for item in _guarded(iter_records(chunks, max_decoded_bytes)):
        # Decompression problems are reported as they happen; surface them in order.
        while problems:
            yield Drop(*problems.pop(0))
        if isinstance(item, Problem):
            if item.reason == "not_warc_data" and not seen_record and garbage is None:
                garbage = item
            else:
                yield Drop(item.reason, item.detail)
            continue
        if garbage is not None:
            yield Drop(garbage.reason, garbage.detail)
            garbage = None
        seen_record = True
        if item.repaired:
            yield Note(f"repaired_{item.repaired}")
        try:
            doc = record_to_doc(item, source, extract_enabled, id_source, max_decoded_bytes)
        except Exception as exc:  # noqa: BLE001 - one record's surprise is one counted drop, not a failed bundle
            doc = Drop("reader_error", f"{type(exc).__name__} at offset {item.offset}: {exc}"[:200])
        if isinstance(doc, dict):
            if doc["id"] in seen_ids:
                doc["id"] = f"{doc['id']}@{item.offset}"
            seen_ids.add(doc["id"])
        yield doc
    for problem in problems:
        yield Drop(*problem)
    if not seen_record and not start:
        # Nothing recognisable at all (also an empty file): one drop for the whole file.
        yield Drop("not_warc_file", garbage.detail if garbage else "no WARC record found")


def _guarded(records: Iterator[WarcRecord | Problem]) -> Iterator[WarcRecord | Problem]:
    """``records``, but an unexpected error in the framing layer ends the file as one counted
    ``reader_error`` instead of failing the bundle (that layer cannot resume after one)."""
    try:
        yield from records
    except OSError:
        raise  # the stream itself failed: the caller counts the file as unreadable
    except Exception as exc:  # noqa: BLE001
        yield Problem("reader_error", -1, f"{type(exc).__name__}, reading stopped: {exc}"[:200])


def record_to_doc(
    record: WarcRecord,
    source: str,
    extract_enabled: bool,
    id_source: str | None = None,
    max_decoded_bytes: int = MAX_DECODED_BYTES,
) -> Doc | Drop:
    rtype = record.type
    headers = record.headers
    if rtype == "conversion":
        text = record.body.decode("utf-8", "replace")
        if not text.strip():
            return Drop("empty_text")
        return _warc_doc(record, source, id_source, text=text)
    if rtype == "response":
        content_type = headers.get("content-type", "").lower()
        if "application/http" not in content_type:
            return Drop("not_http")
        parsed = parse_http_response(record.body, max_decoded_bytes)
        if isinstance(parsed, Drop):
            return parsed
        status, http_headers, body = parsed
        if not 200 <= status < 300:
            return Drop("http_status_not_ok", str(status))
        return _html_doc(record, source, body, http_headers.get("content-type"), extract_enabled, id_source)
    if rtype == "resource":
        return _html_doc(record, source, record.body, headers.get("content-type"), extract_enabled, id_source)
    if rtype == "revisit":
        return Drop("revisit_record")
    return Drop(f"skipped_{rtype or 'untyped'}_record")


def _warc_doc(record: WarcRecord, source: str, id_source: str | None = None, **fields: Any) -> Doc:
    record_id = record.headers.get("warc-record-id", "").strip("<>")
    if record_id.startswith("urn:uuid:"):
        record_id = record_id[len("urn:uuid:") :]
    doc: Doc = {
        # Scoped by file: copies of one record in two files (it happens) must stay two documents
        # with distinct ids, or every join by id (dedup) would treat them as one.
        "id": f"{source_tag(source)}-{record_id}"
        if record_id
        else fallback_id(id_source or source, record.offset),
        "url": record.headers.get("warc-target-uri", "").strip("<>"),
        "date": record.headers.get("warc-date", ""),
        "source": source,
    }
    doc.update(fields)
    return doc


def _html_doc(
    record: WarcRecord,
    source: str,
    body: bytes,
    content_type: str | None,
    extract_enabled: bool,
    id_source: str | None = None,
) -> Doc | Drop:
    if not is_html(content_type, body):
        return Drop("not_html", (content_type or "")[:60])
    if not body.strip():
        return Drop("empty_text")
    if not extract_enabled:
        return Drop("html_not_extracted", "stage 'extract' is not selected")
    return _warc_doc(record, source, id_source, html=body, content_type=content_type)


# ----------------------------------------------------------------------------- JSONL


def _lines(raw: BinaryIO, report) -> Iterator[tuple[int, bytes]]:
    pending = b""
    offset = 0
    for chunk in decompressed_chunks(raw, report):
        pending += chunk
        lines = pending.split(b"\n")
        pending = lines.pop()
        for line in lines:
            yield offset, line
            offset += len(line) + 1
    if pending:
        yield offset, pending


def read_jsonl(raw: BinaryIO, source: str) -> Iterator[Doc | Drop]:
    problems: list[tuple[str, str]] = []
    for offset, line in _lines(raw, lambda r, d: problems.append((r, d))):
        while problems:
            yield Drop(*problems.pop(0))
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            yield Drop("bad_json", str(exc)[:80])
            continue
        if not isinstance(obj, dict):
            yield Drop("bad_json", "line is not a JSON object")
            continue
        text = obj.pop("text", None)
        if not isinstance(text, str):
            yield Drop("missing_text")
            continue
        if not text.strip():
            yield Drop("empty_text")
            continue
        doc: Doc = {
            "id": str(obj.pop("id")) if obj.get("id") is not None else fallback_id(source, offset),
            "url": str(obj.pop("url", "") or ""),
            "text": text,
            "date": str(obj.pop("date", "") or ""),
            "source": source,
        }
        obj.pop("id", None)
        if obj:
            doc["meta"] = obj
        yield doc
    for problem in problems:
        yield Drop(*problem)


def read_text_lines(raw: BinaryIO, source: str) -> Iterator[Doc | Drop]:
    """Plain text (optionally gzipped): every non-empty line is a document."""
    problems: list[tuple[str, str]] = []
    for offset, line in _lines(raw, lambda r, d: problems.append((r, d))):
        while problems:
            yield Drop(*problems.pop(0))
        text = line.decode("utf-8", "replace").strip()
        if text:
            yield {"id": fallback_id(source, offset), "url": "", "text": text, "date": "", "source": source}
    for problem in problems:
        yield Drop(*problem)


# ----------------------------------------------------------------------------- Arrow


def read_arrow(raw: BinaryIO, source: str) -> Iterator[Doc | Drop]:
    """Re-read this project's own ``documents/`` shards, one record batch at a time."""
    try:
        reader = pa.ipc.open_stream(raw)
    except (pa.ArrowInvalid, OSError) as exc:
        yield Drop("bad_arrow", str(exc)[:80])
        return
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except (pa.ArrowInvalid, OSError) as exc:
            yield Drop("bad_arrow", str(exc)[:80])
            return
        for row in batch.to_pylist():
            yield arrow_row_to_doc(row, source)


def arrow_row_to_doc(row: dict[str, Any], source: str) -> Doc | Drop:
    text = row.get("text")
    if not isinstance(text, str) or not text.strip():
        return Drop("empty_text")
    meta = row.pop("meta", None)
    doc: Doc = {name: row.pop(name, None) or "" for name in BASE_FIELDS}
    doc["text"] = text
    doc["source"] = doc["source"] or source
    extra = json.loads(meta) if isinstance(meta, str) and meta else {}
    # Columns written by an earlier run's stages stay with the document as metadata; a stage
    # that runs again in this run writes its column afresh.
    extra.update({k: v for k, v in row.items() if v is not None})
    if extra:
        doc["meta"] = extra
    return doc
