"""PII removal: replace personal data in ``text`` with placeholders, or drop the document.

Design for throughput on ordinary web text (few matches):
- every detector is gated by a cheap check (``'@' in text``, a literal such as ``'eyJ'``) so the
  expensive pattern only runs on documents that can contain its kind of PII;
- digit-based detectors (phones, cards, ID numbers, SSNs, IBANs) only run inside small windows
  around *digit clusters* (>= 7 digits joined by phone-ish separators), found by one cheap scan;
- every pattern is linear: quantifiers are bounded, repeated units are unambiguous (a separator
  is never optional between two units of the same class) and candidates start at a token
  boundary, so adversarial inputs (long digit runs, ``@@@@``, 1 MB without spaces) stay O(n).

Checksums and plausibility checks (Luhn, ISO 7064 MOD 11-2, IBAN mod-97, dates, IP octets)
decide between PII and look-alikes (order numbers, versions, dates, prices, ISBNs ...).
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
DEFAULT_REPLACEMENTS: dict[str, str] = {
    "secret": "<SECRET>",
    "email": "<EMAIL>",
    "id_number": "<ID_NUMBER>",
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


# Issuer prefixes of the major card networks and the lengths they issue today (Amex 15, the rest
# 16 or 19). A Luhn-valid number outside these (e.g. an 18-digit order number: one in ten passes
# Luhn) is more likely an order or tracking number than a card.
_CARD_PREFIX = re.compile(
    r"4|5[1-5]|2(?:2[2-9]|[3-6][0-9]|7[01]|720)|3[47]|3(?:0[0-5]|[68])|35|6(?:011|5|4[4-9]|2)"
)


def card_ok(digits: str) -> bool:
    n = len(digits)
    if n == 15:
        ok_len = digits[:2] in ("34", "37")
    else:
        ok_len = n == 16 or (n == 19 and digits[0] in "3456")
    return ok_len and _CARD_PREFIX.match(digits) is not None and luhn_ok(digits)


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


# ---------------------------------------------------------------------------------------------
# Patterns. Left boundaries are lookbehinds (cheap: these run only in small windows or on
# gated documents); all quantifiers are bounded.

# A digit cluster: >= 7 digits joined by at most two phone-ish separator characters (phones,
# cards, IDs ...) or a dotted quad (IPv4). Years, prices and versions open no window. Starting
# with a plain [0-9] keeps sre's fast charset scan.
_CLUSTER = re.compile(
    r"[0-9](?:(?:[ \-./()+]{0,2}[0-9]){6,}|[0-9]{0,2}(?:\.[0-9]{1,3}){3}(?:[ \-./()+]{0,2}[0-9]){0,64})"
)
_BEFORE = 8  # "+", "(", "00", "(+86)" before the first digit
_AFTER = 16  # extensions: " ext. 1234", "转123"
_IBAN_BEFORE = 32  # an IBAN may start with letter groups before its first digit cluster
_TOKEN_TAIL = re.compile(r"[0-9A-Za-z]{0,64}")

_CARD_RE = re.compile(r"(?<![0-9A-Za-z\-.])[2-6][0-9]{3}(?:[ \-]?[0-9]){9,15}(?![0-9])")
_ID_RE = re.compile(
    r"(?<![0-9A-Za-z])[1-9][0-9]{5} ?(?:18|19|20)[0-9]{2}[01][0-9][0-3][0-9] ?[0-9]{3}[0-9Xx](?![0-9A-Za-z])"
)
_SSN_RE = re.compile(r"(?<![0-9A-Za-z\-])([0-9]{3})-([0-9]{2})-([0-9]{4})(?![0-9A-Za-z]|-[0-9])")
_IBAN_RE = re.compile(r"(?<![0-9A-Za-z])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}")

_EXT = r"(?:[ ]?(?:ext\.?|x|#|转|分机)[ ]?[0-9]{1,6})?"
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
_IPV4_RE = re.compile(r"(?<![0-9A-Za-z.])[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(?![0-9]|\.[0-9])")
# Dotted quads after these words are versions or section numbers, not addresses.
_VERSION_CONTEXT = re.compile(
    r"(?i)(?:\b(?:v|version|ver\.?|release|build|section|sec\.|chapter|rfc)|§|版本|第)\s*$"
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
_GITHUB = re.compile(r"(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,244})(?![A-Za-z0-9_])")
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
        for m in _PEM_BEGIN.finditer(text):
            i = bisect.bisect_right(ends, m.end())
            end = ends[i] if i < len(ends) else _PEM_BODY.match(text, m.end()).end()
            spans.append(Span(m.start(), end, "secret"))
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
        (_GITHUB, "gh", _WORD + "_"),
        (_GITLAB, "gl", _WORD + "_-"),
        (_SLACK, "xox", _WORD),
        (_JWT, "eyJ", _WORD + "_-"),
    ):
        if lit in text:
            spans.extend(Span(m.start(), m.end(), "secret") for m in _bounded(pat, text, bad))
    if "hooks.slack.com" in text:
        spans.extend(Span(m.start(1), m.end(1), "secret") for m in _SLACK_HOOK.finditer(text))
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


def _split_points(s: str) -> list[int]:
    return [i for i, c in enumerate(s) if not c.isalnum()]


def _longest_valid_prefix(s: str, ok) -> int:
    """Length of the longest prefix of ``s`` (cut before a separator) whose compact form is ok."""
    for cut in [len(s)] + _split_points(s)[::-1]:
        compact = s[:cut].replace(" ", "").replace("-", "")
        if ok(compact):
            return cut
    return 0


def _card_groups_ok(s: str) -> bool:
    seps = {c for c in s if not c.isdigit()}
    if not seps:
        return True
    if len(seps) > 1:
        return False
    groups = [len(g) for g in s.split(seps.pop())]
    if groups[0] != 4:
        return False
    return all(g == 4 for g in groups[1:-1]) and 1 <= groups[-1] <= 4 or groups[1:] in ([6, 5], [6, 4])


class _Window(NamedTuple):
    lo: int
    hi: int
    digits: int  # most digits in one cluster of the window
    dots: int  # most dots in one cluster
    chars: str  # the separators seen in its clusters


def _cluster_windows(text: str, protected) -> list[_Window]:
    """Windows around digit clusters that can hold digit-based PII, with what the clusters look
    like, so each detector runs only where its shape is possible (years, prices, versions and
    clusters inside URLs open none)."""
    out: list[_Window] = []
    n = len(text)
    for m in _CLUSTER.finditer(text):
        s = m.group()
        digits = (
            len(s)
            - s.count(" ")
            - s.count("-")
            - s.count(".")
            - s.count("/")
            - s.count("(")
            - s.count(")")
            - s.count("+")
        )
        dots = s.count(".")
        if protected(Span(m.start(), m.end(), "")):
            continue
        seps = "".join(c for c in "-+(" if c in s) + (
            "+" if "+" in text[max(0, m.start() - 2) : m.start()] else ""
        )
        lo = max(0, m.start() - _BEFORE)
        hi = _TOKEN_TAIL.match(text, min(n, m.end() + _AFTER)).end()
        if out and lo <= out[-1].hi:
            prev = out.pop()
            out.append(
                _Window(prev.lo, hi, max(prev.digits, digits), max(prev.dots, dots), prev.chars + seps)
            )
        else:
            out.append(_Window(lo, hi, digits, dots, seps))
    return out


def _digit_spans(text: str, w: _Window, types: frozenset[str], ip_scope: str) -> list[Span]:
    spans: list[Span] = []
    lo, hi = w.lo, w.hi
    if w.dots >= 3 and "ip" in types:
        spans += _find_ipv4(text, ip_scope, lo, hi)
    if w.digits < 7:
        return spans
    if w.digits >= 17 and "id_number" in types:
        for m in _ID_RE.finditer(text, lo, hi):
            if cn_id_ok(m.group().replace(" ", "")):
                spans.append(Span(m.start(), m.end(), "id_number"))
    if w.digits >= 13 and "card" in types:
        for m in _CARD_RE.finditer(text, lo, hi):
            s = m.group()
            cut = _longest_valid_prefix(s, card_ok)
            if cut and _card_groups_ok(s[:cut]) and _after(text, m.start() + cut) not in _DIGITS:
                spans.append(Span(m.start(), m.start() + cut, "card"))
    if "-" in w.chars and "ssn" in types:
        for m in _SSN_RE.finditer(text, lo, hi):
            if ssn_ok(*m.groups()):
                spans.append(Span(m.start(), m.end(), "ssn"))
    if w.digits >= 9 and "iban" in types:
        for m in _IBAN_RE.finditer(text, max(0, lo - _IBAN_BEFORE), hi):
            s = m.group()
            want = _IBAN_LEN.get(s[:2])
            if want is None:
                continue
            # Cut the run at the country's IBAN length (trailing words may have been swallowed).
            k = seen = 0
            while k < len(s) and seen < want:
                seen += s[k] != " "
                k += 1
            if (
                seen == want
                and iban_ok(s[:k].replace(" ", ""))
                and _after(text, m.start() + k) not in _ASCII_ALNUM
            ):
                spans.append(Span(m.start(), m.start() + k, "iban"))
    if "phone" in types:
        for pat, check in _PHONE_CHECKS:
            if pat is _PHONE_INTL and "+" not in w.chars and "00" not in text[lo:hi]:
                continue
            for m in pat.finditer(text, lo, hi):
                if check(m):
                    spans.append(Span(m.start(), m.end(), "phone"))
    return spans


def _ndigits(s: str) -> int:
    return sum(c in _DIGITS for c in s)


def _intl_ok(m: re.Match[str]) -> bool:
    s = m.group()
    if s[0] == "0" and s.isdigit():
        return False  # "00" + digits without any grouping: an ISBN or an ordinary number
    return 8 <= _ndigits(s.replace("(0)", "")) <= 17  # E.164 <= 15, plus an extension


def _nanp_ok(m: re.Match[str]) -> bool:
    # 415.555.0198 / 415-555-0132: the same separator twice; "(415) 555-0132" is free.
    return m.group(1) is None or m.group(1) == m.group(2)


# dd-mm-yyyy / mm-dd-yyyy (a date, maybe followed by a time), not a phone number.
_DATE_SHAPE = re.compile(r"[0-3]?[0-9]([\-/. ])[0-3]?[0-9]\1(?:19|20)?[0-9]{2}(?![0-9])")
_ZIP4_SHAPE = re.compile(r"[0-9]{5}-[0-9]{4}")


def _nat0_ok(m: re.Match[str]) -> bool:
    s = m.group()
    if _DATE_SHAPE.match(s) or _ZIP4_SHAPE.fullmatch(s):
        return False
    core = re.split(r"[ ]?(?:ext|x|#|转|分机)", s, maxsplit=1)[0]
    groups = re.findall(r"[0-9]+", core)
    n = sum(map(len, groups))
    if 9 <= n <= 12:
        return True
    # 0755-86013388-8001: a trailing dashed extension.
    return n > 12 and core.rfind("-") > 0 and len(groups[-1]) <= 5 and 9 <= n - len(groups[-1]) <= 12


def _cn_mobile_ok(m: re.Match[str]) -> bool:
    return True


_PHONE_CHECKS = (
    (_PHONE_INTL, _intl_ok),
    (_PHONE_CN_MOBILE, _cn_mobile_ok),
    (_PHONE_NANP, _nanp_ok),
    (_PHONE_NAT0, _nat0_ok),
)


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
        if _VERSION_CONTEXT.search(text, max(0, m.start() - 12), m.start()):
            continue
        if _ip_ok(s, scope):
            spans.append(Span(m.start(), m.end(), "ip"))
    return spans


def _find_ipv6(text: str, scope: str, protected) -> list[Span]:
    spans = []
    for lo, hi in _windows(text, _IPV6_HINT, 46, 46):
        for m in _IPV6_CAND.finditer(text, lo, hi):
            s = m.group().rstrip(":.")
            if s.count(":") < 2 or len([g for g in s.split(":") if g]) < 2 or not any(c.isdigit() for c in s):
                continue
            if s.startswith(":") and not s.startswith("::"):
                continue
            span = Span(m.start(), m.start() + len(s), "ip")
            if _ip_ok(s, scope) and not protected(span):
                spans.append(span)
    return spans


def find_pii(text: str, types: frozenset[str] | None = None, ip_scope: str = "all") -> list[Span]:
    """All non-overlapping PII spans in ``text``, sorted by start."""
    types = frozenset(PII_TYPES) if types is None else types
    cands: list[Span] = []
    url_ranges, url_creds = _find_urls(text)
    url_starts = [r[0] for r in url_ranges]

    def protected(span: Span) -> bool:
        i = bisect.bisect_right(url_starts, span.end - 1) - 1
        return i >= 0 and url_ranges[i][1] > span.start

    if "secret" in types:
        cands += _find_secrets(text)
        cands += url_creds
    if "email" in types and "@" in text:
        cands += _find_emails(text)
    if "ip" in types and ":" in text:
        cands += _find_ipv6(text, ip_scope, protected)
    if types & {"id_number", "card", "ssn", "iban", "phone", "ip"}:
        for w in _cluster_windows(text, protected):
            cands += [s for s in _digit_spans(text, w, types, ip_scope) if not protected(s)]
    if not cands:
        return []
    # Overlaps: the higher-priority type wins, then the longer span.
    cands.sort(key=lambda s: (_PRIORITY[s.type], s.start - s.end, s.start))
    chosen: list[Span] = []
    for s in cands:
        if all(s.end <= c.start or s.start >= c.end for c in chosen):
            chosen.append(s)
    chosen.sort()
    return chosen


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
