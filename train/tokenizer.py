"""Tokenizer handling for the trainer: locate the sentencepiece model, decompose new pieces into base
pieces (to initialise their embeddings), and copy tokenizer files next to the saved model."""

from __future__ import annotations

import json
import shutil
from functools import lru_cache
from pathlib import Path

import sentencepiece as spm

SP_NAME = "tokenizer.model"


class TokenizerError(ValueError):
    pass


def sp_model_path(path: str | Path) -> Path:
    """``path`` is a ``tokenizer.model`` file or a (merged, HF-style) directory holding one."""
    p = Path(path)
    if p.is_dir():
        p = p / SP_NAME
    if not p.is_file():
        raise TokenizerError(f"{path}: no sentencepiece model ({SP_NAME}) found")
    return p


def load_sp(path: str | Path) -> spm.SentencePieceProcessor:
    return spm.SentencePieceProcessor(model_file=str(sp_model_path(path)))


def decompose(piece: str, base: spm.SentencePieceProcessor) -> list[int]:
    """Split ``piece`` into the fewest base-vocabulary pieces (ties: higher total base score), using
    base byte pieces (``<0xNN>``) for characters the base vocabulary lacks. Working on the piece string
    itself keeps the word-start marker ``▁`` exactly where the new piece has it, which encoding the
    surface text would not (sentencepiece adds a dummy prefix). Returns [] when no split exists."""
    vocab, max_len, byte_ids = _base_index(base)
    n = len(piece)
    # best[i] = (pieces, -score, ids) for piece[:i]
    best: list[tuple[int, float, list[int]] | None] = [None] * (n + 1)
    best[0] = (0, 0.0, [])
    for i in range(n):
        if best[i] is None:
            continue
        count, neg_score, ids = best[i]
        options: list[tuple[int, list[int], float]] = []
        for j in range(i + 1, min(n, i + max_len) + 1):
            hit = vocab.get(piece[i:j])
            if hit is not None:
                options.append((j, [hit[0]], hit[1]))
        if not options:
            raw = piece[i].replace("\u2581", " ").encode("utf-8")
            if all(b in byte_ids for b in raw):
                options.append((i + 1, [byte_ids[b] for b in raw], 0.0))
        for j, new_ids, score in options:
            cand = (count + len(new_ids), neg_score - score, ids + new_ids)
            if best[j] is None or cand[:2] < best[j][:2]:
                best[j] = cand
    return best[n][2] if best[n] is not None else []


@lru_cache(maxsize=4)
def _base_index(base: spm.SentencePieceProcessor) -> tuple[dict[str, tuple[int, float]], int, dict[int, int]]:
    vocab: dict[str, tuple[int, float]] = {}
    byte_ids: dict[int, int] = {}
    for i in range(base.get_piece_size()):
        piece = base.id_to_piece(i)
        if base.is_byte(i):
            byte_ids[int(piece[3:5], 16)] = i
        elif not (base.is_control(i) or base.is_unknown(i) or base.is_unused(i)):
            vocab[piece] = (i, base.get_score(i))
    return vocab, max((len(p) for p in vocab), default=1), byte_ids


def save_tokenizer_files(tokenizer: str | Path, out_dir: Path) -> None:
    """Copy the tokenizer next to the model: every file of a tokenizer directory, or the single
    ``tokenizer.model`` plus a minimal ``tokenizer_config.json`` naming the LLaMA tokenizer class."""
    src = Path(tokenizer)
    out_dir.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        for f in src.iterdir():
            if f.is_file():
                shutil.copy2(f, out_dir / f.name)
        return
    shutil.copy2(src, out_dir / SP_NAME)
    sp = load_sp(src)
    config = {
        "tokenizer_class": "LlamaTokenizer",
        "bos_token": sp.id_to_piece(sp.bos_id()) if sp.bos_id() >= 0 else None,
        "eos_token": sp.id_to_piece(sp.eos_id()) if sp.eos_id() >= 0 else None,
        "unk_token": sp.id_to_piece(sp.unk_id()) if sp.unk_id() >= 0 else None,
        "add_bos_token": True,
        "add_eos_token": False,
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
