"""Sharded Arrow IPC stream output, committed as a whole, with manifest.json written last.

Each worker bundle streams its documents into temporary files under the run's staging folder
(``<out>/.tmp-<run>/out/documents/``, see stages.base.staging_dir), rolling to a new file at
``shard_max_mb``/``shard_max_rows``; no shuffle of document text is needed. ``commit_output``,
the run's last step, makes the run's outputs the folder's outputs:

1. ``manifest.json`` of an earlier run is removed first: from here on the folder does not claim
   to hold a complete run, so a commit killed half-way can never look complete (a commit that
   runs again, as a retried bundle does, finishes the same commit);
2. every kind of output an earlier run may have left (documents, rejected, tokens, index,
   stats, report) is removed, including kinds this run does not write: a rerun without holdout
   must not leave an earlier ``tokens/holdout`` behind for the trainer to evaluate on;
3. staged files are renamed to ``<kind>/part-NNNNN-of-MMMMM.arrow`` (a rename is atomic on local
   disks, and how Beam's own file sinks commit), small files are written under a temporary name
   and renamed;
4. ``manifest.json`` is written (temporary name, rename) last, and the staging folder deleted.

The launcher (pipeline.run) takes the folder's lock and refuses a non-empty folder without
``--overwrite`` before any of this starts.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.ipc
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from pipeline import progress
from stages.base import BASE_FIELDS, run_temp_dir, staging_dir
from stages.beam import BundleCounts, CpuClock

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
        self.clock = CpuClock(f"{self.counter}.cpu_ns")

    def start_bundle(self):
        self.tally = BundleCounts()
        self.rows: list[dict[str, Any]] = []
        self.sink = None
        self.writer = None
        self.finished: list[dict[str, Any]] = []

    def process(self, doc):
        started = self.clock.start()
        self.tally.add(f"{self.counter}.in")
        if self.kind == "documents":
            # The report's language mix is that of the documents written, not of those langid saw.
            self.tally.add(f"write.count.lang.{doc.get('lang') or 'unknown'}")
        self.rows.append(doc_to_row(doc, self.names))
        limit = self.batch_rows
        if self.max_rows:
            # Never let a batch carry a shard past its row limit.
            limit = min(limit, self.max_rows - (self.current["rows"] if self.writer is not None else 0))
        if len(self.rows) >= limit:
            self._flush_rows()
        self.clock.stop(started, self.tally)
        return ()

    def _open(self):
        path = FileSystems.join(
            staging_dir(self.out_dir, self.run_id, self.kind), f"{uuid.uuid4().hex}.arrow"
        )
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
        started = time.thread_time_ns()
        self._flush_rows()
        self._close()
        self.tally.add(f"{self.counter}.cpu_ns", time.thread_time_ns() - started)
        for info in self.finished:
            yield WindowedValue(info, MIN_TIMESTAMP, [GlobalWindow()])
        yield from self.tally.emit_windowed()


def delete_folder(path: str) -> None:
    """Delete a temporary folder and everything in it, local or on an object store."""
    if FileSystems.exists(path):
        FileSystems.delete([path])
        return
    # Object stores have no folder to delete, only the files left under its prefix (spill pieces).
    leftovers = FileSystems.match([FileSystems.join(path, "**")])[0].metadata_list
    if leftovers:
        FileSystems.delete([m.path for m in leftovers])


# Everything a run may leave in its output folder: what --overwrite replaces, and what makes a
# folder "hold an earlier run". The manifest is listed first: it goes first and comes back last.
MANIFEST = "manifest.json"
OUTPUT_FILES = (MANIFEST, "stats.json", "samples.json", "report.html")
OUTPUT_FOLDERS = ("documents", "rejected", "tokens", "minhash_index", "exact_index", "megatron", "chunks")


def write_atomically(path: str, data: bytes) -> None:
    """A small file under a temporary name, then renamed: readers see the old file or the new one."""
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    with FileSystems.create(tmp) as sink:
        sink.write(data)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([tmp], [path])


def remove_outputs(out_dir: str, keep: set[str] = frozenset(), spare: tuple[str, ...] = ()) -> None:
    """Remove every kind of output an earlier run may have left, the manifest first; files in
    ``keep`` (this run's own, already committed by an earlier attempt of the commit) and the
    folders named in ``spare`` (a chunked run's ``chunks``, which its commit reads from) stay."""
    for name in OUTPUT_FILES:
        path = FileSystems.join(out_dir, name)
        if FileSystems.exists(path):
            FileSystems.delete([path])
    for name in OUTPUT_FOLDERS:
        if name in spare:
            continue
        folder = FileSystems.join(out_dir, name)
        if not any(path.startswith(folder + "/") for path in keep):
            delete_folder(folder)
            continue
        found = FileSystems.match([FileSystems.join(folder, "**")])[0].metadata_list
        stale = [m.path for m in found if m.path not in keep]
        if stale:
            FileSystems.delete(stale)
        if "://" not in folder:  # local: folders emptied above (e.g. tokens/holdout) go too
            for root, _, _ in sorted(os.walk(folder), key=lambda w: -len(w[0])):
                if root != folder and not os.listdir(root):
                    os.rmdir(root)


def read_json(path: str) -> Any:
    """A small JSON file of the output folder (manifest, stats, plan ...); None when it is missing
    or unreadable (a half-written file of a killed run)."""
    try:
        with FileSystems.open(path) as source:
            return json.loads(source.read().decode())
    except (OSError, ValueError):
        return None


def commit_output(
    files: list[dict[str, Any]],
    out_dir: str,
    run_id: str,
    schemas: dict[str, pa.Schema],
    manifest_extra: dict[str, Any],
    small_files: dict[str, bytes],
    derived: Callable[[dict[str, Any], str], dict[str, Any]] | None = None,
    spare: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Make this run's staged shards and ``small_files`` (name -> bytes: stats.json, report ...)
    the outputs of ``out_dir``, replacing an earlier run's, with manifest.json last (module doc).
    A file's ``tmp`` may lie anywhere under ``out_dir`` (a chunked run commits its chunks' files).
    ``derived(manifest, out_dir)`` writes outputs made from the committed shards (e.g. Megatron's
    indexed dataset) and returns their manifest entries, before the manifest is written.
    ``spare``: output folders the commit leaves alone (see ``remove_outputs``)."""
    manifest: dict[str, Any] = {"run_id": run_id}
    renames: list[tuple[str, str]] = []
    for kind, schema in schemas.items():
        mine = sorted((f for f in files if f["kind"] == kind), key=lambda f: (f["first_id"] or "", f["tmp"]))
        if not mine:
            # An empty result is still a readable dataset: one shard with the schema and no rows.
            path = FileSystems.join(staging_dir(out_dir, run_id, kind), "empty.arrow")
            with FileSystems.create(path) as sink:
                pa.ipc.new_stream(pa.PythonFile(sink, mode="w"), schema).close()
            mine = [{"kind": kind, "tmp": path, "rows": 0, "bytes": 0, "first_id": None}]
        shards = []
        for index, info in enumerate(mine):
            name = f"part-{index:05d}-of-{len(mine):05d}.arrow"
            renames.append((info["tmp"], FileSystems.join(out_dir, kind, name)))
            shard = {"file": f"{kind}/{name}", "rows": info["rows"]}
            for key in ("tokens", "shard"):  # training shards: tokens, and which shard of the split
                if key in info:
                    shard[key] = info[key]
            shards.append(shard)
        manifest[kind] = {
            "shards": shards,
            "rows": sum(s["rows"] for s in shards),
            "schema": [{"name": f.name, "type": str(f.type)} for f in schema],
        }
        if any("tokens" in s for s in shards):
            manifest[kind]["tokens"] = sum(s.get("tokens", 0) for s in shards)
    manifest.update(manifest_extra)

    # A runner may run this step again (a retried bundle): it must then finish the same commit.
    committed = read_json(FileSystems.join(out_dir, MANIFEST))
    if committed is not None and committed.get("run_id") == run_id:
        return committed
    remove_outputs(out_dir, keep={final for _, final in renames}, spare=spare)
    for folder in {final.rsplit("/", 1)[0] for _, final in renames}:
        if "://" not in folder:  # object stores have no folders to make
            os.makedirs(folder, exist_ok=True)
    for tmp, final in renames:
        if FileSystems.exists(tmp):
            FileSystems.rename([tmp], [final])
        elif not FileSystems.exists(final):
            raise FileNotFoundError(f"staged output {tmp} is gone before the commit")
    for name, data in small_files.items():
        write_atomically(FileSystems.join(out_dir, name), data)
    if derived is not None:
        manifest.update(derived(manifest, out_dir))
    write_atomically(
        FileSystems.join(out_dir, MANIFEST), json.dumps(manifest, indent=2, ensure_ascii=False).encode()
    )
    delete_folder(run_temp_dir(out_dir, run_id))
    return manifest
