"""Multi-locale labelled PII development set, built independently of ``stages/pii.py``.

Values come from the ``Faker`` fake-data generator (locales zh_CN, zh_TW, en_US, en_GB, de_DE,
fr_FR, ja_JP, ko_KR) and from libphonenumber's example numbers with random subscriber digits.
Validity is judged by ``phonenumbers`` (libphonenumber) and ``python-stdnum``, never by the
detector under test. Three types have no validator in either package; for them the oracle is the
published rule, written here from the specification (not imported from the detector):
Taiwan national IDs (Faker zh_TW ``ssn``, checked by ``_tw_id_valid``), Hong Kong IDs and UK
National Insurance numbers (generated from the rule). Passport numbers have no checksum: they are
Faker's ``passport_number`` placed next to a passport word.

Values go into sentence frames in Chinese, English, German, French, Japanese and Korean. The frames
and context words are split in two halves: ``part="tune"`` uses one half with seed 1, ``part="held"``
the other half with seed 2, so the held-out part differs in values *and* in wording.

``build(part)`` returns ``(pii_cases, lookalike_cases)``: a PII case is ``(text, value, type)`` (the
stage must remove ``value`` and insert the type's placeholder); a look-alike case is ``(text, kind)``
and the text must come out unchanged.
"""

from __future__ import annotations

import functools
import ipaddress
import random
import re
import string

import phonenumbers as pn
from faker import Faker
from phonenumbers import PhoneNumberFormat as PNF
from phonenumbers import PhoneNumberType as PNT
from stdnum import iban as std_iban
from stdnum import luhn
from stdnum.cn import ric
from stdnum.kr import rrn
from stdnum.us import ssn as std_ssn

PARTS = {"tune": 1, "held": 2}
LOCALES = ("zh_CN", "zh_TW", "en_US", "en_GB", "de_DE", "fr_FR", "ja_JP", "ko_KR")
LANGS = ("zh", "en", "de", "fr", "ja", "ko")
CJK = ("zh", "ja", "ko")

# Frames: {k} is a context word for the type, {v} the value. Neutral frames have no {k}.
FRAMES = {
    "zh": ["我的{k}是{v}，请记下。", "{k}：{v}", "如需帮助，请通过{k}{v}与我们联系。", "请核对{k}（{v}）是否正确",
           "{k}为{v}的用户请注意", "麻烦把{k} {v} 发给我"],
    "en": ["My {k} is {v}.", "{k}: {v}", "Please use the {k} {v} when you reply.", "Her {k} ({v}) was on the form.",
           "Is {v} your {k}?", "Confirm {k} - {v} - before Friday."],
    "de": ["Meine {k} ist {v}.", "{k}: {v}", "Bitte geben Sie die {k} {v} an.", "Die {k} ({v}) steht im Formular.",
           "Ist {v} Ihre {k}?", "Unter der {k} {v} erreichen Sie uns."],
    "fr": ["Mon {k} est le {v}.", "{k} : {v}", "Veuillez indiquer votre {k} {v} dans le formulaire.",
           "Le {k} ({v}) figure sur la fiche.", "Est-ce que {v} est votre {k} ?", "{k} – {v} – à vérifier."],
    "ja": ["私の{k}は{v}です。", "{k}：{v}", "お問い合わせは{k}{v}までお願いします。", "{k}（{v}）をご確認ください",
           "{v}が{k}です", "{k} {v} に変更しました"],
    "ko": ["제 {k}는 {v}입니다.", "{k}: {v}", "문의는 {k} {v}로 해 주세요.", "{k}({v})를 확인해 주세요",
           "{v}이 {k}입니다", "{k} {v} 으로 변경되었습니다"],
}  # fmt: skip
NEUTRAL = {
    "zh": ["信息如下：{v}。", "请记下{v}，谢谢", "备注 {v} 已更新"],
    "en": ["Details: {v}.", "Please note {v} for later.", "See {v} (updated)."],
    "de": ["Angaben: {v}.", "Bitte notieren: {v}", "Siehe {v} (aktualisiert)."],
    "fr": ["Détails : {v}.", "Veuillez noter {v}, merci.", "Voir {v} (mis à jour)."],
    "ja": ["詳細：{v}。", "{v}をメモしてください", "備考 {v} 更新済み"],
    "ko": ["상세: {v}.", "{v}를 메모해 주세요", "비고 {v} 업데이트됨"],
}  # fmt: skip
KEYWORDS = {
    "phone": {"zh": ["电话", "手机", "联系电话", "手机号码", "电话号码", "座机"],
              "en": ["phone number", "mobile", "telephone", "cell", "tel.", "contact number"],
              "de": ["Telefonnummer", "Handynummer", "Telefon", "Mobilnummer", "Tel.", "Rufnummer"],
              "fr": ["numéro de téléphone", "portable", "téléphone", "mobile", "tél.", "numéro"],
              "ja": ["電話番号", "携帯番号", "電話", "携帯電話", "TEL", "連絡先"],
              "ko": ["전화번호", "휴대폰 번호", "연락처", "핸드폰", "전화", "휴대전화"]},
    "email": {"zh": ["邮箱", "电子邮件", "邮件地址", "Email", "电邮", "邮箱地址"],
              "en": ["email", "e-mail address", "address", "mail", "email address", "contact"],
              "de": ["E-Mail", "E-Mail-Adresse", "Mail", "Adresse", "Mailadresse", "Kontakt"],
              "fr": ["e-mail", "adresse e-mail", "courriel", "mail", "adresse électronique", "contact"],
              "ja": ["メールアドレス", "メール", "Eメール", "連絡先", "アドレス", "電子メール"],
              "ko": ["이메일", "메일 주소", "이메일 주소", "메일", "연락처", "전자우편"]},
    "card": {"zh": ["信用卡号", "银行卡号", "卡号", "信用卡", "借记卡号", "银行卡"],
             "en": ["credit card number", "card number", "card", "Visa card", "debit card", "credit card"],
             "de": ["Kreditkartennummer", "Kartennummer", "Kreditkarte", "Karte", "Debitkarte", "Kartennr."],
             "fr": ["numéro de carte", "carte bancaire", "carte de crédit", "carte", "CB", "numéro de CB"],
             "ja": ["クレジットカード番号", "カード番号", "カード", "クレジットカード", "デビットカード", "番号"],
             "ko": ["카드번호", "신용카드 번호", "카드", "신용카드", "체크카드", "카드 번호"]},
    "passport": {"zh": ["护照号码", "护照号", "護照號碼", "护照", "護照", "护照编号"],
                 "en": ["passport number", "passport", "passport no.", "Passport No", "passport #", "Passport"],
                 "de": ["Reisepassnummer", "Passnummer", "Passport", "Reisepass", "Pass-Nr.", "Passport-Nr."],
                 "fr": ["numéro de passeport", "passeport", "passport", "n° de passeport", "Passeport", "passeport n°"],
                 "ja": ["旅券番号", "パスポート番号", "パスポート", "旅券", "パスポートNo.", "パスポート番号"],
                 "ko": ["여권번호", "여권 번호", "여권", "passport", "여권 No.", "여권번호"]},
    "id": {"zh": ["身份证号", "身份证号码", "证件号", "身份证", "證件號碼", "身分證字號"],
           "en": ["ID number", "national ID", "ID", "identity number", "social security number", "NI number"],
           "de": ["Ausweisnummer", "Personalausweisnummer", "ID", "Kennnummer", "Versicherungsnummer", "Nummer"],
           "fr": ["numéro d'identité", "pièce d'identité", "identifiant", "numéro", "numéro de sécurité sociale", "ID"],
           "ja": ["身分証番号", "ID", "番号", "個人番号", "登録番号", "証明書番号"],
           "ko": ["주민등록번호", "주민번호", "신분증 번호", "번호", "등록번호", "ID"]},
    "iban": {"zh": ["IBAN", "银行账号", "账号", "国际银行账号", "收款账号", "账户"],
             "en": ["IBAN", "bank account", "account", "IBAN number", "account number", "bank details"],
             "de": ["IBAN", "Kontonummer", "Bankverbindung", "Konto", "IBAN-Nummer", "Empfängerkonto"],
             "fr": ["IBAN", "RIB", "compte bancaire", "compte", "numéro IBAN", "coordonnées bancaires"],
             "ja": ["IBAN", "口座番号", "振込先", "口座", "銀行口座", "IBANコード"],
             "ko": ["IBAN", "계좌번호", "계좌", "은행 계좌", "입금 계좌", "국제계좌번호"]},
    "ip": {"zh": ["IP地址", "服务器IP", "IP", "地址", "登录IP", "来源IP"],
           "en": ["IP address", "server", "IP", "host", "client IP", "address"],
           "de": ["IP-Adresse", "Server", "IP", "Host", "Adresse", "Client-IP"],
           "fr": ["adresse IP", "serveur", "IP", "hôte", "adresse", "IP du client"],
           "ja": ["IPアドレス", "サーバー", "IP", "ホスト", "接続元IP", "アドレス"],
           "ko": ["IP 주소", "서버", "IP", "호스트", "접속 IP", "주소"]},
    "secret": {"zh": ["令牌", "密钥", "token", "API密钥", "访问令牌", "凭证"],
               "en": ["token", "API key", "secret", "access token", "key", "credential"],
               "de": ["Token", "API-Schlüssel", "Schlüssel", "Zugangstoken", "Geheimnis", "Key"],
               "fr": ["jeton", "clé API", "clé", "token", "secret", "jeton d'accès"],
               "ja": ["トークン", "APIキー", "キー", "アクセストークン", "シークレット", "認証情報"],
               "ko": ["토큰", "API 키", "키", "액세스 토큰", "비밀키", "인증 정보"]},
}  # fmt: skip
TYPE_KEYWORDS = {"email": "email", "phone": "phone", "card": "card", "passport": "passport", "ip": "ip",
                 "iban": "iban", "secret": "secret", "id_number": "id", "ssn": "id", "tw_id": "id",
                 "hk_id": "id", "kr_rrn": "id", "uk_nino": "id"}  # fmt: skip
# Types whose ordinary written form is recognisable without a context word get neutral frames too.
NEUTRAL_OK = {"email", "ip", "id_number", "iban", "secret", "tw_id", "hk_id", "kr_rrn", "uk_nino", "ssn"}


def _half(items: list, part: str) -> list:
    return items[0::2] if part == "tune" else items[1::2]


def to_fullwidth(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s)


# --- oracles for the three types without a stdnum validator (from the published rules) -------

_TW_LETTERS = "ABCDEFGHJKLMNPQRSTUVXYWZIO"  # A=10 ... in this order (I=34, O=35)


def _tw_id_valid(s: str) -> bool:
    if not re.fullmatch(r"[A-Z][12][0-9]{8}", s):
        return False
    n = _TW_LETTERS.index(s[0]) + 10
    total = n // 10 + (n % 10) * 9 + sum(int(c) * w for c, w in zip(s[1:9], range(8, 0, -1), strict=True))
    return (total + int(s[9])) % 10 == 0


def _hk_check(prefix: str, digits: str) -> str:
    vals = [36] if len(prefix) == 1 else []
    vals += [ord(c) - 55 for c in prefix] + [int(c) for c in digits]
    total = sum(v * w for v, w in zip(vals, range(9, 1, -1), strict=True))
    r = (11 - total % 11) % 11
    return "A" if r == 10 else str(r)


def gen_hk_id(rng: random.Random) -> str:
    prefix = "".join(rng.choices(string.ascii_uppercase, k=rng.choice([1, 1, 1, 2])))
    digits = "".join(rng.choices(string.digits, k=6))
    check = _hk_check(prefix, digits)
    return rng.choice(
        [f"{prefix}{digits}({check})", f"{prefix}{digits}{check}", f"{prefix}{digits}（{check}）"]
    )


_NINO_FIRST = "ABCEGHJKLMNOPRSTWXYZ"  # not D F I Q U V
_NINO_SECOND = "ABCEGHJKLMNPRSTWXYZ"  # not D F I O Q U V
_NINO_BAD = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}


def gen_nino(rng: random.Random) -> str:
    while (p := rng.choice(_NINO_FIRST) + rng.choice(_NINO_SECOND)) in _NINO_BAD:
        pass
    d = "".join(rng.choices(string.digits, k=6))
    s = rng.choice("ABCD")
    return rng.choice([f"{p} {d[:2]} {d[2:4]} {d[4:]} {s}", f"{p}{d}{s}", f"{p} {d} {s}"])


# --- value generators -------------------------------------------------------------------------


@functools.cache
def _faker(locale: str, seed: int) -> Faker:
    f = Faker(locale)
    f.seed_instance(seed)
    return f


PHONE_REGIONS = {"zh_CN": "CN", "zh_TW": "TW", "en_US": "US", "en_GB": "GB", "de_DE": "DE", "fr_FR": "FR",
                 "ja_JP": "JP", "ko_KR": "KR"}  # fmt: skip


def _random_valid_number(rng: random.Random, region: str) -> pn.PhoneNumber:
    """A libphonenumber example number of the region with its subscriber digits randomised,
    kept only when libphonenumber still calls it valid."""
    kind = rng.choice([PNT.FIXED_LINE, PNT.MOBILE])
    ex = pn.example_number_for_type(region, kind)
    nsn = str(ex.national_number)
    keep = rng.randint(2, 4)
    for _ in range(100):
        cand = nsn[:keep] + "".join(rng.choices(string.digits, k=len(nsn) - keep))
        p = pn.parse("+" + str(ex.country_code) + cand)
        if pn.is_valid_number(p):
            return p
    return ex


def gen_phone(rng: random.Random, seed: int) -> tuple[str, bool]:
    """(number as written, needs a phone context word)"""
    while True:
        loc = rng.choice(LOCALES)
        region = PHONE_REGIONS[loc]
        if rng.random() < 0.5:
            raw = _faker(loc, seed).phone_number()
            try:
                p = pn.parse(raw, region)
            except pn.NumberParseException:
                continue
            if not pn.is_valid_number(p):
                continue
            if rng.random() < 0.6:
                return raw, not re.search(r"[ \-.()]", raw.strip("+"))
        else:
            p = _random_valid_number(rng, region)
        ext = p.extension
        p.extension = None
        style = rng.randrange(4)
        if style == 0:
            out = pn.format_number(p, PNF.NATIONAL)
        elif style == 1:
            out = pn.format_number(p, PNF.INTERNATIONAL)
        elif style == 2:
            out = pn.format_number(p, PNF.E164)
        else:
            out = re.sub(r"[^0-9]", "", pn.format_number(p, PNF.NATIONAL))
        if ext:
            out += "x" + ext
        return out, style == 3


CARD_TYPES = ("amex", "diners", "discover", "jcb15", "jcb16", "maestro", "mastercard", "visa13", "visa16",
              "visa19")  # fmt: skip
_CARD_GROUPS = {15: [(4, 6, 5)], 14: [(4, 6, 4)], 16: [(4, 4, 4, 4)], 19: [(4, 4, 4, 4, 3)],
                13: [(4, 4, 5), (4, 3, 3, 3)], 12: [(4, 4, 4)]}  # fmt: skip


def gen_card(rng: random.Random, seed: int) -> tuple[str, bool]:
    num = _faker("en_US", seed).credit_card_number(rng.choice(CARD_TYPES))
    assert luhn.is_valid(num)
    if rng.random() < 0.4:
        return num, len(num) not in (15, 16)
    groups = rng.choice(_CARD_GROUPS[len(num)])
    sep = rng.choice([" ", "-"])
    parts, i = [], 0
    for g in groups:
        parts.append(num[i : i + g])
        i += g
    return sep.join(parts), False


def gen_iban(rng: random.Random, seed: int) -> str:
    loc = rng.choice(("de_DE", "fr_FR", "en_GB", "es_ES", "it_IT", "nl_NL"))
    v = _faker(loc, seed).iban()
    assert std_iban.is_valid(v)
    return std_iban.format(v) if rng.random() < 0.5 else v


def _safe(check):
    """stdnum validators raise on some inputs (e.g. a KeyError for unknown regions): not valid."""

    def ok(v: str) -> bool:
        try:
            return bool(check(v))
        except Exception:
            return False

    return ok


def _until(gen, ok):
    while not _safe(ok)(v := gen()):
        pass
    return v


def gen_value(typ: str, rng: random.Random, seed: int) -> tuple[str, bool]:
    """(value, needs a context word)"""
    f_us = _faker("en_US", seed)
    if typ == "email":
        f = _faker(rng.choice(LOCALES), seed)
        return rng.choice([f.email, f.free_email, f.company_email, f.ascii_safe_email])(), False
    if typ == "phone":
        return gen_phone(rng, seed)
    if typ == "ip":
        v = rng.choice([f_us.ipv4_public, f_us.ipv4_private, f_us.ipv6, f_us.ipv4])()
        ipaddress.ip_address(v)
        if ":" in v and rng.random() < 0.5:
            v = ipaddress.ip_address(v).compressed
        return v, False
    if typ == "id_number":
        return _until(_faker("zh_CN", seed).ssn, ric.is_valid), False
    if typ == "card":
        return gen_card(rng, seed)
    if typ == "iban":
        return gen_iban(rng, seed), False
    if typ == "ssn":
        v = _until(lambda: f_us.ssn(taxpayer_identification_number_type="SSN"), std_ssn.is_valid)
        return (v.replace("-", " ") if rng.random() < 0.4 else v), False
    if typ == "tw_id":
        return _until(_faker("zh_TW", seed).ssn, _tw_id_valid), False
    if typ == "hk_id":
        return gen_hk_id(rng), False
    if typ == "kr_rrn":
        v = _until(_faker("ko_KR", seed).ssn, rrn.is_valid)
        return (v.replace("-", "") if rng.random() < 0.2 else v), False
    if typ == "uk_nino":
        return gen_nino(rng), False
    if typ == "passport":
        return _faker(rng.choice(LOCALES), seed).passport_number(), True
    if typ == "secret":
        return gen_secret(rng, f_us), False
    raise ValueError(typ)


def gen_secret(rng: random.Random, f: Faker) -> str:
    """Tokens in the vendors' documented shapes, random bodies from Faker."""
    alnum = string.ascii_letters + string.digits

    def rand(k: int, chars: str = alnum) -> str:
        return "".join(f.random_element(chars) for _ in range(k))

    k = rng.randrange(7)
    if k == 0:
        return "AKIA" + rand(16, string.ascii_uppercase + string.digits)
    if k == 1:
        return rng.choice(["ghp_", "gho_", "ghs_", "ghu_"]) + rand(36)
    if k == 2:
        return "github_pat_" + rand(22) + "_" + rand(59)
    if k == 3:
        return "glpat-" + rand(20, alnum + "_-")
    if k == 4:
        return f"xoxb-{rand(12, string.digits)}-{rand(13, string.digits)}-{rand(24)}"
    if k == 5:
        return f"xoxp-{rand(12, string.digits)}-{rand(12, string.digits)}-{rand(13, string.digits)}-{rand(32, 'abcdef0123456789')}"
    return (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        + "eyJ"
        + rand(40, alnum + "_-")
        + "."
        + rand(43, alnum + "_-")
    )


PII_COUNTS = {"email": 60, "phone": 300, "ip": 60, "id_number": 50, "card": 120, "iban": 50, "ssn": 50,
              "secret": 40, "tw_id": 50, "hk_id": 50, "kr_rrn": 50, "uk_nino": 50, "passport": 60}  # fmt: skip


def _frame(rng: random.Random, part: str, lang: str, typ: str, value: str, needs_context: bool) -> str:
    neutral = typ in NEUTRAL_OK and not needs_context and rng.random() < 0.3
    if neutral:
        return rng.choice(_half(NEUTRAL[lang], part)).format(v=value)
    kw = rng.choice(_half(KEYWORDS[TYPE_KEYWORDS[typ]][lang], part))
    return rng.choice(_half(FRAMES[lang], part)).format(k=kw, v=value)


def pii_cases(part: str) -> list[tuple[str, str, str]]:
    seed = PARTS[part]
    rng = random.Random(seed)
    out = []
    for typ, n in PII_COUNTS.items():
        for _ in range(n):
            value, needs_context = gen_value(typ, rng, seed)
            lang = rng.choice(LANGS)
            if lang in CJK and typ not in ("email", "secret") and rng.random() < 0.15:
                value = to_fullwidth(value)
            out.append((_frame(rng, part, lang, typ, value, needs_context), value, typ))
    return out


# --- look-alikes ------------------------------------------------------------------------------


def _is_valid_phone_anywhere(s: str) -> bool:
    digits = re.sub(r"[^0-9+]", "", s)
    for region in PHONE_REGIONS.values():
        try:
            if pn.is_valid_number(pn.parse(digits, region)):
                return True
        except pn.NumberParseException:
            pass
    return False


def _break_luhn(num: str) -> str:
    return num[:-1] + str((int(num[-1]) + 1) % 10)


def _group(s: str, sizes: tuple[int, ...], sep: str = " ") -> str:
    out, i = [], 0
    for g in sizes:
        out.append(s[i : i + g])
        i += g
    return sep.join(out)


def lookalike_values(rng: random.Random, seed: int) -> list[tuple[str, str]]:
    """(look-alike text fragment, kind). Every numeric one is checked by the oracles to be no
    valid PII of the kind it resembles."""
    f = _faker("en_US", seed)
    out: list[tuple[str, str]] = []

    def d(k: int) -> str:
        return f.numerify("#" * k)

    for _ in range(40):
        out.append((f.user_agent(), "user_agent"))
        v = f"{rng.randint(1, 30)}.{rng.randint(0, 20)}.{rng.randint(0, 99)}.{rng.randint(0, 9999)}"
        out.append((rng.choice(["Version: {}", "firmware {}", "Chrome/{}", "build {}", "版本{}", "详见build {}",
                                "バージョン{}", "버전 {}", "v{}", "Version {}"]).format(v), "version"))  # fmt: skip
        out.append(
            (f"{f.pyfloat(left_digits=rng.randint(1, 3), right_digits=rng.randint(8, 12))}", "decimal")
        )
        pattern = rng.choice(["%d.%m.%Y", "%Y/%m/%d", "%d/%m/%Y %H:%M", "%Y年%m月%d日", "%m-%d-%Y", "%d %m %Y",
                              "%Y-%m-%d %H:%M:%S", "%d.%m.%y", "%Y.%m.%d"])  # fmt: skip
        out.append((f.date(pattern), "date"))
        loc = rng.choice(LOCALES)
        out.append((_faker(loc, seed).postcode(), "postcode"))
        out.append((f.zipcode_plus4(), "postcode"))
        code = rng.choice(["y[{a}::{b}]", "arr[{a}::{b}]", "x[::{b}]", "std::vector<int> v({a});", "a::b::c{a}",
                           "{a}:{b}:{c}", "m[{a}:{b}:{c}]", "ts 1{a}:{b}:{c}", "MAC {mac}"])  # fmt: skip
        mac = ":".join(f"{rng.randint(0, 255):02X}" for _ in range(6))
        out.append(
            (code.format(a=rng.randint(0, 9), b=rng.randint(1, 9), c=rng.randint(10, 59), mac=mac), "code")
        )
        # Order and tracking numbers: no valid phone (any region), card, or ID by the oracles.
        while True:
            num = d(rng.randint(8, 20))
            if num[0] == "0":
                continue
            if not (_is_valid_phone_anywhere(num) or luhn.is_valid(num) or _safe(ric.is_valid)(num)):
                break
        out.append((num, "order_number"))
        grouped = _group(num, (4,) * (len(num) // 4)) if len(num) % 4 == 0 else num
        if not _is_valid_phone_anywhere(grouped):
            out.append((grouped, "order_number"))
        # Invalid checksums.
        card = _break_luhn(f.credit_card_number(rng.choice(CARD_TYPES)))
        out.append(
            (card if rng.random() < 0.5 else _group(card, (4,) * 4) if len(card) == 16 else card, "bad_card")
        )
        cid = _faker("zh_CN", seed).ssn()
        bad = cid[:17] + ("0" if cid[17] != "0" else "1")
        if not _safe(ric.is_valid)(bad):
            out.append((bad, "bad_id"))
        r = _faker("ko_KR", seed).ssn()
        if not _safe(rrn.is_valid)(r):
            out.append((r, "bad_id"))
        tw = _faker("zh_TW", seed).ssn()
        tw_bad = tw[:9] + str((int(tw[9]) + 1) % 10)
        out.append((tw_bad, "bad_id"))
        hk = gen_hk_id(rng)
        hk_bad = re.sub(
            r"([0-9A])(\)|）)?$", lambda m: ("1" if m.group(1) != "1" else "2") + (m.group(2) or ""), hk
        )
        if hk_bad != hk:
            prefix = re.match(r"[A-Z]+", hk_bad).group()
            digits = re.sub(r"[^0-9]", "", hk_bad[len(prefix) :])[:6]
            if _hk_check(prefix, digits) != re.sub(r"[()（）]", "", hk_bad)[-1]:
                out.append((hk_bad, "bad_id"))
        ib = f.iban()
        ib_bad = ib[:2] + f"{(int(ib[2:4]) + 1) % 100:02d}" + ib[4:]
        if not std_iban.is_valid(ib_bad):
            out.append((ib_bad, "bad_iban"))
        s = f"{rng.choice(['000', '666', '9' + d(2)])}-{d(2)}-{d(4)}"
        if not std_ssn.is_valid(s):
            out.append((s, "bad_ssn"))
        # Passport-shaped values without a passport word; invalid NINO prefixes.
        out.append((_faker(rng.choice(LOCALES), seed).passport_number(), "passport_shape"))
        nino = rng.choice("DFIQUV") + rng.choice(string.ascii_uppercase) + d(6) + rng.choice("ABCD")
        if _hk_check(nino[:2], nino[2:8]) != nino[8]:  # that would be a valid Hong Kong ID
            out.append((nino, "bad_nino"))
        out.append((f"{rng.randint(1, 99)}.{d(2)}%", "decimal"))
        out.append((f"¥{rng.randint(1, 999)},{d(3)}.{d(2)}", "price"))
        out.append((f"ISBN {f.isbn13()}", "isbn"))
    return out


LOOKALIKE_FRAMES = {
    "zh": ["详见{v}。", "编号{v}已更新", "参考：{v}", "{v}（见上文）"],
    "en": ["See {v} for details.", "Ref: {v}", "The value {v} was logged.", "({v})"],
    "de": ["Siehe {v}.", "Referenz: {v}", "Der Wert {v} wurde gespeichert.", "({v})"],
    "fr": ["Voir {v}.", "Réf. : {v}", "La valeur {v} a été enregistrée.", "({v})"],
    "ja": ["詳細は{v}を参照", "番号{v}を更新", "参考：{v}", "{v}（上記）"],
    "ko": ["{v} 참조", "번호 {v} 갱신", "참고: {v}", "({v})"],
}  # fmt: skip


def lookalike_cases(part: str) -> list[tuple[str, str]]:
    seed = PARTS[part]
    rng = random.Random(seed * 1000 + 7)
    out = []
    for value, kind in lookalike_values(rng, seed):
        lang = rng.choice(LANGS)
        out.append((rng.choice(_half(LOOKALIKE_FRAMES[lang], part)).format(v=value), kind))
    return out


def build(part: str) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    if part not in PARTS:
        raise ValueError(f"part must be one of {list(PARTS)}")
    return pii_cases(part), lookalike_cases(part)


def score(stage, pii: list, looks: list) -> tuple[dict, dict, list, list]:
    """A PII stage on a part of the set: per type, whether each value was replaced by its
    placeholder; per look-alike kind, whether each text came out unchanged; then the misses
    ``(type, text, output)`` and the changed look-alikes ``(kind, text, output)``."""
    per_type: dict[str, list[bool]] = {}
    misses = []
    for text, value, typ in pii:
        out = stage.process({"text": text})["text"]
        ok = value not in out and stage.replacements[typ] in out
        per_type.setdefault(typ, []).append(ok)
        if not ok:
            misses.append((typ, text, out))
    per_kind: dict[str, list[bool]] = {}
    changed = []
    for text, kind in looks:
        out = stage.process({"text": text})["text"]
        per_kind.setdefault(kind, []).append(out == text)
        if out != text:
            changed.append((kind, text, out))
    return per_type, per_kind, misses, changed
