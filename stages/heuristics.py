"""Heuristic quality rules from Gopher (Rae et al. 2021), C4 (Raffel et al. 2020) and FineWeb
(Penedo et al. 2024), each with its own drop reason and threshold, made correct for Chinese.

Chinese without a segmenter: the unit that English counts as a *word* is, in a document with
CJK text, each CJK character (plus each whitespace-separated non-CJK run, so embedded English
or numbers count as words). For pure English text this is exactly ``text.split()``, so one
definition serves both. Whether a document is treated as CJK comes from its ``lang`` (zh, ja)
when langid ran, else from the text (CJK characters outnumber other words). CJK mode changes
only what cannot carry over: the mean-word-length rule is skipped (a character is not a word),
Chinese stop words replace English ones, and the short-line length is in characters
(``short_line_length_cjk``). Chinese sentence punctuation (。！？；：“”…) always counts as
terminal punctuation.

Two kinds of rules, kept apart:
- ``c4_clean_lines`` *modifies* text (C4's line removal: lines without terminal punctuation,
  with too few words, mentioning javascript or cookie/privacy boilerplate). It runs only with
  ``c4_remove_lines: true`` and before the drop rules, and drops the document only if nothing
  is left (``c4_empty_after_cleaning``).
- ``check`` *drops* documents and never changes them; it returns the first rule that fails,
  cheapest rules first, so junk is rejected before the n-gram statistics are computed.

Repetition statistics use integer hashes of tokens and numpy: n-gram hashes are built by a
rolling polynomial over uint64 (wrapping), duplicates found by sorting. A duplicated n-gram
(n > 5) consists of duplicated 5-grams, so the duplicated fraction can only shrink with n; if
the 5-gram fraction is already below every threshold the larger n are not computed.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from stages.base import Doc, Drop, Params, Stage

CJK_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff"
_CJK = re.compile(f"[{CJK_CLASS}]")
# CJK characters and CJK/fullwidth punctuation, each one word: translated to " c " so that
# str.split (C speed) yields them as tokens; a regex findall is 3x slower.
_CJK_RANGES = (
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x3040, 0x30FF),
    (0x3001, 0x303F),
    (0xFF00, 0xFFEF),
)
CJK_SPACED = {cp: f" {chr(cp)} " for lo, hi in _CJK_RANGES for cp in range(lo, hi + 1)}
# A whitespace-separated token with no letter at all ([\W\d_] is "not a letter").
_NO_LETTER_TOKEN = re.compile(r"(?<!\S)[\W\d_]+(?!\S)")
CJK_LANGS = frozenset({"zh", "ja"})

TERMINAL_PUNCT = (".", "!", "?", '"', "'", "”", "’", "。", "！", "？", "；", "：", "…", "」", "』")
ELLIPSIS = ("...", "…")
BULLETS = ("•", "●", "○", "▪", "◦", "‣", "⁃", "·", "-", "*", "–", "—", "►", "▶", "■", "□", "◆", "◇", "★", "☆")
EN_STOP = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
# The most frequent function characters of written Chinese; real prose has them in every few lines.
ZH_STOP = ("的", "了", "是", "在", "和", "有", "我", "不", "这", "也", "就", "都", "与", "对", "为")
C4_POLICY = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)
ZH_POLICY = ("隐私政策", "使用条款", "cookie")
_P = np.uint64(1_000_003)
_TRAILING_REFS = "0123456789[] \u3000"


@dataclasses.dataclass
class HeuristicsParams(Params):
    # Gopher quality
    min_words: int = 25  # Gopher: 50; 25 keeps short real forum posts (with C4 line removal on)
    max_words: int = 100_000
    min_mean_word_length: float = 3.0
    max_mean_word_length: float = 10.0
    max_symbol_word_ratio: float = 0.1
    max_bullet_lines_ratio: float = 0.9
    max_ellipsis_lines_ratio: float = 0.3
    min_alpha_words_ratio: float = 0.8
    min_stop_words: int = 2
    # Gopher repetition
    max_dup_lines_ratio: float = 0.3
    max_dup_paragraphs_ratio: float = 0.3
    max_dup_line_chars_ratio: float = 0.2
    max_dup_paragraph_chars_ratio: float = 0.2
    top_ngram_max: list[float] = dataclasses.field(default_factory=lambda: [0.20, 0.18, 0.16])  # n = 2, 3, 4
    # n = 5 .. 10. Gopher: 0.15 .. 0.10. Twice that here: news and wiki pages repeat names,
    # references and formulaic phrases ("4月份，全国居民消费价格"); at Gopher's values 6 of 54
    # real Chinese articles fail, at these 3 (spam is caught by other rules either way).
    dup_ngram_max: list[float] = dataclasses.field(
        default_factory=lambda: [0.30, 0.28, 0.26, 0.24, 0.22, 0.20]
    )
    # A Chinese word is ~1.5-2 characters. In CJK mode word counts are characters / this (for
    # min/max words, symbol and newline ratios) and word n-grams become character (n * this)-grams:
    # with 1.0, 5-character n-grams flag 24 of 53 clean, annotated Chinese articles as repetitive.
    cjk_chars_per_word: float = 2.0
    # C4: document drops
    c4_lorem_ipsum: bool = True
    c4_curly_bracket: bool = False  # C4 drops any page with "{"; that loses every page with code
    # C4: line removal (modifies text; see module doc). On: main-content extraction of real pages
    # keeps widget lines ("回复", "点赞", tickers) that otherwise trip the line rules below.
    c4_remove_lines: bool = True
    c4_min_words_per_line: int = 3
    # FineWeb
    min_line_punct_ratio: float = 0.12
    max_short_lines_ratio: float = 0.8  # FineWeb: 0.67
    short_line_length: int = 30
    short_line_length_cjk: int = 10
    # FineWeb uses 0.01 on WET text; on main-content extractions of real pages (comment
    # widgets, repeated "回复"/"Reply") 0.01 drops 24 of 54 Chinese articles, 0.1 drops 11.
    max_fineweb_dup_line_chars_ratio: float = 0.2
    max_newline_ratio: float = 0.3


REASONS = (
    "gopher_too_few_words",
    "gopher_too_many_words",
    "gopher_mean_word_length",
    "gopher_symbol_ratio",
    "gopher_bullet_lines",
    "gopher_ellipsis_lines",
    "gopher_alpha_words",
    "gopher_stop_words",
    "gopher_dup_lines",
    "gopher_dup_paragraphs",
    "gopher_dup_line_chars",
    "gopher_dup_paragraph_chars",
    "gopher_top_ngram",
    "gopher_dup_ngram",
    "c4_lorem_ipsum",
    "c4_curly_bracket",
    "c4_empty_after_cleaning",
    "fineweb_line_punct",
    "fineweb_short_lines",
    "fineweb_dup_line_chars",
    "fineweb_newline_ratio",
)


def is_cjk_text(text: str, lang: str | None = None) -> bool:
    """CJK mode for a document: from ``lang`` when known, else CJK characters outnumber words."""
    if lang:
        return lang in CJK_LANGS
    if not _CJK.search(text):
        return False
    n_cjk = len(_CJK.findall(text))
    return n_cjk >= len(_CJK.sub(" ", text).split())


def tokenize(text: str, cjk: bool) -> list[str]:
    """Words: whitespace tokens; in CJK mode every CJK character and punctuation mark is one."""
    return text.translate(CJK_SPACED).split() if cjk else text.split()


def line_words(line: str, cjk: bool) -> int:
    return len(tokenize(line, cjk))


_SPACE_CODEPOINTS = np.array([0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000], dtype=np.uint32)


def token_ids(text: str, cjk: bool) -> tuple[np.ndarray, np.ndarray]:
    """(uint64 id, character length) of every word of ``tokenize(text, cjk)``, in order.

    English: hashes of ``text.split()``. CJK mode works on code points with numpy instead of
    building one string per character: a CJK character's id is its code point; only the
    (few) non-CJK runs are sliced out and hashed."""
    if not cjk:
        words = text.split()
        ids = np.fromiter(map(hash, words), dtype=np.int64, count=len(words)).view(np.uint64)
        return ids, np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    cp = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    is_cjk = np.zeros(cp.size, dtype=bool)
    for lo, hi in _CJK_RANGES:
        is_cjk |= (cp >= lo) & (cp <= hi)
    space = (cp <= 0x20) | ((cp >= 0x2000) & (cp <= 0x200A))
    for c in _SPACE_CODEPOINTS:
        space |= cp == c
    other = ~(is_cjk | space)
    padded = np.concatenate(([False], other, [False]))
    run_starts = np.flatnonzero(padded[1:-1] & ~padded[:-2])
    run_ends = np.flatnonzero(padded[1:-1] & ~padded[2:]) + 1
    starts = np.flatnonzero(is_cjk | (other & ~padded[:-2]))
    ids = cp[starts].astype(np.uint64)
    lengths = np.ones(starts.size, dtype=np.int64)
    if run_starts.size:
        where = np.searchsorted(starts, run_starts)
        ids[where] = np.fromiter(
            (hash(text[a:b]) for a, b in zip(run_starts.tolist(), run_ends.tolist(), strict=True)),
            dtype=np.int64,
            count=run_starts.size,
        ).view(np.uint64)
        lengths[where] = run_ends - run_starts
    return ids, lengths


def c4_clean_lines(text: str, params: HeuristicsParams, cjk: bool) -> tuple[str, int]:
    """C4's line removal (text-modifying). Returns (kept text, number of lines removed)."""
    phrases = ("javascript", *C4_POLICY, *(ZH_POLICY if cjk else ()))
    low_text = text.lower()
    phrases = tuple(p for p in phrases if p in low_text)  # usually none: no per-line lower()
    kept: list[str] = []
    removed = 0
    for line in text.split("\n"):
        s = line.strip()
        if (
            not s.rstrip(_TRAILING_REFS).endswith(TERMINAL_PUNCT)
            or s.endswith(ELLIPSIS)
            # A punctuated line of 40+ characters has enough words (saves tokenizing it).
            or (len(s) < 40 and line_words(s, cjk) < params.c4_min_words_per_line)
            or (phrases and any(p in s.lower() for p in phrases))
        ):
            removed += bool(s)
            continue
        kept.append(s)
    return "\n".join(kept), removed


def _dup_stats(items: list[str]) -> tuple[int, int]:
    """(number of items seen before, their total characters)."""
    seen: set[str] = set()
    n = chars = 0
    for item in items:
        if item in seen:
            n += 1
            chars += len(item)
        else:
            seen.add(item)
    return n, chars


def _extend(ids: np.ndarray, h: np.ndarray) -> np.ndarray:
    """n-gram hashes from the (n-1)-gram hashes ``h``: one more token, rolling polynomial."""
    n = ids.size - h.size + 2
    return h[:-1] * _P + ids[n - 1 :]


def top_ngram_fraction(h: np.ndarray, n: int, lengths: np.ndarray, total_chars: int) -> float:
    """Characters covered by the most frequent n-gram (each occurrence), over all word characters.
    Among equally frequent n-grams the longest counts, so the result never depends on hash order."""
    if h.size < 2 or total_chars == 0:
        return 0.0
    s = np.sort(h)
    bounds = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1], [True])))
    counts = np.diff(bounds)
    top = int(counts.max())
    if top < 2:
        return 0.0
    tied = s[bounds[:-1][counts == top]]
    cum = np.concatenate(([0], np.cumsum(lengths)))
    gram_chars = cum[n : n + h.size] - cum[: h.size]
    where = h == tied[0] if tied.size == 1 else np.isin(h, tied)
    return float(top * gram_chars[where].max()) / total_chars


def _repeated(values: np.ndarray) -> np.ndarray:
    """Mask of the entries whose value occurs more than once."""
    order = np.argsort(values)
    sv = values[order]
    same = sv[1:] == sv[:-1]
    mark = np.zeros(sv.size, dtype=bool)
    mark[1:] |= same
    mark[:-1] |= same
    mask = np.empty_like(mark)
    mask[order] = mark
    return mask


def dup_ngram_fraction(starts: np.ndarray, n: int, lengths: np.ndarray, total_chars: int) -> float:
    """Characters of words inside any duplicated n-gram (each word once); ``starts`` are the
    positions where a duplicated n-gram begins."""
    if starts.size == 0 or total_chars == 0:
        return 0.0
    cover = np.zeros(lengths.size + 1, dtype=np.int32)
    np.add.at(cover, starts, 1)
    np.add.at(cover, starts + n, -1)
    covered = np.cumsum(cover[:-1]) > 0
    return float(lengths[covered].sum()) / total_chars


def repetition_failure(
    ids: np.ndarray, lengths: np.ndarray, params: HeuristicsParams, cjk: bool = False
) -> Drop | None:
    """Gopher's n-gram repetition rules over hashed tokens (see module doc). In CJK mode the
    tokens are characters, so a word n-gram becomes a ``round(n * cjk_chars_per_word)``-gram.

    Duplicated n-grams: only the first (smallest) n is checked over all positions. A longer
    n-gram can occur twice only if every smallest n-gram inside it does, so later sizes only
    sort the candidate positions left by that condition (usually few)."""
    scale = params.cjk_chars_per_word if cjk else 1.0
    if ids.size < 2:
        return None
    total = int(lengths.sum())
    h, n = ids, 1
    for word_n, limit in enumerate(params.top_ngram_max, start=2):
        target = round(word_n * scale)
        while n < target and h.size > 1:
            h, n = _extend(ids, h), n + 1
        frac = top_ngram_fraction(h, n, lengths, total)
        if frac > limit:
            return Drop("gopher_top_ngram", f"n={n} {frac:.3f}")
    limits = params.dup_ngram_max
    base: np.ndarray | None = None  # repeated-mask of the smallest n-gram size, n0
    cand, n0 = base, 0
    for i, limit in enumerate(limits):
        target = round((i + 5) * scale)
        while n < target and h.size > 1:
            h, n = _extend(ids, h), n + 1
            if base is not None:
                cand = cand[:-1] & base[n - n0 :]
        if n < target:
            break  # document shorter than the n-gram
        if base is None:
            base = cand = _repeated(h)
            n0 = n
            starts = np.flatnonzero(base)
        else:
            idx = np.flatnonzero(cand)
            starts = idx[_repeated(h[idx])] if idx.size > 1 else idx[:0]
        frac = dup_ngram_fraction(starts, n, lengths, total)
        if frac > limit:
            return Drop("gopher_dup_ngram", f"n={n} {frac:.3f}")
        if frac <= min(limits[i:]):
            break  # fractions only shrink with n (module doc)
    return None


def check(text: str, params: HeuristicsParams, cjk: bool) -> Drop | None:
    """Document-dropping rules, cheapest first; ``None`` means keep. Never modifies text."""
    p = params
    ids, lengths = token_ids(text, cjk)
    n_tokens = ids.size
    # Word-equivalents: in CJK mode, characters per cjk_chars_per_word (see HeuristicsParams).
    n_words = n_tokens / p.cjk_chars_per_word if cjk else n_tokens
    if not n_tokens or n_words < p.min_words:  # an empty document never passes
        return Drop("gopher_too_few_words", f"{n_words:.0f}")
    if n_words > p.max_words:
        return Drop("gopher_too_many_words", f"{n_words:.0f}")
    low = text.lower()
    if p.c4_lorem_ipsum and "lorem ipsum" in low:
        return Drop("c4_lorem_ipsum")
    if p.c4_curly_bracket and "{" in text:
        return Drop("c4_curly_bracket")
    if not cjk:
        mean = int(lengths.sum()) / n_tokens
        if not p.min_mean_word_length <= mean <= p.max_mean_word_length:
            return Drop("gopher_mean_word_length", f"{mean:.2f}")
    symbols = text.count("#") + text.count("...") + text.count("…")
    if symbols / n_words > p.max_symbol_word_ratio:
        return Drop("gopher_symbol_ratio", f"{symbols / n_words:.3f}")
    # Whitespace tokens without a letter (numbers, separators); a CJK character is a letter.
    alpha = 1.0 - len(_NO_LETTER_TOKEN.findall(text)) / n_tokens
    if alpha < p.min_alpha_words_ratio:
        return Drop("gopher_alpha_words", f"{alpha:.3f}")
    stops = sum(map(text.count, ZH_STOP)) if cjk else sum(map(EN_STOP.__contains__, low.split()))
    if stops < p.min_stop_words:
        return Drop("gopher_stop_words", str(stops))

    lines = [s for s in (line.strip() for line in text.split("\n")) if s]
    n_lines = len(lines) or 1
    bullets = sum(1 for s in lines if s.startswith(BULLETS))
    if bullets / n_lines > p.max_bullet_lines_ratio:
        return Drop("gopher_bullet_lines", f"{bullets / n_lines:.3f}")
    ellipsis = sum(1 for s in lines if s.endswith(ELLIPSIS))
    if ellipsis / n_lines > p.max_ellipsis_lines_ratio:
        return Drop("gopher_ellipsis_lines", f"{ellipsis / n_lines:.3f}")

    dup_lines, dup_line_chars = _dup_stats(lines)
    paragraphs = [s for s in (para.strip() for para in text.split("\n\n")) if s]
    dup_paras, dup_para_chars = _dup_stats(paragraphs)
    n_chars = sum(map(len, lines)) or 1
    if dup_lines / n_lines > p.max_dup_lines_ratio:
        return Drop("gopher_dup_lines", f"{dup_lines / n_lines:.3f}")
    if dup_paras / (len(paragraphs) or 1) > p.max_dup_paragraphs_ratio:
        return Drop("gopher_dup_paragraphs", f"{dup_paras / (len(paragraphs) or 1):.3f}")
    if dup_line_chars / n_chars > p.max_dup_line_chars_ratio:
        return Drop("gopher_dup_line_chars", f"{dup_line_chars / n_chars:.3f}")
    if dup_para_chars / n_chars > p.max_dup_paragraph_chars_ratio:
        return Drop("gopher_dup_paragraph_chars", f"{dup_para_chars / n_chars:.3f}")

    # A sentence may be followed by a citation or a count ("。[3]", "。37" on Chinese sites).
    punct = sum(1 for s in lines if s.rstrip(_TRAILING_REFS).endswith(TERMINAL_PUNCT))
    if punct / n_lines < p.min_line_punct_ratio:
        return Drop("fineweb_line_punct", f"{punct / n_lines:.3f}")
    short_len = p.short_line_length_cjk if cjk else p.short_line_length
    short = sum(1 for s in lines if len(s) <= short_len)
    if short / n_lines > p.max_short_lines_ratio:
        return Drop("fineweb_short_lines", f"{short / n_lines:.3f}")
    if dup_line_chars / n_chars > p.max_fineweb_dup_line_chars_ratio:
        return Drop("fineweb_dup_line_chars", f"{dup_line_chars / n_chars:.3f}")
    newlines = text.count("\n")
    if newlines / n_words > p.max_newline_ratio:
        return Drop("fineweb_newline_ratio", f"{newlines / n_words:.3f}")

    return repetition_failure(ids, lengths, p, cjk)


class HeuristicsStage(Stage):
    name = "heuristics"
    Params = HeuristicsParams
    columns = {}
    reasons = REASONS

    def process(self, doc: Doc) -> Doc | Drop:
        p: HeuristicsParams = self.params  # type: ignore[assignment]
        text = doc["text"]
        cjk = is_cjk_text(text, doc.get("lang"))
        if p.c4_remove_lines:
            text, removed = c4_clean_lines(text, p, cjk)
            self.count("c4_lines_removed", removed)
            if not text:
                return Drop("c4_empty_after_cleaning")
            doc["text"] = text
        drop = check(text, p, cjk)
        return drop if drop is not None else doc
