"""Resumable runs: the inputs as chunks, each committed on its own, then one commit of the whole.

``python -m pipeline.run --resume`` (or ``resume: true`` in the config):

1. **Plan.** The launcher expands the inputs (as the graph's ExpandInput does; skipped entries and
   repeated files are counted) and cuts them into chunks of at most ``chunks.mb`` MB and
   ``chunks.files`` files; a gzipped WARC/WET file larger than a chunk is cut into byte ranges
   (graph.byte_ranges). ``OUTPUT/chunks/plan.json`` holds the chunks and a fingerprint of what the
   result depends on: every input file's path, size and mtime, the resolved configuration, and the
   size and mtime of the model files the steps read. It is written before the first chunk runs.
2. **Chunks.** Chunk k is one Beam run of the user's steps on its byte ranges, with
   ``OUTPUT/chunks/NNNNN/`` as its output folder; it commits like any run (manifest.json last is
   its completion record) and keeps its raw tallies. Each dedup step saves an index there and
   deduplicates against the indexes of chunks 0..k-1 (``save_index`` / ``against``): a document
   that duplicates one of an earlier chunk is dropped with ``duplicate_of`` naming the earlier
   chunk's kept document. The earlier chunk's copy always survives, whatever the survivor policy
   would prefer. Training shards are written as pieces that keep each row's id hash.
3. **Finish.** After the last chunk the chunks' tallies are summed into stats.json (the
   accounting check covers the whole run), their samples joined for report.html, each training
   shard is merged from its pieces in the seeded order a one-shot run uses, and everything is
   committed to OUTPUT at once (pipeline.writer.commit_output renames the chunks' shards into
   documents/, rejected/ ..., manifest.json last). Then the chunk folders go; plan.json stays, so
   a later ``--resume`` knows the run is complete.

A rerun with ``--resume`` makes the plan again: the same fingerprint skips every committed chunk
(it is not read again) and clears what an interrupted chunk left; a different one is refused with
one line naming what changed. A chunk's result depends only on the plan and on the indexes of the
chunks before it, so an interrupted and resumed run gives what an uninterrupted run with the same
chunking gives.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import random
import time
from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.ipc
from apache_beam.io.filesystems import FileSystems

from pipeline.config import ConfigError, RunConfig, StepConfig
from pipeline.graph import byte_ranges, manifest_provenance, summary_files
from pipeline.inputs import expand_counted, has_scheme
from pipeline.output_dir import OutputBusy, check_empty
from pipeline.stats import run_stats
from pipeline.token_writer import write_shard
from pipeline.writer import MANIFEST, commit_output, delete_folder, read_json, write_atomically
from stages.base import run_temp_dir, staging_dir
from stages.token_shards import COLUMN

log = logging.getLogger("pipeline")

CHUNKS = "chunks"
PLAN = "plan.json"
FINAL = "final.json"  # the final commit's file list, fixed before its first rename
PLAN_VERSION = 1
# Step types whose indexes carry deduplication across chunks.
DEDUP_TYPES = ("exact_dedup", "minhash_dedup")


class PlanMismatch(OutputBusy):
    """--resume on an output whose plan was made from other inputs or another config."""


def chunks_dir(out_dir: str) -> str:
    return FileSystems.join(out_dir, CHUNKS)


def chunk_dir(out_dir: str, index: int) -> str:
    return FileSystems.join(out_dir, CHUNKS, f"{index:05d}")


# ----------------------------------------------------------------------------- the plan


def expand_files(patterns: list[str], base_url: str) -> tuple[list[tuple[str, int | None]], Counter[str]]:
    """Every input file once, in the order given, and the tallies of what was not read (the
    counts the graph's ExpandInput and OneInputPerPath make in a one-shot run)."""
    files: list[tuple[str, int | None]] = []
    seen: set[str] = set()
    tallies: Counter[str] = Counter()

    def drop(reason: str) -> None:
        tallies.update(["read.in", f"read.drop.{reason}"])

    for pattern in patterns:
        for path, size in expand_counted(pattern, base_url, drop):
            if path in seen:
                log.warning("input %s is named more than once; it is read once", path)
                drop("duplicate_input")
                continue
            seen.add(path)
            files.append((path, size))
    return files, tallies


def modified(path: str) -> int | None:
    """A file's modification time (ns; None where the filesystem does not say)."""
    if not has_scheme(path):
        try:
            return os.stat(path).st_mtime_ns
        except OSError:
            return None
    try:
        return int(FileSystems.last_updated(path) * 1e9)
    except Exception:  # noqa: BLE001 - http(s) inputs and some stores have no mtime
        return None


def model_files(cfg: RunConfig) -> dict[str, list]:
    """[size, mtime] of every local file a selected step's path parameter names (a model, a
    tokenizer), or of every file in a folder it names (a tokenizer folder: the model and its
    config): their content is part of the result but not of the config's text."""
    found: dict[str, list] = {}
    for step in cfg.steps:
        for field in dataclasses.fields(step.params):
            if not field.metadata.get("path"):
                continue
            value = getattr(step.params, field.name)
            for path in value if isinstance(value, list) else [value]:
                if not isinstance(path, str) or not path or has_scheme(path):
                    continue
                files = sorted(os.scandir(path), key=lambda e: e.name) if os.path.isdir(path) else []
                for file in [e.path for e in files if e.is_file()] or [path]:
                    if os.path.isfile(file):
                        info = os.stat(file)
                        found[file] = [info.st_size, info.st_mtime_ns]
    return found


def part_bytes(part: list) -> int:
    path, start, end, size = part
    stop = end if end is not None else (size or 0)
    return max(stop - start, 0)


def cut_chunks(files: list[tuple[str, int | None]], max_bytes: int, max_files: int) -> list[list[list]]:
    """Chunks of ``[path, start, end, size]`` parts, in input order: a chunk closes before a part
    that would take it past ``max_bytes`` or past ``max_files`` files (0: no limit). A gzipped
    WARC/WET file larger than ``max_bytes`` becomes byte ranges of that size."""
    parts = [
        [part_path, start, end, size]
        for path, size in files
        for part_path, start, end in byte_ranges(path, 0, None, size, max_bytes)
    ]
    chunks: list[list[list]] = []
    current: list[list] = []
    current_bytes = 0
    current_files: set[str] = set()
    for part in parts:
        nbytes = part_bytes(part)
        too_big = max_bytes and current_bytes + nbytes > max_bytes
        too_many = max_files and part[0] not in current_files and len(current_files) >= max_files
        if current and (too_big or too_many):
            chunks.append(current)
            current, current_bytes, current_files = [], 0, set()
        current.append(part)
        current_bytes += nbytes
        current_files.add(part[0])
    if current:
        chunks.append(current)
    return chunks


def fingerprint_config(cfg: RunConfig) -> dict[str, Any]:
    """The resolved config less what does not change the result: where it goes, the inputs as
    typed (the expanded files are fingerprinted instead), and the resume switch itself."""
    config = json.loads(json.dumps(cfg.resolved(), default=str))
    for key in ("input", "output", "resume"):
        config.pop(key, None)
    return config


def make_plan(cfg: RunConfig, software: dict[str, Any] | None = None) -> dict[str, Any]:
    """The plan of a chunked run (module doc). ``software``: the package version and git revision
    (pipeline.run.provenance); chunks made by other code are not mixed with this code's."""
    files, tallies = expand_files(cfg.input, cfg.read.cc_base_url)
    chunks = cut_chunks(files, int(cfg.chunks.mb * 1e6), cfg.chunks.files)
    plan: dict[str, Any] = {
        "version": PLAN_VERSION,
        "software": {k: (software or {}).get(k) for k in ("package_version", "git_revision")},
        "inputs": [[path, size, modified(path)] for path, size in files],
        "expansion": dict(sorted(tallies.items())),
        "config": fingerprint_config(cfg),
        "models": model_files(cfg),
        "chunks": [{"parts": parts, "bytes": sum(part_bytes(p) for p in parts)} for parts in chunks],
    }
    plan["plan_id"] = hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:16]
    plan["created"] = time.time()
    return plan


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys of nested config data; a list of one-key mappings (``steps:``) by name."""
    if isinstance(value, list) and value and all(isinstance(v, dict) and len(v) == 1 for v in value):
        value = {k: v for item in value for k, v in item.items()}
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def describe_change(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """What differs between two plans, in a few words (None: the same plan)."""
    if old.get("version") != new["version"]:
        return "the plan format changed"
    for key, value in new["software"].items():
        if old.get("software", {}).get(key) != value:
            return f"the pipeline's code changed ({key} {old.get('software', {}).get(key)} -> {value})"
    before = {path: (size, mtime) for path, size, mtime in old.get("inputs", [])}
    after = {path: (size, mtime) for path, size, mtime in new["inputs"]}
    for path, state in after.items():
        if path not in before:
            return f"input {path} is new"
        if before[path][0] != state[0]:
            return f"input {path} changed size ({before[path][0]} -> {state[0]} bytes)"
        if before[path][1] != state[1]:
            return f"input {path} was modified"
    for path in before:
        if path not in after:
            return f"input {path} is no longer among the inputs"
    if list(before) != list(after):
        return "the order of the inputs changed"
    old_config, new_config = _flatten(old.get("config", {})), _flatten(new["config"])
    for key in sorted(set(old_config) | set(new_config)):
        if old_config.get(key) != new_config.get(key):
            return f"config key {key} changed ({old_config.get(key)!r} -> {new_config.get(key)!r})"
    for path in sorted(set(old.get("models", {})) | set(new["models"])):
        if old.get("models", {}).get(path) != new["models"].get(path):
            return f"model file {path} changed"
    if old.get("expansion") != new["expansion"]:
        return "the entries skipped while expanding the inputs changed"
    if old.get("chunks") != new["chunks"]:
        return "the chunks changed"
    return None


def read_plan(out_dir: str) -> dict[str, Any] | None:
    return read_json(FileSystems.join(chunks_dir(out_dir), PLAN))


def prepare(out_dir: str, plan: dict[str, Any], overwrite: bool) -> str:
    """Make ``out_dir`` ready for ``plan``: ``"new"`` (plan.json written), ``"resume"`` (the same
    plan, some chunks may be committed) or ``"complete"`` (this plan's outputs are committed).
    The same plan is always continued: that gives what starting over would. Raises PlanMismatch
    when the folder holds another plan, OutputBusy when it holds another run; ``overwrite``
    discards either (the final commit replaces the other run's outputs)."""
    old = read_plan(out_dir)
    change = describe_change(old, plan) if old is not None else None
    if old is not None and change is None:
        plan["created"] = old.get("created", plan["created"])  # the run started with the first plan
        manifest = read_json(FileSystems.join(out_dir, MANIFEST))
        return "complete" if manifest and manifest.get("run_id") == plan["plan_id"] else "resume"
    if change is not None and not overwrite:
        path = FileSystems.join(chunks_dir(out_dir), PLAN)
        raise PlanMismatch(
            f"--resume: {change} since {path} was made; restore it, or start over with --overwrite "
            "(which discards the committed chunks)"
        )
    if old is None:
        check_empty(out_dir, overwrite)
    delete_folder(chunks_dir(out_dir))
    if "://" not in out_dir:
        os.makedirs(chunks_dir(out_dir), exist_ok=True)
    write_atomically(FileSystems.join(chunks_dir(out_dir), PLAN), json.dumps(plan, indent=1).encode())
    return "new"


def check_steps(cfg: RunConfig) -> None:
    """Chunks carry dedup across with one index per dedup type: one step of each at most."""
    for step_type in DEDUP_TYPES:
        steps = cfg.steps_of_type(step_type)
        if len(steps) > 1:
            names = ", ".join(step.name for step in steps)
            raise ConfigError(
                f"config key 'resume': a chunked run deduplicates across chunks with one {step_type} "
                f"step, not {len(steps)} ({names})"
            )


# ----------------------------------------------------------------------------- chunks


def committed(out_dir: str, plan: dict[str, Any]) -> set[int]:
    """The chunks of ``plan`` whose completion record (their manifest.json) exists."""
    done = set()
    for index in range(len(plan["chunks"])):
        manifest = read_json(FileSystems.join(chunk_dir(out_dir, index), MANIFEST))
        if manifest and (manifest.get("chunk") or {}).get("plan_id") == plan["plan_id"]:
            done.add(index)
    return done


def release_memory() -> None:
    """Hand memory freed by a chunk's Beam run back to the system before the next one starts.
    Without it each later chunk peaked 20-45 MB higher than the same chunk run in a fresh process
    (collectable cycles, Arrow's pool and glibc's arenas keep freed pages; benchmarks/RESULTS.md)."""
    import ctypes
    import gc

    gc.collect()
    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): its allocator decides
        pass


def clear_chunk(out_dir: str, index: int) -> None:
    """Delete what an interrupted attempt at a chunk left (nothing of it was committed)."""
    delete_folder(chunk_dir(out_dir, index))


def chunk_config(cfg: RunConfig, out_dir: str, index: int) -> RunConfig:
    """The config of one chunk: its own output folder, and dedup steps that save their index
    there and deduplicate against those of the chunks before it (after any ``against`` of the
    user's)."""
    earlier = [chunk_dir(out_dir, k) for k in range(index)]
    steps = []
    for step in cfg.steps:
        params = step.params
        if step.type in DEDUP_TYPES:
            params = dataclasses.replace(params, save_index=True, against=[*params.against, *earlier])
        steps.append(StepConfig(step.name, step.type, params))
    return dataclasses.replace(cfg, output=chunk_dir(out_dir, index), steps=steps)


# ----------------------------------------------------------------------------- the final commit


def output_kinds(cfg: RunConfig) -> list[str]:
    """The chunks' outputs that become the run's (training shards aside: they are merged)."""
    from stages.exact_dedup import INDEX_KIND as EXACT_INDEX
    from stages.minhash_dedup import DUPLICATES_KIND, INDEX_KIND

    kinds = ["documents"] + (["rejected"] if cfg.keep_rejected else [])
    for step in cfg.steps:
        if step.type == "minhash_dedup" and step.params.save_index:
            kinds += [INDEX_KIND, DUPLICATES_KIND]
        if step.type == "exact_dedup" and step.params.save_index:
            kinds.append(EXACT_INDEX)
    return kinds


def _schema_of(path: str) -> pa.Schema:
    with FileSystems.open(path, compression_type="uncompressed") as handle:
        return pa.ipc.open_stream(pa.PythonFile(handle, mode="r")).schema


def final_files(cfg: RunConfig, out_dir: str, manifests: list[dict[str, Any]]) -> dict[str, Any]:
    """What the final commit renames, in chunk order, the training-shard pieces to merge (by
    split and shard) and the schema of each kind (serialised): fixed in chunks/final.json before
    the first rename, so a commit that is interrupted and run again renames the same files to the
    same names."""
    files: list[dict[str, Any]] = []
    schemas: dict[str, str] = {}
    pieces: dict[str, dict[str, list[str]]] = {}
    token_kinds = [kind for kind in (manifests[0] if manifests else {}) if kind.startswith("tokens/")]
    for index, manifest in enumerate(manifests):
        folder = chunk_dir(out_dir, index)
        for kind in output_kinds(cfg) + token_kinds:
            for number, shard in enumerate(manifest[kind]["shards"]):
                path = FileSystems.join(folder, shard["file"])
                if kind not in schemas:  # every chunk commits at least an empty shard of each kind
                    schemas[kind] = _schema_of(path).serialize().to_pybytes().hex()
                if not shard["rows"]:
                    continue
                if kind in token_kinds:
                    pieces.setdefault(kind, {}).setdefault(str(shard["shard"]), []).append(path)
                else:
                    first_id = f"{index:05d}-{number:05d}"
                    files.append({"kind": kind, "tmp": path, "rows": shard["rows"], "first_id": first_id})
    return {"files": files, "schemas": schemas, "token_pieces": pieces}


def _merge_samples(samples: list[dict[str, Any]], limit: int, seed: str) -> list[dict[str, Any]]:
    """At most ``limit`` samples, half kept and half dropped documents, drawn from all chunks."""
    half = max(1, limit // 2)
    rng = random.Random(seed)
    out = []
    for kept in (True, False):
        group = [s for s in samples if bool(s.get("kept")) == kept]
        out += rng.sample(group, min(half, len(group)))
    return out


def finish(cfg: RunConfig, plan: dict[str, Any], out_dir: str, run_info: dict[str, Any]) -> dict[str, Any]:
    """Sum, merge and commit every chunk's outputs as the run's; returns the manifest."""
    count = len(plan["chunks"])
    run_id = plan["plan_id"]
    folders = [chunk_dir(out_dir, index) for index in range(count)]
    manifests = [read_json(FileSystems.join(folder, MANIFEST)) for folder in folders]
    tallies: Counter[str] = Counter(plan["expansion"])
    samples: list[dict[str, Any]] = []
    elapsed = 0.0
    records_read = []
    for folder in folders:
        chunk_tallies = read_json(FileSystems.join(folder, "tallies.json")) or {}
        tallies.update(chunk_tallies)
        records_read.append(chunk_tallies.get("read.in", 0))
        samples += read_json(FileSystems.join(folder, "samples.json")) or []
        elapsed += (read_json(FileSystems.join(folder, "stats.json")) or {}).get("elapsed_s", 0.0)
    stats = run_stats(dict(tallies), cfg.step_names, run_id, run_info.get("runner"), round(elapsed, 3))
    stats["chunks"] = count

    final_path = FileSystems.join(chunks_dir(out_dir), FINAL)
    final = read_json(final_path)
    if final is None or final.get("plan_id") != run_id:
        final = {"plan_id": run_id, **final_files(cfg, out_dir, manifests)}
        write_atomically(final_path, json.dumps(final).encode())
    schemas = {
        kind: pa.ipc.read_schema(pa.py_buffer(bytes.fromhex(data))) for kind, data in final["schemas"].items()
    }
    files = list(final["files"])
    for kind, by_shard in final["token_pieces"].items():
        # A chunk's pieces keep each row's id hash; the shard is written as a one-shot run writes it.
        piece = schemas[kind]
        schemas[kind] = pa.schema([piece.field(COLUMN)], metadata=piece.metadata)
        for number, pieces in sorted((int(shard), pieces) for shard, pieces in by_shard.items()):
            path = FileSystems.join(staging_dir(out_dir, run_id, kind), f"{number:05d}.arrow")
            rows, tokens = write_shard(pieces, path, schemas[kind])
            files.append({"kind": kind, "tmp": path, "rows": rows, "tokens": tokens, "first_id": f"{number:05d}",
                          "shard": number})  # fmt: skip

    sizes = [size or 0 for _, size, _ in plan["inputs"]]
    run = {
        **run_info,
        "inputs": list(cfg.input),
        "started": plan["created"],
        "config": cfg.resolved(),
        "config_files": cfg.source_files,
    }
    provenance = manifest_provenance(run, (len(sizes), sum(sizes)), time.time())
    provenance["chunks"] = {
        "count": count,
        "plan_id": run_id,
        "mb": cfg.chunks.mb,
        "files": cfg.chunks.files,
        "committed_by": [(m.get("chunk") or {}).get("session") for m in manifests],
        "records_read": records_read,
    }
    if manifests and "tokenizer" in manifests[0]:
        provenance["tokenizer"] = manifests[0]["tokenizer"]
    limit = cfg.write.report_samples
    small = summary_files(stats, _merge_samples(samples, limit, run_id), run["config"])
    if "://" not in out_dir:
        os.makedirs(run_temp_dir(out_dir, run_id), exist_ok=True)
    derived = None
    tokenizers = cfg.steps_of_type("tokenize")
    if tokenizers and tokenizers[0].params.megatron:  # made from the merged shards, as a one-shot run's
        from pipeline.megatron_writer import write_megatron_outputs as derived
    manifest = commit_output(files, out_dir, run_id, schemas, provenance, small, derived, spare=(CHUNKS,))
    tidy_complete(out_dir, plan)
    return manifest


def tidy_complete(out_dir: str, plan: dict[str, Any]) -> None:
    """Remove the chunk folders and final.json of a committed run (plan.json stays): after the
    final commit, or for a run killed after that commit but before this."""
    for index in range(len(plan["chunks"])):
        delete_folder(chunk_dir(out_dir, index))
    final_path = FileSystems.join(chunks_dir(out_dir), FINAL)
    if FileSystems.exists(final_path):
        FileSystems.delete([final_path])
