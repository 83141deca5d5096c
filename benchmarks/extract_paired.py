"""Two source trees' extractors on the same annotated pages: paired per-page differences.

    python benchmarks/extract_paired.py OLD_TREE NEW_TREE [--split tune|held] [--comments] [--data ROOT]
    python benchmarks/extract_paired.py OLD_TREE NEW_TREE --split held --sets magic-zh-final

Each tree runs in a child process that imports that tree's ``stages.extract`` and this tree's
benchmark code (so both are judged by the same metric): every page of one half of the annotated
sets gets ``extract_quality.prf``'s F1, every page of that half of trafilatura's snippet corpus
gets ``extract_snippets``' share of snippets right. Per set it prints both means, the mean paired
difference (new - old) with a 95% bootstrap interval over pages, and how many pages moved by more
than 0.005 each way. The paired interval is far narrower than either mean's own interval: it is
what tells whether a round of rules moved a set. Tune on ``--split tune``; score ``held`` once, at
the end of a round. ``--sets`` names the sets to score instead of all (a final-check set such as
magic-zh-final is scored only when named; the snippet corpus only when "trafilatura-eval" is).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.extract_ab import run_in_tree, source_trees  # noqa: E402
from benchmarks.extract_devsets import DEFAULT_DEV_ROOT  # noqa: E402
from benchmarks.extract_quality import bootstrap_interval  # noqa: E402

# Runs in the child: the tree under test's stages first, then this tree's benchmarks (imported
# after stages is loaded, so extract_quality's own "from stages.extract import" gets that tree's).
CHILD = r"""
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import stages.extract as E
sys.path.insert(0, sys.argv[2])
from benchmarks.extract_devsets import load_sets
from benchmarks.extract_quality import prf
from benchmarks.extract_snippets import SET, load, page_share, score

data, split, comments = Path(sys.argv[3]), sys.argv[4], sys.argv[5] == "1"
names = sys.argv[6].split(",") if sys.argv[6] else None
def text(page):  # (trees from before the comments setting take no such argument)
    html = E.decode_html(page.html, None)
    return E.extract_main_text(html, comments=True) if comments else E.extract_main_text(html)
out = {}
for name, pages in load_sets(data, names).items():
    for p in pages:
        if p.split == split:
            out[f"{name}|{p.id}"] = prf(text(p), p.reference)[2]
for sp in load(data) if names is None or SET in names else ():
    if sp.page.split == split:
        out[f"{SET}|{sp.page.id}"] = page_share(score(text(sp.page), sp.with_, sp.without))
print(json.dumps(out))
"""


def page_scores(tree: Path, data: Path, split: str, comments: bool, sets: str) -> dict[str, float]:
    return run_in_tree(CHILD, tree, str(ROOT), str(data), split, "1" if comments else "0", sets)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--split", choices=("tune", "held"), default="tune")
    ap.add_argument("--comments", action="store_true", help="extract with comments: true")
    ap.add_argument("--data", type=Path, default=DEFAULT_DEV_ROOT)
    ap.add_argument(
        "--sets", default="", help="comma-separated set names (default: every set but the final checks)"
    )
    args = ap.parse_args()
    old_tree, new_tree = source_trees([args.old, args.new], "extract_paired")
    old = page_scores(old_tree, args.data, args.split, args.comments, args.sets)
    new = page_scores(new_tree, args.data, args.split, args.comments, args.sets)
    by_set: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for key, before in old.items():
        by_set[key.split("|", 1)[0]].append((before, new[key]))
    print(f"{args.split} halves, {args.old} -> {args.new}{' (comments: true)' if args.comments else ''}")
    print("| set | pages | old mean | new mean | paired difference [95% CI] | pages up / down |")
    print("|---|---|---|---|---|---|")
    for name, pairs in by_set.items():
        diffs = [b - a for a, b in pairs]
        lo, hi = bootstrap_interval(diffs)
        up, down = sum(d > 0.005 for d in diffs), sum(d < -0.005 for d in diffs)
        print(
            f"| {name} | {len(pairs)} | {statistics.mean(a for a, _ in pairs):.3f} | "
            f"{statistics.mean(b for _, b in pairs):.3f} | {statistics.mean(diffs):+.4f} [{lo:+.4f}, {hi:+.4f}] | "
            f"{up} / {down} |"
        )


if __name__ == "__main__":
    main()
