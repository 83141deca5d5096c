"""The ``tokenize`` stage's pure core, on a LLaMA-style model (mistral-common) and real Chinese text."""

from __future__ import annotations

import hashlib
import pickle
import shutil

import pyarrow as pa
import pytest
import sentencepiece as spm
from tok_assets import llama_style_model, people_daily_lines

from stages import load_step_class
from stages.tokenize import TokenizeParams, TokenizeStage, tokenizer_identity


@pytest.fixture(scope="module")
def model_path():
    return llama_style_model()


@pytest.fixture(scope="module")
def sp(model_path):
    return spm.SentencePieceProcessor(model_file=str(model_path))


def test_registered_under_canonical_name():
    assert load_step_class("tokenize") is TokenizeStage
    assert TokenizeStage.name == "tokenize"
    assert TokenizeParams() == TokenizeParams(tokenizer="", add_bos=True, add_eos=True, megatron=False)


def test_adds_bos_ids_eos_and_count(model_path, sp):
    stage = TokenizeStage(TokenizeParams(tokenizer=str(model_path)))
    stage.setup()
    lines = people_daily_lines()[:200]
    total = 0
    for i, text in enumerate(lines):
        doc = stage.process({"id": str(i), "url": "u", "text": text})
        assert doc["input_ids"] == [sp.bos_id(), *sp.encode(text), sp.eos_id()]
        assert doc["n_tokens"] == len(doc["input_ids"])
        total += doc["n_tokens"]
    assert stage.counts["tokens"] == total
    assert stage.process({"id": "e", "url": "u", "text": ""})["input_ids"] == [1, 2]


@pytest.mark.parametrize(("add_bos", "add_eos"), [(False, False), (True, False), (False, True)])
def test_bos_eos_are_configurable(model_path, sp, add_bos, add_eos):
    stage = TokenizeStage(TokenizeParams(tokenizer=str(model_path), add_bos=add_bos, add_eos=add_eos))
    stage.setup()
    text = people_daily_lines()[1]
    expected = [1] * add_bos + sp.encode(text) + [2] * add_eos
    assert stage.process({"id": "1", "url": "u", "text": text})["input_ids"] == expected


def test_accepts_a_merged_tokenizer_directory(tmp_path, model_path, sp):
    shutil.copyfile(model_path, tmp_path / "tokenizer.model")
    stage = TokenizeStage(TokenizeParams(tokenizer=str(tmp_path)))
    stage.setup()
    assert stage.process({"id": "1", "url": "u", "text": "中文"})["input_ids"] == [1, *sp.encode("中文"), 2]


def test_pickles_without_the_processor_and_reloads(model_path):
    stage = TokenizeStage(TokenizeParams(tokenizer=str(model_path)))
    stage.setup()
    clone = pickle.loads(pickle.dumps(stage))
    assert clone._encode is None
    clone.setup()
    assert clone.process({"id": "1", "url": "u", "text": "你好"})["n_tokens"] > 2


def test_missing_tokenizer_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="tokenizer"):
        TokenizeStage().setup()
    with pytest.raises(FileNotFoundError):
        TokenizeStage(TokenizeParams(tokenizer=str(tmp_path))).setup()


def test_columns_match_the_values(model_path):
    stage = TokenizeStage(TokenizeParams(tokenizer=str(model_path)))
    stage.setup()
    docs = [
        stage.process({"id": str(i), "url": "u", "text": t}) for i, t in enumerate(people_daily_lines()[:5])
    ]
    schema = pa.schema(list(TokenizeStage.columns.items()))
    table = pa.Table.from_pylist([{k: d[k] for k in TokenizeStage.columns} for d in docs], schema=schema)
    assert table.column("input_ids").to_pylist() == [d["input_ids"] for d in docs]


def test_tokenizer_identity(tmp_path, model_path):
    ident = tokenizer_identity(model_path)
    assert ident == {
        "path": str(model_path),
        "kind": "sentencepiece",
        "sha256": hashlib.sha256(model_path.read_bytes()).hexdigest(),
        "vocab_size": 32000,
        "bos_id": 1,
        "eos_id": 2,
    }
    shutil.copyfile(model_path, tmp_path / "tokenizer.model")
    assert tokenizer_identity(tmp_path)["sha256"] == ident["sha256"]
