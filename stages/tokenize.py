"""Stage ``tokenize``: sentencepiece token ids for each document.

Adds ``input_ids`` (BOS + ids + EOS by default) and ``n_tokens``. The tokenizer is a
``tokenizer.model`` file or a directory holding one (the output of ``tokenizer_training.merge``).
Encoding is sentencepiece's own C++ path with BOS/EOS added natively, so the stage costs little
more than raw encoding (see benchmarks/bench_tokenize.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
import sentencepiece as spm

from stages.base import Doc, Drop, Params, Stage, path_param


def model_file(path: str | Path) -> Path:
    """``tokenizer.model`` itself, or the one inside a merged tokenizer directory."""
    path = Path(path)
    if path.is_dir():
        path = path / "tokenizer.model"
    if not path.is_file():
        raise FileNotFoundError(f"no sentencepiece model at {path}")
    return path


def is_remote(path: str | Path) -> bool:
    return "://" in str(path)


def model_bytes(path: str | Path) -> tuple[str, bytes]:
    """(resolved file, content) of a local path or any Beam filesystem path (``gs://.../merged``),
    so a worker on another machine reads the tokenizer from shared storage."""
    if is_remote(path):
        from apache_beam.io.filesystems import FileSystems

        file = str(path)
        try:
            with FileSystems.open(file) as handle:
                return file, handle.read()
        except Exception:  # noqa: BLE001 - not a file there: an object store "folder" has no object
            file = FileSystems.join(file.rstrip("/"), "tokenizer.model")
            with FileSystems.open(file) as handle:
                return file, handle.read()
    file = model_file(path)
    return str(file), file.read_bytes()


def load_processor(
    path: str | Path, add_bos: bool = False, add_eos: bool = False
) -> spm.SentencePieceProcessor:
    # BOS/EOS are added by the C++ encoder: no Python list copy per document.
    _, data = model_bytes(path)
    return spm.SentencePieceProcessor(model_proto=data, add_bos=add_bos, add_eos=add_eos)


def tokenizer_identity(path: str | Path) -> dict:
    """What the manifest records about the tokenizer: model file, content hash, vocabulary size."""
    file, data = model_bytes(path)
    sp = spm.SentencePieceProcessor(model_proto=data)
    return {
        "path": file,
        "sha256": hashlib.sha256(data).hexdigest(),
        "vocab_size": sp.vocab_size(),
        "bos_id": sp.bos_id(),
        "eos_id": sp.eos_id(),
    }


@dataclasses.dataclass
class TokenizeParams(Params):
    tokenizer: str = path_param("")  # tokenizer.model or a merged tokenizer directory
    add_bos: bool = True
    add_eos: bool = True

    def validate(self) -> None:
        """Checked when the stage is selected: the tokenizer must be given and exist."""
        if not self.tokenizer:
            raise ValueError("tokenizer: required when the tokenize stage runs (give --tokenizer PATH)")
        if is_remote(self.tokenizer):
            return  # read where it runs; the launcher reads it too, for the manifest
        try:
            model_file(self.tokenizer)
        except FileNotFoundError as exc:
            raise ValueError(f"tokenizer: {exc}") from None


class TokenizeStage(Stage):
    name = "tokenize"
    Params = TokenizeParams
    columns: ClassVar[dict[str, pa.DataType]] = {"input_ids": pa.list_(pa.int32()), "n_tokens": pa.int64()}
    reasons = ()

    def __init__(self, params: TokenizeParams | None = None):
        super().__init__(params)
        self._sp: spm.SentencePieceProcessor | None = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_sp"] = None  # a worker loads its own in setup()
        return state

    def setup(self) -> None:
        if not self.params.tokenizer:
            raise ValueError("tokenize.tokenizer is not set (give --tokenizer PATH)")
        self._sp = load_processor(self.params.tokenizer, self.params.add_bos, self.params.add_eos)

    def process(self, doc: Doc) -> Doc | Drop:
        if self._sp is None:
            self.setup()
        ids = self._sp.EncodeAsIds(doc["text"])
        doc["input_ids"] = ids
        doc["n_tokens"] = len(ids)
        self.counts["tokens"] += len(ids)
        return doc
