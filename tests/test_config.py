"""Configuration: validated in one place; every error is one line naming the key, exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.config import ConfigError, load_config
from pipeline.run import main


def test_defaults_load_and_set_overrides():
    cfg = load_config(sets=["normalize.max_blank_lines=0", "write.shard_max_mb=1"])
    assert cfg.step_names == [
        "extract",
        "normalize",
        "langid",
        "heuristics",
        "exact_dedup",
        "minhash_dedup",
        "pii",
    ]
    assert cfg.params("normalize").max_blank_lines == 0
    assert cfg.write.shard_max_mb == 1.0


def test_stages_run_in_list_order():
    assert load_config(overrides={"stages": "normalize,extract"}).step_names == ["extract", "normalize"]


@pytest.mark.parametrize(
    ("sets", "overrides", "needle"),
    [
        (["normalize.bogus=1"], {}, "'normalize.bogus': unknown key"),
        (["normalize.nfc=maybe"], {}, "'normalize.nfc': expected bool"),
        (["write.shard_max_rows=many"], {}, "'write.shard_max_rows': expected int"),
        (["nonsense.key=1"], {}, "'nonsense': unknown key"),
        ([], {"stages": "extract,frobnicate"}, "unknown step 'frobnicate'"),
    ],
)
def test_errors_name_the_key(sets, overrides, needle):
    with pytest.raises(ConfigError) as err:
        load_config(sets=sets, overrides=overrides)
    assert needle in str(err.value)


def test_cli_config_errors_exit_2_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("normalize:\n  min_chars: ten\n")
    assert main(["--config", str(bad), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: config key 'normalize.min_chars': expected int, got 'ten'"]

    assert main(["--config", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot be read" in capsys.readouterr().err

    assert main(["--input", str(tmp_path / "nothing-*.warc.gz"), "--output", str(tmp_path / "o")]) == 2
    assert "'input'" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_error_has_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.run", "--set", "extract.nope=1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "config key 'extract.nope'" in proc.stderr


def test_default_yaml_documents_the_code_defaults():
    """configs/default.yaml lists every built-in step type with every parameter; its values must
    be the Params defaults, so reading the YAML tells a user what the code does."""
    import dataclasses

    from pipeline.config import default_config_path, load_yaml, parse_step_list
    from stages import STEP_TYPES, load_step_class

    steps = dict(parse_step_list(load_yaml(default_config_path())["steps"]))
    assert list(steps) == list(STEP_TYPES)
    for name, body in steps.items():
        cls = load_step_class(body.pop("type", name)).Params
        body.pop("enabled", None)
        defaults = cls()
        assert set(body) == {f.name for f in dataclasses.fields(cls)}, name
        assert {k: v for k, v in body.items() if getattr(defaults, k) != v} == {}, name


def test_quality_without_model_is_a_config_error():
    with pytest.raises(ConfigError, match="'quality.model': required"):
        load_config(overrides={"stages": "quality"})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(overrides={"stages": "quality"}, sets=["quality.model=/nonexistent/model.bin"])


@pytest.mark.slow
def test_hostile_configs_are_one_line_errors(tmp_path, capsys):
    """A 1 KB "billion laughs" (aliases expanding to 10^9 values) and a list nested 50,000 deep are
    refused with one line and exit 2, without expanding or printing the value."""
    laughs = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in "bcdefghi":
        prev = chr(ord(level) - 1)
        laughs.append(f"{level}: &{level} [" + ", ".join([f"*{prev}"] * 9) + "]")
    laughs.append("write:\n  shard_max_mb: *i")
    bomb = tmp_path / "laughs.yaml"
    bomb.write_text("\n".join(laughs) + "\n")
    assert bomb.stat().st_size < 1200
    deep = tmp_path / "deep.yaml"
    deep.write_text("write:\n  shard_max_mb: " + "[" * 50_000 + "]" * 50_000 + "\n")
    for path, needle in ((bomb, "expands to more than"), (deep, "nested too deeply")):
        assert main(["--config", str(path), "--output", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0] and len(err[0]) < 300
    assert main(["--set", "write.shard_max_mb=" + "[" * 50_000, "--output", str(tmp_path / "o")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    with pytest.raises(ConfigError) as err:
        load_config(sets=["write.shard_max_mb=[" + ", ".join(["x" * 50] * 2000) + "]"])
    assert len(str(err.value)) < 300  # the bad value is shown shortened
