# ruff: noqa: E402 - Beam is imported after the log filter is installed, to silence its import chatter
"""Command line: ``python -m pipeline.run [--config F] [--input X ...] [--output DIR] ...``.

Flags this module does not know are Beam pipeline options, passed through unchanged, so every
runner option works (``--runner=DataflowRunner --project=...``, ``--direct_num_workers=2``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
import uuid


class _QuietBeam(logging.Filter):
    """Beam logs import-time chatter through the root logger (e.g. "apitools not found"); keep
    Beam's records below ``level`` out of the user's terminal unless --log-level asks for them."""

    level = logging.ERROR

    def filter(self, record: logging.LogRecord) -> bool:
        from_beam = record.name.startswith("apache_beam") or "apache_beam" in record.pathname
        return not from_beam or record.levelno >= self.level


_quiet = _QuietBeam()
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
for _handler in logging.getLogger().handlers:
    _handler.addFilter(_quiet)

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions, TestOptions

from pipeline import progress
from pipeline.config import ConfigError, RunConfig, load_config
from pipeline.graph import build_pipeline
from pipeline.inputs import check_local_inputs
from pipeline.stats import build_stats, check_stats, counter_values, dump, summary

log = logging.getLogger("pipeline")


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.run",
        description="CommonCrawl WARC/WET -> clean, deduplicated, tokenised Arrow shards (Apache Beam). "
        "Unknown flags are Beam pipeline options.",
    )
    parser.add_argument("--config", help="YAML config merged over the built-in configs/default.yaml")
    parser.add_argument(
        "--input",
        action="append",
        help="file, glob or *.paths.gz listing (repeatable); default: the built-in sample",
    )
    parser.add_argument("--output", help="output directory (local or any Beam filesystem)")
    parser.add_argument("--stages", help="comma-separated subset of stages, run in pipeline order")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one config value (repeatable)",
    )
    parser.add_argument(
        "--keep-rejected",
        action="store_true",
        default=None,
        help="write dropped documents with their stage and reason to OUTPUT/rejected/",
    )
    parser.add_argument(
        "--tokenizer", help="tokenizer.model or merged tokenizer directory (tokenize.tokenizer)"
    )
    parser.add_argument(
        "--holdout-fraction",
        type=float,
        help="share of documents held out for evaluation (write.holdout_fraction)",
    )
    parser.add_argument(
        "--cc-base-url", help="base URL that CommonCrawl listing entries are resolved against"
    )
    parser.add_argument("--log-level", default="WARNING", help="log level for Beam and this pipeline")
    parser.add_argument("--no-progress", action="store_true", help="do not print progress while running")
    return parser.parse_known_args(argv)


def configure(args: argparse.Namespace) -> RunConfig:
    overrides = {
        "input": args.input,
        "output": args.output,
        "stages": args.stages,
        "keep_rejected": args.keep_rejected,
    }
    sets = list(args.set)
    if args.cc_base_url:
        sets.append(f"read.cc_base_url={args.cc_base_url}")
    if args.tokenizer:
        sets.append(f"tokenize.tokenizer={args.tokenizer}")
    if args.holdout_fraction is not None:
        sets.append(f"write.holdout_fraction={args.holdout_fraction}")
    return load_config(args.config, sets, overrides)


def write_report(cfg: RunConfig, stats: dict) -> None:
    """report.html from stats.json and the bounded document sample the run collected."""
    from pipeline.report import build_report

    samples_path = FileSystems.join(cfg.output, "samples.json")
    samples = []
    if FileSystems.exists(samples_path):
        with FileSystems.open(samples_path) as source:
            samples = json.loads(source.read().decode())
    with FileSystems.create(FileSystems.join(cfg.output, "report.html")) as sink:
        sink.write(build_report(stats, samples, cfg.resolved()).encode())


def main(argv: list[str] | None = None) -> int:
    args, beam_args = parse_args(argv)
    level = getattr(logging, str(args.log_level).upper(), None)
    if not isinstance(level, int):
        print(f"error: --log-level {args.log_level!r} is not a log level", file=sys.stderr)
        return 2
    logging.getLogger().setLevel(level)
    _quiet.level = level if level < logging.WARNING else logging.ERROR

    try:
        cfg = configure(args)
        total_bytes = check_local_inputs(cfg.input)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: config key 'input': {exc.args[0]!r} matches no file", file=sys.stderr)
        return 2

    sample_dir = None
    inputs = cfg.input
    if not inputs:
        from pipeline.sample import write_sample

        sample_dir = tempfile.TemporaryDirectory(prefix="pipeline-sample-")
        inputs = write_sample(sample_dir.name)
        total_bytes = check_local_inputs(inputs)
        print(f"no --input given: running on the built-in sample ({len(inputs)} files)", file=sys.stderr)

    options = PipelineOptions(beam_args)
    if not options.view_as(StandardOptions).runner:
        options.view_as(StandardOptions).runner = "DirectRunner"
    runner = options.view_as(StandardOptions).runner
    run_id = uuid.uuid4().hex[:12]
    show_progress = not args.no_progress
    progress._tracker = None  # a fresh tracker for this run when the runner works in this process

    start = time.monotonic()
    try:
        try:
            pipeline = beam.Pipeline(options=options)
        except ValueError as exc:
            # Beam's own option validation (e.g. an invalid --project or --temp_location).
            print(f"error: Beam pipeline options: {' '.join(str(exc).split())}", file=sys.stderr)
            return 2
        build_pipeline(pipeline, cfg, inputs, run_id, total_bytes, show_progress)
        result = pipeline.run()
        result.wait_until_finish()
    finally:
        if sample_dir is not None:
            sample_dir.cleanup()
    elapsed = time.monotonic() - start
    if show_progress and sys.stderr.isatty():
        sys.stderr.write("\n")

    if options.view_as(TestOptions).dry_run:
        # The runner built and validated the job but ran nothing: there are no counters and
        # no output, so there is no stats.json to write.
        print(dry_run_summary(result, runner), file=sys.stderr)
        return 0
    try:
        counters = counter_values(result)
    except NotImplementedError:
        print(
            f"done in {elapsed:.1f}s; runner {runner} reports no metrics, so no stats.json was written "
            f"(documents and manifest.json are in {cfg.output})",
            file=sys.stderr,
        )
        return 0
    stats = build_stats(counters, cfg.stages)
    stats["runner"] = str(runner)
    stats["elapsed_s"] = round(elapsed, 3)
    for problem in check_stats(stats):
        log.warning("stats do not add up: %s", problem)
    with FileSystems.create(FileSystems.join(cfg.output, "stats.json")) as sink:
        sink.write(dump(stats).encode())
    write_report(cfg, stats)
    print(summary(stats, cfg.output, elapsed), file=sys.stderr)
    return 0


def dry_run_summary(result, runner: str) -> str:
    job = getattr(result, "job", None)
    proto = getattr(job, "proto_pipeline", None)
    size = f" ({len(proto.components.transforms)} transforms)" if proto is not None else ""
    return (
        f"dry run: {runner} built and validated the job graph{size}; nothing was run, "
        "no output or stats.json written"
    )


if __name__ == "__main__":
    sys.exit(main())
