"""PII removal: replace personal data in ``text`` with placeholders, or drop the document.

Design for throughput on ordinary web text (few matches):
- every detector is gated by a cheap check (``'@' in text``, a literal such as ``'eyJ'``) so the
  expensive pattern only runs on documents that can contain its kind of PII;
- digit-based detectors (phones, cards, ID numbers, SSNs, IBANs) only run inside small windows
  around *digit clusters* (>= 6 digits joined by phone-ish separators), found by one cheap scan,
  and only those whose shape the cluster can hold (length, a capital letter before it, a "+");
- fullwidth digits are read through an ASCII view of the same length (``ascii_view``);
- every pattern is linear: quantifiers are bounded, repeated units are unambiguous (a separator
  is never optional between two units of the same class) and candidates start at a token
  boundary, so adversarial inputs (long digit runs, ``@@@@``, 1 MB without spaces) stay O(n);
- overlaps are resolved by ``resolve_overlaps`` in time linear in the candidates' total length.

Checksums and plausibility checks (Luhn with issuer prefixes and lengths, ISO 7064 MOD 11-2,
IBAN mod-97, the Taiwan, Hong Kong and Korean ID checks, dates, IP octets, country calling codes)
decide between PII and look-alikes (order numbers, versions, dates, prices, ISBNs ...). Forms
that are also ordinary numbers when written bare (compact national phone numbers, card lengths
other than 16, passport numbers) need a context word next to them.
URLs are kept: inside a URL only an email address or a credential is replaced.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime
import ipaddress
import re
from typing import ClassVar, NamedTuple

import pyarrow as pa

from stages.base import Doc, Drop, Params, Stage

# Type name -> default placeholder. Order here is also the tie-break priority on overlaps.
# (id_number: PRC resident ID; tw_id: Taiwan national ID; hk_id: Hong Kong identity card;
# kr_rrn: Korean resident registration number; uk_nino: UK National Insurance number.)
DEFAULT_REPLACEMENTS: dict[str, str] = {
    "secret": "<SECRET>",
    "email": "<EMAIL>",
    "id_number": "<ID_NUMBER>",
    "tw_id": "<ID_NUMBER>",
    "hk_id": "<ID_NUMBER>",
    "kr_rrn": "<ID_NUMBER>",
    "uk_nino": "<ID_NUMBER>",
    "passport": "<PASSPORT>",
    "card": "<CARD>",
    "iban": "<IBAN>",
    "ssn": "<ID_NUMBER>",
    "ip": "<IP>",
    "phone": "<PHONE>",
}
PII_TYPES: tuple[str, ...] = tuple(DEFAULT_REPLACEMENTS)
_PRIORITY = {t: i for i, t in enumerate(PII_TYPES)}
IP_SCOPES = ("all", "public")

_ASCII_ALNUM = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS = frozenset("0123456789")


class Span(NamedTuple):
    start: int
    end: int
    type: str


def _before(text: str, i: int) -> str:
    return text[i - 1] if i > 0 else ""


def _after(text: str, i: int) -> str:
    return text[i] if i < len(text) else ""


# ---------------------------------------------------------------------------------------------
# Checksums and plausibility checks (pure, individually tested)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# First two digits of a PRC resident ID: province-level division codes.
_ID_PROVINCES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82 83 91".split()
)


def cn_id_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of a PRC resident ID."""
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def _plausible_date(y: int, m: int, d: int, earliest: int = 1880) -> bool:
    if not earliest <= y <= datetime.date.today().year:
        return False
    try:
        datetime.date(y, m, d)
    except ValueError:
        return False
    return True


def cn_id_ok(id18: str) -> bool:
    if len(id18) != 18 or not id18[:17].isdigit() or id18[:2] not in _ID_PROVINCES:
        return False
    if not _plausible_date(int(id18[6:10]), int(id18[10:12]), int(id18[12:14])):
        return False
    return cn_id_check_char(id18[:17]) == id18[17].upper()


# Issuer prefix ranges of the card networks and the lengths each issues: (lowest prefix, highest
# prefix, lengths). A Luhn-valid number outside these (e.g. an 18-digit order number: one in ten
# passes Luhn) is more likely an order or tracking number than a card.
_MAESTRO = frozenset(range(12, 20))
_CARD_RANGES: tuple[tuple[str, str, frozenset[int]], ...] = (
    ("4", "4", frozenset((13, 16, 19))),  # Visa
    ("51", "55", frozenset((16,))),  # Mastercard
    ("2221", "2720", frozenset((16,))),
    ("34", "34", frozenset((15,))),  # American Express
    ("37", "37", frozenset((15,))),
    ("300", "305", frozenset((14, 16, 19))),  # Diners Club
    ("3095", "3095", frozenset((14, 16, 19))),
    ("36", "36", frozenset((14, 16, 19))),
    ("38", "39", frozenset((14, 16, 19))),
    ("6011", "6011", frozenset((16, 19))),  # Discover
    ("644", "649", frozenset((16, 19))),
    ("65", "65", frozenset((16, 19))),
    ("35", "35", frozenset((16, 17, 18, 19))),  # JCB (3528-3589 assigned)
    ("1800", "1800", frozenset((15,))),
    ("2131", "2131", frozenset((15,))),
    ("62", "62", frozenset((16, 17, 18, 19))),  # UnionPay
    ("2200", "2204", frozenset((16, 17, 18, 19))),  # Mir
    ("5018", "5018", _MAESTRO),  # Maestro
    ("5020", "5020", _MAESTRO),
    ("5038", "5038", _MAESTRO),
    ("56", "58", _MAESTRO),
    ("6304", "6304", _MAESTRO),
    ("6390", "6390", _MAESTRO),
    ("6759", "6759", _MAESTRO),
    ("6761", "6763", _MAESTRO),
    ("0604", "0604", _MAESTRO),
)


_CARD_RANGES_BY_DIGIT = {d: [r for r in _CARD_RANGES if r[0][0] == d] for d in "0123456"}


def card_ok(digits: str) -> bool:
    """An issued length for a network prefix, and the Luhn check."""
    n = len(digits)
    return any(
        lo <= digits[: len(lo)] <= hi and n in lengths
        for lo, hi, lengths in _CARD_RANGES_BY_DIGIT.get(digits[0], ())
    ) and luhn_ok(digits)


# Lengths of IBANs per country (ISO 13616 registry, common countries).
_IBAN_LEN = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24,
    "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21,
    "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27,
    "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24,
    "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TL": 23, "TN": 24, "TR": 26,
    "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def iban_ok(compact: str) -> bool:
    if _IBAN_LEN.get(compact[:2]) != len(compact) or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def ssn_ok(area: str, group: str, serial: str) -> bool:
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


# Taiwan national ID: letter (region, worth 10..35 in this order), 1/2 (sex), 8 digits; the
# weighted sum including the check digit is a multiple of 10.
_TW_LETTER_VALUES = {c: i + 10 for i, c in enumerate("ABCDEFGHJKLMNPQRSTUVXYWZIO")}


def tw_id_ok(s: str) -> bool:
    if len(s) != 10 or s[0] not in _TW_LETTER_VALUES or s[1] not in "12" or not s[1:].isdigit():
        return False
    v = _TW_LETTER_VALUES[s[0]]
    total = (
        v // 10
        + 9 * (v % 10)
        + sum(int(c) * w for c, w in zip(s[1:9], (8, 7, 6, 5, 4, 3, 2, 1), strict=True))
        + int(s[9])
    )
    return total % 10 == 0


def hk_id_check_char(letters: str, digits: str) -> str:
    """Check character of a Hong Kong identity card number: weights 9..2 over (space=36 for a
    one-letter prefix) letters (A=10 ...) and six digits, mod 11; 10 is written "A"."""
    values = ([36] if len(letters) == 1 else []) + [ord(c) - 55 for c in letters] + [int(c) for c in digits]
    r = -sum(v * w for v, w in zip(values, range(9, 1, -1), strict=True)) % 11
    return "A" if r == 10 else str(r)


def kr_rrn_ok(digits: str) -> bool:
    """Korean RRN: YYMMDD, a sex/century digit, place of birth <= 96, check digit."""
    if len(digits) != 13 or not digits.isdigit():
        return False
    century = {"1": 1900, "2": 1900, "5": 1900, "6": 1900, "3": 2000, "4": 2000, "7": 2000, "8": 2000}
    if digits[6] not in century or int(digits[7:9]) > 96:
        return False
    y, m, d = century[digits[6]] + int(digits[:2]), int(digits[2:4]), int(digits[4:6])
    if not _plausible_date(y, m, d, earliest=1900):
        return False
    total = sum(int(c) * w for c, w in zip(digits[:12], (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5), strict=True))
    return (11 - total % 11) % 10 == int(digits[12])


# UK National Insurance number prefixes: HMRC never uses D F I Q U V, nor O as the second letter,
# nor these pairs; the suffix is A-D.
_NINO_FIRST = frozenset("ABCEGHJKLMNOPRSTWXYZ")
_NINO_SECOND = frozenset("ABCEGHJKLMNPRSTWXYZ")
_NINO_BAD_PREFIX = frozenset(("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"))


def uk_nino_ok(prefix: str, suffix: str) -> bool:
    return (
        prefix[0] in _NINO_FIRST
        and prefix[1] in _NINO_SECOND
        and prefix not in _NINO_BAD_PREFIX
        and suffix in "ABCD"
    )


# E.164 country calling codes (ITU assignments): 1 and 7, the two-digit codes, and the two-digit
# blocks that hold three-digit codes.
_CC1 = frozenset("17")
_CC2 = frozenset(
    "20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 60 61 62 63 64 65 66 "
    "81 82 84 86 90 91 92 93 94 95 98".split()
)
_CC3_BLOCKS = frozenset("21 22 23 24 25 26 29 35 37 38 42 50 59 67 68 69 85 87 88 96 97 99".split())


def country_code_len(digits: str) -> int:
    """Length of the country calling code that ``digits`` (after + or 00) starts with; 0 if none."""
    if digits[:1] in _CC1:
        return 1
    if digits[:2] in _CC2:
        return 2
    if digits[:2] in _CC3_BLOCKS:
        return 3
    return 0


# ---------------------------------------------------------------------------------------------
# Patterns. Left boundaries are lookbehinds (cheap: these run only in small windows or on
# gated documents); all quantifiers are bounded.

# Fullwidth forms (U+FF01..FF5E: "１３８", "（０１０）", "ＡＢ") are read as their ASCII
# counterparts around runs of six or more fullwidth characters that start with a digit (shorter
# runs are dates and counts, and hold no PII; a single repeated character class scans fast).
# The mapping keeps every index, so spans found in the ASCII view cut the original.
_FULLWIDTH_CLUSTER = re.compile("[\uff10-\uff19][\uff10-\uff19\uff01-\uff5e \u3000\\-./()+]{5,}")
_FULLWIDTH_DIGITS = tuple(chr(c) for c in range(0xFF10, 0xFF1A))
_FULLWIDTH_MARGIN = 24  # "ＴＥＬ", "ＧＢ３６ ＣＺＲＺ " before the digits, a check letter after
# Digits, letters and the punctuation numbers are written with; not the CJK list and sentence
# marks "，：；" ("６５０９１０４０，６５０９２１４０" is two numbers, not 65,091,040...).
_FULLWIDTH_TO_ASCII = {
    ord(c) + 0xFEE0: ord(c) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+-./()@#_"
}


def ascii_view(text: str) -> str:
    """``text`` with the fullwidth ASCII forms around fullwidth digit runs replaced by ASCII,
    same length (``text`` itself when there are none)."""
    # (str.isascii is O(1); single-character searches are fast)
    if text.isascii() or not any(c in text for c in _FULLWIDTH_DIGITS):
        return text
    parts = []
    pos = 0
    for m in _FULLWIDTH_CLUSTER.finditer(text):
        lo = max(pos, m.start() - _FULLWIDTH_MARGIN)
        hi = min(len(text), m.end() + _FULLWIDTH_MARGIN)
        parts.append(text[pos:lo])
        parts.append(text[lo:hi].translate(_FULLWIDTH_TO_ASCII))
        pos = hi
    if not parts:
        return text
    parts.append(text[pos:])
    return "".join(parts)


# A digit cluster: a run of digits and phone-ish separators with >= 6 digits (phones, cards,
# IDs ...) or 3 dots (IPv4). Years, prices and versions open no window. A plain [0-9] followed by
# one repeated character class keeps sre's fast charset scan and never backtracks.
_CLUSTER = re.compile(r"[0-9][0-9 \-./()+]{5,}")
_BEFORE = 8  # "+", "(", "00", "(+86)" before the first digit
_AFTER = 16  # extensions: " ext. 1234", "转123"
_IBAN_BEFORE = 32  # an IBAN may start with letter groups before its first digit cluster
_TOKEN_TAIL = re.compile(r"[0-9A-Za-z]{0,64}")
# Context words are looked for this far before a candidate and this far after it ("0312345678
# が電話です", "0221225197이 전화번호입니다", "Ist 01042412000 Ihre Telefonnummer?").
_CTX_BEFORE = 40
_CTX_AFTER = 24

# A run of digit groups joined by single spaces or dashes: a card is a whole run, never a part.
_CARD_RE = re.compile(r"(?<![0-9A-Za-z\-.])[0-9]{3,19}(?:[ \-][0-9]{1,6}){0,4}(?![0-9]|[.,\-][0-9])")
_CARD_GROUPS = frozenset(((4, 4, 4, 4), (4, 4, 4), (4, 4, 4, 4, 3), (4, 4, 4, 4, 2), (4, 4, 4, 4, 1),
                          (4, 4, 4, 1), (4, 4, 4, 2), (4, 4, 4, 3), (4, 6, 5), (4, 6, 4), (4, 4, 5),
                          (4, 3, 3, 3)))  # fmt: skip
_CARD_WORDS = re.compile(
    r"(?i)card|karte|carte|\bcb\b|visa|master|amex|american express|maestro|jcb|diners|discover|unionpay"
    r"|cr[eé]dit|kredit|卡|カード|카드"
)
_ID_RE = re.compile(
    r"(?<![0-9A-Za-z])[1-9][0-9]{5} ?(?:18|19|20)[0-9]{2}[01][0-9][0-3][0-9] ?[0-9]{3}[0-9Xx](?![0-9A-Za-z])"
)
_TW_ID_RE = re.compile(r"(?<![0-9A-Za-z])[A-Z][12][0-9]{8}(?![0-9A-Za-z])")
# A123456(7), AB123456(9), A1234567: the check character in brackets, or written compact.
# (Letter-led patterns check their left boundary in Python: see _bounded.)
_HK_ID_RE = re.compile(r"([A-Z][A-Z]?)([0-9]{6})(?:[(（]([0-9A])[)）]|([0-9A]))(?![0-9A-Za-z])")
_KR_RRN_RE = re.compile(r"(?<![0-9A-Za-z\-])([0-9]{6})-?([1-8][0-9]{6})(?![0-9A-Za-z]|-[0-9])")
# AB 12 34 56 C, AB123456C, AB 123456 C (the suffix spaced like the prefix).
_NINO_RE = re.compile(r"([A-Z][A-Z])( ?)([0-9]{2})( ?)([0-9]{2})\4([0-9]{2})\2([A-Z])(?![0-9A-Za-z])")
_NINO_WORDS = re.compile(r"(?i)insurance|(?<![a-z])(?:NI|NINO)(?![a-z])")
_SSN_RE = re.compile(
    r"(?<![0-9A-Za-z\-])([0-9]{3})([ \-])([0-9]{2})\2([0-9]{4})(?![0-9A-Za-z]|[\-.][0-9]| [0-9])"
)
_IBAN_RE = re.compile(r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}")

# Passport numbers have no checksum: only a token next to a passport word counts. Literal
# prefixes and a charset of rare first characters keep sre's fast scans (an alternation of
# words scans slowly).
_PASSPORT_WORDS_ASCII = (
    re.compile(r"ass(?:port|eport|-[Nn]r|nummer|(?<=eisepass))"),
    re.compile("ASS(?:PORT|EPORT)"),
)
_PASSPORT_WORDS_CJK = re.compile("[护護パ旅여](?:(?<=[护護])照|(?<=パ)スポート|(?<=旅)券|(?<=여)권)")
_PASSPORT_CJK_CHARS = ("照", "ポ", "券", "권")
_PASSPORT_NO = re.compile(r"(?<![0-9A-Za-z])(?=(?:[A-Z]{0,4}[0-9]){5})[A-Z0-9]{6,10}(?![0-9A-Za-z])")

_EXT = r"(?:[ ]?(?:ext\.?|x|#|转|分机)[ ]?[0-9]{1,6})?"
_EXT_TAIL = re.compile(r"[ ]?(?:ext\.?|x|#|转|分机)[ ]?[0-9]{1,6}$")
# +CC ... (or 00CC): one unit per step (digit | single separator before a digit/paren | (area)).
_PHONE_INTL = re.compile(
    r"(?<![0-9A-Za-z+])(?:\+|00(?=[1-9]))[1-9](?:[0-9]|[ .\-/](?=[0-9(])|\([0-9]{1,4}\)){6,30}(?![0-9])"
    + _EXT
)
# North American: (415) 555-0132, 415.555.0198, 415-555-0132, 1-800-555-0199.
_PHONE_NANP = re.compile(
    r"(?:(?<=[A-Za-z])(?=\()|(?<![0-9A-Za-z+\-.–—]))(?:1[ .\-])?(?:\([2-9][0-9]{2}\)[ ]?|[2-9][0-9]{2}([ .\-]))[2-9][0-9]{2}([ .\-])[0-9]{4}"
    r"(?![0-9]|[.\-][0-9])" + _EXT
)
# National numbers with a trunk 0 (UK, EU, Chinese landlines): 020 7946 0958, 030/901820,
# 010-65529988, (0755) 8601 3388, 0755-86013388-8001, 010-65529988转123.
_PHONE_NAT0 = re.compile(
    r"(?<![0-9A-Za-z+\-.–—])(?:[(（]0[1-9][0-9]{0,4}[)）][ ]?[0-9]{2,8}|0[1-9][0-9]{0,4}(?:[ \-/][0-9]{2,8}))"
    r"(?:[ \-/][0-9]{2,8}){0,4}(?![0-9]|[.\-][0-9])" + _EXT
)
# Chinese mobile: 1[3-9]x xxxx xxxx, optionally +86 / 0086 / (+86).
_PHONE_CN_MOBILE = re.compile(
    r"(?<![0-9A-Za-z+\-–—])(?:(?:\+|00)?86[ \-]?|[(（]\+?86[)）][ ]?)?1[3-9][0-9](?:[ \-]?[0-9]{4}){2}(?![0-9])"
)
# Next to a phone word, any number of phone length: compact national numbers (07700900501,
# 0156002807, 09xxxxxxxx), numbers written without their trunk 0, Korean/Japanese groupings.
_PHONE_IN_CONTEXT = re.compile(
    r"(?<![0-9])(?:\+(?=[1-9]))?(?:\([0-9]{1,5}\)[ ]?)?[0-9]{1,13}(?:[ \-./][0-9]{2,8}){0,5}"
    r"(?![0-9]|[.,\-][0-9])" + _EXT
)
_PHONE_WORDS = re.compile(
    r"(?i)(?<![a-z])(?:tel|phone|telephone|mobile?|cell|call|fax|contact|hotline|whatsapp|handy|telefon|ruf"
    r"|kontakt|anruf|t[ée]l[ée]phone|t[ée]l|portable|appel)"
    r"|电话|電話|手机|手機|联系|聯繫|聯絡|座机|热线|熱線|传真|傳真|致电|拨打|撥打|携帯|連絡|でんわ|전화|휴대|핸드폰|연락|팩스"
)
# Cheap first test for _PHONE_WORDS: substrings of the lower-cased text (the CJK ones only where
# the text is not ASCII). A case-sensitive alternation on the lowered text is 7x faster than
# the case-insensitive one with word boundaries.
_PHONE_WORD_KEYS_ASCII = ("tel", "phone", "mobil", "cell", "call", "fax", "contact", "kontakt", "hotline",
                          "whatsapp", "handy", "ruf", "portable", "appel")  # fmt: skip
_PHONE_WORD_KEYS = (*_PHONE_WORD_KEYS_ASCII, "tél", "电话", "電話", "手机", "手機", "联系", "聯繫", "聯絡", "座机",
                    "热线", "熱線", "传真", "傳真", "致电", "拨打", "撥打", "携帯", "連絡", "でんわ", "전화", "휴대",
                    "핸드폰", "연락", "팩스")  # fmt: skip
_PHONE_KEYS_ASCII_RE = re.compile("|".join(_PHONE_WORD_KEYS_ASCII))
_PHONE_KEYS_RE = re.compile("|".join(_PHONE_WORD_KEYS))


def _phone_word_keys_in(text: str, lo: int, hi: int) -> bool:
    seg = text[lo:hi].lower()
    return (_PHONE_KEYS_ASCII_RE if seg.isascii() else _PHONE_KEYS_RE).search(seg) is not None


def _near_phone_word(text: str, start: int, end: int) -> bool:
    return _phone_word_keys_in(text, max(0, start - _CTX_BEFORE), min(len(text), end + _CTX_AFTER)) and _near(
        _PHONE_WORDS, text, start, end
    )


# A label glued to the number, common in CJK pages: "TEL070-6956-0423", "Tel.0755-...", "FAX:03-...".
_PHONE_LABEL = re.compile(r"(?i)(?:tel|fax|phone|mobile?|mob|cell|handy)[.:]?$")
_IP_WORDS = re.compile(
    r"(?i)(?<![a-z])(?:ip|address|server|host|adresse|serveur|hôte)|地址|服务器|伺服器|主机|主機|アドレス|サーバ|ホスト|주소|서버|호스트"
)
_IPV4_RE = re.compile(r"(?<![0-9A-Za-z.])[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(?![0-9]|\.[0-9])")
# Dotted quads after these words are versions or section numbers, not addresses; so are product
# tokens of a user agent ("Chrome/120.0.6099.109") and Gecko's "rv:1.9.1.20".
_VERSION_CONTEXT = re.compile(
    r"(?i)(?:(?<![a-z])(?:v|version|ver\.?|release|build|firmware|fw|rev|rv|section|sec\.|chapter|rfc)[:：]?"
    r"|[a-z][a-z0-9_]*/|§|版本|バージョン|버전|第)\s*$"
)

# IPv6 runs only near a hint; the candidate is then validated by the ipaddress module.
# (a valid IPv6 address has "::" or seven colons)
_IPV6_HINT = re.compile(r"::|:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:")
_IPV6_CAND = re.compile(r"(?<![0-9A-Za-z:.])[0-9A-Fa-f:][0-9A-Fa-f:.]{1,44}")
_EMAIL_AT = re.compile(r"@(?=[A-Za-z0-9])")
_EMAIL_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
_EMAIL_DOMAIN = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,10}[A-Za-z]{2,24}(?![A-Za-z0-9\-]|\.[A-Za-z0-9])"
)
# "name@2x.png" is an image, not an address.
_FILE_EXT_TLDS = frozenset("png jpg jpeg gif svg webp bmp ico css js json pdf txt html htm php".split())

# URLs are found from their "://" or "www." (literal searches), the scheme read backwards.
_URL_ANCHORS = (re.compile("://"), re.compile(r"www\."), re.compile(r"WWW\."))
_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]{0,15}$")
_URL_REST = re.compile(r"[^\s<>\"'\u3000-\u303f\uff01-\uff0f\uff1a-\uff20]{1,4096}")
_URL_TRAIL = ".,;:!?)]}'\""
# user:password@ right after the scheme.
_URL_USERINFO = re.compile(r"://([^/\s:@?#]{1,256}:[^/\s@?#]{1,256})@")
_URL_QUERY_SECRET = re.compile(
    r"(?i)[?&;](?:password|passwd|pwd|pass|secret|token|access_token|auth_token|api_key|apikey|key|sig"
    r"|signature|auth)=([^&#\s]{1,512})"
)

_AWS_PREFIXES = ("AKIA", "ASIA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "APKA", "ABIA", "ACCA")
_AWS_KEY_ID = re.compile(r"A(?:" + "|".join(p[1:] for p in _AWS_PREFIXES) + r")[A-Z0-9]{16}(?![A-Za-z0-9])")
_AWS_SECRET_CTX = re.compile(
    r"(?i)(?:aws_?secret(?:_?access)?_?key|secret_?access_?key|aws_?secret)[\"']?\s{0,4}[:=]{1,2}>?\s{0,4}[\"']?"
    r"([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
)
_BASE64_40 = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_GITHUB = re.compile(r"gh[pousr]_[A-Za-z0-9]{36,251}(?![A-Za-z0-9_])")
_GITHUB_FINE_GRAINED = re.compile(r"github_pat_[A-Za-z0-9_]{22,244}(?![A-Za-z0-9_])")
_GITLAB = re.compile(r"gl(?:pat|dt|ptt|rt|soat|cbt)-[A-Za-z0-9_\-]{20,64}(?![A-Za-z0-9_\-])")
_SLACK = re.compile(r"xox[abposre]-[A-Za-z0-9\-]{10,250}(?![A-Za-z0-9\-])")
_SLACK_HOOK = re.compile(r"hooks\.slack\.com/services/(T[A-Z0-9]{6,12}/B[A-Z0-9]{6,12}/[A-Za-z0-9]{16,32})")
_JWT = re.compile(
    r"eyJ[A-Za-z0-9_\-]{5,2048}\.eyJ[A-Za-z0-9_\-]{5,8192}\.[A-Za-z0-9_\-]{0,2048}(?![A-Za-z0-9_\-])"
)
_PEM_BEGIN = re.compile(r"-----BEGIN (?:[A-Z0-9]{1,16} ){0,3}PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END (?:[A-Z0-9]{1,16} ){0,3}PRIVATE KEY(?: BLOCK)?-----")
_PEM_BODY = re.compile(r"[A-Za-z0-9+/=\s:\-,]{0,16384}")  # truncated block: take the base64 body


# ---------------------------------------------------------------------------------------------
# Detectors. Each returns spans; ``find_pii`` resolves overlaps.


def _find_emails(text: str) -> list[Span]:
    spans = []
    for m in _EMAIL_AT.finditer(text):
        at = m.start()
        start = at
        floor = max(0, at - 64)
        while start > floor and text[start - 1] in _EMAIL_LOCAL_CHARS:
            start -= 1
        if start == at or (start == floor and start > 0 and text[start - 1] in _EMAIL_LOCAL_CHARS):
            continue  # empty or over-long local part
        while start < at and text[start] in ".-":
            start += 1  # local parts do not start with a dot or dash
        d = _EMAIL_DOMAIN.match(text, at + 1)
        if d is None or start == at:
            continue
        tld = d.group().rsplit(".", 1)[-1].lower()
        if tld in _FILE_EXT_TLDS:
            continue
        spans.append(Span(start, d.end(), "email"))
    return spans


def _bounded(pat: re.Pattern[str], text: str, bad_before: str, lo: int = 0, hi: int | None = None):
    """``pat.finditer`` for matches not preceded by a char in ``bad_before``. Checking the left
    boundary here instead of a leading lookbehind keeps sre's fast literal-prefix scan."""
    hi = len(text) if hi is None else hi
    pos = lo
    while True:
        m = pat.search(text, pos, hi)
        if m is None:
            return
        if m.start() > 0 and text[m.start() - 1] in bad_before:
            pos = m.start() + 1
            continue
        yield m
        pos = max(m.end(), m.start() + 1)


_WORD = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _literal_windows(text: str, literals: tuple[str, ...], before: int, after: int) -> list[tuple[int, int]]:
    out = []
    for lit in literals:
        i = text.find(lit)
        while i >= 0:
            out.append((max(0, i - before), min(len(text), i + len(lit) + after)))
            i = text.find(lit, i + len(lit) + after)
    return out


def _find_secrets(text: str) -> list[Span]:
    spans: list[Span] = []
    if "-----BEGIN" in text:
        ends = [m.end() for m in _PEM_END.finditer(text)]
        block_end = 0
        for m in _PEM_BEGIN.finditer(text):
            if m.start() < block_end:
                continue  # a BEGIN line inside the previous block: blocks never nest or overlap
            i = bisect.bisect_right(ends, m.end())
            block_end = ends[i] if i < len(ends) else _PEM_BODY.match(text, m.end()).end()
            spans.append(Span(m.start(), block_end, "secret"))
    if "A" in text:
        for m in _bounded(_AWS_KEY_ID, text, _WORD):
            spans.append(Span(m.start(), m.end(), "secret"))
            # A secret access key usually sits right next to its key id.
            for s in _BASE64_40.finditer(text, m.end(), min(len(text), m.end() + 200)):
                tok = s.group()
                if (
                    any(c.isdigit() for c in tok)
                    and any(c.islower() for c in tok)
                    and any(c.isupper() for c in tok)
                ):
                    spans.append(Span(s.start(), s.end(), "secret"))
    for lo, hi in _literal_windows(text, ("ecret", "ECRET"), 16, 80):
        spans.extend(Span(m.start(1), m.end(1), "secret") for m in _AWS_SECRET_CTX.finditer(text, lo, hi))
    for pat, lit, bad in (
        (_GITHUB, "gh", ""),  # the prefix and 36+ random characters suffice: "tokenghp_..." too
        (_GITHUB_FINE_GRAINED, "github_pat_", ""),
        (_GITLAB, "gl", _WORD + "_-"),
        (_SLACK, "xox", _WORD),
    ):
        if lit in text:
            spans.extend(Span(m.start(), m.end(), "secret") for m in _bounded(pat, text, bad))
    if "eyJ" in text:
        spans += _find_jwts(text)
    if "hooks.slack.com" in text:
        spans.extend(Span(m.start(1), m.end(1), "secret") for m in _SLACK_HOOK.finditer(text))
    return spans


_JWT_RUN = re.compile(r"[A-Za-z0-9_\-.]{1,12300}")


def _find_jwts(text: str) -> list[Span]:
    """JWTs, trying each run of token characters once: retrying _JWT at every "eyJ" of a run
    ("eyJeyJeyJ...") would rescan up to 2 KB per start."""
    spans = []
    run_end = 0
    i = text.find("eyJ")
    while i >= 0:
        if i >= run_end:
            run_end = _JWT_RUN.match(text, i).end()
            if i == 0 or text[i - 1] not in _WORD + "_-":
                m = _JWT.match(text, i)
                if m is not None:
                    spans.append(Span(m.start(), m.end(), "secret"))
        i = text.find("eyJ", i + 3)
    return spans


def _find_urls(text: str) -> tuple[list[tuple[int, int]], list[Span]]:
    """URL ranges (protected from digit/IP detectors) and the credentials inside them."""
    ranges: list[tuple[int, int]] = []
    creds: list[Span] = []
    if "://" not in text and "www." not in text and "WWW." not in text:
        return ranges, creds
    anchors = [a for pat in _URL_ANCHORS for a in pat.finditer(text)]
    anchors.sort(key=lambda a: a.start())
    for a in anchors:
        if ranges and a.start() < ranges[-1][1]:
            continue  # "://" or "www." inside the previous URL
        if a.group() == "://":
            sch = _URL_SCHEME.search(text, max(0, a.start() - 16), a.start())
            if sch is None:
                continue
            start = sch.start()
        else:
            start = a.start()
            if start > 0 and text[start - 1] in _WORD + ".":
                continue
        rest = _URL_REST.match(text, a.end())
        if rest is None:
            continue
        end = rest.end()
        while end > start and text[end - 1] in _URL_TRAIL:
            end -= 1
        ranges.append((start, end))
        url = text[start:end]
        if a.group() == "://" and "@" in url:
            u = _URL_USERINFO.match(text, a.start(), end)
            if u is not None:
                creds.append(Span(u.start(1), u.end(1), "secret"))
        if "=" in url:
            for q in _URL_QUERY_SECRET.finditer(text, start, end):
                creds.append(Span(q.start(1), q.end(1), "secret"))
    return ranges, creds


def _windows(text: str, hint: re.Pattern[str], before: int, after: int, keep=None) -> list[tuple[int, int]]:
    """Merged [lo, hi) windows around hint matches (those ``keep`` accepts); hi never cuts an
    ASCII token short."""
    out: list[tuple[int, int]] = []
    n = len(text)
    for m in hint.finditer(text):
        if keep is not None and not keep(m):
            continue
        lo = max(0, m.start() - before)
        hi = min(n, m.end() + after)
        if out and lo <= out[-1][1]:
            lo = out[-1][0]
            out.pop()
        hi = _TOKEN_TAIL.match(text, hi).end()
        out.append((lo, hi))
    return out


def _near(words: re.Pattern[str], text: str, start: int, end: int) -> bool:
    """A context word ends within _CTX_BEFORE characters before ``start`` or starts within
    _CTX_AFTER characters after ``end``."""
    return (
        words.search(text, max(0, start - _CTX_BEFORE), start) is not None
        or words.search(text, end, min(len(text), end + _CTX_AFTER)) is not None
    )


def _glued_left(text: str, i: int) -> bool:
    """The candidate at ``i`` continues a number on its left: the fraction of a decimal
    ("8.|15873565182", "1,|234") or a group of a run of short groups ("2571 |0769 4524 4291")."""
    if i < 2 or text[i - 2] not in _DIGITS:
        return False
    sep = text[i - 1]
    if sep in ".,":
        return True
    if sep not in " -/":
        return False
    j = i - 2
    while j >= 0 and text[j] in _DIGITS and i - 2 - j <= 4:  # (bounded walk)
        j -= 1
    return i - 2 - j <= 4


class _Window(NamedTuple):
    lo: int
    hi: int
    digits: int  # most digits in one cluster of the window
    dots: int  # most dots in one cluster
    plus: bool  # a "+" in or right before a cluster
    letter: (
        bool  # an ASCII capital right before a cluster (or before a space before it): IBANs, letter-led IDs
    )


_SEPARATORS_DELETED = str.maketrans("", "", " -./()+")
_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _cluster_windows(text: str, protected) -> list[_Window]:
    """Windows around digit clusters that can hold digit-based PII, with what the clusters look
    like, so each detector runs only where its shape is possible (years, prices, versions and
    clusters inside URLs open none)."""
    out: list[_Window] = []
    n = len(text)
    for m in _CLUSTER.finditer(text):
        start, end = m.span()
        s = m.group()
        digits = len(s.translate(_SEPARATORS_DELETED))
        dots = s.count(".")
        if digits < 6 and dots < 3 or protected is not None and protected(Span(start, end, "")):
            continue
        plus = "+" in text[max(0, start - 2) : end]
        letter = start > 0 and (
            text[start - 1] in _UPPER or text[start - 1] == " " and start > 1 and text[start - 2] in _UPPER
        )
        lo = max(0, start - _BEFORE)
        hi = _TOKEN_TAIL.match(text, min(n, end + _AFTER)).end()
        if out and lo <= out[-1].hi:
            prev = out.pop()
            digits, dots = max(prev.digits, digits), max(prev.dots, dots)
            out.append(_Window(prev.lo, hi, digits, dots, prev.plus or plus, prev.letter or letter))
        else:
            out.append(_Window(lo, hi, digits, dots, plus, letter))
    return out


def _find_cards(text: str, lo: int, hi: int) -> list[Span]:
    """A card is a whole run of digit groups in an issued grouping (4-4-4-4, Amex 4-6-5, Diners
    4-6-4, 4-4-4-4-3 ...), or one compact group. Lengths other than 16 (and Amex 15) written
    compact are also order numbers, EANs or timestamps: they need a card word nearby."""
    spans = []
    for m in _CARD_RE.finditer(text, lo, hi):
        s = m.group()
        parts = s.replace("-", " ").split(" ")
        end = m.end()
        if len(parts) > 1 and (
            len(set(c for c in s if c in " -")) > 1 or tuple(map(len, parts)) not in _CARD_GROUPS
        ):
            if len(parts[0]) < 12:
                continue
            parts, end = parts[:1], m.start() + len(parts[0])  # a compact card followed by another number
        digits = "".join(parts)
        if not 12 <= len(digits) <= 19 or not card_ok(digits):
            continue
        standalone = len(digits) == 16 or (len(digits) == 15 and digits[:2] in ("34", "37"))
        if standalone or (len(parts) > 1 and len(digits) >= 13) or _near(_CARD_WORDS, text, m.start(), end):
            spans.append(Span(m.start(), end, "card"))
    return spans


def _find_ibans(text: str, lo: int, hi: int) -> list[Span]:
    spans = []
    for m in _IBAN_RE.finditer(text, max(0, lo - _IBAN_BEFORE), hi):
        start = m.start()
        if start > 0 and text[start - 1] in _ASCII_ALNUM and text[max(0, start - 4) : start] != "IBAN":
            continue  # inside a longer token ("IBANDE89..." is the label glued to the number)
        s = m.group()
        want = _IBAN_LEN.get(s[:2])
        if want is None:
            continue
        # Cut the run at the country's IBAN length (trailing words may have been swallowed).
        k = seen = 0
        while k < len(s) and seen < want:
            seen += s[k] != " "
            k += 1
        if seen == want and iban_ok(s[:k].replace(" ", "")) and _after(text, start + k) not in _ASCII_ALNUM:
            spans.append(Span(start, start + k, "iban"))
    return spans


def _find_national_ids(text: str, w: _Window, types: frozenset[str]) -> list[Span]:
    """Digit-led or single-letter-led national IDs with a checksum (PRC, Taiwan, Korea) and US SSNs."""
    spans: list[Span] = []
    lo, hi = w.lo, w.hi
    if w.digits >= 17 and "id_number" in types:
        for m in _ID_RE.finditer(text, lo, hi):
            if cn_id_ok(m.group().replace(" ", "")):
                spans.append(Span(m.start(), m.end(), "id_number"))
    if w.digits >= 13 and "kr_rrn" in types:
        for m in _KR_RRN_RE.finditer(text, lo, hi):
            if kr_rrn_ok(m.group(1) + m.group(2)):
                spans.append(Span(m.start(), m.end(), "kr_rrn"))
    if w.digits >= 9 and w.letter and "tw_id" in types:
        for m in _TW_ID_RE.finditer(text, lo, hi):
            if tw_id_ok(m.group()):
                spans.append(Span(m.start(), m.end(), "tw_id"))
    if w.digits >= 9 and "ssn" in types:
        for m in _SSN_RE.finditer(text, lo, hi):
            if ssn_ok(m.group(1), m.group(3), m.group(4)) and not _glued_left(text, m.start()):
                spans.append(Span(m.start(), m.end(), "ssn"))
    return spans


def _letter_ids(text: str, lo: int, hi: int, types: frozenset[str]) -> list[Span]:
    """Hong Kong IDs (A123456(7)) and UK National Insurance numbers (AB 12 34 56 C): letter-led,
    with six digits."""
    spans = []
    if "hk_id" in types:
        for m in _bounded(_HK_ID_RE, text, _WORD, lo, hi):
            if hk_id_check_char(m.group(1), m.group(2)) == (m.group(3) or m.group(4)):
                spans.append(Span(m.start(), m.end(), "hk_id"))
    if "uk_nino" in types:
        for m in _bounded(_NINO_RE, text, _WORD, lo, hi):
            if uk_nino_ok(m.group(1), m.group(7)) or _near(_NINO_WORDS, text, m.start(), m.end()):
                spans.append(Span(m.start(), m.end(), "uk_nino"))
    return spans


def _find_passports(text: str) -> list[Span]:
    """The first passport-number-shaped token after a passport word (or, failing that, the last
    one before it: "E12345678が旅券番号です")."""
    spans = []
    n = len(text)
    cjk = not text.isascii() and any(c in text for c in _PASSPORT_CJK_CHARS)
    pats = (*_PASSPORT_WORDS_ASCII, _PASSPORT_WORDS_CJK) if cjk else _PASSPORT_WORDS_ASCII
    for w in [w for pat in pats for w in pat.finditer(text)]:
        after = _PASSPORT_NO.search(text, w.end(), min(n, w.end() + _CTX_BEFORE))
        if after is not None:
            spans.append(Span(after.start(), after.end(), "passport"))
            continue
        before = list(_PASSPORT_NO.finditer(text, max(0, w.start() - _CTX_AFTER), w.start()))
        if before:
            spans.append(Span(before[-1].start(), before[-1].end(), "passport"))
    return spans


def _strip_ext(s: str) -> str:
    m = _EXT_TAIL.search(s)
    return s[: m.start()] if m else s


def _intl_ok(m: re.Match[str]) -> bool:
    s = _strip_ext(m.group())
    if s[0] == "0" and s.isdigit():
        return False  # "00" + digits without any grouping: an ISBN or an ordinary number
    digits = "".join(c for c in s.replace("(0)", "") if c in _DIGITS)
    if s[0] == "0":
        digits = digits[2:]
    cc = country_code_len(digits)
    # E.164: at most 15 digits; a national number of at least 6 (7 after "00", which also
    # starts ZIP+4 codes and product numbers).
    return cc > 0 and len(digits) <= 15 and len(digits) - cc >= (6 if s[0] == "+" else 7)


def _nanp_ok(m: re.Match[str]) -> bool:
    # 415.555.0198 / 415-555-0132: the same separator twice; "(415) 555-0132" is free.
    return m.group(1) is None or m.group(1) == m.group(2)


# dd-mm-yyyy / mm-dd-yyyy / yyyy-mm-dd (a date, maybe followed by a time), not a phone number.
_DATE_SHAPE = re.compile(
    r"(?:([0-3]?[0-9])([\-/. ])([0-3]?[0-9])\2(?:19|20)?[0-9]{2}|(?:19|20)[0-9]{2}([\-/. ])([01]?[0-9])\4([0-3]?[0-9]))(?![0-9])"
)
_ZIP4_SHAPE = re.compile(r"[0-9]{5}-[0-9]{4}")


def _is_date(s: str) -> bool:
    """``s`` starts with a plausible date that is not continued by another group with the same
    separator ("03 23 28 30 38" is a French phone number, "02-14-2013 10:36" a date)."""
    m = _DATE_SHAPE.match(s)
    if m is None:
        return False
    sep = m.group(2) or m.group(4)
    if m.end() < len(s) and s[m.end()] == sep:
        return False
    a, b = (int(m.group(1)), int(m.group(3))) if m.group(1) else (int(m.group(5)), int(m.group(6)))
    return 1 <= min(a, b) and min(a, b) <= 12 and max(a, b) <= 31


def _nat0_ok(m: re.Match[str]) -> bool:
    s = m.group()
    if _is_date(s) or _ZIP4_SHAPE.fullmatch(s):
        return False
    core = _strip_ext(s)
    groups = re.findall(r"[0-9]+", core)
    n = sum(map(len, groups))
    if 9 <= n <= 12:
        return True
    # 0755-86013388-8001: a trailing dashed extension.
    return n > 12 and core.rfind("-") > 0 and len(groups[-1]) <= 5 and 9 <= n - len(groups[-1]) <= 12


def _cn_mobile_ok(m: re.Match[str]) -> bool:
    return True


def _code_or_serial(text: str, start: int, end: int) -> bool:
    """Part of a code ("粤B-20050235", "ISO-9001") or a registration number ("京ICP备05022684号",
    "许可证10120170007号"): phone numbers are not followed by 号."""
    if start >= 2 and text[start - 1] in "-/" and text[start - 2] in _ASCII_ALNUM:
        return True
    return end < len(text) and text[end] in "号號"


_YEAR_RANGE = re.compile(r"(?:19|20)[0-9]{2}[ ]?[\-/–][ ]?(?:19|20)[0-9]{2}")


def _in_context_ok(m: re.Match[str]) -> bool:
    """A number next to a phone word: phone length, not a date, dots only as the one separator."""
    core = _strip_ext(m.group())
    seps = {c for c in core if c in " -./"}
    if "." in seps and (len(seps) > 1 or core.count(".") < 2):
        return False  # "12.5", "3.14159265"
    if seps == {"."} and all(len(g) == 3 for g in core.split(".")[1:]):
        return False  # thousands: "589.647.355"
    if _ZIP4_SHAPE.fullmatch(core) or _YEAR_RANGE.fullmatch(core):
        return False  # ZIP+4, "© 2000-2024"
    digits = "".join(c for c in core if c in _DIGITS)
    if core[0] == "+":
        cc = country_code_len(digits)
        return cc > 0 and 8 <= len(digits) <= 15
    if not 8 <= len(digits) <= 13 or _is_date(core):
        return False
    return not (len(digits) == 8 and not seps and _is_date(f"{core[:4]}-{core[4:6]}-{core[6:]}"))


_PHONE_CHECKS = (
    (_PHONE_INTL, _intl_ok),
    (_PHONE_CN_MOBILE, _cn_mobile_ok),
    (_PHONE_NANP, _nanp_ok),
    (_PHONE_NAT0, _nat0_ok),
)


def _find_phones(text: str, w: _Window) -> list[Span]:
    spans = []
    lo, hi = w.lo, w.hi
    for pat, check in _PHONE_CHECKS:
        if pat is _PHONE_INTL and not w.plus and "00" not in text[lo:hi]:
            continue
        for m in pat.finditer(text, lo, hi):
            if check(m) and not _glued_left(text, m.start()):
                spans.append(Span(m.start(), m.end(), "phone"))
    # Numbers of phone shape the patterns above did not take, if a phone word is near.
    if w.digits < 8 or not _phone_word_keys_in(
        text, max(0, lo - _CTX_BEFORE), min(len(text), hi + _CTX_AFTER)
    ):
        return spans
    taken = {(s.start, s.end) for s in spans}
    for m in _PHONE_IN_CONTEXT.finditer(text, lo, hi):
        if (m.start(), m.end()) in taken or not _in_context_ok(m) or _glued_left(text, m.start()):
            continue
        if _before(text, m.start()) in _ASCII_ALNUM and not _PHONE_LABEL.search(
            text, max(0, m.start() - 8), m.start()
        ):
            continue
        if _code_or_serial(text, m.start(), m.end()):
            continue
        if _near_phone_word(text, m.start(), m.end()):
            spans.append(Span(m.start(), m.end(), "phone"))
    return spans


def _digit_spans(text: str, w: _Window, types: frozenset[str], ip_scope: str) -> list[Span]:
    spans: list[Span] = []
    if w.dots >= 3 and "ip" in types:
        spans += _find_ipv4(text, ip_scope, w.lo, w.hi)
    if w.digits < 6:
        return spans
    if w.letter:
        spans += _letter_ids(text, w.lo, w.hi, types)
    if w.digits < 7:
        return spans
    spans += _find_national_ids(text, w, types)
    if w.digits >= 12 and "card" in types:
        spans += _find_cards(text, w.lo, w.hi)
    if w.digits >= 9 and w.letter and "iban" in types:
        spans += _find_ibans(text, w.lo, w.hi)
    if "phone" in types:
        spans += _find_phones(text, w)
    return spans


def _ip_ok(addr: str, scope: str) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return scope == "all" or ip.is_global


def _find_ipv4(text: str, scope: str, lo: int, hi: int) -> list[Span]:
    spans = []
    for m in _IPV4_RE.finditer(text, lo, hi):
        s = m.group()
        if any(len(o) > 1 and o[0] == "0" for o in s.split(".")):
            continue  # leading zeros: dates like 01.02.03.04 or section numbers, not addresses
        if _VERSION_CONTEXT.search(text, max(0, m.start() - 16), m.start()):
            continue
        if _ip_ok(s, scope):
            spans.append(Span(m.start(), m.end(), "ip"))
    return spans


def _find_ipv6(text: str, scope: str, protected) -> list[Span]:
    spans = []
    for lo, hi in _windows(text, _IPV6_HINT, 46, 46):
        for m in _IPV6_CAND.finditer(text, lo, hi):
            s = m.group().rstrip(":.")
            groups = [g for g in s.split(":") if g]
            if s.count(":") < 2 or len(groups) < 2 or not any(c.isdigit() for c in s):
                continue
            if s.startswith(":") and not s.startswith("::"):
                continue
            if max(map(len, groups)) == 1:
                continue  # "1::3", "0::2": slices and ratios, not addresses
            if m.start() >= 2 and text[m.start() - 1] == "[" and text[m.start() - 2] in _WORD + "_)]":
                continue  # a subscript: y[1::3], arr[::2]
            span = Span(m.start(), m.start() + len(s), "ip")
            if _ip_ok(s, scope) and (protected is None or not protected(span)):
                spans.append(span)
    return spans


# Overlaps: secrets and emails first (their digits are never another type's), then the longest
# span, then the type order of DEFAULT_REPLACEMENTS.
_TIER = {"secret": 0, "email": 1}
_DIGIT_TYPES = frozenset(
    ("id_number", "tw_id", "hk_id", "kr_rrn", "uk_nino", "card", "ssn", "iban", "phone", "ip")
)


def resolve_overlaps(cands: list[Span], n: int) -> list[Span]:
    """Non-overlapping spans, best first as above, sorted by start. Linear in the total length of
    the candidates: a byte per character of ``text`` marks what is taken."""
    cands = sorted(cands, key=lambda s: (_TIER.get(s.type, 2), s.start - s.end, _PRIORITY[s.type], s.start))
    taken = bytearray(n)
    chosen = []
    for s in cands:
        if taken.find(1, s.start, s.end) < 0:
            taken[s.start : s.end] = b"\x01" * (s.end - s.start)
            chosen.append(s)
    chosen.sort()
    return chosen


def find_pii(text: str, types: frozenset[str] | None = None, ip_scope: str = "all") -> list[Span]:
    """All non-overlapping PII spans in ``text``, sorted by start."""
    types = frozenset(PII_TYPES) if types is None else types
    cands: list[Span] = []
    # URLs are found in the text as written (fullwidth punctuation ends a URL); every other
    # detector reads the ASCII view.
    url_ranges, url_creds = _find_urls(text)
    url_starts = [r[0] for r in url_ranges]
    scan = ascii_view(text)

    def in_url(span: Span) -> bool:
        i = bisect.bisect_right(url_starts, span.end - 1) - 1
        return i >= 0 and url_ranges[i][1] > span.start

    protected = in_url if url_ranges else None

    if "secret" in types:
        cands += _find_secrets(scan)
        cands += url_creds
    if "email" in types and "@" in scan:
        cands += _find_emails(scan)
    if "ip" in types and ":" in scan:
        cands += _find_ipv6(scan, ip_scope, protected)
    if types & _DIGIT_TYPES:
        for w in _cluster_windows(scan, protected):
            cands += _digit_spans(scan, w, types, ip_scope)
    if "passport" in types:
        cands += _find_passports(scan)
    if not cands:
        return []
    if protected is not None:
        cands = [s for s in cands if s.type == "secret" or s.type == "email" or not protected(s)]
    if scan is not text:
        # Dotted quads written fullwidth are mostly figures in CJK tables ("１．３０．９０．５"
        # is 1.3 0.9 0.5 run together): such an address needs a word for it nearby.
        cands = [
            s
            for s in cands
            if s.type != "ip" or text[s.start] == scan[s.start] or _near(_IP_WORDS, scan, s.start, s.end)
        ]
    return resolve_overlaps(cands, len(text))


def redact(text: str, spans: list[Span], replacements: dict[str, str]) -> str:
    parts = []
    pos = 0
    for s in spans:
        parts.append(text[pos : s.start])
        parts.append(replacements[s.type])
        pos = s.end
    parts.append(text[pos:])
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# Stage


@dataclasses.dataclass
class PIIParams(Params):
    # Enabled PII types (see PII_TYPES).
    types: list[str] = dataclasses.field(default_factory=lambda: list(PII_TYPES))
    # Placeholder per type, overriding DEFAULT_REPLACEMENTS.
    replacements: dict[str, str] = dataclasses.field(default_factory=dict)
    # Types whose presence drops the whole document (reason "pii_<type>") instead of replacing.
    drop_types: list[str] = dataclasses.field(default_factory=list)
    # "all": every IP address is PII; "public": only globally routable ones (not 10.x, 127.x ...).
    ip_scope: str = "all"

    def __post_init__(self) -> None:
        known = set(PII_TYPES)
        for field, names in (
            ("types", self.types),
            ("drop_types", self.drop_types),
            ("replacements", list(self.replacements)),
        ):
            unknown = sorted(set(names) - known)
            if unknown:
                raise ValueError(f"pii.{field}: unknown PII type(s) {unknown}; known: {list(PII_TYPES)}")
        not_enabled = sorted(set(self.drop_types) - set(self.types))
        if not_enabled:
            raise ValueError(f"pii.drop_types: {not_enabled} not in pii.types")
        if self.ip_scope not in IP_SCOPES:
            raise ValueError(f"pii.ip_scope must be one of {IP_SCOPES}, got {self.ip_scope!r}")


class PIIStage(Stage):
    name = "pii"
    Params = PIIParams
    columns: ClassVar[dict[str, pa.DataType]] = {}
    reasons = tuple(f"pii_{t}" for t in PII_TYPES)

    def __init__(self, params: PIIParams | None = None):
        super().__init__(params)
        p = self.params
        self.types = frozenset(p.types)
        self.drop_types = frozenset(p.drop_types)
        self.replacements = {**DEFAULT_REPLACEMENTS, **p.replacements}

    def process(self, doc: Doc) -> Doc | Drop:
        text = doc["text"]
        spans = find_pii(text, self.types, self.params.ip_scope)
        if not spans:
            return doc
        for s in spans:
            if s.type in self.drop_types:
                n = sum(1 for x in spans if x.type == s.type)
                return Drop(f"pii_{s.type}", f"{n} {s.type} match(es)")
        for s in spans:
            self.count(s.type)
        doc["text"] = redact(text, spans, self.replacements)
        return doc
