"""Stage ``tokenize``: token ids for each document.

Adds ``input_ids`` (BOS + ids + EOS by default) and ``n_tokens``. The tokenizer is a sentencepiece
``tokenizer.model``, a Hugging Face byte-level BPE ``tokenizer.json``, or a directory holding one
(the output of ``tokenizer_training.merge`` or ``tokenizer_training.train --continue-from``); see
stages/tokenizer_files.py. sentencepiece encodes in its own C++ path with BOS/EOS added natively, so
the stage costs little more than raw encoding (see benchmarks/bench_tokenize.py).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import pyarrow as pa

from stages.base import Doc, Drop, Params, Stage, path_param
from stages.tokenizer_files import is_remote, open_tokenizer


def tokenizer_identity(path: str) -> dict:
    """What the manifest records about the tokenizer: file, kind, content hash, vocabulary size."""
    return open_tokenizer(path).identity()


@dataclasses.dataclass
class TokenizeParams(Params):
    # tokenizer.model / tokenizer.json or a directory with one (a merged or extended tokenizer)
    tokenizer: str = path_param("")
    add_bos: bool = True
    add_eos: bool = True
    # Also write the training shards as Megatron-LM indexed datasets (OUTPUT/megatron/<split>_text_document
    # .bin/.idx, see pipeline/megatron_writer.py) for Megatron-LM and NeMo.
    megatron: bool = False

    def validate(self) -> None:
        """Checked when the stage is selected: the tokenizer must be given and exist."""
        if not self.tokenizer:
            raise ValueError("tokenizer: required when the tokenize stage runs (give --tokenizer PATH)")
        if is_remote(self.tokenizer):
            return  # read where it runs; the launcher reads it too, for the manifest
        try:
            open_tokenizer(self.tokenizer).eos_id  # noqa: B018 - a tokenizer.json must name its EOS
        except (FileNotFoundError, ValueError) as exc:
            raise ValueError(f"tokenizer: {exc}") from None


class TokenizeStage(Stage):
    name = "tokenize"
    Params = TokenizeParams
    columns: ClassVar[dict[str, pa.DataType]] = {"input_ids": pa.list_(pa.int32()), "n_tokens": pa.int64()}
    reasons = ()

    def __init__(self, params: TokenizeParams | None = None):
        super().__init__(params)
        self._encode = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_encode"] = None  # a worker loads its own in setup()
        return state

    def setup(self) -> None:
        if not self.params.tokenizer:
            raise ValueError("tokenize.tokenizer is not set (give --tokenizer PATH)")
        tokenizer = open_tokenizer(self.params.tokenizer)
        self._encode = tokenizer.document_encoder(self.params.add_bos, self.params.add_eos)

    def process(self, doc: Doc) -> Doc | Drop:
        if self._encode is None:
            self.setup()
        ids = self._encode(doc["text"])
        doc["input_ids"] = ids
        doc["n_tokens"] = len(ids)
        self.counts["tokens"] += len(ids)
        return doc
