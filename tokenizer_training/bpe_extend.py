"""Extend a byte-level BPE tokenizer (a Hugging Face ``tokenizer.json``: LLaMA-3, Qwen, Mistral
tekken) with merges learned on Chinese text. Used by ``python -m tokenizer_training.train
--continue-from BASE``.

How: the training lines are pre-tokenized by the base's own pre-tokenizer into byte-level words;
each word holding a Han character starts from the base model's own encoding of it
(``tokenizer.model.tokenize``); then BPE is learned as usual over those segmentations: repeatedly
merge the most frequent adjacent pair (weighted by word frequency; ties: the smaller pair), every
occurrence left to right. A pair is taken only when the merged string

- is not in the vocabulary yet (every new merge makes a new token),
- decodes to whole UTF-8 text containing a Han character, and
- is one word for the base's pre-tokenizer (so the tokenizer can produce it for its own string).

The new tokens get ids after every existing id (special tokens included) and their merges rank
after every base merge. A Hugging Face BPE applies merges in rank order, so on any word the base
merges run to completion first, exactly as before; a new merge then only fires on a pair whose
concatenation holds a Han character. Text without Han characters therefore encodes to the same ids
as with the base, and every base token and special token keeps its id.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import re
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from pathlib import Path

from stages.tokenizer_files import HF_CONFIG, HF_NAME

HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
Pair = tuple[str, str]


def _byte_alphabet() -> dict[int, str]:
    """GPT-2's byte-level alphabet: printable Latin-1 bytes stand for themselves, the other 68 bytes
    (controls, space, soft hyphen...) for the characters from U+0100 on, in byte order."""
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table = {b: chr(b) for b in printable}
    shifted = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(0x100 + shifted)
            shifted += 1
    return table


BYTE_TO_CHAR = _byte_alphabet()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}


def token_bytes(token: str) -> bytes:
    """The bytes a byte-level token stands for."""
    return bytes(CHAR_TO_BYTE[c] for c in token)


def token_text(token: str) -> str | None:
    """The text of a byte-level token, or None when its bytes are not whole UTF-8 characters."""
    try:
        return token_bytes(token).decode("utf-8")
    except (KeyError, UnicodeDecodeError):
        return None


class BaseTokenizerError(ValueError):
    pass


@dataclasses.dataclass
class BaseTokenizer:
    raw: dict  # tokenizer.json as data
    folder: Path | None  # the directory it came from (its tokenizer_config.json is kept), if any
    path: Path

    @cached_property
    def tokenizer(self):
        from tokenizers import Tokenizer

        return Tokenizer.from_str(json.dumps(self.raw, ensure_ascii=False))


def _has_byte_level(component: dict | None) -> bool:
    if not component:
        return False
    if component.get("type") == "ByteLevel":
        return True
    return any(_has_byte_level(c) for c in component.get("pretokenizers", component.get("decoders", [])))


def load_base(path: str | Path) -> BaseTokenizer:
    """A byte-level BPE ``tokenizer.json`` (or a directory holding one); anything else is refused with
    a one-line reason."""
    path = Path(path)
    file = path / HF_NAME if path.is_dir() else path
    if not file.is_file():
        raise BaseTokenizerError(f"--continue-from {path}: no {HF_NAME} there")
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BaseTokenizerError(f"--continue-from {file}: not a JSON tokenizer file ({exc})") from None
    model = raw.get("model") or {}
    if model.get("type") != "BPE":
        raise BaseTokenizerError(
            f"--continue-from {file}: model type {model.get('type')!r}, expected a BPE tokenizer.json "
            "(for a sentencepiece tokenizer.model use tokenizer_training.merge)"
        )
    if not _has_byte_level(raw.get("pre_tokenizer")):
        raise BaseTokenizerError(f"--continue-from {file}: not byte-level BPE (no ByteLevel pre-tokenizer)")
    if model.get("continuing_subword_prefix") or model.get("end_of_word_suffix"):
        raise BaseTokenizerError(f"--continue-from {file}: subword prefixes/suffixes are not supported")
    return BaseTokenizer(raw, path if path.is_dir() else None, file)


# --- training words --------------------------------------------------------------------------------


def han_word_counts(tokenizer, lines: Iterable[str]) -> Counter[str]:
    """Byte-level words (the base's pre-tokenization) holding a Han character, with their counts."""
    counts: Counter[str] = Counter()
    normalizer, pre_tokenizer = tokenizer.normalizer, tokenizer.pre_tokenizer
    for line in lines:
        if not HAN.search(line):
            continue
        if normalizer is not None:
            line = normalizer.normalize_str(line)
        counts.update(word for word, _ in pre_tokenizer.pre_tokenize_str(line))
    return Counter({w: c for w, c in counts.items() if HAN.search(token_bytes(w).decode("utf-8", "replace"))})


def base_segmentations(tokenizer, counts: Counter[str]) -> tuple[list[list[str]], list[int]]:
    """Each word as the base model encodes it (its own BPE, merges and all), and its count; in a
    fixed order so that learning is deterministic."""
    model = tokenizer.model
    words = sorted(counts)
    return [[t.value for t in model.tokenize(w)] for w in words], [counts[w] for w in words]


def merge_rule(tokenizer) -> Callable[[str], bool]:
    """Whether a merged string may become a new token (see the module docstring)."""
    vocab = set(tokenizer.get_vocab(with_added_tokens=True))
    pre_tokenizer = tokenizer.pre_tokenizer

    def allowed(merged: str) -> bool:
        if merged in vocab:
            return False
        text = token_text(merged)
        if text is None or not HAN.search(text):
            return False
        return [w for w, _ in pre_tokenizer.pre_tokenize_str(text)] == [merged]

    return allowed


# --- learning merges -----------------------------------------------------------------------------


def _merge_word(symbols: list[str], pair: Pair, merged: str) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(symbols):
        if i + 1 < len(symbols) and symbols[i] == pair[0] and symbols[i + 1] == pair[1]:
            out.append(merged)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return out


def learn_merges_plain(
    words: Sequence[list[str]],
    freqs: Sequence[int],
    n_merges: int,
    allowed: Callable[[str], bool],
    min_frequency: int = 2,
) -> list[Pair]:
    """The reference version: recount every pair before each merge. Quadratic; for tests."""
    words = [list(w) for w in words]
    merges: list[Pair] = []
    blocked: set[Pair] = set()
    while len(merges) < n_merges:
        counts: Counter[Pair] = Counter()
        for symbols, freq in zip(words, freqs, strict=True):
            for pair in zip(symbols, symbols[1:], strict=False):
                if pair not in blocked:
                    counts[pair] += freq
        if not counts:
            break
        pair = min(counts, key=lambda p: (-counts[p], p))
        if counts[pair] < min_frequency:
            break
        if not allowed(pair[0] + pair[1]):
            blocked.add(pair)
            continue
        merges.append(pair)
        words = [_merge_word(symbols, pair, pair[0] + pair[1]) for symbols in words]
    return merges


def learn_merges(
    words: Sequence[list[str]],
    freqs: Sequence[int],
    n_merges: int,
    allowed: Callable[[str], bool],
    min_frequency: int = 2,
) -> list[Pair]:
    """The same merges as ``learn_merges_plain``, with pair counts kept up to date: a merge only
    touches the words that hold its pair, and a heap (stale entries skipped) finds the next best."""
    words = [list(w) for w in words]
    counts: Counter[Pair] = Counter()
    where: defaultdict[Pair, set[int]] = defaultdict(set)
    for index, (symbols, freq) in enumerate(zip(words, freqs, strict=True)):
        for pair in zip(symbols, symbols[1:], strict=False):
            counts[pair] += freq
            where[pair].add(index)
    heap = [(-count, pair) for pair, count in counts.items()]
    heapq.heapify(heap)
    merges: list[Pair] = []
    blocked: set[Pair] = set()
    while heap and len(merges) < n_merges:
        neg_count, pair = heapq.heappop(heap)
        if pair in blocked or counts.get(pair) != -neg_count:
            continue  # stale: the count changed since this entry was pushed
        if -neg_count < min_frequency:
            break
        merged = pair[0] + pair[1]
        if not allowed(merged):
            blocked.add(pair)  # for good: neither the string nor the rule changes
            continue
        merges.append(pair)
        changed: Counter[Pair] = Counter()
        for index in where.pop(pair):
            symbols, freq = words[index], freqs[index]
            new = _merge_word(symbols, pair, merged)
            old_pairs = Counter(zip(symbols, symbols[1:], strict=False))
            new_pairs = Counter(zip(new, new[1:], strict=False))
            for p, n in old_pairs.items():
                if new_pairs[p] != n:
                    changed[p] += (new_pairs[p] - n) * freq
                if p not in new_pairs:
                    where[p].discard(index)
            for p, n in new_pairs.items():
                if p not in old_pairs:
                    changed[p] += n * freq
                    where[p].add(index)
            words[index] = new
        del counts[pair]
        for p, delta in changed.items():
            if p == pair or p in blocked or not delta:
                continue
            counts[p] += delta
            if counts[p] > 0:
                heapq.heappush(heap, (-counts[p], p))
            else:
                del counts[p]
    return merges


# --- the extended tokenizer ----------------------------------------------------------------------


@dataclasses.dataclass
class Extension:
    raw: dict  # the extended tokenizer.json
    base_size: int  # one more than the base's largest id
    new_tokens: list[str]  # in id order, from base_size on
    words: int  # distinct Han words learned from
    lines: int

    @cached_property
    def tokenizer(self):
        from tokenizers import Tokenizer

        return Tokenizer.from_str(json.dumps(self.raw, ensure_ascii=False))


def append_merges(raw: dict, merges: Sequence[Pair]) -> tuple[dict, int]:
    """A copy of ``raw`` with one new token per merge (ids after every existing id) and the merges
    ranked after the base's, written in the base's own merge notation."""
    out = json.loads(json.dumps(raw))
    model = out["model"]
    ids = list(model["vocab"].values()) + [t["id"] for t in out.get("added_tokens", [])]
    first = max(ids) + 1
    # `tokenizers` gives an added (special) token that is not in the BPE vocabulary the next id after
    # the vocabulary's size when it loads a file, whatever id the file says; that is LLaMA-3's layout
    # (specials after the BPE ids) and would shift the specials behind the new tokens. Listed in the
    # vocabulary under their own ids (as tekken's converter does), they keep them.
    for token in out.get("added_tokens", []):
        model["vocab"].setdefault(token["content"], token["id"])
    as_strings = bool(model["merges"]) and isinstance(model["merges"][0], str)
    for offset, (left, right) in enumerate(merges):
        model["vocab"][left + right] = first + offset
        model["merges"].append(f"{left} {right}" if as_strings else [left, right])
    return out, first


def extend(base: BaseTokenizer, lines: Iterable[str], n_tokens: int, min_frequency: int = 2) -> Extension:
    tokenizer = base.tokenizer
    lines = list(lines)
    counts = han_word_counts(tokenizer, lines)
    words, freqs = base_segmentations(tokenizer, counts)
    merges = learn_merges(words, freqs, n_tokens, merge_rule(tokenizer), min_frequency)
    raw, first = append_merges(base.raw, merges)
    return Extension(raw, first, [a + b for a, b in merges], len(words), len(lines))


def unreachable_tokens(tokenizer, ids: Iterable[int]) -> list[int]:
    """New ids the tokenizer does not produce when encoding the token's own text."""
    ids = list(ids)
    texts = [token_text(tokenizer.id_to_token(i)) or "" for i in ids]
    encoded = tokenizer.encode_batch(texts, add_special_tokens=False)
    return [i for i, enc in zip(ids, encoded, strict=True) if enc.ids != [i]]


def _special_content(token) -> str | None:
    return token.get("content") if isinstance(token, dict) else token


def write_extended(extension: Extension, base: BaseTokenizer, output: str | Path) -> Path:
    """tokenizer.json, plus the base folder's tokenizer_config.json / special_tokens_map.json (ids of
    special tokens are unchanged, so they stay valid); a bare base tokenizer.json gets a minimal
    tokenizer_config.json naming BOS/EOS so that AutoTokenizer and the pipeline know them."""
    from stages.tokenizer_files import TokenizerFile

    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    # Compact: json's indenting encoder is pure Python and takes seconds on a 100k-merge file.
    (out / HF_NAME).write_text(json.dumps(extension.raw, ensure_ascii=False) + "\n", encoding="utf-8")
    copied = False
    if base.folder is not None:
        for name in (HF_CONFIG, "special_tokens_map.json"):
            if (base.folder / name).is_file():
                shutil.copyfile(base.folder / name, out / name)
                copied = copied or name == HF_CONFIG
    if not copied:
        probe = TokenizerFile(str(base.path), "hf", b"", {})
        probe.hf = base.tokenizer  # cached_property: set, not parsed again
        config = {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": probe.token(probe.bos_id) if probe.bos_id >= 0 else None,
            "eos_token": probe.token(probe.eos_id),
            "clean_up_tokenization_spaces": False,
            "model_max_length": 1_000_000_000_000_000_019_884_624_838_656,
        }
        (out / HF_CONFIG).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    return out


def tokens_per_han_char(tokenizer, lines: Sequence[str]) -> float:
    """All tokens of the lines (no special tokens) per Han character in them."""
    chars = sum(len(HAN.findall(line)) for line in lines)
    tokens = sum(len(e.ids) for e in tokenizer.encode_batch(list(lines), add_special_tokens=False))
    return tokens / max(chars, 1)


def evaluate(base: BaseTokenizer, output: str | Path, lines: Sequence[str]) -> dict:
    """Tokens per Han character before/after; the written folder loaded with ``AutoTokenizer``:
    its ids equal the ``tokenizers`` ones and decoding gives every line back."""
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    output = Path(output)
    extended = Tokenizer.from_file(str(output / HF_NAME))
    auto = AutoTokenizer.from_pretrained(str(output))
    lines = list(lines)
    auto_ids = auto(lines, add_special_tokens=False)["input_ids"]
    direct = [e.ids for e in extended.encode_batch(lines, add_special_tokens=False)]
    same = sum(a == b for a, b in zip(auto_ids, direct, strict=True))
    round_trip = sum(
        auto.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False) == line
        for ids, line in zip(auto_ids, lines, strict=True)
    )
    return {
        "heldout_lines": len(lines),
        "han_chars": sum(len(HAN.findall(line)) for line in lines),
        "tokens_per_han_char_before": tokens_per_han_char(base.tokenizer, lines),
        "tokens_per_han_char_after": tokens_per_han_char(extended, lines),
        "auto_tokenizer_class": type(auto).__name__,
        "auto_tokenizer_agreement": same / max(len(lines), 1),
        "round_trip": round_trip / max(len(lines), 1),
    }
