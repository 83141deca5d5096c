"""The run report: one self-contained HTML page built from ``stats.json`` and a bounded sample of
documents, so it costs the same for a sample run and a crawl.

``build_report(stats, samples, config) -> str``
- ``stats``: ``{"stages": {"<stage>": {"in": N, "out": M, "dropped": {"<reason>": K}, "counts": {...}}}}``
  in pipeline order, from ``read`` to ``write``.
- ``samples``: dicts with ``text``, ``kept`` (bool) and, when known, ``lang``, ``quality_score``,
  ``n_chars``, and for dropped documents ``stage`` and ``reason``.
- ``config``: the resolved configuration (shown as YAML).

Plots are drawn with matplotlib (Agg backend) and embedded as inline SVG; all text from documents
is HTML-escaped and truncated. The language mix comes from the write step's ``lang.<code>`` counts (every
document written) when present, else from the kept samples.

``python -m pipeline.report --stats stats.json [--samples samples.jsonl] [--config config.json|yaml] --output report.html``
"""

from __future__ import annotations

import argparse
import html
import io
import json
import math
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend must be chosen first)
import yaml  # noqa: E402

EXAMPLE_CHARS = 600
MAX_EXAMPLES = 20
_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ddd;padding:.3em .6em;text-align:left;
vertical-align:top}th{background:#f4f4f4}td.num{text-align:right}
pre{background:#f7f7f7;padding:1em;overflow-x:auto;font-size:.85em}
.doc{white-space:pre-wrap;font-size:.85em;max-width:800px}.fig svg{max-width:100%;height:auto}
"""


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    svg = buf.getvalue()
    return f'<div class="fig">{svg[svg.find("<svg") :]}</div>'


def _stage_rows(stats: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return list((stats.get("stages") or {}).items())


def funnel_figure(stats: dict[str, Any]) -> str:
    rows = _stage_rows(stats)
    if not rows:
        return "<p>No stage statistics.</p>"
    names = [name for name, _ in rows]
    values = [int(s.get("out", s.get("in", 0)) or 0) for _, s in rows]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1))
    ax.barh(names[::-1], values[::-1], color="#4c72b0")
    for y, v in enumerate(values[::-1]):
        ax.text(v, y, f" {v:,}", va="center", fontsize=8)
    ax.set_xlabel("documents after stage")
    ax.set_title("Funnel")
    return _svg(fig)


def drops_figure(stats: dict[str, Any]) -> str:
    bars = [
        (f"{name}: {reason}", int(k))
        for name, s in _stage_rows(stats)
        for reason, k in (s.get("dropped") or {}).items()
        if k
    ]
    if not bars:
        return "<p>Nothing was dropped.</p>"
    bars.sort(key=lambda b: b[1])
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(bars) + 1))
    ax.barh([b[0] for b in bars], [b[1] for b in bars], color="#c44e52")
    ax.set_xlabel("documents dropped")
    ax.set_title("Drop reasons per stage")
    return _svg(fig)


def language_mix(stats: dict[str, Any], samples: list[dict[str, Any]]) -> tuple[Counter[str], str]:
    """Languages of the documents written (the write step's counts), else of the kept samples."""
    counts = (stats.get("stages", {}).get("write") or {}).get("counts") or {}
    mix = Counter({k.removeprefix("lang."): int(v) for k, v in counts.items() if k.startswith("lang.")})
    mix.pop("unknown", None)
    if mix:
        return mix, "documents written"
    return Counter(s["lang"] for s in samples if s.get("lang") and s.get("kept")), "sampled kept documents"


def language_figure(mix: Counter[str], source: str) -> str:
    if not mix:
        return "<p>No language information (langid did not run).</p>"
    top = mix.most_common(12)
    other = sum(mix.values()) - sum(v for _, v in top)
    if other:
        top.append(("other", other))
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(top) + 1))
    ax.barh([k for k, _ in top][::-1], [v for _, v in top][::-1], color="#55a868")
    ax.set_xlabel("documents")
    ax.set_title(f"Language mix ({source})")
    return _svg(fig)


def histogram_figure(
    samples: list[dict[str, Any]],
    key: str,
    title: str,
    log: bool,
    thresholds: list[tuple[str, float]] | None = None,
) -> str:
    kept = [float(s[key]) for s in samples if s.get(key) is not None and s.get("kept")]
    dropped = [float(s[key]) for s in samples if s.get(key) is not None and not s.get("kept")]
    if not kept and not dropped:
        return f"<p>No sampled document has <code>{html.escape(key)}</code>.</p>"
    values = kept + dropped
    if log:
        lo, hi = max(1.0, min(values)), max(2.0, max(values))
        bins = [10 ** (math.log10(lo) + i * (math.log10(hi) - math.log10(lo)) / 30) for i in range(31)]
    else:
        bins = [i / 20 for i in range(21)]
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.hist([kept, dropped], bins=bins, stacked=True, label=["kept", "dropped"], color=["#4c72b0", "#c44e52"])
    if log:
        ax.set_xscale("log")
    for name, threshold in thresholds or []:
        ax.axvline(threshold, color="#333333", linestyle="--", linewidth=1)
        ax.text(threshold, ax.get_ylim()[1] * 0.95, f" {name} threshold {threshold:g}", fontsize=8, va="top")
    ax.set_title(title)
    ax.set_ylabel("sampled documents")
    ax.legend()
    return _svg(fig)


def quality_thresholds(config: dict[str, Any]) -> list[tuple[str, float]]:
    """(step name, keep threshold) of every selected quality step in threshold mode: the lines on
    the score histogram. ``config`` is the resolved configuration (``RunConfig.resolved``)."""
    selected = set(config.get("stages") or [])
    out = []
    for entry in config.get("steps") or []:
        for name, body in entry.items():
            if name not in selected or not isinstance(body, dict) or body.get("type") != "quality":
                continue
            threshold = body.get("threshold")
            if body.get("mode", "threshold") == "threshold" and isinstance(threshold, (int, float)):
                out.append((name, float(threshold)))
    return out


def _n_chars(sample: dict[str, Any]) -> dict[str, Any]:
    if sample.get("n_chars") is None and isinstance(sample.get("text"), str):
        sample = {**sample, "n_chars": len(sample["text"])}
    return sample


def stage_table(stats: dict[str, Any]) -> str:
    """Per step: documents in and out, drops by reason, own counts, and where the CPU time went."""
    rows = []
    total_cpu = sum(s.get("cpu_s") or 0 for _, s in _stage_rows(stats)) or 1.0
    for name, s in _stage_rows(stats):
        dropped = s.get("dropped") or {}
        reasons = ", ".join(
            f"{html.escape(r)}: {k:,}" for r, k in sorted(dropped.items(), key=lambda x: -x[1]) if k
        )
        counts = ", ".join(
            f"{html.escape(str(k))}: {v:,}" for k, v in sorted((s.get("counts") or {}).items())
        )
        cpu = s.get("cpu_s")
        cost = (
            f"<td class=num>{cpu:.2f} ({100 * cpu / total_cpu:.0f}%)</td><td class=num>{s.get('docs_per_cpu_s', 0):,.0f}</td>"
            if cpu is not None
            else "<td></td><td></td>"
        )
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td class=num>{s.get('in', '')}</td>"
            f"<td class=num>{s.get('out', '')}</td>{cost}<td>{reasons}</td><td>{counts}</td></tr>"
        )
    return (
        "<table><tr><th>step</th><th>in</th><th>out</th><th>CPU s (share)</th><th>docs per CPU s</th>"
        "<th>dropped by reason</th><th>counts</th></tr>" + "".join(rows) + "</table>"
    )


def examples_table(samples: list[dict[str, Any]], kept: bool) -> str:
    chosen = [s for s in samples if bool(s.get("kept")) == kept][:MAX_EXAMPLES]
    if not chosen:
        return "<p>None sampled.</p>"
    rows = []
    for s in chosen:
        text = str(s.get("text") or "")
        length = int(s.get("n_chars") or len(text))  # samples carry the first characters only
        shown = html.escape(text[:EXAMPLE_CHARS]) + ("…" if length > min(len(text), EXAMPLE_CHARS) else "")
        score = s.get("quality_score")
        meta = [f"lang {html.escape(str(s.get('lang', '?')))}", f"{length:,} chars"]
        if score is not None:
            meta.append(f"quality {float(score):.2f}")
        if not kept:
            meta.insert(
                0, f"<b>{html.escape(str(s.get('stage', '?')))}: {html.escape(str(s.get('reason', '?')))}</b>"
            )
        if s.get("url"):
            meta.append(html.escape(str(s["url"])[:120]))
        rows.append(f"<tr><td>{'<br>'.join(meta)}</td><td class=doc>{shown}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def build_report(stats: dict[str, Any], samples: list[dict[str, Any]], config: dict[str, Any]) -> str:
    samples = [_n_chars(s) for s in samples]
    rows = _stage_rows(stats)
    first = rows[0][1].get("out", rows[0][1].get("in", 0)) if rows else 0
    last = rows[-1][1].get("out", 0) if rows else 0
    mix, mix_source = language_mix(stats, samples)
    config_text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, default_flow_style=False)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Pipeline report</title>",
        f"<style>{_CSS}</style></head><body><h1>Pipeline report</h1>",
        f"<p>{first:,} documents read, {last:,} written ({(last / first * 100 if first else 0):.1f}%). "
        f"{len(samples):,} documents sampled for the examples and histograms.</p>",
        "<h2>Funnel</h2>",
        funnel_figure(stats),
        stage_table(stats),
        "<h2>Drop reasons</h2>",
        drops_figure(stats),
        "<h2>Language mix</h2>",
        language_figure(mix, mix_source),
        "<h2>Document length</h2>",
        histogram_figure(samples, "n_chars", "Characters per document", log=True),
        "<h2>Quality score</h2>",
        histogram_figure(
            samples,
            "quality_score",
            "fastText quality score (P(positive))",
            False,
            quality_thresholds(config),
        ),
        "<h2>Kept examples</h2>",
        examples_table(samples, kept=True),
        "<h2>Dropped examples</h2>",
        examples_table(samples, kept=False),
        "<h2>Configuration</h2>",
        f"<pre>{html.escape(config_text)}</pre>",
        "</body></html>",
    ]
    return "\n".join(parts)


def load_samples(path: str | None) -> list[dict[str, Any]]:
    """A run's samples.json (a JSON array), or JSONL of sampled documents."""
    if not path:
        return []
    text = Path(path).read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline.report", description="write report.html")
    ap.add_argument("--stats", required=True)
    ap.add_argument("--samples", help="a run's samples.json, or JSONL of sampled documents")
    ap.add_argument("--config", help="resolved config, JSON or YAML")
    ap.add_argument("--output", required=True)
    args = ap.parse_args(argv)
    try:
        stats = json.loads(Path(args.stats).read_text(encoding="utf-8"))
        config = yaml.safe_load(Path(args.config).read_text(encoding="utf-8")) if args.config else {}
        samples = load_samples(args.samples)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"error: cannot read the report's inputs: {' '.join(str(exc).split())[:300]}", file=sys.stderr)
        return 2
    if not isinstance(stats, dict):
        print(f"error: --stats {args.stats}: not a stats.json object", file=sys.stderr)
        return 2
    Path(args.output).write_text(build_report(stats, samples, config or {}), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
