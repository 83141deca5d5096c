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


def _class_chars(body: str) -> set[str]:
    """The characters of a regex character-class body such as "ab\x80-\xbf" (ranges expanded)."""
    chars: set[str] = set()
    i = 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            chars.update(chr(c) for c in range(ord(body[i]), ord(body[i + 2]) + 1))
            i += 3
        else:
            chars.add(body[i])
            i += 1
    return chars


@lru_cache(maxsize=8)
def ftfy_triggers(
    fix_character_width: bool, uncurl_quotes: bool, fix_latin_ligatures: bool
) -> tuple[re.Pattern, re.Pattern]:
    """Two regexes: ``hard`` matches a character some ftfy fixer always acts on; ``candidate``
    matches ``hard`` or a place where ftfy's encoding repair could change something.

    That repair re-encodes a segment in a code page and decodes it as UTF-8, so it can only
    change something where a UTF-8 lead byte (a code-page decoding of 0xC0-0xFF) is followed by
    a continuation byte (0x80-0xBF), or by the exact shapes ftfy's byte repairs turn into one:
    restore_byte_a0's space after some leads (ALTERED_UTF8_RE; not tried for macroman) and
    replace_lossy_sequences' "?" (LOSSY_UTF8_RE; sloppy code pages). decode_inconsistent_utf8
    only changes a match through fix_encoding of it, which needs the same shapes.
    tests/test_normalize.py checks the result against full ftfy on several MB of real text."""
    lead: set[str] = set()
    cont: set[str] = set()
    shapes: dict[str, set[str]] = {  # follow-up pattern -> leads it applies to
        " ": set(),
        " {cont}": set(),
        " {cont}{{2}}": set(),
        "\\?": set(),
        "\\?{cont}": set(),
    }
    for encoding in chardata.CHARMAP_ENCODINGS:

        def decode(values, encoding=encoding) -> set[str]:
            return set(bytes(values).decode(encoding, errors="ignore"))

        lead |= decode(range(0xC0, 0x100))
        cont |= decode(range(0x80, 0xC0))
        if encoding != "macroman":
            shapes[" "] |= decode([0xC2, 0xC3, 0xC5, 0xCE, 0xD0, 0xD9])
            shapes[" {cont}"] |= decode([0xE2, 0xE3])
            shapes[" {cont}{{2}}"] |= decode([0xF0])
        if encoding.startswith("sloppy"):
            shapes["\\?"] |= decode([0xC2, 0xC3])
            shapes["\\?{cont}"] |= decode(range(0xE0, 0xF5))

    hard: set[str] = set()
    hard.update(chr(c) for c in range(0x00, 0x20) if chr(c) not in "\n\t")
    hard.update(chr(c) for c in range(0x7F, 0xA0))
    hard.update(chr(c) for c in chardata.CONTROL_CHARS)
    hard.update("\r\x0b\x0c\x85\u2028\u2029\ufffd\x1a")
    if fix_latin_ligatures:
        hard.update(chr(c) for c in chardata.LIGATURES)
    if fix_character_width:
        hard.update(chr(c) for c in chardata.WIDTH_MAP)
    if uncurl_quotes:
        hard.update("\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u2032\u2033")
    hard.discard("\n")

    def cls(chars: set[str]) -> str:
        return "[" + "".join(re.escape(c) for c in sorted(chars - {"\n"})) + "]"

    # Surrogates cannot be escaped into a pattern one by one; a range is fine.
    hard_class = cls(hard)[:-1] + "\ud800-\udfff]"
    cont_class = cls(cont)
    follow = "|".join(
        [cont_class]
        + [f"(?<={cls(leads)}){shape.format(cont=cont_class)}" for shape, leads in shapes.items()]
    )
    # One lead class with the follow-ups factored out: the scan tests one class per character.
    return re.compile(hard_class), re.compile(f"{hard_class}|{cls(lead)}(?:{follow})")


def normalize_text(text: str, params: NormalizeParams, config: ftfy.TextFixerConfig | None = None) -> str:
    if params.ftfy:
        hard, candidate = ftfy_triggers(
            params.fix_character_width, params.uncurl_quotes, params.fix_latin_ligatures
        )
        first = candidate.search(text)
        if first is not None:
            text = _fix_triggered_lines(text, first, hard, candidate, config or ftfy_config(params))
    # NFC never composes across a newline, so NFC of the whole equals NFC of each line.
    if params.nfc and not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    if params.collapse_whitespace:
        text = collapse_whitespace(text, params.max_blank_lines)
    return text


def _fix_triggered_lines(
    text: str, match: re.Match | None, hard: re.Pattern, candidate: re.Pattern, config: ftfy.TextFixerConfig
) -> str:
    """ftfy.fix_text on just the lines that need it. Under this config ftfy fixes "\n"-ended
    segments independently, and its encoding repair only runs where ``is_bad`` holds, so this
    equals fixing the whole text. The regex jumps from one candidate line to the next, so lines
    without a candidate cost nothing in Python."""
    out: list[str] = []
    done = 0  # text[:done] is already in ``out``
    while match is not None:
        start = text.rfind("\n", 0, match.start()) + 1
        end = text.find("\n", match.start())
        end = len(text) if end < 0 else end + 1  # the segment keeps its "\n", as in ftfy
        segment = text[start:end]
        if hard.search(segment) is not None or is_bad(segment):
            out.append(text[done:start])
            out.append(ftfy.fix_text(segment, config))
            done = end
        match = candidate.search(text, end)
    if not out:
        return text
    out.append(text[done:])
    return "".join(out)


# Blanks other than the plain space: tabs, no-break and typographic spaces, the ideographic space.
_ODD_BLANKS = re.compile("[\t\u00a0\u2000-\u200a\u202f\u205f\u3000]")


def collapse_whitespace(text: str, max_blank_lines: int) -> str:
    """Blank runs -> one space, lines stripped, at most ``max_blank_lines`` empty lines in a row.
    str.replace loops run in C at memory speed; each step is behind a cheap test because most
    texts need few of them."""
    if _ODD_BLANKS.search(text) is not None:
        text = _ODD_BLANKS.sub(" ", text)
    while "  " in text:
        text = text.replace("  ", " ")
    if " \n" in text:
        text = text.replace(" \n", "\n")
    if "\n " in text:
        text = text.replace("\n ", "\n")
    limit = "\n" * (max_blank_lines + 2)
    while limit in text:
        text = text.replace(limit, "\n" * (max_blank_lines + 1))
    return text.strip(" \n")


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
