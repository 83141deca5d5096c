"""Configuration: validated in one place; every error is one line naming the key, exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.config import ConfigError, load_config
from pipeline.run import main


def test_defaults_load_and_set_overrides():
    cfg = load_config(sets=["normalize.max_blank_lines=0", "write.shard_max_mb=1"])
    assert cfg.stages == [
        "extract",
        "normalize",
        "langid",
        "heuristics",
        "exact_dedup",
        "minhash_dedup",
        "pii",
    ]
    assert cfg.stage_params["normalize"].max_blank_lines == 0
    assert cfg.write.shard_max_mb == 1.0


def test_stages_run_in_pipeline_order():
    assert load_config(overrides={"stages": "normalize,extract"}).stages == ["extract", "normalize"]


@pytest.mark.parametrize(
    ("sets", "overrides", "needle"),
    [
        (["normalize.bogus=1"], {}, "'normalize.bogus': unknown key"),
        (["normalize.nfc=maybe"], {}, "'normalize.nfc': expected bool"),
        (["write.shard_max_rows=many"], {}, "'write.shard_max_rows': expected int"),
        (["nonsense.key=1"], {}, "'nonsense': unknown key"),
        ([], {"stages": "extract,frobnicate"}, "unknown stage 'frobnicate'"),
    ],
)
def test_errors_name_the_key(sets, overrides, needle):
    with pytest.raises(ConfigError) as err:
        load_config(sets=sets, overrides=overrides)
    assert needle in str(err.value)


def test_unimplemented_stage_is_an_error_not_a_no_op(monkeypatch):
    import stages

    monkeypatch.delitem(stages.IMPLEMENTED, "pii")
    with pytest.raises(ConfigError, match="stage 'pii' is not implemented yet"):
        load_config(overrides={"stages": "extract,pii"})


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
    """configs/default.yaml spells out every stage section; its values must be the Params defaults,
    so reading the YAML tells a user what the code does."""
    import dataclasses

    from pipeline.config import default_config_path, load_yaml
    from stages import IMPLEMENTED, load_stage_class

    data = load_yaml(default_config_path())
    for name in IMPLEMENTED:
        cls = load_stage_class(name).Params
        section = data.get(name)
        assert isinstance(section, dict), f"default.yaml has no {name!r} section"
        defaults = cls()
        assert set(section) <= {f.name for f in dataclasses.fields(cls)}, name
        assert {k: v for k, v in section.items() if getattr(defaults, k) != v} == {}, name


def test_quality_without_model_is_a_config_error():
    with pytest.raises(ConfigError, match="'quality.model': required"):
        load_config(overrides={"stages": "quality"})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(overrides={"stages": "quality"}, sets=["quality.model=/nonexistent/model.bin"])
