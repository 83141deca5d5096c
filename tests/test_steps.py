"""The pipeline is the user's list of steps: any order, a type twice under two names, a user's own
step by import path with the same validation, counting, routing and reporting as built-in ones."""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to
from conftest import read_shards
from conftest import run_pipeline as run

from pipeline.config import ConfigError, load_config
from pipeline.run import main
from stages.base import RunContext
from stages.beam import apply_stage

DOCS = [
    {"id": "calm", "text": "A calm sentence about gardens and the weather in spring."},
    {"id": "mixed", "text": "SOME CAPITALS HERE BUT mostly normal words."},
    {"id": "loud", "text": "THIS IS ALL SHOUTING ABOUT NOTHING AT ALL, READ IT NOW"},
    {"id": "calm-copy", "text": "A calm sentence about gardens and the weather in spring."},
    {"id": "boom", "text": "This one says BOOM and a step of ours raises on it."},
]

STEPS_YAML = """
steps:
  - shout:
      type: user_steps:Shouting
      max_upper_share: 0.9
  - normalize: {}
  - strict_shout:
      type: user_steps:Shouting
      max_upper_share: 0.3
  - explodes:
      type: user_steps:Explodes
  - exact_dedup: {}
"""


@pytest.fixture()
def inputs(tmp_path) -> tuple[Path, Path]:
    data = tmp_path / "docs.jsonl"
    data.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    config = tmp_path / "steps.yaml"
    config.write_text(STEPS_YAML)
    return data, config


@pytest.mark.slow
def test_user_list_runs_in_order_with_a_type_twice_and_user_steps(inputs, tmp_path):
    data, config = inputs
    out = tmp_path / "out"
    assert run("--config", str(config), "--input", str(data), "--output", str(out), "--keep-rejected") == 0
    stats = json.loads((out / "stats.json").read_text())
    steps = stats["stages"]
    assert list(steps) == ["read", "shout", "normalize", "strict_shout", "explodes", "exact_dedup", "write"]
    assert steps["shout"]["dropped"] == {"too_much_shouting": 1}  # "loud"
    assert steps["strict_shout"]["dropped"] == {"too_much_shouting": 1}  # "mixed"
    assert steps["explodes"]["dropped"] == {"step_error": 1}  # one hostile document, not the run
    assert steps["exact_dedup"]["dropped"] == {"exact_duplicate": 1}
    assert stats["accounting"] == "ok"
    assert all(steps[name]["cpu_s"] >= 0 for name in ("shout", "normalize", "strict_shout"))

    kept = read_shards(out / "documents")
    assert sorted(kept.column("id").to_pylist()) in (["calm"], ["calm-copy"])
    assert "upper_share" in kept.column_names  # a user step's column is written like lang is
    rejected = read_shards(out / "rejected").to_pylist()
    why = {r["id"]: (r["stage"], r["reason"]) for r in rejected}
    assert why["loud"] == ("shout", "too_much_shouting")
    assert why["mixed"] == ("strict_shout", "too_much_shouting")
    assert why["boom"][0] == "explodes" and why["boom"][1] == "step_error"
    boom = next(r for r in rejected if r["id"] == "boom")
    assert boom["detail"].startswith("ValueError: cannot handle this one")
    report = (out / "report.html").read_text()
    assert "strict_shout" in report and "too_much_shouting" in report


def test_stages_filters_the_list_and_enabled_false_skips(inputs, tmp_path):
    _, config = inputs
    cfg = load_config(str(config), overrides={"stages": "exact_dedup,shout"})
    assert cfg.step_names == ["shout", "exact_dedup"]
    cfg = load_config(str(config), sets=["strict_shout.enabled=false"])
    assert cfg.step_names == ["shout", "normalize", "explodes", "exact_dedup"]
    assert (
        load_config(str(config), sets=["strict_shout.max_upper_share=0.1"])
        .params("strict_shout")
        .max_upper_share
        == 0.1
    )
    # The default list has quality and tokenize disabled (they need a model / a tokenizer).
    assert "quality" not in load_config().step_names and "tokenize" not in load_config().step_names


@pytest.mark.parametrize(
    ("sets", "needle"),
    [
        (["shout.bogus=1"], "config key 'shout.bogus': unknown key"),
        (["shout.max_upper_share=2"], "config key 'shout.max_upper_share': must be in [0, 1]"),
        (
            ["shout.type=user_steps:NotAStep"],
            "config key 'shout.type': step type 'user_steps:NotAStep': NotAStep is not",
        ),
        (["shout.type=no_such_pkg.mod:Step"], "cannot import 'no_such_pkg.mod'"),
        (["shout.type=frobnicate"], "unknown step type 'frobnicate'"),
        (["strict_shout.enabled=maybe"], "'strict_shout.enabled': expected bool"),
    ],
)
def test_user_steps_are_validated_like_built_in_ones(inputs, sets, needle):
    _, config = inputs
    with pytest.raises(ConfigError) as err:
        load_config(str(config), sets=sets)
    assert needle in str(err.value)


def test_step_list_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - pii: {}\n  - pii: {}\n")
    with pytest.raises(ConfigError, match="two steps are named 'pii'"):
        load_config(str(bad))
    bad.write_text("steps:\n  - pii: {}\nlangid:\n  min_score: 0.5\n")
    with pytest.raises(ConfigError, match="'langid': unknown key .*steps: pii"):
        load_config(str(bad))
    bad.write_text("steps:\n  - {pii: {}, langid: {}}\n")
    with pytest.raises(ConfigError, match=r"steps\[0\]"):
        load_config(str(bad))


def test_a_step_never_changes_what_another_consumer_sees(tmp_path):
    """Beam hands one element to every consumer of a PCollection; a step changing its input in
    place would change what the others see. ApplyStage gives each step its own copy."""
    from user_steps import Upcase

    texts = [f"text {i}" for i in range(20)]
    with beam.Pipeline("DirectRunner") as p:
        created = p | beam.Create([{"id": str(i), "text": t} for i, t in enumerate(texts)], reshuffle=False)
        docs = created | "docs" >> beam.Map(dict)  # one fused stage: consumers share each element
        # Consumers on both sides of the step: whichever order the runner calls them in, the step
        # runs before one of them.
        before = docs | "consumer before" >> beam.Map(lambda d: d["text"])
        kept, _ = apply_stage(docs, Upcase(), False, RunContext(str(tmp_path), "r"))
        after = docs | "consumer after" >> beam.Map(lambda d: d["text"])
        assert_that(kept | "kept text" >> beam.Map(lambda d: d["text"]), equal_to([t.upper() for t in texts]),
                    label="the step's output")  # fmt: skip
        assert_that(before, equal_to(texts), label="consumer before")
        assert_that(after, equal_to(texts), label="consumer after")


@pytest.mark.slow
def test_systematic_errors_stop_the_run_with_one_line(inputs, tmp_path, capsys):
    data, config = inputs
    out = tmp_path / "out"
    code = run("--config", str(config), "--input", str(data), "--output", str(out),
               "--set", "max_errors=0", "--set", "max_error_share=0.0")  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: explodes: 1 of") and "max_errors 0" in err[-1]
    assert not (out / "manifest.json").exists() and not list(out.glob(".tmp-*"))


def test_list_steps_prints_every_type_with_parameters_and_reasons(capsys):
    from stages import STEP_TYPES

    assert main(["--list-steps"]) == 0
    text = capsys.readouterr().out
    for name in STEP_TYPES:
        assert f"\n{name}: " in text or text.startswith(f"{name}: ")
    assert "    min_score: 0.65" in text  # langid's default
    assert "drop reasons: lang_not_allowed, lang_low_score" in text
    assert "writes: lang, lang_score" in text
