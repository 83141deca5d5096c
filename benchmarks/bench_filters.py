"""Per-core throughput (MB/s of UTF-8 text, one process) of the langid, heuristics and quality
stages on real text: the 54 Chinese pages and 131 English pages (resiliparse main content) plus
People's Daily paragraphs in 8-paragraph documents, with `lang` set by langid as in the
pipeline. Repeats each measurement and prints medians of MB per CPU-second of this process (the
per-core figure) and of wall time.

    python benchmarks/bench_filters.py [--repeats 5] [--model quality.bin]

Without --model a small quality model is trained first (in its own process, like a user would).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from filters_corpus import en_annotated, english_pages, peoples_daily, zh_pages  # noqa: E402

from stages.base import Stage  # noqa: E402
from stages.heuristics import HeuristicsParams, HeuristicsStage  # noqa: E402
from stages.langid import LangIdParams, LangIdStage  # noqa: E402
from stages.quality import QualityParams, QualityStage  # noqa: E402


def corpus() -> list[dict]:
    pd = peoples_daily(3000)
    texts = [t for _, t in zh_pages()] + [t for _, t in english_pages()]
    texts += ["\n".join(pd[i : i + 8]) for i in range(0, len(pd), 8)]
    docs = [{"id": str(i), "url": "", "text": t} for i, t in enumerate(texts)]
    langid = LangIdStage()
    langid.setup()
    for d in docs:  # as in the pipeline, heuristics and quality see langid's `lang`
        langid.process(d)
    return docs


def throughput(stage: Stage, docs: list[dict], repeats: int) -> tuple[float, float, list[float]]:
    """(median MB/s per CPU second of this process, median MB/s of wall time, CPU-time runs).
    CPU time is the per-core figure: on a shared machine wall time also counts other tenants."""
    stage.setup()
    n_bytes = sum(len(d["text"].encode("utf-8")) for d in docs)
    cpu, wall = [], []
    for _ in range(repeats):
        batch = [dict(d) for d in docs]  # stages may modify documents in place
        c0, t0 = time.process_time(), time.perf_counter()
        for d in batch:
            stage.process(d)
        cpu.append(n_bytes / (time.process_time() - c0) / 1e6)
        wall.append(n_bytes / (time.perf_counter() - t0) / 1e6)
    return statistics.median(cpu), statistics.median(wall), cpu


def langid_accuracy() -> None:
    """Share of real pages labelled with their known language (and with score >= min_score)."""
    pd = peoples_daily(3000)
    sets = {
        "54 Chinese pages (zh)": ("zh", [t for _, t in zh_pages()]),
        "131 English pages from WARCs (en)": ("en", [t for _, t in english_pages()]),
        "375 People's Daily documents (zh)": ("zh", ["\n".join(pd[i : i + 8]) for i in range(0, len(pd), 8)]),
    }
    print("| langid on | whole document | sample 2000 bytes (default) |\n|---|---|---|")
    stages = [LangIdStage(LangIdParams(sample_bytes=0)), LangIdStage(LangIdParams())]
    for s in stages:
        s.setup()
    for name, (lang, texts) in sets.items():
        cells = []
        for s in stages:
            labels = [s.identifier.identify(t) for t in texts]
            right = sum(code == lang for code, _ in labels)
            sure = sum(code == lang and score >= s.params.min_score for code, score in labels)
            cells.append(f"{right}/{len(texts)} ({sure} with score >= {s.params.min_score})")
        print(f"| {name} | {' | '.join(cells)} |")


def train_model(out: Path) -> None:
    tmp = out.parent
    with open(tmp / "pos.jsonl", "w", encoding="utf-8") as f:
        for t in list(peoples_daily(1500)) + list(en_annotated()):
            f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
    with open(tmp / "neg.jsonl", "w", encoding="utf-8") as f:
        for _, t in zh_pages() + english_pages():
            f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "stages.quality",
            "train",
            "--positive",
            str(tmp / "pos.jsonl"),
            "--negative",
            str(tmp / "neg.jsonl"),
            "--output",
            str(out),
            "--threads",
            "1",
        ],
        cwd=REPO,
        check=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--model", help="quality model; default: train a small one")
    args = ap.parse_args()
    langid_accuracy()
    docs = corpus()
    mb = sum(len(d["text"].encode("utf-8")) for d in docs) / 1e6
    print(f"corpus: {len(docs)} documents, {mb:.2f} MB")
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(Path(tmp) / "quality.bin")
        if not args.model:
            train_model(Path(model))
        cases = [
            ("langid (sample 2000 bytes, default)", LangIdStage(LangIdParams())),
            ("langid (whole document)", LangIdStage(LangIdParams(sample_bytes=0))),
            ("heuristics (default: C4 line removal + all drop rules)", HeuristicsStage(HeuristicsParams())),
            ("heuristics (drop rules only)", HeuristicsStage(HeuristicsParams(c4_remove_lines=False))),
            ("quality (first 4000 chars, default)", QualityStage(QualityParams(model=model, threshold=0.0))),
            (
                "quality (whole document)",
                QualityStage(QualityParams(model=model, threshold=0.0, max_chars=0)),
            ),
        ]
        print(
            "| stage | MB/s per CPU-second (median) | MB/s wall (median) | CPU-time runs |\n|---|---:|---:|---|"
        )
        for name, stage in cases:
            cpu, wall, runs = throughput(stage, docs, args.repeats)
            print(f"| {name} | {cpu:.1f} | {wall:.1f} | {', '.join(f'{r:.1f}' for r in runs)} |")


if __name__ == "__main__":
    main()
