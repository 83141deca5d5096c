"""The Beam graph: read -> stages in pipeline order -> write, in one function."""

from __future__ import annotations

import logging
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipeline import progress
from pipeline.config import RunConfig
from pipeline.inputs import expand_input, open_input
from pipeline.readers import Note, input_format, read_file
from pipeline.token_writer import WriteTrainingShards, is_holdout
from pipeline.writer import WriteShards, document_schema, finalize_output
from stages import load_stage_class
from stages.base import Drop, RunContext
from stages.beam import BundleCounts, apply_stage

log = logging.getLogger("pipeline")


class ExpandInput(beam.DoFn):
    """pattern -> (path, size). Runs on a worker, so listings and remote globs resolve there."""

    def __init__(self, base_url: str):
        self.base_url = base_url

    def process(self, pattern):
        found = False
        try:
            for path, size in expand_input(pattern, self.base_url):
                found = True
                yield path, size
        except Exception as exc:  # noqa: BLE001 - a bad listing is one counted drop, not a failed run
            log.warning("input %s cannot be expanded: %s", pattern, exc)
        if not found:
            log.warning("input %s matches no file", pattern)
            tally = BundleCounts()
            tally.add("read.in")
            tally.add("read.drop.input_not_found")
            tally.flush()


class _CountingReader:
    """Wraps a raw stream to count compressed bytes for progress."""

    def __init__(self, raw, on_bytes):
        self.raw = raw
        self.on_bytes = on_bytes

    def read(self, n=-1):
        data = self.raw.read(n)
        self.on_bytes(len(data))
        return data

    @property
    def closed(self) -> bool:
        return self.raw.closed

    def readable(self) -> bool:
        return True


class SplitFile(beam.DoFn):
    """(path, size) -> (path, start, end) byte ranges of ``split_bytes``. Only gzipped WARC/WET
    files are split (their gzip members can be found from any offset); ``end`` None = to EOF."""

    def __init__(self, split_bytes: int):
        self.split_bytes = split_bytes

    def process(self, element):
        path, size = element
        splittable = input_format(path) == "warc" and path.lower().endswith(".gz")
        if not (self.split_bytes and splittable and size and size > self.split_bytes):
            yield path, 0, None
            return
        starts = list(range(0, size, self.split_bytes))
        for index, start in enumerate(starts):
            yield path, start, starts[index + 1] if index + 1 < len(starts) else None


class ReadFile(beam.DoFn):
    """One input file -> documents; every record seen is counted as read.in."""

    def __init__(
        self, extract_enabled: bool, total_bytes: int | None, show_progress: bool, max_decoded_bytes: int
    ):
        self.extract_enabled = extract_enabled
        self.total_bytes = total_bytes
        self.show_progress = show_progress
        self.max_decoded_bytes = max_decoded_bytes

    def process(self, element):
        path, start, end = element
        tally = BundleCounts()
        tracker = progress.tracker(self.total_bytes, 5.0) if self.show_progress else None
        try:
            with open_input(path) as raw:
                if start:
                    raw.seek(start)
                stream = _CountingReader(raw, lambda n: tracker.add(bytes_read=n)) if tracker else raw
                items = read_file(
                    stream, path, input_format(path), self.extract_enabled, start, end, self.max_decoded_bytes
                )
                for item in items:
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
                    if tally.counts["read.in"] >= 10_000:  # flush now and then: counters stay live
                        tally.flush()
        except OSError as exc:
            # An unreadable file (permissions, network) is reported and counted, never fatal.
            log.warning("cannot read %s: %s", path, exc)
            tally.add("read.in")
            tally.add("read.drop.unreadable_file")
        finally:
            tally.flush()


def build_pipeline(
    p: beam.Pipeline,
    cfg: RunConfig,
    inputs: list[str],
    run_id: str,
    total_bytes: int | None = None,
    show_progress: bool = False,
    manifest_extra: dict[str, Any] | None = None,
) -> None:
    stages = [load_stage_class(name)(cfg.stage_params[name]) for name in cfg.stages]

    read = ReadFile("extract" in cfg.stages, total_bytes, show_progress, int(cfg.read.max_decoded_mb * 1e6))
    docs = (
        p
        | "inputs" >> beam.Create(inputs)
        | "expand inputs" >> beam.ParDo(ExpandInput(cfg.read.cc_base_url))
        | "split files" >> beam.ParDo(SplitFile(int(cfg.read.split_mb * 1e6)))
        | "spread files" >> beam.Reshuffle()
        | "read" >> beam.ParDo(read)
    )

    if cfg.write.holdout_fraction > 0:
        # Mark the held-out split before any stage: dedup keeps a held-out document over its training
        # duplicates (decontamination), and the training shards route it to tokens/holdout.
        docs = docs | "mark holdout" >> beam.Map(
            mark_holdout, cfg.write.holdout_fraction, cfg.write.shuffle_seed
        )

    ctx = RunContext(cfg.output, run_id, in_memory_shuffle=runs_shuffles_in_memory(p.options))
    write = cfg.write
    stage_columns = {name: dtype for stage in stages for name, dtype in stage.columns.items()}
    schemas = {"documents": document_schema(stage_columns)}
    if cfg.keep_rejected:
        schemas["rejected"] = document_schema(stage_columns, rejected=True)
    files = []
    # A bounded sample of kept and dropped documents for the report: costs nothing at scale.
    half = max(1, write.report_samples // 2)
    samples = []
    for stage in stages:
        # Dropped documents always flow out (the report samples them). They are written (with
        # --keep-rejected) and sampled right where each stage drops them: flattening them first
        # would make the DirectRunner hold every dropped document, text and all, until the end.
        docs, dropped = apply_stage(docs, stage, keep_rejected=True, ctx=ctx)
        if cfg.keep_rejected:
            files.append(
                dropped
                | f"write rejected {stage.name}"
                >> beam.ParDo(
                    WriteShards(
                        "rejected",
                        cfg.output,
                        run_id,
                        schemas["rejected"],
                        write.shard_max_mb,
                        write.shard_max_rows,
                        write.batch_rows,
                    )
                )
            )
        samples.append(
            dropped
            | f"summarize dropped {stage.name}" >> beam.Map(sample_record, False)
            | f"sample dropped {stage.name}"
            >> beam.combiners.Sample.FixedSizeGlobally(-(-half // len(stages)))
        )
    schemas.update(ctx.schemas)
    files += [
        docs
        | "write documents"
        >> beam.ParDo(
            WriteShards(
                "documents",
                cfg.output,
                run_id,
                schemas["documents"],
                write.shard_max_mb,
                write.shard_max_rows,
                write.batch_rows,
                show_progress,
            )
        ),
        *ctx.files,
    ]
    if "tokenize" in cfg.stages:
        from stages.token_shards import token_schema
        from stages.tokenize import tokenizer_identity

        identity = tokenizer_identity(cfg.stage_params["tokenize"].tokenizer)
        bos, eos = identity["bos_id"], identity["eos_id"]
        token_kinds = ["tokens/train"] + (["tokens/holdout"] if write.holdout_fraction > 0 else [])
        for kind in token_kinds:
            schemas[kind] = token_schema(identity["vocab_size"], bos, eos)
        files.append(
            docs
            | "training shards"
            >> WriteTrainingShards(
                cfg.output, run_id, schemas["tokens/train"], write.token_shards, write.shuffle_seed
            )
        )
        manifest_extra = {**(manifest_extra or {}), "tokenizer": identity}
    extra = {"config": cfg.resolved(), "config_files": cfg.source_files, **(manifest_extra or {})}
    samples.append(
        docs
        | "summarize kept" >> beam.Map(sample_record, True)
        | "sample kept" >> beam.combiners.Sample.FixedSizeGlobally(half)
    )
    all_samples = samples | "all samples" >> beam.Flatten() | "join samples" >> beam.CombineGlobally(_concat)
    (
        files
        | "all shards" >> beam.Flatten()
        | "collect shards" >> beam.combiners.ToList()
        | "finalize"
        >> beam.Map(
            finalize_output, cfg.output, run_id, schemas, extra, samples=beam.pvalue.AsSingleton(all_samples)
        )
    )


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
