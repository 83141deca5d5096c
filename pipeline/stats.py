"""stats.json from Beam counters, its consistency check, and the end-of-run summary."""

from __future__ import annotations

import json
from typing import Any

from apache_beam.metrics.metric import MetricsFilter

from stages.beam import NAMESPACE


def counter_values(result) -> dict[str, int]:
    """All counters of namespace ``stats`` as {name: value} (committed where the runner has them)."""
    values: dict[str, int] = {}
    query = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    for counter in query["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        values[counter.key.metric.name] = values.get(counter.key.metric.name, 0) + int(value or 0)
    return values


def build_stats(counters: dict[str, int], stage_names: list[str]) -> dict[str, Any]:
    """``{"stages": {name: {"in", "out", "dropped": {reason: n}, "counts": {key: n}}}}`` in order."""
    stages: dict[str, Any] = {}
    for name in ["read", *stage_names, "write"]:
        entry: dict[str, Any] = {"in": counters.get(f"{name}.in", 0), "out": counters.get(f"{name}.out", 0)}
        dropped = {k[len(name) + 6 :]: v for k, v in counters.items() if k.startswith(f"{name}.drop.")}
        entry["dropped"] = dict(sorted(dropped.items(), key=lambda kv: -kv[1]))
        counts = {k[len(name) + 7 :]: v for k, v in counters.items() if k.startswith(f"{name}.count.")}
        if counts:
            entry["counts"] = dict(sorted(counts.items()))
        stages[name] = entry
    out: dict[str, Any] = {"stages": stages}
    if counters.get("write_rejected.in"):
        out["rejected_written"] = counters.get("write_rejected.out", 0)
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
    lines.append(f"output: {output}/documents")
    lines.append(f"report: {output}/report.html  (stats: {output}/stats.json)")
    return "\n".join(lines)
