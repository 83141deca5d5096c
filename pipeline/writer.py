"""Sharded Arrow IPC stream output, written atomically, plus manifest.json.

Each worker bundle streams its documents into temporary files (``<out>/.tmp-<run>/``), rolling
to a new file at ``shard_max_mb``/``shard_max_rows``; no shuffle of document text is needed. One
final step renames the temporary files to ``part-NNNNN-of-MMMMM.arrow`` (a rename is atomic on
local disks and is how Beam's own file sinks commit), removes shards left by an earlier run in
the same place, deletes the temporary folder (with whatever else was written there, such as the
training-shard spill pieces) and writes ``manifest.json``. A crashed run leaves only the
temporary folder, never a file that looks like a finished shard.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.ipc
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from pipeline import progress
from pipeline.readers import BASE_FIELDS
from stages.beam import BundleCounts

BASE_COLUMNS: dict[str, pa.DataType] = {name: pa.string() for name in BASE_FIELDS}
REJECTED_COLUMNS: dict[str, pa.DataType] = {
    "stage": pa.string(),
    "reason": pa.string(),
    "detail": pa.string(),
}


def document_schema(stage_columns: dict[str, pa.DataType], rejected: bool = False) -> pa.Schema:
    """Base columns, the columns the selected stages add, ``meta`` (JSON of anything else)."""
    columns = dict(BASE_COLUMNS)
    columns.update(stage_columns)
    columns["meta"] = pa.string()
    if rejected:
        columns.update(REJECTED_COLUMNS)
    return pa.schema([pa.field(name, dtype) for name, dtype in columns.items()])


def doc_to_row(doc: dict[str, Any], names: list[str]) -> dict[str, Any]:
    row = {name: doc.get(name) for name in names}
    meta = doc.get("meta")
    row["meta"] = json.dumps(meta, ensure_ascii=False, default=str) if meta else None
    return row


class WriteShards(beam.DoFn):
    """Stream documents into temporary Arrow files; emit one description per finished file."""

    def __init__(
        self,
        kind: str,
        out_dir: str,
        run_id: str,
        schema: pa.Schema,
        shard_max_mb: float,
        shard_max_rows: int,
        batch_rows: int,
        show_progress: bool = False,
    ):
        self.kind = kind  # "documents" or "rejected": the folder, and the counter prefix
        self.out_dir = out_dir
        self.run_id = run_id
        self.schema = schema
        self.max_bytes = int(shard_max_mb * 1e6)
        self.max_rows = shard_max_rows
        self.batch_rows = batch_rows
        self.show_progress = show_progress
        self.counter = "write" if kind == "documents" else "write_rejected"

    def setup(self):
        self.names = [n for n in self.schema.names if n != "meta"]

    def start_bundle(self):
        self.tally = BundleCounts()
        self.rows: list[dict[str, Any]] = []
        self.sink = None
        self.writer = None
        self.finished: list[dict[str, Any]] = []

    def process(self, doc):
        self.tally.add(f"{self.counter}.in")
        self.rows.append(doc_to_row(doc, self.names))
        limit = self.batch_rows
        if self.max_rows:
            # Never let a batch carry a shard past its row limit.
            limit = min(limit, self.max_rows - (self.current["rows"] if self.writer is not None else 0))
        if len(self.rows) >= limit:
            self._flush_rows()
        return ()

    def _open(self):
        path = FileSystems.join(self.out_dir, self.kind, f".tmp-{self.run_id}", f"{uuid.uuid4().hex}.arrow")
        self.sink = FileSystems.create(path)
        self.writer = pa.ipc.new_stream(pa.PythonFile(self.sink, mode="w"), self.schema)
        self.current = {"kind": self.kind, "tmp": path, "rows": 0, "bytes": 0, "first_id": None}

    def _flush_rows(self):
        if not self.rows:
            return
        batch = self._to_batch(self.rows)
        self.rows = []
        if batch.num_rows == 0:
            return
        if self.writer is None:
            self._open()
        self.writer.write_batch(batch)
        cur = self.current
        if cur["first_id"] is None:
            cur["first_id"] = batch.column(0)[0].as_py()
        cur["rows"] += batch.num_rows
        cur["bytes"] += batch.nbytes
        self.tally.add(f"{self.counter}.out", batch.num_rows)
        if self.show_progress and self.kind == "documents":
            progress.tracker(None, 5.0).add(docs_kept=batch.num_rows)
        if cur["bytes"] >= self.max_bytes or (self.max_rows and cur["rows"] >= self.max_rows):
            self._close()

    def _to_batch(self, rows: list[dict[str, Any]]) -> pa.RecordBatch:
        try:
            return pa.RecordBatch.from_pylist(rows, schema=self.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            # One bad value must not lose the batch: convert row by row, count what fails.
            good = []
            for row in rows:
                try:
                    pa.RecordBatch.from_pylist([row], schema=self.schema)
                    good.append(row)
                except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
                    self.tally.add(f"{self.counter}.drop.bad_row")
            return pa.RecordBatch.from_pylist(good, schema=self.schema)

    def _close(self):
        if self.writer is not None:
            self.writer.close()
            self.sink.close()
            self.finished.append(self.current)
            self.writer = None
            self.sink = None

    def finish_bundle(self):
        self._flush_rows()
        self._close()
        self.tally.flush()
        for info in self.finished:
            yield WindowedValue(info, MIN_TIMESTAMP, [GlobalWindow()])


def delete_folder(path: str) -> None:
    """Delete a temporary folder and everything in it, local or on an object store."""
    if FileSystems.exists(path):
        FileSystems.delete([path])
        return
    # Object stores have no folder to delete, only the files left under its prefix (spill pieces).
    leftovers = FileSystems.match([FileSystems.join(path, "**")])[0].metadata_list
    if leftovers:
        FileSystems.delete([m.path for m in leftovers])


def finalize_output(
    files: list[dict[str, Any]],
    out_dir: str,
    run_id: str,
    schemas: dict[str, pa.Schema],
    manifest_extra: dict[str, Any],
    samples: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Rename temporary files to their final shard names; write manifest.json and samples.json."""
    manifest: dict[str, Any] = {"run_id": run_id}
    for kind, schema in schemas.items():
        mine = sorted((f for f in files if f["kind"] == kind), key=lambda f: (f["first_id"] or "", f["tmp"]))
        folder = FileSystems.join(out_dir, kind)
        if not mine:
            # An empty result is still a readable dataset: one shard with the schema and no rows.
            path = FileSystems.join(folder, f".tmp-{run_id}", "empty.arrow")
            with FileSystems.create(path) as sink:
                pa.ipc.new_stream(pa.PythonFile(sink, mode="w"), schema).close()
            mine = [{"kind": kind, "tmp": path, "rows": 0, "bytes": 0, "first_id": None}]
        stale = FileSystems.match([FileSystems.join(folder, "part-*.arrow")])[0].metadata_list
        if stale:
            FileSystems.delete([m.path for m in stale])
        total = len(mine)
        shards = []
        for index, info in enumerate(mine):
            name = f"part-{index:05d}-of-{total:05d}.arrow"
            FileSystems.rename([info["tmp"]], [FileSystems.join(folder, name)])
            shard = {"file": f"{kind}/{name}", "rows": info["rows"]}
            if "tokens" in info:
                shard["tokens"] = info["tokens"]
            shards.append(shard)
        delete_folder(FileSystems.join(folder, f".tmp-{run_id}"))
        manifest[kind] = {
            "shards": shards,
            "rows": sum(s["rows"] for s in shards),
            "schema": [{"name": f.name, "type": str(f.type)} for f in schema],
        }
        if any("tokens" in s for s in shards):
            manifest[kind]["tokens"] = sum(s.get("tokens", 0) for s in shards)
    delete_folder(FileSystems.join(out_dir, f".tmp-{run_id}"))  # stages' intermediate files (RunContext)
    manifest.update(manifest_extra)
    with FileSystems.create(FileSystems.join(out_dir, "manifest.json")) as sink:
        sink.write(json.dumps(manifest, indent=2, ensure_ascii=False).encode())
    with FileSystems.create(FileSystems.join(out_dir, "samples.json")) as sink:
        sink.write(json.dumps(samples or [], ensure_ascii=False, default=str).encode())
    return manifest
