"""Merge a (Chinese) sentencepiece model into a LLaMA tokenizer and write Hugging Face files.

    python -m tokenizer_training.merge --base llama/tokenizer.model --extra zh.model \\
        --output merged/ [--heldout held_out.txt]

Every base piece keeps its id. Only NORMAL pieces of the extra model that the base lacks are
appended, in the extra model's merge order, with strictly decreasing scores below the base's
lowest real score. Scores matter because sentencepiece's BPE merges the adjacent pair whose
concatenation has the highest score: appended pieces scored 0 (the Chinese-LLaMA recipe) outrank
every base merge and tie with each other, which leaves some of them unreachable and makes the
sentencepiece and Hugging Face tokenizers disagree. Every appended piece is then checked to be
reachable (encoding its own text yields exactly that piece); where BPE gets stuck, the missing
intermediate pieces are added, and pieces that still cannot be reached are dropped.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import re
import struct
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import sentencepiece as spm

from tokenizer_training.spmodel import BPE, NORMAL, USER_DEFINED, Piece, SpModel

# LLaMA scores its whitespace-run pieces -1e9 so they merge last; they are not "real" scores.
SENTINEL_SCORE = -1e8
MERGEABLE = (NORMAL, USER_DEFINED)  # piece types sentencepiece's BPE merges into
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
FIX_ROUNDS = 8
_TYPE_NAMES = {2: "unknown", 3: "control", 4: "user_defined", 5: "unused", 6: "byte"}


def score_floor(model: SpModel) -> float:
    """The lowest real score among the model's normal pieces (sentinel scores ignored)."""
    return min(p.score for p in model.pieces if p.type == NORMAL and p.score > SENTINEL_SCORE)


def bpe_isolated(text: str, scores: dict[str, float]) -> list[str]:
    """sentencepiece's BPE on ``text`` alone: repeatedly merge the adjacent pair whose concatenation
    is a piece with the highest score (leftmost on ties)."""
    symbols = list(text)
    while len(symbols) > 1:
        best_i, best_score = -1, 0.0
        for i in range(len(symbols) - 1):
            score = scores.get(symbols[i] + symbols[i + 1])
            if score is not None and (best_i < 0 or score > best_score):
                best_i, best_score = i, score
        if best_i < 0:
            break
        symbols[best_i : best_i + 2] = [symbols[best_i] + symbols[best_i + 1]]
    return symbols


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _scores_below(floor: float, n: int) -> list[float]:
    scores = [_f32(floor - 1.0 - i) for i in range(n)]
    if any(a <= b for a, b in itertools.pairwise(scores)):
        raise ValueError(f"cannot give {n} pieces distinct float32 scores below {floor}")
    return scores


@dataclasses.dataclass
class MergeResult:
    model: SpModel
    base_size: int
    extra_size: int
    appended: list[str]  # in id order, intermediates included
    intermediates: list[str]  # pieces not in the extra model, added so others become reachable
    dropped: list[str]  # extra pieces left out because BPE cannot produce them
    skipped: Counter  # extra pieces not considered: non-normal types, already in base

    @property
    def added(self) -> int:
        return len(self.appended)


def merge_models(base: SpModel, extra: SpModel, allow_normalizer_mismatch: bool = False) -> MergeResult:
    if base.model_type != BPE:
        raise ValueError("the base model must be a BPE sentencepiece model (like LLaMA's)")
    if base.normalizer_name != extra.normalizer_name and not allow_normalizer_mismatch:
        raise ValueError(
            f"normaliser mismatch: base {base.normalizer_name!r}, extra {extra.normalizer_name!r}; "
            "train the extra model with normalization_rule_name=identity (tokenizer_training.train does)"
        )
    in_base = {p.piece for p in base.pieces}
    taken: set[str] = set()
    skipped: Counter[str] = Counter()
    candidates: list[Piece] = []
    for p in extra.pieces:
        if p.type != NORMAL:  # control, unknown, user-defined, byte, unused: never appended
            skipped[_TYPE_NAMES.get(p.type, str(p.type))] += 1
        elif p.piece in in_base:
            skipped["in_base"] += 1
        elif p.piece in taken:
            skipped["duplicate"] += 1
        else:
            taken.add(p.piece)
            candidates.append(p)
    # The extra model's merge order is its score order; keep it (stable for equal scores).
    order = [p.piece for p in sorted(candidates, key=lambda p: -p.score)]
    base_scores = {p.piece: p.score for p in base.pieces if p.type in MERGEABLE}
    floor = score_floor(base)
    extra_set = set(order)

    def stuck_pieces(order: list[str]) -> dict[str, list[str]]:
        scores = dict(base_scores)
        scores.update(zip(order, _scores_below(floor, len(order)), strict=False))
        stuck = {}
        for piece in order:
            if len(piece) > 1:
                result = bpe_isolated(piece, scores)
                if result != [piece]:
                    stuck[piece] = result
        return stuck

    for _ in range(FIX_ROUNDS):
        stuck = stuck_pieces(order)
        if not stuck:
            break
        present = set(order) | in_base  # never add a piece the base already has, of any type
        fixed: list[str] = []
        for piece in order:
            symbols = stuck.get(piece)
            if symbols:
                # Left-to-right partial concatenations let BPE climb from the stuck state to piece.
                prefix = symbols[0]
                for sym in symbols[1:-1]:
                    prefix += sym
                    if prefix not in present:
                        present.add(prefix)
                        fixed.append(prefix)
            fixed.append(piece)
        order = fixed
    dropped: list[str] = []
    while stuck := stuck_pieces(order):  # whatever is still unreachable goes
        dropped.extend(stuck)
        order = [p for p in order if p not in stuck]
    merged = SpModel(
        pieces=list(base.pieces)
        + [Piece(p, s, NORMAL) for p, s in zip(order, _scores_below(floor, len(order)), strict=False)],
        trainer=list(base.trainer),
        normalizer=list(base.normalizer),
        rest=list(base.rest),
    )
    merged.set_trainer_vocab_size(len(merged.pieces))
    return MergeResult(
        model=merged,
        base_size=len(base.pieces),
        extra_size=len(extra.pieces),
        appended=order,
        intermediates=[p for p in order if p not in extra_set],
        dropped=[p for p in dropped if p in extra_set],
        skipped=skipped,
    )


def unreachable_ids(model: SpModel, ids: Sequence[int]) -> list[int]:
    """Ids (among ``ids``) whose piece sentencepiece itself does not produce when encoding the
    piece's own text; checked with the real encoder, not our simulation."""
    sp = spm.SentencePieceProcessor(model_proto=model.with_plain_normalizer().to_bytes())
    texts = [model.pieces[i].piece.replace("\u2581", " ") for i in ids]
    encoded = sp.encode(texts)
    return [i for i, got in zip(ids, encoded, strict=False) if got != [i]]


def build_hf_tokenizer(model: SpModel):
    """A ``tokenizers.Tokenizer`` equivalent to the sentencepiece BPE model: same vocabulary and
    ids, a merge for every (left, right) split of each piece, ranked like sentencepiece's scores."""
    from tokenizers import AddedToken, Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import BPE as HfBPE

    vocab = {p.piece: i for i, p in enumerate(model.pieces)}
    mergeable = {p.piece: (p.score, i) for i, p in enumerate(model.pieces) if p.type in MERGEABLE}
    merges: list[tuple[str, str]] = []
    for piece, _ in sorted(mergeable.items(), key=lambda kv: (-kv[1][0], kv[1][1])):
        for k in range(1, len(piece)):
            left, right = piece[:k], piece[k:]
            if left in mergeable and right in mergeable:
                merges.append((left, right))
    unk = next(p.piece for p in model.pieces if p.type == 2)
    tok = Tokenizer(HfBPE(vocab=vocab, merges=merges, unk_token=unk, fuse_unk=True, byte_fallback=True))
    tok.normalizer = None
    # What transformers 5's LlamaTokenizer builds (it rebuilds the pipeline around our vocab and
    # merges), so AutoTokenizer and LlamaTokenizerFast behave identically.
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=False)
    tok.decoder = decoders.Sequence(
        [decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    specials = [p.piece for p in model.pieces if p.type in (2, 3)]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    bos = model.pieces[model.bos_id].piece
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos}:0 $A:0", pair=f"{bos}:0 $A:0 {bos}:1 $B:1", special_tokens=[(bos, model.bos_id)]
    )
    return tok


def write_merged(model: SpModel, output: str | Path) -> Path:
    """tokenizer.model + tokenizer.json + tokenizer_config.json + special_tokens_map.json."""
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "tokenizer.model")
    build_hf_tokenizer(model).save(str(out / "tokenizer.json"))
    unk = next(p.piece for p in model.pieces if p.type == 2)
    bos, eos = model.pieces[model.bos_id].piece, model.pieces[model.eos_id].piece
    added = {
        str(i): {
            "content": p.piece,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": True,
        }
        for i, p in enumerate(model.pieces)
        if p.type in (2, 3)
    }
    config = {
        "tokenizer_class": "LlamaTokenizer",
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": bos,
        "eos_token": eos,
        "unk_token": unk,
        "pad_token": None,
        "legacy": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": 1_000_000_000_000_000_019_884_624_838_656,
        "added_tokens_decoder": added,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    special = {"bos_token": bos, "eos_token": eos, "unk_token": unk}
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")
    return out


def evaluate(base_path: str | Path, merged_dir: str | Path, lines: Sequence[str]) -> dict:
    """Tokens per Chinese character before/after, and the share of lines on which sentencepiece
    and the Hugging Face tokenizer (loaded the way users load it) give identical ids."""
    from transformers import AutoTokenizer

    merged_dir = Path(merged_dir)
    base_sp = spm.SentencePieceProcessor(model_file=str(base_path))
    merged_sp = spm.SentencePieceProcessor(model_file=str(merged_dir / "tokenizer.model"))
    hf = AutoTokenizer.from_pretrained(str(merged_dir))
    lines = [line for line in lines if line]
    chars = sum(len(CJK.findall(line)) for line in lines)
    before = sum(map(len, base_sp.encode(lines)))
    merged_ids = merged_sp.encode(lines)
    after = sum(map(len, merged_ids))
    hf_ids = hf(lines, add_special_tokens=False)["input_ids"]
    agree = sum(a == b for a, b in zip(merged_ids, hf_ids, strict=False))
    return {
        "heldout_lines": len(lines),
        "chinese_chars": chars,
        "tokens_per_zh_char_before": before / chars if chars else float("nan"),
        "tokens_per_zh_char_after": after / chars if chars else float("nan"),
        "sp_hf_agreement": agree / len(lines) if lines else float("nan"),
        "disagreeing_lines": [line for line, a, b in zip(lines, merged_ids, hf_ids, strict=False) if a != b][
            :5
        ],
        "hf_bos_added": hf("中文")["input_ids"][0] == merged_sp.bos_id(),
    }


def main(argv: list[str] | None = None) -> int:
    from tokenizer_training.corpus import first_lines

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="LLaMA tokenizer.model (or a folder holding one)")
    ap.add_argument("--extra", required=True, help="sentencepiece model to merge in (e.g. zh.model)")
    ap.add_argument("--output", required=True, help="directory for tokenizer.model + HF files")
    ap.add_argument(
        "--heldout", nargs="*", default=[], help="held-out text (.txt/.jsonl/.arrow) to evaluate on"
    )
    ap.add_argument("--heldout-lines", type=int, default=10000)
    ap.add_argument("--lang", default=None, help="only held-out JSONL/Arrow records with this lang")
    ap.add_argument("--allow-normalizer-mismatch", action="store_true")
    args = ap.parse_args(argv)

    base_path = Path(args.base)
    if base_path.suffix == ".json" or (base_path.is_dir() and not (base_path / "tokenizer.model").is_file()):
        print(
            f"error: --base {args.base} is not a sentencepiece tokenizer.model; for a byte-level BPE "
            f"tokenizer.json use: python -m tokenizer_training.train --continue-from {args.base} --input ...",
            file=sys.stderr,
        )
        return 2
    if base_path.is_dir():
        args.base = str(base_path / "tokenizer.model")
    loaded = {}
    for flag, path in (("--base", args.base), ("--extra", args.extra)):
        try:
            loaded[flag] = SpModel.load(path)
        except (OSError, ValueError) as exc:  # missing or not a sentencepiece model: one line, exit 2
            print(f"error: {flag} {path}: not a readable sentencepiece model ({exc})", file=sys.stderr)
            return 2
    base, extra = loaded["--base"], loaded["--extra"]
    try:
        lines = first_lines(args.heldout, args.lang, args.heldout_lines) if args.heldout else []
    except (OSError, ValueError) as exc:
        print(f"error: --heldout: {exc}", file=sys.stderr)
        return 2
    result = merge_models(base, extra, args.allow_normalizer_mismatch)
    out = write_merged(result.model, args.output)
    new_ids = list(range(result.base_size, len(result.model.pieces)))
    unreachable = unreachable_ids(result.model, new_ids)
    print(f"base vocab size:      {result.base_size}")
    print(f"extra vocab size:     {result.extra_size}")
    print(f"merged vocab size:    {len(result.model.pieces)}")
    print(
        f"pieces added:         {result.added} (intermediates {len(result.intermediates)}, "
        f"dropped as unreachable {len(result.dropped)})"
    )
    print(f"extra pieces skipped: {dict(result.skipped)}")
    print(f"unreachable pieces:   {len(unreachable)}")
    if args.heldout:
        report = evaluate(args.base, out, lines)
        print(f"held-out lines:       {report['heldout_lines']} ({report['chinese_chars']} Chinese chars)")
        print(
            f"tokens per zh char:   {report['tokens_per_zh_char_before']:.3f} before, "
            f"{report['tokens_per_zh_char_after']:.3f} after"
        )
        print(f"sp/HF agreement:      {report['sp_hf_agreement']:.4%}")
        print(f"HF adds BOS:          {report['hf_bos_added']}")
        for line in report["disagreeing_lines"]:
            print(f"  disagreement on: {line[:80]!r}")
    else:
        print("held-out evaluation:  skipped (no --heldout given)")
    print(f"written: {out}")
    return 0 if not unreachable else 1


if __name__ == "__main__":
    sys.exit(main())
