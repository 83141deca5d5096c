"""Turn input files into documents: pure generators, unit-tested without Beam.

Every reader yields, for each unit of input it looked at (a WARC record, a JSONL line, an Arrow
or Parquet row), either a document dict or a ``Drop`` naming why that unit produced no document.
The Beam wrapper counts them as the ``read`` stage, so ``in == out + dropped`` holds by
construction.

``FORMATS`` is the one place that knows the input formats: their file-name suffixes, their
reader, and whether a file may be read as byte ranges. Records become documents through
``to_document`` (JSONL, Arrow, Parquet), which applies the document model of stages.base: base
fields and step fields (``lang``, ``quality_score`` ...) at the top level, everything else in
``meta``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.ipc

from pipeline.http_payload import is_html, parse_http_response
from pipeline.warc import MAX_DECODED_BYTES, Problem, WarcRecord, decompressed_chunks, iter_records
from pipeline.wiki_dump import WIKI_DUMP_NAME, read_wiki_dump
from stages.base import BASE_FIELDS, STEP_FIELDS, Doc, Drop

# Metadata nested deeper than this is refused (a counted drop): deep nesting costs recursion in
# every later (de)serialiser, and no real corpus needs it.
MAX_META_DEPTH = 32


@dataclasses.dataclass(frozen=True)
class InputFormat:
    name: str
    suffixes: tuple[str, ...]  # lower-case file-name endings; the first format that matches wins
    splittable: bool = False  # gzipped files of this format may be read as byte ranges
    # A regular expression over the lower-case file name, for names no ending describes
    # (Wikipedia dump parts: "...-pages-articles1.xml-p1p41242.bz2").
    pattern: re.Pattern[str] | None = None

    def matches(self, name: str) -> bool:
        return name.endswith(self.suffixes) or (self.pattern is not None and bool(self.pattern.search(name)))


FORMATS: tuple[InputFormat, ...] = (
    InputFormat("jsonl", (".jsonl", ".jsonl.gz", ".json.gz", ".ndjson", ".ndjson.gz")),
    InputFormat("arrow", (".arrow",)),
    InputFormat("parquet", (".parquet",)),
    InputFormat("text", (".txt", ".txt.gz")),
    # MediaWiki XML dumps, article wikitext to plain text (pipeline.wiki_dump).
    InputFormat("wiki", (".xml.bz2",), pattern=WIKI_DUMP_NAME),
    # Anything else is tried as WARC/WET (CommonCrawl names: .warc.gz, .warc.wet.gz, .wet, ...).
    InputFormat("warc", (".warc", ".warc.gz", ".wet", ".wet.gz", ".warc.wet.gz", ".arc.gz"), splittable=True),
)
_BY_NAME = {fmt.name: fmt for fmt in FORMATS}


def input_format(path: str) -> str:
    """The reader for a file, chosen by its name; anything unknown is tried as WARC."""
    name = path.lower().rsplit("/", 1)[-1]
    if ".warc" in name or ".wet" in name:
        return "warc"  # e.g. cc_net's "sample.warc.txt" is an archive, not plain text
    for fmt in FORMATS:
        if fmt.matches(name):
            return fmt.name
    return "warc"


def is_splittable(path: str) -> bool:
    """Gzipped WARC/WET files can be read from any offset (their members are whole records)."""
    return _BY_NAME[input_format(path)].splittable and path.lower().endswith(".gz")


@dataclasses.dataclass(frozen=True)
class ReadOptions:
    """How records map to documents. ``fields``: document field -> the input's column or key,
    for JSONL and Parquet inputs whose names differ (``{text: content, lang: language}``)."""

    fields: dict[str, str] = dataclasses.field(default_factory=dict)
    extract_enabled: bool = True  # HTML records become documents only when extract will run
    # The largest WARC record, decoded HTTP body or JSONL/text line kept (read.max_decoded_mb).
    max_decoded_bytes: int = MAX_DECODED_BYTES

    def column(self, field: str) -> str:
        return self.fields.get(field, field)


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
    options: ReadOptions | None = None,
    start: int = 0,
    end: int | None = None,
) -> Iterator[Doc | Drop | Note]:
    """``start``/``end``: a byte range of a WARC/WET file (see pipeline.warc.decompressed_chunks);
    ``raw`` is positioned at ``start``. Other formats are always read whole."""
    options = options or ReadOptions()
    if fmt == "warc":
        yield from read_warc(raw, source, options.extract_enabled, start, end, options.max_decoded_bytes)
        return
    readers: dict[str, Callable[..., Iterator[Doc | Drop | Note]]] = {
        "jsonl": read_jsonl,
        "text": read_text_lines,
        "arrow": read_arrow,
        "parquet": read_parquet,
        "wiki": read_wiki_dump,
    }
    yield from readers[fmt](raw, source, options)


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of JSON-like data, counted up to ``limit + 1`` (iterative: no recursion)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


_SURROGATE = re.compile("[\ud800-\udfff]")


def _clean_str(value: str) -> str:
    """A lone surrogate (legal in JSON escapes, not in UTF-8) becomes U+FFFD: Beam's coders and
    Arrow refuse such strings, and it is not text anyway."""
    return _SURROGATE.sub("\ufffd", value)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return _clean_str(value)
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _field_ok(name: str, value: Any) -> bool:
    """Whether ``value`` can be the step field ``name`` (else it stays in meta, unchanged)."""
    dtype = STEP_FIELDS[name]
    if pa.types.is_string(dtype):
        return isinstance(value, str)
    if pa.types.is_boolean(dtype):
        return isinstance(value, bool)
    if pa.types.is_floating(dtype) or pa.types.is_integer(dtype):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if pa.types.is_list(dtype):
        return isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    return False


def to_document(record: dict[str, Any], source: str, offset: int, options: ReadOptions) -> Doc | Drop:
    """A JSONL object or an Arrow/Parquet row -> a document (the model in stages.base): base
    fields and step fields at the top level (named through ``options.fields``), a ``meta``
    JSON object merged into ``meta``, every other key kept in ``meta``."""
    record = dict(record)
    text = record.pop(options.column("text"), None)
    if not isinstance(text, str):
        return Drop("missing_text", "" if text is None else f"text is {type(text).__name__}")
    if not text.strip():
        return Drop("empty_text")
    doc: Doc = {"text": text}
    for name in BASE_FIELDS:
        if name != "text":
            value = record.pop(options.column(name), None)
            doc[name] = "" if value is None else str(value)
    if not doc["id"]:
        doc["id"] = fallback_id(source, offset)
    doc["source"] = doc["source"] or source
    for name in STEP_FIELDS:
        column = options.column(name)
        if column in record and record[column] is not None and _field_ok(name, record[column]):
            doc[name] = record.pop(column)
    meta = record.pop("meta", None)
    extra: dict[str, Any] = {}
    if isinstance(meta, str) and meta:
        try:
            meta = json.loads(meta)
        except (ValueError, RecursionError):
            meta = {"meta": meta}  # an unparsable meta string is kept as it was
    if isinstance(meta, dict):
        extra.update(meta)
    elif meta is not None:
        extra["meta"] = meta
    extra.update({k: v for k, v in record.items() if v is not None})
    if extra:
        if _depth(extra, MAX_META_DEPTH) > MAX_META_DEPTH:
            return Drop("bad_metadata", f"metadata nested more than {MAX_META_DEPTH} levels deep")
        doc["meta"] = extra
    return doc


class _UniqueIds:
    """Ids must be unique (every dedup join is by id): a repeated id within one file gets
    ``@<offset>`` appended, as WARC record ids do."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def fix(self, doc: Doc, offset: int) -> Doc:
        if doc["id"] in self.seen:
            doc["id"] = f"{doc['id']}@{offset}"
        self.seen.add(doc["id"])
        return doc


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
    ids = _UniqueIds()  # real files reuse record ids (cc_net's sample does)
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
        yield ids.fix(doc, item.offset) if isinstance(doc, dict) else doc
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


def stream_lines(
    raw: BinaryIO, report, max_line: int = MAX_DECODED_BYTES
) -> Iterator[tuple[int, bytes | None]]:
    """(offset, line) for each line of a (possibly gzipped) stream; (offset, None) for a line
    longer than ``max_line``, which is skipped without being held in memory."""
    pending = bytearray()
    offset = 0
    skipped = -1  # bytes of an over-long line passed over so far; -1 when not skipping
    for chunk in decompressed_chunks(raw, report):
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                if skipped >= 0:
                    skipped += len(chunk) - start
                else:
                    pending += chunk[start:]
                    if len(pending) > max_line:
                        skipped, pending = len(pending), bytearray()
                break
            if skipped >= 0:
                yield offset, None
                offset += skipped + end - start + 1
                skipped = -1
            elif pending:
                pending += chunk[start:end]
                yield offset, (bytes(pending) if len(pending) <= max_line else None)
                offset += len(pending) + 1
                pending = bytearray()
            else:
                yield offset, (chunk[start:end] if end - start <= max_line else None)
                offset += end - start + 1
            start = end + 1
    if skipped >= 0:
        yield offset, None
    elif pending:
        yield offset, bytes(pending)


def _too_long(options: ReadOptions) -> Drop:
    return Drop(
        "record_too_large", f"line longer than read.max_decoded_mb ({options.max_decoded_bytes:,} bytes)"
    )


def read_jsonl(raw: BinaryIO, source: str, options: ReadOptions | None = None) -> Iterator[Doc | Drop]:
    options = options or ReadOptions()
    problems: list[tuple[str, str]] = []
    ids = _UniqueIds()
    for offset, line in stream_lines(raw, lambda r, d: problems.append((r, d)), options.max_decoded_bytes):
        while problems:
            yield Drop(*problems.pop(0))
        if line is None:
            yield _too_long(options)
            continue
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            yield Drop("bad_json", str(exc)[:80])
            continue
        except RecursionError:
            yield Drop("bad_json", "nested too deeply to parse")
            continue
        if not isinstance(obj, dict):
            yield Drop("bad_json", "line is not a JSON object")
            continue
        if b"\\u" in line:  # only \u escapes can carry lone surrogates
            obj = _clean(obj)
        doc = to_document(obj, source, offset, options)
        yield ids.fix(doc, offset) if isinstance(doc, dict) else doc
    for problem in problems:
        yield Drop(*problem)


def read_text_lines(raw: BinaryIO, source: str, options: ReadOptions | None = None) -> Iterator[Doc | Drop]:
    """Plain text (optionally gzipped): every non-empty line is a document."""
    options = options or ReadOptions()
    problems: list[tuple[str, str]] = []
    for offset, line in stream_lines(raw, lambda r, d: problems.append((r, d)), options.max_decoded_bytes):
        while problems:
            yield Drop(*problems.pop(0))
        if line is None:
            yield _too_long(options)
            continue
        text = line.decode("utf-8", "replace").strip()
        if text:
            yield {"id": fallback_id(source, offset), "url": "", "text": text, "date": "", "source": source}
    for problem in problems:
        yield Drop(*problem)


# ----------------------------------------------------------------------------- Arrow, Parquet


def _table_rows(batches: Iterator[pa.RecordBatch], source: str, options: ReadOptions, bad: str):
    """Documents of record batches. Each batch is validated before a value is read (corrupt
    offsets or UTF-8 would otherwise crash the worker): a corrupt batch is one ``bad`` drop per
    row it holds, and a stream that cannot be read further ends with one ``bad`` drop."""
    ids = _UniqueIds()
    row_number = 0
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError, ValueError) as exc:
            yield Drop(bad, f"{type(exc).__name__}: {exc}"[:120])
            return
        try:
            batch.validate(full=True)
            rows = batch.to_pylist()
        except (pa.ArrowException, ValueError, UnicodeDecodeError) as exc:
            detail = f"corrupt record batch: {type(exc).__name__}: {exc}"[:120]
            for _ in range(batch.num_rows):
                yield Drop(bad, detail)
            row_number += batch.num_rows
            continue
        for row in rows:
            doc = to_document(row, source, row_number, options)
            yield ids.fix(doc, row_number) if isinstance(doc, dict) else doc
            row_number += 1


def read_arrow(raw: BinaryIO, source: str, options: ReadOptions | None = None) -> Iterator[Doc | Drop]:
    """Arrow IPC streams, such as this pipeline's own ``documents/`` shards, a batch at a time."""
    try:
        reader = pa.ipc.open_stream(raw)
    except (pa.ArrowException, OSError) as exc:
        yield Drop("bad_arrow", str(exc)[:80])
        return

    def batches():
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            yield batch

    yield from _table_rows(batches(), source, options or ReadOptions(), "bad_arrow")


def read_parquet(raw: BinaryIO, source: str, options: ReadOptions | None = None) -> Iterator[Doc | Drop]:
    """Parquet (FineWeb, CCI and most published corpora), a row group's batch at a time."""
    import pyarrow.parquet as pq

    try:
        seekable = raw.seekable()
    except (AttributeError, OSError):
        seekable = False
    try:
        # pre_buffer off: a row group's columns are read when its batches are wanted, not every
        # row group's at open (pyarrow's default reads the whole file in one go).
        parquet = pq.ParquetFile(raw if seekable else io.BytesIO(raw.read()), pre_buffer=False)
        batches = parquet.iter_batches(batch_size=1024)
    except (pa.ArrowException, OSError, ValueError) as exc:
        yield Drop("bad_parquet", str(exc)[:80])
        return
    yield from _table_rows(batches, source, options or ReadOptions(), "bad_parquet")
