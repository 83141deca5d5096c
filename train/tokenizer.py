"""Tokenizer handling for the trainer: open the tokenizer (sentencepiece or a Hugging Face byte-level BPE
tokenizer.json, see stages/tokenizer_files.py), decompose new tokens into base tokens (to initialise their
embeddings), and copy tokenizer files next to the saved model."""

from __future__ import annotations

import json
import shutil
from functools import lru_cache
from pathlib import Path

from stages.tokenizer_files import HF_CONFIG, HF_NAME, SENTENCEPIECE, SP_NAME, TokenizerFile, open_tokenizer

__all__ = [
    "SP_NAME",
    "TokenizerError",
    "decompose",
    "load_tokenizer",
    "new_token_pieces",
    "save_tokenizer_files",
]


class TokenizerError(ValueError):
    pass


def load_tokenizer(path: str | Path) -> TokenizerFile:
    """``path`` is a tokenizer.model / tokenizer.json or a (merged or extended) tokenizer directory."""
    try:
        tokenizer = open_tokenizer(path)
        tokenizer.eos_id  # noqa: B018 - fails here, with the reason, for a tokenizer.json without an EOS
    except (FileNotFoundError, ValueError) as exc:
        raise TokenizerError(str(exc)) from None
    return tokenizer


def decompose(piece: str, base) -> list[int]:
    """Split a sentencepiece ``piece`` into the fewest base-vocabulary pieces (ties: higher total base
    score), using base byte pieces (``<0xNN>``) for characters the base vocabulary lacks. Working on the
    piece string itself keeps the word-start marker ``▁`` exactly where the new piece has it, which
    encoding the surface text would not (sentencepiece adds a dummy prefix). ``base`` is a
    SentencePieceProcessor. Returns [] when no split exists."""
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
def _base_index(base) -> tuple[dict[str, tuple[int, float]], int, dict[int, int]]:
    vocab: dict[str, tuple[int, float]] = {}
    byte_ids: dict[int, int] = {}
    for i in range(base.get_piece_size()):
        piece = base.id_to_piece(i)
        if base.is_byte(i):
            byte_ids[int(piece[3:5], 16)] = i
        elif not (base.is_control(i) or base.is_unknown(i) or base.is_unused(i)):
            vocab[piece] = (i, base.get_score(i))
    return vocab, max((len(p) for p in vocab), default=1), byte_ids


def new_token_pieces(new: TokenizerFile, base: TokenizerFile, token_id: int) -> list[int]:
    """The base ids a new token decomposes into ([] for special and byte tokens, or when none).

    sentencepiece: the fewest base pieces spelling it (``decompose``). Byte-level BPE: what the base
    model's own BPE makes of the token's bytes as one word, i.e. the base tokens the new merges join.
    """
    if new.kind != base.kind:
        raise TokenizerError(f"the tokenizer is {new.kind} but the base tokenizer is {base.kind}")
    if new.kind == SENTENCEPIECE:
        sp = new.sp
        if sp.is_control(token_id) or sp.is_unknown(token_id) or sp.is_byte(token_id):
            return []
        return decompose(sp.id_to_piece(token_id), base.sp)
    token = new.hf.id_to_token(token_id)
    if token is None or token in _special_contents(new):
        return []
    return [t.id for t in base.hf.model.tokenize(token)]


def _special_contents(tokenizer: TokenizerFile) -> set[str]:
    return {t.content for t in tokenizer.hf.get_added_tokens_decoder().values() if t.special}


def save_tokenizer_files(tokenizer: str | Path, out_dir: Path) -> None:
    """Copy the tokenizer next to the model: every file of a tokenizer directory, or the single
    tokenizer file plus a minimal ``tokenizer_config.json`` naming its class and BOS/EOS."""
    src = Path(tokenizer)
    out_dir.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        for f in src.iterdir():
            if f.is_file():
                shutil.copy2(f, out_dir / f.name)
        return
    tok = load_tokenizer(src)
    sentencepiece = tok.kind == SENTENCEPIECE
    shutil.copy2(src, out_dir / (SP_NAME if sentencepiece else HF_NAME))
    unk = tok.sp.unk_id() if sentencepiece else -1
    config = {
        "tokenizer_class": "LlamaTokenizer" if sentencepiece else "PreTrainedTokenizerFast",
        "bos_token": tok.token(tok.bos_id) if tok.bos_id >= 0 else None,
        "eos_token": tok.token(tok.eos_id) if tok.eos_id >= 0 else None,
        "unk_token": tok.token(unk) if unk >= 0 else None,
    }
    if sentencepiece:
        config.update(add_bos_token=True, add_eos_token=False)
    (out_dir / HF_CONFIG).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
