"""stats.json from the run's summed tallies (stages.beam), its consistency check, the summary."""

from __future__ import annotations

import json
import logging
from typing import Any

log = logging.getLogger("pipeline")


def build_stats(tallies: dict[str, int], step_names: list[str]) -> dict[str, Any]:
    """``{"stages": {name: {"in", "out", "dropped": {reason: n}, "counts": {key: n}, "cpu_s",
    "docs_per_cpu_s"}}}`` from ``read`` through the steps in order to ``write``."""
    stages: dict[str, Any] = {}
    for name in ["read", *step_names, "write"]:
        entry: dict[str, Any] = {"in": tallies.get(f"{name}.in", 0), "out": tallies.get(f"{name}.out", 0)}
        dropped = {k[len(name) + 6 :]: v for k, v in tallies.items() if k.startswith(f"{name}.drop.")}
        entry["dropped"] = dict(sorted(dropped.items(), key=lambda kv: -kv[1]))
        counts = {k[len(name) + 7 :]: v for k, v in tallies.items() if k.startswith(f"{name}.count.")}
        if counts:
            entry["counts"] = dict(sorted(counts.items()))
        cpu_ns = tallies.get(f"{name}.cpu_ns")
        if cpu_ns:
            # CPU time in this step's own code (per-document work; shuffles and the runner's own
            # overhead are not attributed to a step), and the documents it handled per CPU-second.
            entry["cpu_s"] = round(cpu_ns / 1e9, 3)
            entry["docs_per_cpu_s"] = round(entry["in"] / (cpu_ns / 1e9), 1)
        stages[name] = entry
    out: dict[str, Any] = {"stages": stages}
    if tallies.get("write_rejected.in"):
        out["rejected_written"] = tallies.get("write_rejected.out", 0)
    return out


def check_stats(stats: dict[str, Any]) -> list[str]:
    """Accounting problems: a stage whose in != out + dropped, or whose in != previous out."""
    problems = []
    previous = None
    for name, entry in stats["stages"].items():
        if entry["in"] != entry["out"] + sum(entry["dropped"].values()):
            problems.append(
                f"{name}: in {entry['in']} != out {entry['out']} + dropped {sum(entry['dropped'].values())}"
            )
        if previous is not None and entry["in"] != previous[1]:
            problems.append(f"{name}: in {entry['in']} != {previous[0]} out {previous[1]}")
        previous = (name, entry["out"])
    return problems


def run_stats(
    tallies: dict[str, int], step_names: list[str], run_id: str, runner: Any, elapsed_s: float | None
) -> dict[str, Any]:
    """stats.json of a run: ``build_stats`` plus the run's id, runner, elapsed time and the
    accounting check ("ok" or the problems found, each also logged)."""
    stats = build_stats(tallies, step_names)
    stats["run_id"] = run_id
    stats["runner"] = runner
    if elapsed_s is not None:
        stats["elapsed_s"] = elapsed_s
    problems = check_stats(stats)
    for problem in problems:
        log.warning("stats do not add up: %s", problem)
    stats["accounting"] = problems or "ok"
    return stats


def dump(stats: dict[str, Any]) -> str:
    return json.dumps(stats, indent=2, ensure_ascii=False)


def summary(stats: dict[str, Any], output: str, elapsed_s: float) -> str:
    stages = stats["stages"]
    first, last = stages["read"], stages["write"]
    lines = [
        f"done in {elapsed_s:.1f}s: {first['out']:,} documents read "
        f"({first['in']:,} records), {last['out']:,} written",
    ]
    drops = [(n, reason, c) for n, e in stages.items() for reason, c in e["dropped"].items()]
    drops.sort(key=lambda d: -d[2])
    if drops:
        lines.append("top drop reasons: " + ", ".join(f"{n}/{r} {c:,}" for n, r, c in drops[:6]))
    flow = " -> ".join(f"{n} {e['out']:,}" for n, e in stages.items())
    lines.append(f"funnel: {flow}")
    costs = [(n, e["cpu_s"]) for n, e in stages.items() if e.get("cpu_s")]
    if costs:
        total = sum(c for _, c in costs) or 1.0
        top = sorted(costs, key=lambda c: -c[1])[:4]
        lines.append("CPU by step: " + ", ".join(f"{n} {c:.1f}s ({100 * c / total:.0f}%)" for n, c in top))
    lines.append(f"output: {output}/documents")
    lines.append(f"report: {output}/report.html  (stats: {output}/stats.json)")
    return "\n".join(lines)
