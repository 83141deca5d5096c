"""normalize: ftfy repair + Unicode NFC + whitespace/control-character cleanup.

ftfy costs about 2.5 MB/s per core, yet on almost all web text it changes nothing. With the
configuration used here (``unescape_html=False``: extracted and WET text is already unescaped, so
unescaping again would corrupt literal ``&amp;``) ``ftfy.fix_text`` works line by line, and a line
can only change if it holds a character some ftfy fixer acts on: the upper half of any code page
ftfy can undo mojibake from, control/C1 characters, CR and line separators, U+FFFD, surrogates,
and (when enabled) ligatures, fullwidth forms or curly quotes. ``ftfy_triggers`` builds that set
from ftfy's own tables; lines without such a character that are already NFC skip ftfy entirely.
tests/test_normalize.py proves the result equals full ftfy on real text.

Defaults are chosen for Chinese: ftfy's ``fix_character_width`` would turn the fullwidth
punctuation of Chinese text (，！？：；（）) into ASCII, and ``uncurl_quotes`` would flatten “”,
so both are off unless configured.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from functools import lru_cache

import ftfy
from ftfy import chardata
from ftfy.badness import is_bad

from stages.base import Doc, Drop, Params, Stage


@dataclasses.dataclass
class NormalizeParams(Params):
    ftfy: bool = True  # repair mojibake and other text damage
    fix_character_width: bool = False  # fullwidth -> halfwidth; off: it rewrites Chinese punctuation
    uncurl_quotes: bool = False  # “” -> ""; off: keeps typographic and Chinese quotes
    fix_latin_ligatures: bool = True
    nfc: bool = True
    collapse_whitespace: bool = True  # runs of spaces/tabs -> one space, lines stripped
    max_blank_lines: int = 1  # consecutive empty lines kept between paragraphs
    min_chars: int = 1  # documents shorter than this after cleanup are dropped as empty_text


def ftfy_config(params: NormalizeParams) -> ftfy.TextFixerConfig:
    return ftfy.TextFixerConfig(
        unescape_html=False,
        fix_character_width=params.fix_character_width,
        uncurl_quotes=params.uncurl_quotes,
        fix_latin_ligatures=params.fix_latin_ligatures,
        normalization="NFC" if params.nfc else None,
        explain=False,
    )


@lru_cache(maxsize=8)
def ftfy_triggers(fix_character_width: bool, uncurl_quotes: bool, fix_latin_ligatures: bool) -> tuple[re.Pattern, re.Pattern]:
    """Two regexes: ``hard`` characters that some ftfy fixer always acts on, and ``soft``
    characters (the upper half of the code pages ftfy undoes mojibake from) that only matter
    when ftfy's own ``is_bad`` check says the segment looks like mojibake."""
    soft: set[str] = set()
    for encoding in chardata.CHARMAP_ENCODINGS:
        soft.update(bytes(range(0x80, 0x100)).decode(encoding, errors="ignore"))
    hard: set[str] = set()
    hard.update(chr(c) for c in range(0x00, 0x20) if chr(c) not in "\n\t")
    hard.update(chr(c) for c in range(0x7F, 0xA0))
    hard.update(chr(c) for c in chardata.CONTROL_CHARS)
    hard.update("\r\x0b\x0c\x85\u2028\u2029\ufffd\x1a\xa0")
    if fix_latin_ligatures:
        hard.update(chr(c) for c in chardata.LIGATURES)
    if fix_character_width:
        hard.update(chr(c) for c in chardata.WIDTH_MAP)
    if uncurl_quotes:
        hard.update("\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u2032\u2033")
    hard.discard("\n")
    soft -= hard | {"\n"}

    def char_class(chars: set[str], extra: str = "") -> re.Pattern:
        return re.compile("[" + "".join(re.escape(c) for c in sorted(chars)) + extra + "]")

    # Surrogates cannot be escaped into a pattern one by one; a range is fine.
    return char_class(hard, "\ud800-\udfff"), char_class(soft)


_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f]+")


def normalize_text(text: str, params: NormalizeParams, config: ftfy.TextFixerConfig | None = None) -> str:
    if params.ftfy:
        hard, soft = ftfy_triggers(params.fix_character_width, params.uncurl_quotes, params.fix_latin_ligatures)
        if hard.search(text) is not None or soft.search(text) is not None:
            text = _fix_triggered_lines(text, hard, soft, config or ftfy_config(params))
    # NFC never composes across a newline, so NFC of the whole equals NFC of each line.
    if params.nfc and not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    if params.collapse_whitespace:
        text = collapse_whitespace(text, params.max_blank_lines)
    return text


def _fix_triggered_lines(text: str, hard: re.Pattern, soft: re.Pattern, config: ftfy.TextFixerConfig) -> str:
    """ftfy.fix_text on just the lines that need it. Under this config ftfy fixes "\n"-ended
    segments independently, and its encoding repair only runs where ``is_bad`` holds, so this
    equals fixing the whole text."""
    segments = text.split("\n")
    last = len(segments) - 1
    for i, line in enumerate(segments):
        segment = line if i == last else line + "\n"
        if hard.search(segment) is not None or (soft.search(segment) is not None and is_bad(segment)):
            segment = ftfy.fix_text(segment, config)
        segments[i] = segment
    return "".join(segments)


def collapse_whitespace(text: str, max_blank_lines: int) -> str:
    lines = _SPACES.sub(" ", text).split("\n")
    out: list[str] = []
    blank = 0
    for line in lines:
        line = line.strip()
        if line:
            blank = 0
            out.append(line)
        elif out:
            blank += 1
            if blank <= max_blank_lines:
                out.append("")
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


class NormalizeStage(Stage):
    name = "normalize"
    Params = NormalizeParams
    reasons = ("empty_text",)

    def setup(self) -> None:
        self.config = ftfy_config(self.params)

    def process(self, doc: Doc) -> Doc | Drop:
        if not hasattr(self, "config"):
            self.setup()
        text = normalize_text(doc.get("text") or "", self.params, self.config)
        if len(text) < max(self.params.min_chars, 1):
            return Drop("empty_text")
        doc["text"] = text
        return doc
