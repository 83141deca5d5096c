"""The Beam graph: read -> the user's steps in order -> write -> commit, in one function.

Every counting DoFn emits its per-bundle tallies on a ``STATS`` output (stages.beam); they are
summed inside the graph, and the last step (``finish_run``) writes stats.json, samples.json and
report.html, then commits the outputs with manifest.json last. A run therefore leaves complete
statistics whether or not the launcher waits for it.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections import Counter
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipeline import progress
from pipeline.config import RunConfig
from pipeline.inputs import expand_counted, open_input
from pipeline.readers import Note, ReadOptions, input_format, is_splittable, read_file
from pipeline.token_writer import WriteTrainingShards, is_holdout, piece_schema
from pipeline.writer import WriteShards, commit_output, document_schema
from stages.base import CARRIED_FIELDS, STEP_FIELDS, Drop, RunContext
from stages.beam import STATS, BundleCounts, CpuClock, apply_stage

log = logging.getLogger("pipeline")


class ExpandInput(beam.DoFn):
    """pattern -> (path, size). Runs on a worker, so listings and remote globs resolve there.
    What a pattern names but cannot be read (a FIFO, a link loop, nothing at all) is counted."""

    def __init__(self, base_url: str):
        self.base_url = base_url

    def process(self, pattern):
        tally = BundleCounts()

        def drop(reason: str) -> None:
            tally.add("read.in")
            tally.add(f"read.drop.{reason}")

        yield from expand_counted(pattern, self.base_url, drop)
        yield from tally.emit()


class OneInputPerPath(beam.DoFn):
    """(path, [sizes]) -> (path, size) once: a file named by two patterns (or twice) is read once,
    or its documents would share ids and escape deduplication. Repeats are counted."""

    def process(self, element):
        path, sizes = element
        sizes = list(sizes)
        # The run's input files and bytes travel with the tallies (manifest provenance).
        tally = {"inputs.files": 1, "inputs.bytes": sizes[0] or 0}
        if len(sizes) > 1:
            log.warning("input %s is named %d times; it is read once", path, len(sizes))
            tally.update({"read.in": len(sizes) - 1, "read.drop.duplicate_input": len(sizes) - 1})
        yield beam.pvalue.TaggedOutput(STATS, tally)
        yield path, sizes[0]


class _CountingReader:
    """Wraps a raw stream to count compressed bytes for progress."""

    def __init__(self, raw, on_bytes):
        self.raw = raw
        self.on_bytes = on_bytes

    def read(self, n=-1):
        data = self.raw.read(n)
        self.on_bytes(len(data))
        return data

    # Seeking passes through: a Parquet reader jumps to the footer and row groups of a file it
    # can seek in (otherwise it would have to hold the whole file); bytes still count as read.
    def seekable(self) -> bool:
        return self.raw.seekable()

    def seek(self, *args):
        return self.raw.seek(*args)

    def tell(self) -> int:
        return self.raw.tell()

    @property
    def closed(self) -> bool:
        return self.raw.closed

    def readable(self) -> bool:
        return True


def byte_ranges(
    path: str, start: int, end: int | None, size: int | None, split_bytes: int
) -> list[tuple[str, int, int | None]]:
    """``[start, end)`` of a file of ``size`` bytes (``end`` None: to EOF) as ``(path, start,
    end)`` ranges of ``split_bytes``. Only gzipped WARC/WET files are split (their gzip members
    can be found from any offset); the last range keeps ``end``."""
    stop = end if end is not None else size
    if not (split_bytes and is_splittable(path) and stop and stop - start > split_bytes):
        return [(path, start, end)]
    starts = list(range(start, stop, split_bytes))
    return [(path, s, starts[i + 1] if i + 1 < len(starts) else end) for i, s in enumerate(starts)]


class ReadFile(beam.DoFn):
    """One input file (or byte range) -> documents; every record seen is counted as read.in.
    Only the reader's own CPU time is counted as ``read.cpu_ns``: the documents it yields are
    processed by the following steps before the reader resumes."""

    def __init__(
        self,
        options: ReadOptions,
        total_bytes: int | None,
        show_progress: bool,
        progress_context: progress.ChunkProgress | None = None,
    ):
        self.options = options
        self.total_bytes = total_bytes
        self.show_progress = show_progress
        self.progress_context = progress_context

    def setup(self):
        self.clock = CpuClock("read.cpu_ns")

    def process(self, element):
        path, start, end = element
        tally = BundleCounts()
        tracker = (
            progress.tracker(self.total_bytes, 5.0, self.progress_context) if self.show_progress else None
        )
        try:
            with open_input(path) as raw:
                if start:
                    raw.seek(start)
                stream = _CountingReader(raw, lambda n: tracker.add(bytes_read=n)) if tracker else raw
                items = read_file(stream, path, input_format(path), self.options, start, end)
                while True:
                    started = self.clock.start()
                    try:
                        item = next(items, None)
                    except Exception as exc:  # noqa: BLE001 - a reader bug costs this file's rest, not the run
                        log.warning("reading %s failed: %s: %s", path, type(exc).__name__, exc)
                        tally.add("read.in")
                        tally.add("read.drop.reader_error")
                        item = None
                    self.clock.stop(started, tally)
                    if item is None:
                        break
                    if isinstance(item, Note):
                        tally.add(f"read.count.{item.key}")
                        continue
                    tally.add("read.in")
                    if isinstance(item, Drop):
                        tally.add(f"read.drop.{item.reason}")
                        if item.reason == "not_warc_file":
                            log.warning("%s is not a WARC/WET file (%s)", path, item.detail)
                        continue
                    tally.add("read.out")
                    if tracker:
                        tracker.add(docs_read=1)
                    yield item
                    if tally.counts["read.in"] >= 10_000:  # now and then: live counters stay current
                        yield from tally.emit()
        except OSError as exc:
            # An unreadable file (permissions, network) is reported and counted, never fatal.
            log.warning("cannot read %s: %s", path, exc)
            tally.add("read.in")
            tally.add("read.drop.unreadable_file")
        yield from tally.emit()


def sum_tallies(tallies) -> dict[str, int]:
    total: Counter[str] = Counter()
    for tally in tallies:
        total.update(tally)
    return dict(total)


def build_pipeline(
    p: beam.Pipeline,
    cfg: RunConfig,
    inputs: list[str],
    run_id: str,
    total_bytes: int | None = None,
    show_progress: bool = False,
    run_info: dict[str, Any] | None = None,
    parts: list[tuple[str, int, int | None, int | None]] | None = None,
    progress_context: progress.ChunkProgress | None = None,
) -> None:
    """``run_info``: what the launcher knows of the run (runner, start time, provenance) for
    manifest.json and stats.json; with a ``chunk`` entry the run is one chunk of a chunked run
    (pipeline.chunks). ``parts``: instead of ``inputs`` (patterns expanded on the workers), the
    exact ``(path, start, end, size)`` byte ranges to read (a chunk's inputs, already expanded)."""
    chunked = run_info is not None and run_info.get("chunk") is not None
    steps = [step.build() for step in cfg.steps]
    ctx = RunContext(
        cfg.output,
        run_id,
        in_memory_shuffle=runs_shuffles_in_memory(p.options),
        max_errors=cfg.max_errors,
        max_error_share=cfg.max_error_share,
    )
    write = cfg.write

    split_bytes = int(cfg.read.split_mb * 1e6)
    if parts is None:
        expanded = (
            p
            | "inputs" >> beam.Create(inputs)
            | "expand inputs"
            >> beam.ParDo(ExpandInput(cfg.read.cc_base_url)).with_outputs(STATS, main="files")
        )
        unique = (
            expanded.files
            | "group by path" >> beam.GroupByKey()
            | "one input per path" >> beam.ParDo(OneInputPerPath()).with_outputs(STATS, main="files")
        )
        ctx.stats += [expanded[STATS], unique[STATS]]
        ranges = unique.files | "split files" >> beam.FlatMapTuple(
            lambda path, size: byte_ranges(path, 0, None, size, split_bytes)
        )
    else:
        ranges = (
            p
            | "parts" >> beam.Create(parts)
            | "split parts" >> beam.FlatMap(lambda part: byte_ranges(*part, split_bytes))
        )
        sizes = {path: size or 0 for path, _, _, size in parts}
        inputs_tally = {"inputs.files": len(sizes), "inputs.bytes": sum(sizes.values())}
        ctx.stats.append(p | "input sizes" >> beam.Create([inputs_tally]))
    options = ReadOptions(
        fields=dict(cfg.read.fields),
        extract_enabled=bool(cfg.steps_of_type("extract")),
        max_decoded_bytes=int(cfg.read.max_decoded_mb * 1e6),
    )
    read = (
        ranges
        | "spread files" >> beam.Reshuffle()
        | "read"
        >> beam.ParDo(ReadFile(options, total_bytes, show_progress, progress_context)).with_outputs(
            STATS, main="docs"
        )
    )
    ctx.stats.append(read[STATS])
    docs = read.docs
    if write.holdout_fraction > 0:
        # Mark the held-out split before any step: dedup keeps a held-out document over its training
        # duplicates (decontamination), and the training shards route it to tokens/holdout.
        docs = docs | "mark holdout" >> beam.Map(mark_holdout, write.holdout_fraction, write.shuffle_seed)

    columns = {name: STEP_FIELDS[name] for name in CARRIED_FIELDS}
    if write.holdout_fraction > 0:
        columns["holdout"] = STEP_FIELDS["holdout"]
    columns.update({name: dtype for step in steps for name, dtype in step.columns.items()})
    schemas = {"documents": document_schema(columns)}
    if cfg.keep_rejected:
        schemas["rejected"] = document_schema(columns, rejected=True)

    def writer(kind: str, progress_kept: bool = False) -> WriteShards:
        return WriteShards(
            kind, cfg.output, run_id, schemas[kind], write.shard_max_mb, write.shard_max_rows,
            write.batch_rows, progress_kept,
        )  # fmt: skip

    files = []
    # A bounded sample of kept and dropped documents for the report: costs nothing at scale.
    half = max(1, write.report_samples // 2)
    samples = []
    for step in steps:
        # Dropped documents always flow out (the report samples them). They are written (with
        # --keep-rejected) and sampled right where each step drops them: flattening them first
        # would make the DirectRunner hold every dropped document, text and all, until the end.
        docs, dropped = apply_stage(docs, step, keep_rejected=True, ctx=ctx)
        if cfg.keep_rejected:
            written = dropped | f"write rejected {step.name}" >> beam.ParDo(writer("rejected")).with_outputs(
                STATS, main="files"
            )
            files.append(written.files)
            ctx.stats.append(written[STATS])
        samples.append(
            dropped
            | f"summarize dropped {step.name}" >> beam.Map(sample_record, False)
            | f"sample dropped {step.name}" >> beam.combiners.Sample.FixedSizeGlobally(-(-half // len(steps)))
        )
    schemas.update(ctx.schemas)
    written = docs | "write documents" >> beam.ParDo(writer("documents", show_progress)).with_outputs(
        STATS, main="files"
    )
    ctx.stats.append(written[STATS])
    files += [written.files, *ctx.files]
    manifest_extra: dict[str, Any] = {}
    tokenizers = cfg.steps_of_type("tokenize")
    if tokenizers:
        from stages.token_shards import token_schema
        from stages.tokenize import tokenizer_identity

        identity = tokenizer_identity(tokenizers[0].params.tokenizer)
        tokens_schema = token_schema(identity["vocab_size"], identity["bos_id"], identity["eos_id"])
        token_kinds = ["tokens/train"] + (["tokens/holdout"] if write.holdout_fraction > 0 else [])
        for kind in token_kinds:
            # A chunk keeps each row's id hash, so the run's final merge can order all chunks' rows.
            schemas[kind] = piece_schema(tokens_schema) if chunked else tokens_schema
        files.append(
            docs
            | "training shards"
            >> WriteTrainingShards(
                cfg.output, run_id, tokens_schema, write.token_shards, write.shuffle_seed, keep_hash=chunked
            )
        )
        manifest_extra["tokenizer"] = identity
        run_info = {**(run_info or {}), "megatron": tokenizers[0].params.megatron}
    samples.append(
        docs
        | "summarize kept" >> beam.Map(sample_record, True)
        | "sample kept" >> beam.combiners.Sample.FixedSizeGlobally(half)
    )
    all_samples = samples | "all samples" >> beam.Flatten() | "join samples" >> beam.CombineGlobally(_concat)
    tallies = ctx.stats | "all tallies" >> beam.Flatten() | "sum tallies" >> beam.CombineGlobally(sum_tallies)
    run = {
        "run_id": run_id,
        "inputs": list(cfg.input),
        "config": cfg.resolved(),
        "config_files": cfg.source_files,
        **(run_info or {}),
    }
    (
        files
        | "all shards" >> beam.Flatten()
        | "collect shards" >> beam.combiners.ToList()
        | "finish run"
        >> beam.Map(
            finish_run,
            cfg.output,
            run_id,
            schemas,
            run,
            manifest_extra,
            [step.name for step in steps],
            samples=beam.pvalue.AsSingleton(all_samples),
            tallies=beam.pvalue.AsSingleton(tallies),
        )
    )


def finish_run(
    files: list[dict[str, Any]],
    out_dir: str,
    run_id: str,
    schemas: dict[str, Any],
    run: dict[str, Any],
    manifest_extra: dict[str, Any],
    step_names: list[str],
    samples: list[dict[str, Any]],
    tallies: dict[str, int],
) -> dict[str, Any]:
    """The run's last step, on a worker: stats.json, samples.json and report.html from the tallies
    and samples the graph collected, then the commit (pipeline.writer.commit_output). A chunk of
    a chunked run (``run["chunk"]``) keeps its raw tallies instead of a report: the run's final
    step sums them (pipeline.chunks)."""
    import json

    from pipeline.output_dir import release_lock
    from pipeline.stats import run_stats

    finished = time.time()
    started = run.get("started")
    elapsed = round(finished - started, 3) if started is not None else None
    stats = run_stats(tallies, step_names, run_id, run.get("runner"), elapsed)
    # The run's input files and bytes travel with the tallies (OneInputPerPath, or a chunk's parts).
    provenance = manifest_provenance(
        run, (tallies.get("inputs.files", 0), tallies.get("inputs.bytes", 0)), finished
    )
    if run.get("chunk") is None:
        small_files = summary_files(stats, samples, run.get("config", {}))
    else:
        small_files = summary_files(stats, samples)
        small_files["tallies.json"] = json.dumps(tallies, sort_keys=True).encode()
    derived = None
    if run.get("megatron") and run.get("chunk") is None:  # a chunked run writes it in its final commit
        from pipeline.megatron_writer import write_megatron_outputs as derived
    manifest = commit_output(
        files, out_dir, run_id, schemas, {**provenance, **manifest_extra}, small_files, derived
    )
    release_lock(out_dir, run_id)  # the launcher may not be waiting (a detached job)
    return manifest


def manifest_provenance(run: dict[str, Any], input_summary: tuple[int, int], finished: float) -> dict:
    """What manifest.json records of a run: its inputs (as given; files and bytes read), start and
    end, and everything else the launcher put in ``run`` (runner, versions, config ...)."""
    started = run.get("started")
    count, size = input_summary
    return {
        "inputs": {"given": run.get("inputs", []), "files": count, "bytes": size},
        "started": _iso(started) if started is not None else None,
        "finished": _iso(finished),
        **{k: v for k, v in run.items() if k not in ("inputs", "started", "run_id", "megatron")},
    }


def summary_files(stats: dict, samples: list[dict[str, Any]] | None, config: dict | None = None) -> dict:
    """stats.json, samples.json and (given the run's config) report.html, as bytes to commit."""
    import json

    from pipeline.stats import dump

    files = {
        "stats.json": dump(stats).encode(),
        "samples.json": json.dumps(samples or [], ensure_ascii=False, default=str).encode(),
    }
    if config is not None:
        # Imported only here: the report's plotting library costs ~30 MB, which a chunk (no
        # report) would otherwise carry into every later chunk of the run.
        from pipeline.report import build_report

        files["report.html"] = build_report(stats, samples or [], config).encode()
    return files


def _iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat(timespec="seconds")


def runs_shuffles_in_memory(options: PipelineOptions) -> bool:
    """The DirectRunner (Beam's default) keeps every shuffle in the memory of one process."""
    runner = options.view_as(StandardOptions).runner
    name = runner if isinstance(runner, str) or runner is None else type(runner).__name__
    return (name or "direct").lower().removesuffix("runner") in (
        "direct",
        "switchingdirect",
        "bundlebaseddirect",
        "fnapi",
    )


def mark_holdout(doc: dict, fraction: float, seed: int) -> dict:
    if is_holdout(doc["id"], fraction, seed):
        doc["holdout"] = True
    return doc


def sample_record(doc: dict, kept: bool) -> dict:
    """What the report shows of a document: small, whatever the document's size."""
    text = doc.get("text") or ""
    record = {
        "id": doc.get("id"),
        "url": doc.get("url"),
        "text": text[:600],
        "n_chars": len(text),
        "lang": doc.get("lang"),
        "quality_score": doc.get("quality_score"),
        "kept": kept,
    }
    if not kept:
        record.update(stage=doc.get("stage"), reason=doc.get("reason"))
    return record


def _concat(lists) -> list:
    return [item for part in lists for item in part]
