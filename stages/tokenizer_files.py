"""The two kinds of tokenizer file the tokenize stage and the trainer read.

- a sentencepiece ``tokenizer.model`` (LLaMA-1/2, Mistral v1, the output of
  ``tokenizer_training.merge``);
- a Hugging Face ``tokenizer.json`` (byte-level BPE: LLaMA-3, Qwen, Mistral tekken, the output of
  ``tokenizer_training.train --continue-from``), with BOS/EOS named by a ``tokenizer_config.json``
  beside it.

A tokenizer path is such a file or a directory holding one; a directory holding both (the
sentencepiece merge writes both) means its ``tokenizer.model``. Paths may be on any Beam
filesystem (``gs://.../merged``), so a worker on another machine reads the tokenizer from shared
storage.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

SP_NAME = "tokenizer.model"
HF_NAME = "tokenizer.json"
HF_CONFIG = "tokenizer_config.json"
SENTENCEPIECE, HF_BPE = "sentencepiece", "hf"

# Without a tokenizer_config.json, BOS/EOS are recognised by these common names (LLaMA-3, LLaMA/Mistral,
# GPT-2/Qwen). A tokenizer without any of the EOS names needs the config file.
BOS_NAMES = ("<|begin_of_text|>", "<s>", "<|startoftext|>")
EOS_NAMES = ("<|end_of_text|>", "</s>", "<|endoftext|>")


def is_remote(path: str | Path) -> bool:
    return "://" in str(path)


def _read(file: str) -> bytes | None:
    """The file's bytes, or None when there is no such file (local or remote)."""
    if is_remote(file):
        from apache_beam.io.filesystems import FileSystems

        try:
            with FileSystems.open(file) as handle:
                return handle.read()
        except Exception:  # noqa: BLE001 - an object store "folder" or a missing object: not a file
            return None
    path = Path(file)
    return path.read_bytes() if path.is_file() else None


def _join(folder: str, name: str) -> str:
    if is_remote(folder):
        from apache_beam.io.filesystems import FileSystems

        return FileSystems.join(folder.rstrip("/"), name)
    return str(Path(folder) / name)


def _kind_of(file: str) -> str:
    return HF_BPE if file.endswith(".json") else SENTENCEPIECE


@dataclasses.dataclass
class TokenizerFile:
    """One tokenizer file's content; everything else is derived from it (and its config file)."""

    path: str  # the resolved file: .../tokenizer.model or .../tokenizer.json
    kind: str  # SENTENCEPIECE or HF_BPE
    data: bytes
    config: dict  # the tokenizer_config.json beside a tokenizer.json ({} when absent)

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @cached_property
    def sp(self):
        import sentencepiece as spm

        return spm.SentencePieceProcessor(model_proto=self.data)

    @cached_property
    def hf(self):
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_str(self.data.decode("utf-8"))
        # Documents are data: a "</s>" or "<|end_of_text|>" written in a web page is text, not an EOS
        # (sentencepiece never matches control symbols in text either).
        tokenizer.encode_special_tokens = True
        return tokenizer

    @cached_property
    def vocab_size(self) -> int:
        """One more than the largest id (an HF vocabulary may keep special tokens past the BPE ids)."""
        if self.kind == SENTENCEPIECE:
            return self.sp.get_piece_size()
        return max(self.hf.get_vocab(with_added_tokens=True).values()) + 1

    @cached_property
    def bos_id(self) -> int:
        """-1 when the tokenizer has no BOS (Qwen)."""
        if self.kind == SENTENCEPIECE:
            return self.sp.bos_id()
        return self._special_id("bos_token", BOS_NAMES, required=False)

    @cached_property
    def eos_id(self) -> int:
        if self.kind == SENTENCEPIECE:
            return self.sp.eos_id()
        return self._special_id("eos_token", EOS_NAMES, required=True)

    def _special_id(self, key: str, names: tuple[str, ...], required: bool) -> int:
        if key in self.config:
            token = self.config[key]
            if isinstance(token, dict):
                token = token.get("content")
            if token is None:
                return -1
            found = self.hf.token_to_id(token)
            if found is None:
                raise ValueError(
                    f"{self.path}: {HF_CONFIG} names {key} {token!r}, which is not in the vocabulary"
                )
            return found
        for name in names:
            found = self.hf.token_to_id(name)
            if found is not None:
                return found
        if required:
            raise ValueError(
                f"{self.path}: cannot tell the {key} (none of {', '.join(names)}); "
                f"put a {HF_CONFIG} naming it beside the tokenizer.json"
            )
        return -1

    def token(self, i: int) -> str | None:
        """The piece / token string of id ``i`` (byte-level form for HF BPE)."""
        if self.kind == SENTENCEPIECE:
            return self.sp.id_to_piece(i)
        return self.hf.id_to_token(i)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``, no BOS/EOS."""
        if self.kind == SENTENCEPIECE:
            return self.sp.encode(text)
        return self.hf.encode(text, add_special_tokens=False).ids

    def document_encoder(self, add_bos: bool, add_eos: bool) -> Callable[[str], list[int]]:
        """text -> ids with BOS/EOS as asked (BOS only where the tokenizer has one)."""
        if self.kind == SENTENCEPIECE:
            import sentencepiece as spm

            # BOS/EOS are added by sentencepiece's C++ encoder: no Python list copy per document.
            return spm.SentencePieceProcessor(
                model_proto=self.data, add_bos=add_bos, add_eos=add_eos
            ).EncodeAsIds
        hf = self.hf
        head = [self.bos_id] if add_bos and self.bos_id >= 0 else []
        tail = [self.eos_id] if add_eos else []

        def encode(text: str) -> list[int]:
            return head + hf.encode(text, add_special_tokens=False).ids + tail

        return encode

    def identity(self) -> dict:
        """What the manifest records: file, kind, content hash, vocabulary size, BOS/EOS ids."""
        return {
            "path": self.path,
            "kind": self.kind,
            "sha256": self.sha256,
            "vocab_size": self.vocab_size,
            "bos_id": self.bos_id,
            "eos_id": self.eos_id,
        }


def open_tokenizer(path: str | Path) -> TokenizerFile:
    """The tokenizer at ``path`` (a tokenizer.model / tokenizer.json, or a directory with one)."""
    path = str(path)
    candidates = [path, _join(path, SP_NAME), _join(path, HF_NAME)]
    if not is_remote(path) and Path(path).is_dir():
        candidates = candidates[1:]
    for file in candidates:
        data = _read(file)
        if data is None:
            continue
        kind = _kind_of(file)
        config: dict = {}
        if kind == HF_BPE:
            folder = file.rsplit("/", 1)[0] if is_remote(file) else str(Path(file).parent)
            raw_config = _read(_join(folder, HF_CONFIG))
            config = json.loads(raw_config) if raw_config else {}
        return TokenizerFile(file, kind, data, config)
    raise FileNotFoundError(f"no tokenizer at {path} (expected {SP_NAME} or {HF_NAME}, or a folder with one)")
