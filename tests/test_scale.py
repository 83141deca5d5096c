"""The pipeline beyond one process: Beam's portable path (job service + separate SDK worker
processes, what Flink and Spark use) and Dataflow's offline graph validation.

The portable run uses a worker pool started by the test in its own working directory, while the
launcher runs in another one with relative --input/--output: anything resolved only on the
launcher (relative paths, module globals, open handles) would show up as missing or different
documents.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest
from apache_beam.io.localfilesystem import LocalFileSystem
from conftest import WARC_DIR, counts_only

from pipeline.run import main
from pipeline.sample import write_sample
from pipeline.stats import check_stats

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker pool exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"worker pool did not listen on port {port} within {timeout}s")


@pytest.fixture(scope="module")
def worker_pool(tmp_path_factory):
    """``worker_pool_main`` on a free port. It starts SDK workers as ``python`` from PATH, so this
    interpreter's folder goes first; its working directory is not the launcher's."""
    port = free_port()
    cwd = tmp_path_factory.mktemp("worker-cwd")
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    log = open(cwd / "pool.log", "wb")  # noqa: SIM115 - closed in the teardown below
    proc = subprocess.Popen(
        [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main", f"--service_port={port}"],
        cwd=cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, proc, timeout=30)
        yield port, cwd
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def documents(out: Path) -> dict[str, str]:
    rows: dict[str, str] = {}
    for path in sorted((out / "documents").glob("part-*.arrow")):
        with pa.ipc.open_stream(path) as reader:
            table = reader.read_all()
        rows.update(zip(table.column("id").to_pylist(), table.column("text").to_pylist(), strict=True))
    return rows


@pytest.mark.slow
def test_portable_runner_with_external_workers_matches_direct_runner(worker_pool, tmp_path):
    port, worker_cwd = worker_pool
    sample = write_sample(str(tmp_path / "sample"))
    launch = tmp_path / "launch"
    launch.mkdir()
    # Relative to the launcher's directory only: the workers must not resolve them in theirs.
    inputs = [os.path.relpath(p, launch) for p in sample] + [os.path.relpath(WARC_DIR, launch) + "/**/*"]
    args = [a for pattern in inputs for a in ("--input", pattern)]

    direct = tmp_path / "direct"
    absolute = [
        a
        if a == "--input"
        else str((launch / a).resolve())
        if "*" not in a
        else str(launch.resolve()) + "/" + a
        for a in args
    ]
    assert main([*absolute, "--output", str(direct), "--no-progress", "--runner=DirectRunner"]) == 0

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.run",
            *args,
            "--output",
            "portable",
            "--no-progress",
            "--runner=PortableRunner",
            "--job_endpoint=embed",
            "--environment_type=EXTERNAL",
            f"--environment_config=localhost:{port}",
        ],
        cwd=launch,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    portable = launch / "portable"
    assert not (worker_cwd / "portable").exists()  # the output path was resolved on the launcher

    expected, got = documents(direct), documents(portable)
    assert (
        len(expected) > 80
    )  # real folder + sample through the whole main job (langid, heuristics, dedup, pii)
    assert got == expected
    direct_stats = json.loads((direct / "stats.json").read_text())
    portable_stats = json.loads((portable / "stats.json").read_text())
    assert check_stats(portable_stats) == []
    assert counts_only(portable_stats) == counts_only(direct_stats)
    assert list(portable_stats["stages"]) == [
        "read",
        "extract",
        "normalize",
        "langid",
        "heuristics",
        "exact_dedup",
        "minhash_dedup",
        "pii",
        "write",
    ]
    assert portable_stats["stages"]["exact_dedup"]["dropped"]["exact_duplicate"] > 0
    assert portable_stats["stages"]["pii"]["counts"]  # PII replaced in the real pages
    manifest = json.loads((portable / "manifest.json").read_text())
    assert manifest["documents"]["rows"] == len(expected)


@pytest.mark.slow
def test_dataflow_dry_run_builds_the_job_offline_without_touching_inputs(monkeypatch, capsys):
    """DataflowRunner with --dry_run builds the job (graph translation, option validation, the
    worker package from pyproject.toml) and submits nothing. The gs:// glob must reach the job
    unexpanded: nothing on the launcher may list or open it."""
    from apache_beam.io.filesystems import FileSystems

    import pipeline.run as run_module

    touched: list[str] = []
    real_match, real_open = FileSystems.match, FileSystems.open

    def match(patterns, *args, **kwargs):
        touched.extend(p for p in patterns if p.startswith("gs://"))
        return real_match(patterns, *args, **kwargs)

    def open_(path, *args, **kwargs):
        if path.startswith("gs://"):
            touched.append(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(FileSystems, "match", match)
    monkeypatch.setattr(FileSystems, "open", open_)
    jobs = []
    summary = run_module.dry_run_summary
    monkeypatch.setattr(
        run_module,
        "dry_run_summary",
        lambda result, runner: (jobs.append(result.job), summary(result, runner))[1],
    )
    code = main(
        [
            "--runner=DataflowRunner",
            "--dry_run=True",
            "--project=my-project",
            "--region=us-central1",
            "--temp_location=gs://my-bucket/tmp",
            f"--setup_file={REPO / 'pyproject.toml'}",
            "--input",
            "gs://my-bucket/crawl/*.warc.wet.gz",
            "--output",
            "gs://my-bucket/out",
            "--no-progress",
        ]
    )
    assert code == 0
    assert "DataflowRunner built and validated the job graph" in capsys.readouterr().err
    assert touched == []

    (job,) = jobs
    names = {t.unique_name for t in job.proto_pipeline.components.transforms.values()}
    for stage in ("stage:extract", "stage:normalize", "stage:pii", "read", "finish run"):
        assert any(name == stage or name.endswith("/" + stage) for name in names), stage
    assert any(name.startswith("exact_dedup") or "/exact_dedup" in name for name in names)
    # The worker package was built from pyproject.toml and is staged with the job.
    env = next(iter(job.proto_pipeline.components.environments.values()))
    staged = [a.role_payload for a in env.dependencies]
    assert any(b"workflow.tar.gz" in p for p in staged)


def test_beam_option_errors_are_one_line_and_exit_2(capsys):
    code = main(
        [
            "--runner=DataflowRunner",
            "--dry_run=True",
            "--project=p",
            "--region=us-central1",
            "--temp_location=gs://my-bucket/tmp",
            "--input",
            "gs://my-bucket/x/*.wet.gz",
            "--output",
            "gs://my-bucket/out",
            "--no-progress",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: Beam pipeline options:") and "Project ID" in err[-1]


class _PrefixedFileSystem(LocalFileSystem):
    """A Beam filesystem with its own scheme (``testfs://``) over local files: stands in for
    gs:// or s3:// when checking that workers read models through Beam's FileSystems."""

    @classmethod
    def scheme(cls) -> str:
        return "testfs"

    def open(self, path, *args, **kwargs):
        return super().open(path[len("testfs://") :], *args, **kwargs)


def test_tokenizer_from_a_remote_filesystem_path(tmp_path):
    from tok_assets import llama_style_model

    from pipeline.config import load_config
    from stages.tokenize import TokenizeStage, tokenizer_identity

    merged = tmp_path / "merged"
    merged.mkdir()
    shutil.copy(llama_style_model(), merged / "tokenizer.model")
    cfg = load_config(
        None,
        [f"tokenize.tokenizer=testfs://{merged}"],
        {"stages": "normalize,tokenize", "output": "gs://bucket/out"},
    )
    params = cfg.params("tokenize")
    assert params.tokenizer == f"testfs://{merged}"  # remote paths are not made local
    assert cfg.output == "gs://bucket/out"
    identity = tokenizer_identity(params.tokenizer)
    assert identity["path"] == f"testfs://{merged}/tokenizer.model"
    assert identity["sha256"] == tokenizer_identity(merged)["sha256"]

    stage = pickle.loads(pickle.dumps(TokenizeStage(params)))  # as a worker receives it
    stage.setup()
    local = TokenizeStage(
        load_config(None, [f"tokenize.tokenizer={merged}"], {"stages": "tokenize"}).params("tokenize")
    )
    local.setup()
    text = "Common Crawl 网页文本 tokenised on a worker."
    assert (
        stage.process({"id": "a", "text": text})["input_ids"]
        == local.process({"id": "a", "text": text})["input_ids"]
    )


def test_relative_paths_are_resolved_where_the_command_runs(tmp_path, monkeypatch):
    from pipeline.config import load_config

    monkeypatch.chdir(tmp_path)
    cfg = load_config(
        None,
        ["exact_dedup.spill_dir=spill", "minhash_dedup.spill_dir=~/spill2"],
        {"input": ["data/*.warc.gz", "https://example.org/a.warc.gz"], "output": "out"},
    )
    assert cfg.input == [str(tmp_path / "data" / "*.warc.gz"), "https://example.org/a.warc.gz"]
    assert cfg.output == str(tmp_path / "out")
    assert cfg.params("exact_dedup").spill_dir == str(tmp_path / "spill")
    assert cfg.params("minhash_dedup").spill_dir == os.path.expanduser("~/spill2")
    assert cfg.params("minhash_dedup").survivor == "quality_score"  # not a path: unchanged


def _read_all(path: Path, ranges: list[tuple[int, int | None]]) -> list[str]:
    from pipeline.readers import read_file

    items = []
    for start, end in ranges:
        with open(path, "rb") as fh:
            fh.seek(start)
            items += [repr(item) for item in read_file(fh, str(path), "warc", None, start, end)]
    return sorted(items)


@pytest.mark.slow
@pytest.mark.parametrize("step", [997, 20_000, 300_000])
def test_byte_ranges_of_a_file_read_every_record_exactly_once(step):
    """Tiling a real file with byte ranges gives exactly the records, drops and notes of reading it
    whole: multi-member CC files, whole-file gzip, truncated members, records spanning members."""
    from conftest import real_warc_files

    split = 0
    for path in real_warc_files():
        size = path.stat().st_size
        starts = list(range(0, size, step))
        ranges = [(s, starts[i + 1] if i + 1 < len(starts) else None) for i, s in enumerate(starts)]
        assert _read_all(path, ranges) == _read_all(path, [(0, None)]), path.name
        split += len(ranges) > 1
    assert split >= 2  # at 300 kB only the two largest files are split


@pytest.mark.slow
def test_one_large_file_is_read_in_parallel_ranges_with_identical_output(tmp_path):
    big = WARC_DIR / "archivesunleashed__aut" / "example.warc.gz"  # 2.5 MB, 822 gzip members
    args = [
        "--input",
        str(big),
        "--input",
        str(WARC_DIR / "chatnoir-eu__chatnoir-resiliparse" / "*.gz"),
        "--no-progress",
        "--runner=DirectRunner",
    ]
    assert main([*args, "--output", str(tmp_path / "whole"), "--set", "read.split_mb=0"]) == 0
    assert (
        main(
            [
                *args,
                "--output",
                str(tmp_path / "split"),
                "--set",
                "read.split_mb=0.2",
                "--direct_num_workers=2",
                "--direct_running_mode=multi_processing",
            ]
        )
        == 0
    )
    whole, split = documents(tmp_path / "whole"), documents(tmp_path / "split")
    assert len(whole) > 30 and split == whole
    stats = [json.loads((tmp_path / d / "stats.json").read_text())["stages"] for d in ("whole", "split")]
    assert counts_only({"stages": stats[0]}) == counts_only({"stages": stats[1]})
