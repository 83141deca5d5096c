"""Tests for the pii stage: checksums, each PII type, look-alikes, URLs, config, drop mode,
the generated labelled set (recall / look-alike survival), linearity on adversarial input,
real text, and the Beam wrapper."""

from __future__ import annotations

import random
import time
import zlib
from pathlib import Path

import pytest
from pii_testset import build_testset, gen_cn_id, gen_iban

from stages import load_step_class
from stages.base import Drop
from stages.pii import (
    DEFAULT_REPLACEMENTS,
    PIIParams,
    PIIStage,
    Span,
    ascii_view,
    card_ok,
    cn_id_check_char,
    cn_id_ok,
    find_pii,
    hk_id_check_char,
    iban_ok,
    kr_rrn_ok,
    luhn_ok,
    resolve_overlaps,
    tw_id_ok,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def redact(text: str, **params) -> str:
    out = PIIStage(PIIParams(**params)).process({"id": "1", "url": "", "text": text})
    assert not isinstance(out, Drop)
    return out["text"]


# --- checksums ----------------------------------------------------------------------------------


def test_luhn_and_card_networks():
    assert luhn_ok("4111111111111111") and card_ok("4111111111111111")
    assert not luhn_ok("4111111111111112")
    assert card_ok("378282246310005")  # Amex, 15 digits
    assert not card_ok("9111111111111111")  # no such network prefix
    assert not card_ok("411111111111111111"[:17] + "6")  # 18 digits: not an issued length


def test_cn_id_checksum_and_birth_date():
    rng = random.Random(1)
    for _ in range(50):
        good = gen_cn_id(rng)
        assert cn_id_ok(good)
        bad_check = good[:17] + ("0" if good[17] != "0" else "1")
        assert not cn_id_ok(bad_check)
    assert cn_id_check_char("11010519491231002") == "X"
    assert not cn_id_ok("110105" + "19491331" + "002" + cn_id_check_char("11010519491331002"))  # month 13
    assert not cn_id_ok(
        "990105" + "19491231" + "002" + cn_id_check_char("99010519491231002")
    )  # no province 99


def test_iban_checksum():
    rng = random.Random(2)
    for _ in range(30):
        iban = gen_iban(rng).replace(" ", "")
        assert iban_ok(iban)
        assert not iban_ok(iban[:-1] + str((int(iban[-1]) + 1) % 10))
    assert iban_ok("GB82WEST12345698765432")


def test_checksums_agree_with_stdnum_on_faker_values():
    # python-stdnum is the oracle; Faker's values are valid and invalid in proportions of its own.
    from faker import Faker
    from stdnum import iban as std_iban
    from stdnum import luhn
    from stdnum.cn import ric
    from stdnum.kr import rrn

    def oracle(check, v):
        try:
            return bool(check(v))
        except Exception:  # stdnum raises on some unknown region codes
            return False

    fakers = {loc: Faker(loc) for loc in ("en_US", "zh_CN", "ko_KR", "de_DE")}
    for f in fakers.values():
        f.seed_instance(7)
    for _ in range(200):
        kr = fakers["ko_KR"].ssn().replace("-", "")
        assert kr_rrn_ok(kr) == oracle(rrn.is_valid, kr), kr
        cn = fakers["zh_CN"].ssn()
        assert cn_id_check_char(cn[:17]) == ric.calc_check_digit(cn), cn
        if oracle(ric.is_valid, cn):
            assert cn_id_ok(cn), cn
        card = fakers["en_US"].credit_card_number()
        assert card_ok(card) and luhn.is_valid(card), card
        assert not card_ok(card[:-1] + str((int(card[-1]) + 1) % 10))
        iban = fakers["de_DE"].iban()
        assert iban_ok(iban) == std_iban.is_valid(iban)


def test_tw_and_hk_id_checks():
    # Taiwan IDs from Faker zh_TW (its own implementation of the check), Hong Kong IDs: published
    # worked examples.
    from faker import Faker

    f = Faker("zh_TW")
    f.seed_instance(3)
    for _ in range(100):
        v = f.ssn()
        assert tw_id_ok(v), v
        assert not tw_id_ok(v[:9] + str((int(v[9]) + 1) % 10))
    assert tw_id_ok("A123456789") and not tw_id_ok("A123456788")
    assert hk_id_check_char("A", "123456") == "3"
    assert hk_id_check_char("G", "123456") == "A"


# --- each type ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, pii, token",
    [
        ("mail john.doe+news@mail.cs.example.co.uk today", "john.doe+news@mail.cs.example.co.uk", "<EMAIL>"),
        ("请联系zhang.san@qq.com获取资料", "zhang.san@qq.com", "<EMAIL>"),
        ("邮箱：Li_Ming2024@163.com。", "Li_Ming2024@163.com", "<EMAIL>"),
        ("Call (415) 555-0132 now", "(415) 555-0132", "<PHONE>"),
        ("or 415.555.0198.", "415.555.0198", "<PHONE>"),
        ("dial +1 415-555-0132 ext. 12", "+1 415-555-0132 ext. 12", "<PHONE>"),
        ("London +44 20 7946 0958 or 020 7946 0958", "020 7946 0958", "<PHONE>"),
        ("Berlin 030 901820, München 089/12345678", "089/12345678", "<PHONE>"),
        ("Paris 01 42 68 53 00", "01 42 68 53 00", "<PHONE>"),
        ("手机13812345678，", "13812345678", "<PHONE>"),
        ("手机：+86 139-1234-5678。", "+86 139-1234-5678", "<PHONE>"),
        ("手机 138 1234 5678 联系", "138 1234 5678", "<PHONE>"),
        ("电话010-65529988转123", "010-65529988转123", "<PHONE>"),
        ("总机0755-86013388-8001", "0755-86013388-8001", "<PHONE>"),
        ("电话（010）65529988", "（010）65529988", "<PHONE>"),
        ("身份证号11010519491231002X，", "11010519491231002X", "<ID_NUMBER>"),
        ("card 4111 1111 1111 1111 exp 12/27", "4111 1111 1111 1111", "<CARD>"),
        ("卡号：5500-0000-0000-0004", "5500-0000-0000-0004", "<CARD>"),
        ("amex 3782 822463 10005.", "3782 822463 10005", "<CARD>"),
        ("SSN 078-05-1120.", "078-05-1120", "<ID_NUMBER>"),
        ("IBAN DE89 3704 0044 0532 0130 00 BIC COBADEFFXXX", "DE89 3704 0044 0532 0130 00", "<IBAN>"),
        ("pay to GB82WEST12345698765432.", "GB82WEST12345698765432", "<IBAN>"),
        ("server 203.0.113.7 and", "203.0.113.7", "<IP>"),
        ("v6 2001:db8:85a3::8a2e:370:7334 up", "2001:db8:85a3::8a2e:370:7334", "<IP>"),
        ("link-local fe80::1ff:fe23:4567:890a.", "fe80::1ff:fe23:4567:890a", "<IP>"),
        ("aws AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE", "<SECRET>"),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "wJalrXUtnFEMI/K7MDENG",
            "<SECRET>",
        ),
        ("token ghp_" + "a1B2" * 9 + " leaked", "ghp_" + "a1B2" * 9, "<SECRET>"),
        ("glpat-abcdefghij0123456789 x", "glpat-abcdefghij0123456789", "<SECRET>"),
        ("slack xoxb-123456789012-abcdefABCDEF1234", "xoxb-123456789012-abcdefABCDEF1234", "<SECRET>"),
        ("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcDEF123_-x", "eyJhbGciOiJIUzI1NiJ9", "<SECRET>"),
        # issue 15: the gaps an independent test found
        ("令牌github_pat_" + "a1B2c3D4e5" * 2 + "Ab_" + "x9Y8z7" * 10, "github_pat_a1B2c3", "<SECRET>"),
        ("Mobile: 07700900501", "07700900501", "<PHONE>"),
        ("Téléphone : 0156002807", "0156002807", "<PHONE>"),
        ("Telefon 03012345678", "03012345678", "<PHONE>"),
        ("手機0912345678", "0912345678", "<PHONE>"),
        ("电话01027289241", "01027289241", "<PHONE>"),
        ("電話番号は09012345678です", "09012345678", "<PHONE>"),
        ("전화번호는 01012345678입니다", "01012345678", "<PHONE>"),
        ("portable 05 32 18 66 30", "05 32 18 66 30", "<PHONE>"),
        ("call 001-802-523-3459x32699 today", "001-802-523-3459x32699", "<PHONE>"),
        ("TEL070-6956-0423まで", "070-6956-0423", "<PHONE>"),
        ("手机１５５４５７１５３８９，", "１５５４５７１５３８９", "<PHONE>"),
        ("身份证１１０１０５１９４９１２３１００２Ｘ", "１１０１０５１９４９１２３１００２Ｘ", "<ID_NUMBER>"),
        ("visa 4222 2222 22222 ok", "4222 2222 22222", "<CARD>"),
        ("card number 4222222222222", "4222222222222", "<CARD>"),
        ("diners 3056 930902 5904", "3056 930902 5904", "<CARD>"),
        ("JCB card 180068737859982", "180068737859982", "<CARD>"),
        ("maestro card 586870218912", "586870218912", "<CARD>"),
        ("amex 3782-822463-10005", "3782-822463-10005", "<CARD>"),
        ("SSN 368 74 7889.", "368 74 7889", "<ID_NUMBER>"),
        ("身分證字號A123456789", "A123456789", "<ID_NUMBER>"),
        ("HKID A123456(3)", "A123456(3)", "<ID_NUMBER>"),
        ("香港身份證Ｇ１２３４５６（Ａ）", "Ｇ１２３４５６（Ａ）", "<ID_NUMBER>"),
        ("주민등록번호 900101-1234568", "900101-1234568", "<ID_NUMBER>"),
        ("NI number AB 12 34 56 C", "AB 12 34 56 C", "<ID_NUMBER>"),
        ("Passport No. E12345678 issued", "E12345678", "<PASSPORT>"),
        ("护照号码：G12345678", "G12345678", "<PASSPORT>"),
        ("C01X00T47は旅券番号です", "C01X00T47", "<PASSPORT>"),
    ],
)
def test_detects_and_replaces(text, pii, token):
    out = redact(text)
    assert pii not in out, out
    assert token in out, out


def test_pem_private_key_block_removed_whole():
    body = "MIIEowIBAAKCAQEA" + "x" * 60 + "\n" + "Zm9vYmFy" * 8
    text = f"key:\n-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----\nend"
    assert redact(text) == "key:\n<SECRET>\nend"


def test_chinese_id_failing_check_is_not_pii():
    # An 18-digit order number that fails ISO 7064 MOD 11-2 stays.
    valid = "11010519491231002X"
    order = valid[:17] + "5"
    assert redact(f"订单号{order}已发货") == f"订单号{order}已发货"


@pytest.mark.parametrize(
    "text",
    [
        "Python 3.11.7 and 10.4.2 released",
        "on 2024-01-15 at 10:30:45, posted 02-14-2013 10:36 PM, 15.01.2024",
        "price $1,299.99 or ¥12,800.00, up 12.5% (16:9, 1:50000)",
        "ISBN 978-3-16-148410-0 and ISBN 0-306-40615-2",
        "coordinates 40.7128, -74.0060",
        "population 1,234,567,890 people; 3.14159265358979",
        "Build 10.0.19045.2965, section 1.2.3.4 of the version 1.2.3.4 spec",
        "1998年1月1日，增长１２．５％",
        "icon@2x.png and @python on social media",
        "std::vector<int> v; a::b",
        "https://example.com/archive/2023/10/15/item-4155550132.html",
        "ZIP 02134-1234, Boston",
        # issue 15: look-alikes an independent test found altered
        "tracking 2571 0769 4524 4291 sent",
        "ratio 8.15873565182 and ZIP+4 00930-9694",
        "ref 4111 1111 1111 1111 123 (19 digits, the 16-digit prefix passes Luhn)",
        "y[1::3], arr[0::2], x[::2]",
        "Mozilla/5.0 (X11; Linux i686; rv:1.9.1.20) Gecko/20100101 Firefox/3.5",
        "Version: 1.2.3.4, firmware 2.1.0.15, Chrome/120.0.6099.109",
        "详见build 15.6.13.17，版本10.2.3.4",
        # new types: failing checks, bare forms that need a context word, wrong letters
        "编号A123456788",
        "code A123456(4)",
        "주문번호 900101-1234567",
        "ref QQ 12 34 56 C and AB 12 34 56 E",
        "order E12345678 shipped",
        "number 07700900501 in the list",
        "item 4222222222222",
        "date 05 12 2018, time 10 30",
    ],
)
def test_lookalikes_survive(text):
    assert redact(text) == text


def test_longest_valid_span_wins_an_overlap():
    assert redact("IBAN DE98 5579 3615 6463 8597 17 ok") == "IBAN <IBAN> ok"
    assert resolve_overlaps([Span(0, 5, "phone"), Span(3, 10, "card"), Span(10, 12, "ip")], 12) == [
        Span(3, 10, "card"),
        Span(10, 12, "ip"),
    ]
    # a secret or an email is never cut by a longer span of a digit type
    assert resolve_overlaps([Span(0, 20, "phone"), Span(5, 8, "secret")], 20) == [Span(5, 8, "secret")]


def test_fullwidth_view_keeps_length_and_other_text():
    text = "１９９８年１２月３１日，" + "会议在北京举行。" * 4 + "电话：（０１０）６５５２９９８８，ＡＢＣ"
    view = ascii_view(text)
    assert len(view) == len(text)
    assert "(010)65529988，ABC" in view  # a fullwidth comma is a list mark: it stays
    assert view.startswith("１９９８年１２月３１日，")  # far from a long digit run: left as it is
    assert redact(text) == text.replace("（０１０）６５５２９９８８", "<PHONE>")


def test_urls_kept_only_email_or_credential_removed():
    text = "see https://admin:s3cr3tPW@db.example.com:5432/x?user=a&password=hunter2&page=4155550132 ok"
    out = redact(text)
    assert "s3cr3tPW" not in out and "hunter2" not in out
    assert "@db.example.com:5432/x?user=a&password=" in out and "page=4155550132 ok" in out
    out = redact("mailto:jane.roe@example.org or https://x.org/contact?to=jane.roe@example.org&id=7")
    assert out == "mailto:<EMAIL> or https://x.org/contact?to=<EMAIL>&id=7"
    assert redact("http://192.168.1.1/admin") == "http://192.168.1.1/admin"


def test_ip_scope_public_keeps_reserved_addresses():
    text = "lan 192.168.1.10, loop 127.0.0.1, doc 203.0.113.7, pub 8.8.8.8, v6 ::1 and 2606:4700:4700::1111"
    assert redact(text, ip_scope="all").count("<IP>") == 5
    out = redact(text, ip_scope="public")
    assert "192.168.1.10" in out and "127.0.0.1" in out and "203.0.113.7" in out
    assert "8.8.8.8" not in out and "2606:4700:4700::1111" not in out


# --- stage: config, counting, drop mode ---------------------------------------------------------


def test_counts_per_type_and_custom_replacement():
    stage = PIIStage(PIIParams(replacements={"email": "[email]"}))
    doc = stage.process({"id": "1", "url": "", "text": "a@b.com, c@d.org, 13812345678"})
    assert doc["text"] == "[email], [email], <PHONE>"
    assert stage.counts == {"email": 2, "phone": 1}


def test_disabled_type_is_kept():
    assert redact("a@b.com 13812345678", types=["phone"]) == "a@b.com <PHONE>"


def test_drop_mode_names_the_type():
    stage = PIIStage(PIIParams(drop_types=["id_number"]))
    res = stage.process({"id": "1", "url": "", "text": "身份证11010519491231002X"})
    assert isinstance(res, Drop) and res.reason == "pii_id_number" and res.reason in PIIStage.reasons
    kept = stage.process({"id": "2", "url": "", "text": "mail a@b.com"})
    assert kept["text"] == "mail <EMAIL>"


@pytest.mark.parametrize(
    "params",
    [
        {"types": ["emial"]},
        {"drop_types": ["x"]},
        {"replacements": {"fax": "<F>"}},
        {"ip_scope": "private"},
        {"types": ["email"], "drop_types": ["phone"]},
    ],
)
def test_params_validated(params):
    with pytest.raises(ValueError):
        PIIParams(**params)


def test_registered():
    assert load_step_class("pii") is PIIStage
    assert PIIStage.name == "pii"


# --- labelled set -------------------------------------------------------------------------------


def test_labelled_set_recall_and_lookalike_survival():
    pii, looks = build_testset()
    assert len(pii) >= 150 and len(looks) >= 100
    assert {t for _, _, t in pii} <= set(DEFAULT_REPLACEMENTS)
    stage = PIIStage()
    missed = []
    per_type: dict[str, list[int]] = {}
    for text, value, typ in pii:
        out = stage.process({"text": text})["text"]
        ok = value not in out and DEFAULT_REPLACEMENTS[typ] in out
        per_type.setdefault(typ, [0, 0])[0] += ok
        per_type[typ][1] += 1
        if not ok:
            missed.append((typ, text, out))
    changed = [(t, o) for t in looks if (o := stage.process({"text": t})["text"]) != t]
    recall = 1 - len(missed) / len(pii)
    survival = 1 - len(changed) / len(looks)
    print(
        f"\nPII recall {recall:.3f} ({len(pii) - len(missed)}/{len(pii)}), "
        f"look-alike survival {survival:.3f} ({len(looks) - len(changed)}/{len(looks)})"
    )
    print("per type:", {t: f"{a}/{b}" for t, (a, b) in per_type.items()})
    assert recall >= 0.98, missed
    assert survival >= 0.98, changed


@pytest.mark.slow
def test_multilocale_devset_tune_part():
    """The tuning part of benchmarks/pii_devset.py (Faker values, libphonenumber / stdnum as the
    oracle, six languages); the held-out part is only scored by benchmarks/bench_pii.py."""
    from benchmarks.pii_devset import build, score

    pii, looks = build("tune")
    per_type, _, _, changed = score(PIIStage(), pii, looks)
    assert set(per_type) == set(DEFAULT_REPLACEMENTS)
    recall = {t: sum(v) / len(v) for t, v in per_type.items()}
    assert min(recall.values()) >= 0.98, recall
    assert len(changed) <= 0.005 * len(looks), changed


# --- linearity ----------------------------------------------------------------------------------


def _no_spaces(n: int) -> str:
    return "".join(random.Random(0).choices("abcdef0123456789.-_@:", k=n))


# name -> a document of about n characters built to provoke backtracking or many candidates.
ADVERSARIAL = {
    "digit_run": lambda n: "7" * n,
    "at_run": lambda n: "@" * n,
    "local_parts": lambda n: ("a" * 63 + "@") * (n // 64),
    "no_spaces": _no_spaces,
    "dotted": lambda n: ".".join(["255"] * (n // 4)),
    "spaced_digits": lambda n: " ".join(["1234"] * (n // 5)),
    "phone_seps": lambda n: "+1 (" * (n // 4),
    "jwt_starts": lambda n: "eyJ" * (n // 3),
    "pem_begins": lambda n: "-----BEGIN RSA PRIVATE KEY-----\n" * (n // 32),
    "colons": lambda n: "a:" * (n // 2),
    "urls": lambda n: "http://x.com/" + "a@b" * (n // 3),
    "passport_words": lambda n: "passport " * (n // 9),
    "fullwidth_digits": lambda n: "１" * n,
    "fullwidth_spaced": lambda n: "１ " * (n // 2),
    # every pattern's PII, densely: a quadratic overlap check shows here first
    "dense_pii": lambda n: "".join(u for u, _, _ in DENSE_UNITS) * (n // 700),
}


# One unit of each PII pattern, repeated into a dense document: every copy must be replaced.
# (Issue 18: overlaps were resolved by comparing each candidate with every chosen span, so a 1 MB
# page of real emails took 9 minutes.)
DENSE_UNITS = [
    ("user1234@example.com ", "user1234@example.com", "<EMAIL>"),
    ("x@y.cn，", "x@y.cn", "<EMAIL>"),
    ("203.0.113.7 ", "203.0.113.7", "<IP>"),
    ("2001:db8:85a3::8a2e:370:7334 ", "2001:db8:85a3::8a2e:370:7334", "<IP>"),
    ("(415) 555-0132, ", "(415) 555-0132", "<PHONE>"),
    ("+44 20 7946 0958 / ", "+44 20 7946 0958", "<PHONE>"),
    ("13812345678，", "13812345678", "<PHONE>"),
    ("电话01012345678，", "01012345678", "<PHONE>"),
    ("电话１３８１２３４５６７８，", "１３８１２３４５６７８", "<PHONE>"),
    ("4111 1111 1111 1111; ", "4111 1111 1111 1111", "<CARD>"),
    ("11010519491231002X ", "11010519491231002X", "<ID_NUMBER>"),
    ("A123456789 ", "A123456789", "<ID_NUMBER>"),
    ("A123456(3) ", "A123456(3)", "<ID_NUMBER>"),
    ("900101-1234568 ", "900101-1234568", "<ID_NUMBER>"),
    ("AB 12 34 56 C ", "AB 12 34 56 C", "<ID_NUMBER>"),
    ("078-05-1120, ", "078-05-1120", "<ID_NUMBER>"),
    ("DE89 3704 0044 0532 0130 00, ", "DE89 3704 0044 0532 0130 00", "<IBAN>"),
    ("passport E12345678 ", "E12345678", "<PASSPORT>"),
    ("ghp_" + "a1B2" * 9 + " ", "ghp_" + "a1B2" * 9, "<SECRET>"),
    (
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcDEF123_-x ",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcDEF123_-x",
        "<SECRET>",
    ),
]


@pytest.mark.parametrize("unit, pii, token", DENSE_UNITS, ids=[u[2] + ":" + u[1][:12] for u in DENSE_UNITS])
def test_dense_document_every_copy_replaced(unit, pii, token):
    n = 200_000 // len(unit)
    stage = PIIStage()
    out = stage.process({"id": "1", "url": "", "text": unit * n})["text"]
    assert out == unit.replace(pii, token) * n
    assert sum(stage.counts.values()) == n


def _cpu(text: str) -> float:
    best = float("inf")
    for _ in range(2):
        t0 = time.process_time()
        find_pii(text)
        best = min(best, time.process_time() - t0)
    return max(best, 1e-4)


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_linear_on_adversarial_input(name):
    small, big = ADVERSARIAL[name](50_000), ADVERSARIAL[name](500_000)
    ratio = _cpu(big) / _cpu(small)
    print(f"\n{name}: time(500 KB) / time(50 KB) = {ratio:.1f}")
    # Linear is ~10; quadratic would be ~100. Loose bound against noise on a shared machine.
    assert ratio < 30


# --- real text ----------------------------------------------------------------------------------


def _wet_docs() -> list[str]:
    path = DATA / "warc" / "jeffharwell__CommonCrawlScalaTools" / "filter_test_1.wet.gz"
    raw = zlib.decompressobj(31).decompress(path.read_bytes()).decode("utf-8", "replace")
    return [r.partition("\r\n\r\n")[2] for r in raw.split("WARC/1.0\r\n")[1:] if "WARC-Type: conversion" in r]


def test_real_commoncrawl_text():
    docs = _wet_docs()
    assert len(docs) == 25
    stage = PIIStage()
    out = "\n".join(stage.process({"text": d})["text"] for d in docs)
    # Contact addresses and phone numbers on these pages are replaced ...
    assert "pcdeditor@cdc.gov" not in out and "(803) 593-9231" not in out
    # ... forum timestamps, reference page ranges and article ids are not.
    assert "02-14-2013 10:36 PM" in out and "J Mol Biol319: 141–16012051942" in out
    assert "doi: 10.1371" in out
    assert stage.counts["email"] >= 5 and stage.counts["phone"] >= 10


def test_real_chinese_news_text_only_its_phone_numbers():
    from benchmarks.text_assets import people_daily_lines

    # People's Daily writes digits fullwidth. Its dates, counts and figures stay; what is found are
    # the four service numbers printed next to 热线 / 电话 / 拨通.
    text = "\n".join(people_daily_lines()[:3000])
    found = [(text[s.start : s.end], s.type) for s in find_pii(text)]
    assert found == [
        ("９８１６８４３８８７", "phone"),
        ("９８１６８４３８８８", "phone"),
        ("５２８８２２８８", "phone"),
        ("２６６５４３２０", "phone"),
    ]


# --- Beam wrapper -------------------------------------------------------------------------------


def test_runs_in_beam_with_counts_and_drops():
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    from stages.beam import apply_stage

    docs = [
        {"id": "1", "url": "", "text": "mail a@b.com"},
        {"id": "2", "url": "", "text": "card 4111 1111 1111 1111"},
        {"id": "3", "url": "", "text": "nothing here 2024-01-15"},
    ]
    stage = PIIStage(PIIParams(drop_types=["card"]))
    with beam.Pipeline() as p:
        kept, rejected = apply_stage(p | beam.Create(docs), stage, keep_rejected=True)
        assert_that(
            kept | "kt" >> beam.Map(lambda d: d["text"]),
            equal_to(["mail <EMAIL>", "nothing here 2024-01-15"]),
            label="kept",
        )
        assert_that(rejected | "rr" >> beam.Map(lambda d: d["reason"]), equal_to(["pii_card"]), label="rej")
