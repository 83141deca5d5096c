"""Heuristic quality rules from Gopher (Rae et al. 2021), C4 (Raffel et al. 2020) and FineWeb
(Penedo et al. 2024), each with its own drop reason and threshold, made correct for Chinese.

Per language: ``HeuristicsParams`` holds the English values, and ``per_language`` what differs
for a language (any field; ``null`` switches a rule off). A document's language is its ``lang``
when langid ran, else ``zh`` for text in which CJK characters outnumber other words. So a rule
that only makes sense for English (mean word length) does not run on Chinese, and Chinese stop
words and line lengths do not apply to English. ``ZH_OVERRIDES`` says for each Chinese value why
it differs from FineWeb-2's ``cmn_Hani`` configuration.

Chinese without a segmenter (``cjk_characters``): the unit that English counts as a *word* is
each CJK character (plus each whitespace-separated non-CJK run, so embedded English or numbers
count as words), and a word is ``cjk_chars_per_word`` of them. For pure English text tokens are
exactly ``text.split()``, so one definition serves both. Chinese sentence punctuation
(。！？；：“”…) always counts as terminal punctuation.

Two kinds of rules, kept apart:
- ``c4_clean_lines`` *modifies* text (C4's line removal: lines without terminal punctuation,
  with too few words, mentioning javascript or cookie/privacy boilerplate). It runs only with
  ``c4_remove_lines: true`` and before the drop rules, and drops the document if nothing is left
  (``c4_empty_after_cleaning``) or, with ``max_c4_removed_ratio``, if it took out most of it
  (``c4_mostly_removed``).
- ``check`` *drops* documents and never changes them; it returns the first rule that fails,
  cheapest rules first, so junk is rejected before the n-gram statistics are computed.

Duplicated n-grams, two ways (``dup_ngram_count_first``): the characters of every occurrence of an
n-gram that occurs more than once (English, as before; a passage repeated once counts twice), or
only of the occurrences after the first, as FineWeb's implementation of Gopher's rule (datatrove)
counts them, so that FineWeb-2's per-language thresholds mean the same here (Chinese).

Repetition statistics: ``repetition_failure_plain`` states the rules on token lists (Counter of
n-gram tuples); ``repetition_failure`` decides the same on integer hashes of tokens with numpy
(``RepeatedNgrams``): polynomial n-gram hashes over uint64, duplicates found by sorting only the
positions that can repeat, and no sorting at all where a cheap bound already shows a document
is within a threshold. A repeated n-gram (n > 5) consists of repeated 5-grams, so the
duplicated fraction can only shrink with n; once it is below every remaining threshold the
larger n are not computed.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import re
from collections import Counter
from typing import Any

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

TERMINAL_PUNCT = (".", "!", "?", '"', "'", "”", "’", "。", "！", "？", "；", "：", "…", "」", "』")
ELLIPSIS = ("...", "…")
CLAUSE_MARKS = ("，", "、")  # "；" ends a sentence for C4 already (TERMINAL_PUNCT)
_LINE_PUNCT = (*TERMINAL_PUNCT, *CLAUSE_MARKS)
BULLETS = ("•", "●", "○", "▪", "◦", "‣", "⁃", "·", "-", "*", "–", "—", "►", "▶", "■", "□", "◆", "◇", "★", "☆")
# Bullets that mark a list item and nothing else (c4_bullet_run_lines): not the dashes, which open
# dialogue and the rhetorical points of Chinese prose ("———……能够保证烟草专卖吗？" three lines in a
# row in People's Daily).
LIST_BULLETS = tuple(b for b in BULLETS if b not in ("-", "–", "—"))
EN_STOP = ("the", "be", "to", "of", "and", "that", "have", "with")  # Gopher's
# The most frequent function characters of written Chinese; real prose has them in every few lines.
# Then the traditional forms of those that have one (這 與 對 為: a Taiwan or Hong Kong page
# would count a quarter fewer), and the preposition 于/於 of formal (news) writing.
ZH_STOP = ("的", "了", "是", "在", "和", "有", "我", "不", "这", "也", "就", "都", "与", "对", "为")
ZH_STOP += ("這", "與", "對", "為", "于", "於")
# The most frequent Japanese particles and auxiliaries (hiragana).
JA_STOP = ("の", "に", "は", "を", "た", "が", "で", "て", "と", "し")
C4_POLICY = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)
# C4's policy lines, and the legal footer every Chinese site carries: copyright notices, the
# ICP licence number (备案号, required of every site in mainland China), disclaimers.
ZH_POLICY = ("隐私政策", "使用条款", "cookie")
ZH_POLICY += ("版权所有", "版權所有", "all rights reserved", "icp备", "icp证", "免责声明", "免責聲明")
_P = np.uint64(1_000_003)
_TRAILING_REFS = "0123456789[] \u3000"
_CLOSE_NOTE = {"）": "（", ")": "("}
_SENTENCE_END = re.compile("[。！？]")
_AFTER_SENTENCE = frozenset(_TRAILING_REFS) | frozenset(_CLOSE_NOTE)


def ends_sentence(line: str, prose_line_chars: int | None = None) -> bool:
    """The (stripped) line ends with terminal punctuation, allowing for what follows a sentence on
    real pages: a citation or a count ("。[3]", "。37") and a closing note in brackets
    ("……正在收粮。（蒋林摄）", "……公布。(新华社)"), common in Chinese news and encyclopedia text.
    With ``prose_line_chars``, a line at least that long with a sentence end anywhere counts too."""
    if line.endswith(TERMINAL_PUNCT):
        return True
    if prose_line_chars is not None and len(line) >= prose_line_chars and _SENTENCE_END.search(line):
        return True
    if line[-1:] not in _AFTER_SENTENCE:
        return False
    s = line.rstrip(_TRAILING_REFS)
    if s[-1:] in _CLOSE_NOTE:
        start = s.rfind(_CLOSE_NOTE[s[-1]])
        if start > 0:
            s = s[:start].rstrip(_TRAILING_REFS)
    return s.endswith(TERMINAL_PUNCT)


# Rules and thresholds per language (see HeuristicsParams.per_language). Chinese, compared with
# FineWeb-2's cmn_Hani configuration (configs/cmn_Hani.yml and its pipeline script). Measured with
# `python benchmarks/calibrate_heuristics.py` on ~6,000 documents (14.6 MB) of good Chinese text:
# People's Daily, online reviews, zh.wikipedia paragraphs (benchmarks/RESULTS.md, issue 14).
# FineWeb-2 counts segmented words; here a word is cjk_chars_per_word characters.
ZH_OVERRIDES: dict[str, Any] = {
    "cjk_characters": True,
    # A character is not a word: mean word length needs a segmenter (FineWeb-2: 1..5 on
    # segmented words), so the rule is off.
    "min_mean_word_length": None,
    "max_mean_word_length": None,
    # FineWeb-2's list is written-language heavy (的 年 在 月 日 於 ·); ours adds the function
    # characters of informal text (我 不 这 就 都), so forum posts and reviews pass. Both need 2.
    "stop_words": list(ZH_STOP),
    # C4's policy phrases plus the legal footer of Chinese sites (ZH_POLICY), removed as C4
    # removes its policy lines.
    "c4_policy_phrases": [*C4_POLICY, *ZH_POLICY],
    # FineWeb-2 switches the short-line rule off; we keep it (0.8 of lines of <= 10 characters):
    # alone it drops 59% of link-list pages and none of the reviews or Wikipedia documents.
    "short_line_length": 10,
    # FineWeb-2 applies no C4 rule to other languages. We keep C4's line removal (it strips the
    # widget lines real pages bring: "0", "回复", dates), but a long line with a sentence end
    # inside is prose, and it counts as punctuated for the line-punctuation rule too (FineWeb-2:
    # 0.106, ours 0.12 unchanged): without that, 10% of Wikipedia documents were emptied.
    "prose_line_chars": 20,
    # Calibrated: beyond the documents it empties, C4 removes > 80% of the characters of 0.1% of
    # review pages, 0.2% of People's Daily documents, none of the Wikipedia documents, and of
    # 29% of link-list and 44% of boilerplate pages; of a kept page of the tuning half of the
    # 54 pages, at most 62%.
    "max_c4_removed_ratio": 0.8,
    # ... counting kept lines under 30 characters (15 words) as removed: what C4 leaves of a list
    # of news headlines is the headlines that end in ！ or ？. On the tuning halves (issue 14,
    # round 2): link lists dropped 110/110 (99 with removed lines alone), boilerplate 14/16 (11);
    # good text lost: 1 of 192 DAnIEL news pages, none of the 20 annotated pages, 1 of 2,435
    # People's Daily and 4 of 2,341 review documents, no Wikipedia article.
    "c4_short_line_chars": 30,
    # ... and kept lines in a run of 3 or more bulleted lines ("• 標題！ (01/12 12:36)"): a list of
    # headlines whose items hold a ！ or ？ keeps long lines that C4 counts as sentences (FineWeb-2
    # has no such rule; its C4 rules are off). Issue 14, round 4, tuning halves: boilerplate around
    # DAnIEL zh main text 181/185 dropped instead of 175 (what was kept: headline lists beside
    # ads); no tuning page of DAnIEL zh (192) or of the 54 (20) has such a run in what C4 keeps,
    # and People's Daily, reviews and Wikipedia lose no document (dashes are not list bullets).
    "c4_bullet_run_lines": 3,
    # Verse: a line ending in ， is kept when a sentence end follows (half-couplets, one a
    # line), lines ending in punctuation are no menu items (punct_lines_exempt), and a kept
    # couplet under c4_short_line_chars is no headline (_verse_line). Before these three, 100%
    # of anthology pages of Tang poems and Song ci (github.com/chinese-poetry/chinese-poetry,
    # five poems a page) were dropped (c4_mostly_removed; half-couplet pages by short lines too).
    "c4_clause_continues": True,
    "punct_lines_exempt": True,
    # FineWeb-2's values: top 2/3/4-gram fractions 0.256/0.201/0.171 (ours were 0.20/0.18/0.16
    # and dropped 0.6% of review pages at n=4, FineWeb-2's 0.5%).
    "top_ngram_max": [0.256, 0.201, 0.171],
    # Duplicated n-grams, counted as FineWeb-2 counts them (module doc): 0.25 at every n (FineWeb-2:
    # 0.198 at 5 words falling to 0.127 at 10). A news page repeats whole passages - its summary
    # as the first paragraph, photo captions that repeat the text - and a repeated passage covers
    # the same share at every n, so falling limits drop it at the longest n. Measured with every
    # rule on: FineWeb-2's values drop 8 of 192 DAnIEL news pages (tuning half) and 0.5% / 0.4% /
    # 0.6% of People's Daily / review / Wikipedia documents; 0.25 drops 4 and 0.2% / 0.04% / 0,
    # and 14 of 16 boilerplate pages (tuning half) instead of 15.
    "dup_ngram_max": [0.25, 0.25, 0.25, 0.25, 0.25, 0.25],
    "dup_ngram_count_first": False,
    # Not taken from FineWeb-2 (measured, each rule alone, on good text):
    # - max_newline_ratio stays 0.3 (FineWeb-2 0.178 drops 2.3% of People's Daily, ours 0.7%).
    # - min_alpha_words_ratio stays 0.8 (FineWeb-2 0.735 counts punctuation tokens as words; here
    #   punctuation is no word and 99.5% of good documents score >= 0.99).
    # - min_words stays 25 (= 50 characters; FineWeb-2 50 words drops 3.0% of People's Daily).
    # - duplicated-line fraction stays 0.3 (FineWeb-2 0.287; no good document has any).
}
JA_OVERRIDES: dict[str, Any] = {
    "cjk_characters": True,
    "min_mean_word_length": None,
    "max_mean_word_length": None,
    "stop_words": list(JA_STOP),
    "short_line_length": 10,
}


def default_per_language() -> dict[str, dict[str, Any]]:
    return {"zh": copy.deepcopy(ZH_OVERRIDES), "ja": copy.deepcopy(JA_OVERRIDES)}


@dataclasses.dataclass
class HeuristicsParams(Params):
    """Thresholds for languages without an entry in ``per_language`` (English values), and per
    language the fields that differ. ``null`` switches a rule off. A document's language is its
    ``lang`` (from langid); without one, text in which CJK characters outnumber words is ``zh``."""

    # Gopher quality
    min_words: int | None = 25  # Gopher: 50; 25 keeps short real forum posts (with C4 line removal on)
    max_words: int | None = 100_000
    min_mean_word_length: float | None = 3.0
    max_mean_word_length: float | None = 10.0
    max_symbol_word_ratio: float | None = 0.1
    max_bullet_lines_ratio: float | None = 0.9
    max_ellipsis_lines_ratio: float | None = 0.3
    min_alpha_words_ratio: float | None = 0.8
    min_stop_words: int | None = 2
    stop_words: list[str] = dataclasses.field(default_factory=lambda: list(EN_STOP))
    # Gopher repetition
    max_dup_lines_ratio: float | None = 0.3
    max_dup_paragraphs_ratio: float | None = 0.3
    max_dup_line_chars_ratio: float | None = 0.2
    max_dup_paragraph_chars_ratio: float | None = 0.2
    top_ngram_max: list[float] = dataclasses.field(default_factory=lambda: [0.20, 0.18, 0.16])  # n = 2, 3, 4
    # n = 5 .. 10. Gopher: 0.15 .. 0.10. Twice that here: news and wiki pages repeat names,
    # references and formulaic phrases; at Gopher's values 6 of 54 real Chinese articles fail.
    dup_ngram_max: list[float] = dataclasses.field(
        default_factory=lambda: [0.30, 0.28, 0.26, 0.24, 0.22, 0.20]
    )
    # Duplicated n-grams count every occurrence, the first included (false: only the repeats, as
    # FineWeb's datatrove counts them; module doc). English keeps true: Gopher's values in
    # FineWeb's count dropped 2 more of 735 held-out Dragnet pages (benchmarks/RESULTS.md, issue 14).
    dup_ngram_count_first: bool = True
    # Words without a segmenter: with cjk_characters every CJK character (and CJK punctuation
    # mark) is a token and every whitespace-separated non-CJK run one more, and a word is
    # cjk_chars_per_word tokens (a Chinese word is ~1.5-2 characters): word counts (min/max
    # words, symbol and newline ratios) are tokens / this, and word n-grams become token
    # round(n * this)-grams.
    cjk_characters: bool = False
    cjk_chars_per_word: float = 2.0
    # C4: document drops
    c4_lorem_ipsum: bool = True
    c4_curly_bracket: bool = False  # C4 drops any page with "{"; that loses every page with code
    # C4: line removal (modifies text; see module doc). On: main-content extraction of real pages
    # keeps widget lines ("Reply", "Share", tickers) that otherwise trip the line rules below.
    c4_remove_lines: bool = True
    c4_min_words_per_line: int = 3
    # Lines holding one of these (lower case) are removed, as C4 removes its policy lines.
    c4_policy_phrases: list[str] = dataclasses.field(default_factory=lambda: list(C4_POLICY))
    # A line at least this many characters long with a sentence end (。！？) anywhere counts as
    # a sentence line for C4 line removal and the line-punctuation rule (null: only the line's
    # end counts, as published). A Chinese line is usually a whole paragraph: one missing final
    # 。 removed all of its sentences, emptying 4% of People's Daily and 10% of Wikipedia documents.
    prose_line_chars: int | None = None
    # Drop a document when C4 line removal took out more than this share of its characters
    # (reason c4_mostly_removed; null: off, C4 as published). What is left of a link list or a
    # page of menus after removal is a few stray lines, not a document (RefinedWeb drops
    # documents its line corrections cut heavily, too).
    max_c4_removed_ratio: float | None = None
    # For max_c4_removed_ratio, kept lines shorter than this count as removed (null: only what
    # was removed counts). What C4 leaves of a list of headlines or teasers is short lines that
    # happen to end in ！ or ？; prose is long lines, and a page whose long lines are less than
    # 1 - max_c4_removed_ratio of it is a list, not an article.
    c4_short_line_chars: int | None = None
    # For max_c4_removed_ratio, kept lines in a run of at least this many consecutive list items
    # count as removed too (null: off). A list item starts with a list bullet (LIST_BULLETS: a dash
    # is not one) and does not end in 。 (bulleted points of prose do). A bulleted list of headlines
    # ("• 標題！ (01/12 12:36)") keeps many lines longer than c4_short_line_chars that end in ！ or
    # ？ or hold one inside.
    c4_bullet_run_lines: int | None = None
    # C4 keeps only lines that end a sentence. With this, a line that ends in a clause mark (，、)
    # is kept when the next line ends the sentence: verse set one half-couplet a line
    # ("床前明月光，" / "疑是地上霜。") and prose wrapped at its commas are sentences across lines.
    c4_clause_continues: bool = False
    # FineWeb
    min_line_punct_ratio: float | None = 0.12
    max_short_lines_ratio: float | None = 0.8  # FineWeb: 0.67
    short_line_length: int = 30  # characters
    # A line that ends in sentence or clause punctuation is a line of verse or dialogue, not a menu
    # item or a label: it is not a short line (max_short_lines_ratio), and its line break does not
    # count for max_newline_ratio.
    punct_lines_exempt: bool = False
    # FineWeb uses 0.01 on WET text; on main-content extractions of real pages (comment
    # widgets, repeated "Reply") 0.01 drops 24 of 54 Chinese articles, 0.1 drops 11.
    max_fineweb_dup_line_chars_ratio: float | None = 0.2
    max_newline_ratio: float | None = 0.3
    # language code -> {field: value} for that language (any field above; ``per_language``
    # itself excepted). A user's config merges into these entries key by key.
    per_language: dict[str, dict[str, Any]] = dataclasses.field(default_factory=default_per_language)

    def validate(self) -> None:
        fields = {f.name: f for f in dataclasses.fields(self)}
        for lang, override in self.per_language.items():
            if not isinstance(override, dict):
                raise ValueError(f"per_language.{lang}: expected a mapping of heuristics keys")
            for key, value in override.items():
                if key not in fields or key == "per_language":
                    known = ", ".join(sorted(k for k in fields if k != "per_language"))
                    raise ValueError(f"per_language.{lang}.{key}: unknown key (known keys: {known})")
                default = getattr(self, key)
                if value is None and not _optional(fields[key]):
                    raise ValueError(f"per_language.{lang}.{key}: this rule cannot be switched off with null")
                if value is not None and default is not None and not _same_kind(value, default):
                    raise ValueError(
                        f"per_language.{lang}.{key}: expected {type(default).__name__}, got {value!r}"
                    )

    @functools.cached_property
    def stop_set(self) -> frozenset[str]:
        """``stop_words`` as a set, built once per parameter set (not once per document)."""
        return frozenset(self.stop_words)

    def for_language(self, lang: str) -> HeuristicsParams:
        """These parameters with ``per_language[lang]`` applied (themselves when it has no entry)."""
        override = self.per_language.get(lang)
        return dataclasses.replace(self, **override) if override else self


def _optional(field: dataclasses.Field) -> bool:
    return "None" in str(field.type)


def _same_kind(value: Any, default: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float))
    if isinstance(default, list):
        return isinstance(value, list) and all(_same_kind(v, default[0]) if default else True for v in value)
    return isinstance(value, type(default))


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
    "c4_mostly_removed",
    "fineweb_line_punct",
    "fineweb_short_lines",
    "fineweb_dup_line_chars",
    "fineweb_newline_ratio",
)


def is_cjk_text(text: str) -> bool:
    """CJK characters outnumber whitespace-separated words (for documents without ``lang``)."""
    if not _CJK.search(text):
        return False
    n_cjk = len(_CJK.findall(text))
    return n_cjk >= len(_CJK.sub(" ", text).split())


def tokenize(text: str, cjk: bool) -> list[str]:
    """Words: whitespace tokens; in CJK mode every CJK character and punctuation mark is one."""
    return text.translate(CJK_SPACED).split() if cjk else text.split()


def line_words(line: str, cjk: bool) -> int:
    return len(tokenize(line, cjk))


_SPACE_CODEPOINTS = (0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000)
# token_ids' class of every code point: 0 part of a non-CJK word, 1 CJK (a token on its own),
# 2 space (C0 controls and space, the Unicode spaces).
_OTHER, _CJK_CHAR, _SPACE = 0, 1, 2
_CHAR_CLASS = np.zeros(0x110000, dtype=np.uint8)
_CHAR_CLASS[: 0x20 + 1] = _SPACE
_CHAR_CLASS[0x2000 : 0x200A + 1] = _SPACE
_CHAR_CLASS[list(_SPACE_CODEPOINTS)] = _SPACE
for _lo, _hi in _CJK_RANGES:
    _CHAR_CLASS[_lo : _hi + 1] = _CJK_CHAR


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
    char_class = _CHAR_CLASS[cp]
    is_cjk = char_class == _CJK_CHAR
    other = char_class == _OTHER
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


def c4_clean_lines(text: str, params: HeuristicsParams) -> tuple[str, int]:
    """C4's line removal (text-modifying). Returns (kept text, number of lines removed)."""
    cjk = params.cjk_characters
    phrases = ("javascript", *params.c4_policy_phrases)
    low_text = text.lower()
    phrases = tuple(p for p in phrases if p in low_text)  # usually none: no per-line lower()
    kept: list[str] = []
    removed = 0
    prose = params.prose_line_chars
    lines = text.split("\n")
    continued = _clause_lines(lines, prose) if params.c4_clause_continues else ()
    for i, line in enumerate(lines):
        s = line.strip()
        if prose is not None and len(s) >= prose and s.endswith(ELLIPSIS):
            # A paragraph cut off with "..." (a teaser, or a news page that shows only the start
            # of its article): its complete sentences stay, the broken last one goes.
            cut = max(s.rfind(c) for c in "。！？")
            s = s[: cut + 1] if cut > 0 else s
        if (
            (not ends_sentence(s, prose) and i not in continued)
            or s.endswith(ELLIPSIS)
            # A punctuated line of 40+ characters has enough words (saves tokenizing it).
            or (len(s) < 40 and line_words(s, cjk) < params.c4_min_words_per_line)
            or (phrases and any(p in s.lower() for p in phrases))
        ):
            removed += bool(s)
            continue
        kept.append(s)
    return "\n".join(kept), removed


def _clause_lines(lines: list[str], prose: int | None) -> set[int]:
    """Indexes of the lines that end in a clause mark (，、) and are followed, through more such
    lines, by a line that ends a sentence: one sentence set on several lines."""
    out: set[int] = set()
    pending: list[int] = []
    for i, line in enumerate(lines):
        s = line.strip()
        if not s:
            continue
        if s.endswith(CLAUSE_MARKS):
            pending.append(i)
            continue
        if pending and ends_sentence(s, prose):
            out.update(pending)
        pending = []
    return out


def c4_removed_share(
    original_chars: int, kept: str, short_line_chars: int | None, bullet_run_lines: int | None = None
) -> float:
    """Share of a document's characters that C4 line removal took out; with ``short_line_chars``,
    kept lines shorter than that count as taken out too, and with ``bullet_run_lines`` kept lines
    in a run of that many consecutive bulleted lines (see HeuristicsParams)."""
    gone = original_chars - len(kept)
    if short_line_chars is None and bullet_run_lines is None:
        return gone / original_chars
    lines = kept.split("\n")
    listed = bulleted_runs(lines, bullet_run_lines) if bullet_run_lines is not None else ()
    for i, line in enumerate(lines):
        if i in listed or (
            short_line_chars is not None and len(line) < short_line_chars and not _verse_line(lines, i)
        ):
            gone += len(line)
    return gone / original_chars


def _verse_line(lines: list[str], i: int) -> bool:
    """A short line of verse, not a headline: a headline never ends in a full stop, nor holds a
    clause before its end; a couplet does ("床前明月光，疑是地上霜。"), or its halves on two lines (a
    half ending in ， is kept by C4 only with c4_clause_continues). A teaser's one-sentence
    summary ends in 。 too, and is not verse."""
    line = lines[i]
    if line.endswith("，"):
        return True
    return line.endswith("。") and ("，" in line or (i > 0 and lines[i - 1].endswith("，")))


def bulleted_runs(lines: list[str], min_run: int) -> set[int]:
    """Indexes of the lines in runs of at least ``min_run`` consecutive list items: lines that
    start with a list bullet (``LIST_BULLETS``) and do not end in 。. A headline never ends in a
    full stop; a bulleted point of prose (an answer's list of reasons) does, and is not counted."""
    listed: set[int] = set()
    run: list[int] = []
    for i, line in enumerate([*lines, ""]):  # the sentinel ends the last run
        if line.startswith(LIST_BULLETS) and not line.endswith("。"):
            run.append(i)
            continue
        if len(run) >= min_run:
            listed.update(run)
        run = []
    return listed


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


def ngram_sizes(params: HeuristicsParams) -> tuple[list[int], list[int]]:
    """Token n of each top-n-gram rule (words n = 2, 3, 4) and each duplicated-n-gram rule (words
    n = 5 .. 10). In CJK mode the tokens are characters, so a word n-gram becomes a
    ``round(n * cjk_chars_per_word)``-gram."""
    scale = params.cjk_chars_per_word if params.cjk_characters else 1.0
    top = [round(n * scale) for n in range(2, 2 + len(params.top_ngram_max))]
    dup = [round(n * scale) for n in range(5, 5 + len(params.dup_ngram_max))]
    return top, dup


# The repetition rules, the plain way: the definitions, on token lists. `repetition_failure`
# computes the same decisions fast on hashed tokens; tests check both agree on real text.


def top_ngram_fraction_plain(words: list[str], n: int) -> float:
    """Characters covered by the most frequent n-gram (each occurrence), over all word characters
    (0 when no n-gram occurs twice). Among equally frequent n-grams the longest counts."""
    counts = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    top = max(counts.values(), default=0)
    total = sum(map(len, words))
    if top < 2 or total == 0:
        return 0.0
    longest = max(sum(map(len, gram)) for gram, count in counts.items() if count == top)
    return top * longest / total


def dup_ngram_fraction_plain(words: list[str], n: int, count_first: bool) -> float:
    """Characters of words inside a duplicated n-gram (each word once), over all word characters:
    an n-gram that occurs more than once (``count_first``) or that already occurred earlier."""
    counts = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    seen: set[tuple[str, ...]] = set()
    covered = [False] * len(words)
    for i in range(len(words) - n + 1):
        gram = tuple(words[i : i + n])
        if counts[gram] > 1 if count_first else gram in seen:
            covered[i : i + n] = [True] * n
        seen.add(gram)
    total = sum(map(len, words))
    return sum(len(w) for w, c in zip(words, covered, strict=True) if c) / total if total else 0.0


def repetition_failure_plain(words: list[str], params: HeuristicsParams) -> Drop | None:
    """Gopher's n-gram repetition rules, the first that fails (see ``repetition_failure``)."""
    if len(words) < 2:
        return None
    top_sizes, dup_sizes = ngram_sizes(params)
    for n, limit in zip(top_sizes, params.top_ngram_max, strict=True):
        frac = top_ngram_fraction_plain(words, n)
        if frac > limit:
            return Drop("gopher_top_ngram", f"n={n} {frac:.3f}")
    for n, limit in zip(dup_sizes, params.dup_ngram_max, strict=True):
        if n > len(words):
            break
        frac = dup_ngram_fraction_plain(words, n, params.dup_ngram_count_first)
        if frac > limit:
            return Drop("gopher_dup_ngram", f"n={n} {frac:.3f}")
    return None


_P_INVERSE = np.uint64(pow(int(_P), -1, 2**64))
_SPREAD = np.uint64(0x9E3779B97F4A7C15)  # odd: multiplying spreads every bit of a hash to the top ones
_powers = np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64)  # P**k, P**-k (mod 2**64)


def _hash_powers(size: int) -> tuple[np.ndarray, np.ndarray]:
    """P**k and P**-k modulo 2**64 for k < ``size`` (cached; grown by doubling)."""
    global _powers
    if _powers[0].size < size:
        k = max(size, 2 * _powers[0].size)
        up, down = np.full(k, _P), np.full(k, _P_INVERSE)
        up[0] = down[0] = 1
        _powers = np.multiply.accumulate(up), np.multiply.accumulate(down)
    return _powers[0][:size], _powers[1][:size]


class RepeatedNgrams:
    """A document's n-grams for growing n, and what repeats among them, without sorting all of
    them at every n (the plain definitions: ``top_ngram_fraction_plain``, ``dup_ngram_fraction_plain``).

    An n-gram is hashed over its token ids by a polynomial modulo 2**64, ``sum(ids[i + k] * P**(n-1-k))``,
    taken from prefix hashes: ``prefix[i + n] - prefix[i] * P**n``, so the hashes of any n-grams
    (a few positions) cost two operations.

    Only candidates are ever sorted: positions whose n-gram may occur more than once. The first
    size counts hashes in buckets; a position whose bucket holds one n-gram is not a candidate.
    An n-gram can occur twice only if the smaller n-grams inside it do, so the candidates of a
    larger n are the positions where every smaller n-gram inside is a candidate. All occurrences of
    a repeated n-gram are candidates, its first one included, so counts and "occurred earlier"
    among the candidates are those of the whole text.

    Most documents are far from every threshold, and that is proven without sorting: the most
    frequent n-gram occurs at most as often as the fullest bucket (or the most frequent smaller
    n-gram) and is at most as long as the longest candidate, and the duplicated characters are at
    most those covered by candidates."""

    def __init__(self, ids: np.ndarray, lengths: np.ndarray):
        self.lengths = lengths
        self.n_tokens = ids.size
        self.cum_chars = np.concatenate(([0], np.cumsum(lengths)))
        self.total_chars = int(self.cum_chars[-1])
        up, down = _hash_powers(ids.size + 1)
        self.prefix = np.concatenate(([np.uint64(0)], up[:-1] * np.cumsum(ids * down[:-1])))
        self.n = 1
        # Candidates at size n (None: not derived yet), derived from `filtered`, the exact or
        # bucketed "may repeat" mask at size `filtered_n`; `max_count`: no n-gram occurs more often.
        self.candidates: np.ndarray | None = None
        self.filtered: np.ndarray | None = None
        self.filtered_n = 0
        self.max_count = 0
        self.sorted_n = 0  # the size `order`, `counts`, `run_starts` describe
        self.order = self.counts = self.run_starts = np.zeros(0, dtype=np.intp)

    @property
    def size(self) -> int:
        """Number of n-grams."""
        return self.n_tokens - self.n + 1

    def hashes(self, at: np.ndarray | None = None) -> np.ndarray:
        """Hashes of the n-grams starting at ``at`` (default: all)."""
        up, _ = _hash_powers(self.n + 1)
        if at is None:
            return self.prefix[self.n :] - self.prefix[: self.size] * up[self.n]
        return self.prefix[at + self.n] - self.prefix[at] * up[self.n]

    def grow(self, n: int) -> int:
        """Move on to n-grams (fewer tokens when the text is shorter); returns the n reached."""
        while self.n < n and self.size > 1:
            self.n += 1
            if self.filtered is not None:
                self.candidates = self.candidates[:-1] & self.filtered[self.n - self.filtered_n :]
        return self.n

    def _where(self) -> np.ndarray:
        """Candidate positions (bucketing every n-gram first if there are none yet)."""
        if self.candidates is None:
            bits = min(20, max(8, (4 * self.size).bit_length()))  # about 4 buckets an n-gram
            buckets = ((self.hashes() * _SPREAD) >> np.uint64(64 - bits)).astype(np.intp)
            counts = np.bincount(buckets)
            self.max_count = int(counts.max())
            self.filtered = self.candidates = counts[buckets] > 1
            self.filtered_n = self.n
        return np.flatnonzero(self.candidates)

    def _sort(self) -> None:
        """Group equal n-grams among the candidates: ``order`` lists candidate positions by hash
        (ascending positions within a group: the sort is stable); ``counts`` and ``run_starts``
        describe the groups. The exact repeated mask becomes the candidates."""
        if self.sorted_n == self.n:
            return
        where = self._where()
        values = self.hashes(where)
        by_value = np.argsort(values, kind="stable")
        order, values = where[by_value], values[by_value]
        bounds = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1], [True])))
        if order.size == 0:
            bounds = bounds[:1]  # no candidate: no group
        self.order, self.counts, self.run_starts = order, np.diff(bounds), bounds[:-1]
        self.max_count = int(self.counts.max()) if self.counts.size else 0
        self.filtered = np.zeros(self.size, dtype=bool)
        self.filtered[order[np.repeat(self.counts > 1, self.counts)]] = True
        self.candidates, self.filtered_n, self.sorted_n = self.filtered, self.n, self.n

    def top_fraction_bound(self) -> float:
        """At least ``top_fraction()``, without sorting."""
        if self.size < 2 or self.total_chars == 0:
            return 0.0
        where = self._where()
        if where.size == 0:
            return 0.0
        longest = self.cum_chars[where + self.n] - self.cum_chars[where]
        return float(self.max_count * longest.max()) / self.total_chars

    def top_fraction(self) -> float:
        """``top_ngram_fraction_plain`` of the current n-grams."""
        if self.size < 2 or self.total_chars == 0:
            return 0.0
        self._sort()
        if self.max_count < 2:
            return 0.0
        at = self.order[np.repeat(self.counts == self.max_count, self.counts)]
        gram_chars = self.cum_chars[at + self.n] - self.cum_chars[at]
        return float(self.max_count * gram_chars.max()) / self.total_chars

    def dup_fraction_bound(self) -> float:
        """At least ``dup_fraction()`` (either way of counting), without sorting: the characters
        covered by candidates."""
        return dup_ngram_fraction(self._where(), self.n, self.lengths, self.total_chars)

    def dup_fraction(self, count_first: bool) -> float:
        """``dup_ngram_fraction_plain`` of the current n-grams."""
        self._sort()
        counted = np.repeat(self.counts > 1, self.counts)
        if not count_first:
            counted[self.run_starts] = False  # a group's first position is its first occurrence
        return dup_ngram_fraction(self.order[counted], self.n, self.lengths, self.total_chars)


def dup_ngram_fraction(starts: np.ndarray, n: int, lengths: np.ndarray, total_chars: int) -> float:
    """Characters of words inside any repeated n-gram (each word once); ``starts`` are the
    positions where a counted repeated n-gram begins (distinct)."""
    if starts.size == 0 or total_chars == 0:
        return 0.0
    cover = np.bincount(starts, minlength=lengths.size + 1) - np.bincount(
        starts + n, minlength=lengths.size + 1
    )
    covered = np.cumsum(cover[:-1]) > 0
    return float(lengths[covered].sum()) / total_chars


def repetition_failure(ids: np.ndarray, lengths: np.ndarray, params: HeuristicsParams) -> Drop | None:
    """Gopher's n-gram repetition rules over hashed tokens (``repetition_failure_plain`` on the
    tokens, fast): the top n-gram fractions, then the duplicated n-gram fractions. A repeated
    n-gram (n > 5) consists of repeated 5-grams, so the duplicated fraction can only shrink with
    n: once it is below every remaining threshold the larger n are not computed."""
    if ids.size < 2:
        return None
    grams = RepeatedNgrams(ids, lengths)
    top_sizes, dup_sizes = ngram_sizes(params)
    for n, limit in zip(top_sizes, params.top_ngram_max, strict=True):
        grams.grow(n)
        if grams.top_fraction_bound() <= limit:
            continue
        frac = grams.top_fraction()
        if frac > limit:
            return Drop("gopher_top_ngram", f"n={grams.n} {frac:.3f}")
    limits = params.dup_ngram_max
    for i, (n, limit) in enumerate(zip(dup_sizes, limits, strict=True)):
        if grams.grow(n) < n:
            break  # document shorter than the n-gram
        if grams.dup_fraction_bound() <= min(limits[i:]):
            break  # fractions only shrink with n (module doc)
        frac = grams.dup_fraction(params.dup_ngram_count_first)
        if frac > limit:
            return Drop("gopher_dup_ngram", f"n={n} {frac:.3f}")
        if frac <= min(limits[i:]):
            break
    return None


def _above(value: float, limit: float | None) -> bool:
    return limit is not None and value > limit


def _below(value: float, limit: float | None) -> bool:
    return limit is not None and value < limit


def check(text: str, params: HeuristicsParams) -> Drop | None:
    """Document-dropping rules, cheapest first; ``None`` means keep. Never modifies text.
    ``params`` are one language's (``HeuristicsParams.for_language``); a ``None`` threshold
    switches its rule off."""
    p = params
    cjk = p.cjk_characters
    ids, lengths = token_ids(text, cjk)
    n_tokens = ids.size
    # Word-equivalents: with cjk_characters, tokens per cjk_chars_per_word (see HeuristicsParams).
    n_words = n_tokens / p.cjk_chars_per_word if cjk else n_tokens
    if not n_tokens or _below(n_words, p.min_words):  # an empty document never passes
        return Drop("gopher_too_few_words", f"{n_words:.0f}")
    if _above(n_words, p.max_words):
        return Drop("gopher_too_many_words", f"{n_words:.0f}")
    low = text.lower()
    if p.c4_lorem_ipsum and "lorem ipsum" in low:
        return Drop("c4_lorem_ipsum")
    if p.c4_curly_bracket and "{" in text:
        return Drop("c4_curly_bracket")
    if p.min_mean_word_length is not None or p.max_mean_word_length is not None:
        mean = int(lengths.sum()) / n_tokens
        if _below(mean, p.min_mean_word_length) or _above(mean, p.max_mean_word_length):
            return Drop("gopher_mean_word_length", f"{mean:.2f}")
    symbols = text.count("#") + text.count("...") + text.count("…")
    if _above(symbols / n_words, p.max_symbol_word_ratio):
        return Drop("gopher_symbol_ratio", f"{symbols / n_words:.3f}")
    # Whitespace tokens without a letter (numbers, separators); a CJK character is a letter. Each
    # match begins the text or follows a space character (a character in no token), so there are
    # at most spaces + 1: where that bound passes (most Chinese text), the regex need not run.
    spaces = len(text) - int(lengths.sum())
    if p.min_alpha_words_ratio is not None and 1.0 - (spaces + 1) / n_tokens < p.min_alpha_words_ratio:
        alpha = 1.0 - len(_NO_LETTER_TOKEN.findall(text)) / n_tokens
        if alpha < p.min_alpha_words_ratio:
            return Drop("gopher_alpha_words", f"{alpha:.3f}")
    if p.min_stop_words is not None:
        if cjk:  # no word boundaries: occurrences anywhere in the text
            stops = 0
            for word in p.stop_words:  # the most frequent first: usually one pass decides
                stops += text.count(word)
                if stops >= p.min_stop_words:
                    break
        else:
            stops = sum(map(p.stop_set.__contains__, low.split()))
        if stops < p.min_stop_words:
            return Drop("gopher_stop_words", str(stops))

    lines = [s for s in (line.strip() for line in text.split("\n")) if s]
    n_lines = len(lines) or 1
    bullets = sum(1 for s in lines if s.startswith(BULLETS))
    if _above(bullets / n_lines, p.max_bullet_lines_ratio):
        return Drop("gopher_bullet_lines", f"{bullets / n_lines:.3f}")
    ellipsis = sum(1 for s in lines if s.endswith(ELLIPSIS))
    if _above(ellipsis / n_lines, p.max_ellipsis_lines_ratio):
        return Drop("gopher_ellipsis_lines", f"{ellipsis / n_lines:.3f}")

    dup_lines, dup_line_chars = _dup_stats(lines)
    paragraphs = [s for s in (para.strip() for para in text.split("\n\n")) if s]
    dup_paras, dup_para_chars = _dup_stats(paragraphs)
    n_chars = sum(map(len, lines)) or 1
    if _above(dup_lines / n_lines, p.max_dup_lines_ratio):
        return Drop("gopher_dup_lines", f"{dup_lines / n_lines:.3f}")
    if _above(dup_paras / (len(paragraphs) or 1), p.max_dup_paragraphs_ratio):
        return Drop("gopher_dup_paragraphs", f"{dup_paras / (len(paragraphs) or 1):.3f}")
    if _above(dup_line_chars / n_chars, p.max_dup_line_chars_ratio):
        return Drop("gopher_dup_line_chars", f"{dup_line_chars / n_chars:.3f}")
    if _above(dup_para_chars / n_chars, p.max_dup_paragraph_chars_ratio):
        return Drop("gopher_dup_paragraph_chars", f"{dup_para_chars / n_chars:.3f}")

    punct = sum(1 for s in lines if ends_sentence(s, p.prose_line_chars))
    if _below(punct / n_lines, p.min_line_punct_ratio):
        return Drop("fineweb_line_punct", f"{punct / n_lines:.3f}")
    # With punct_lines_exempt, lines ending in punctuation are neither short lines nor line breaks.
    open_lines = [s for s in lines if not s.endswith(_LINE_PUNCT)] if p.punct_lines_exempt else lines
    short = sum(1 for s in open_lines if len(s) <= p.short_line_length)
    if _above(short / n_lines, p.max_short_lines_ratio):
        return Drop("fineweb_short_lines", f"{short / n_lines:.3f}")
    if _above(dup_line_chars / n_chars, p.max_fineweb_dup_line_chars_ratio):
        return Drop("fineweb_dup_line_chars", f"{dup_line_chars / n_chars:.3f}")
    newlines = text.count("\n")
    if open_lines is not lines:  # the last line has no break after it
        newlines -= len(lines) - len(open_lines) - lines[-1].endswith(_LINE_PUNCT)
    if _above(newlines / n_words, p.max_newline_ratio):
        return Drop("fineweb_newline_ratio", f"{newlines / n_words:.3f}")

    return repetition_failure(ids, lengths, p)


def document_language(lang: str | None, text: str) -> str:
    """The ``per_language`` key for a document: its ``lang``; without one, ``zh`` for text in
    which CJK characters outnumber words, else ``""`` (the default thresholds)."""
    if lang:
        return lang
    return "zh" if is_cjk_text(text) else ""


class HeuristicsStage(Stage):
    name = "heuristics"
    Params = HeuristicsParams
    columns = {}
    reasons = REASONS

    def __init__(self, params: HeuristicsParams | None = None):
        super().__init__(params)
        self._by_language: dict[str, HeuristicsParams] = {}

    def params_for(self, lang: str) -> HeuristicsParams:
        p = self._by_language.get(lang)
        if p is None:
            p = self._by_language[lang] = self.params.for_language(lang)  # type: ignore[attr-defined]
        return p

    def process(self, doc: Doc) -> Doc | Drop:
        text = doc["text"]
        p = self.params_for(document_language(doc.get("lang"), text))
        if p.c4_remove_lines:
            original = len(text)
            text, removed = c4_clean_lines(text, p)
            self.count("c4_lines_removed", removed)
            if not text:
                return Drop("c4_empty_after_cleaning")
            if p.max_c4_removed_ratio is not None:
                share = c4_removed_share(original, text, p.c4_short_line_chars, p.c4_bullet_run_lines)
                if share > p.max_c4_removed_ratio:
                    return Drop("c4_mostly_removed", f"{share:.3f}")
            doc["text"] = text
        drop = check(text, p)
        return drop if drop is not None else doc
