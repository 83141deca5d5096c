"""Load and validate the run configuration: the one place YAML becomes typed objects.

The built-in ``configs/default.yaml`` is the base; a user's ``--config`` file is merged over it,
then ``--set section.key=value`` overrides. Every section is validated against a dataclass
(the stage's ``Params`` or the ``read``/``write``/top-level ones here): unknown keys, wrong types
and missing files raise ``ConfigError`` naming the key, which the CLI turns into one line and
exit code 2.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from stages import STAGE_ORDER, StageNotImplemented, load_stage_class
from stages.base import Params


class ConfigError(ValueError):
    """A configuration problem, phrased for the user, naming the key."""


@dataclasses.dataclass
class ReadParams(Params):
    cc_base_url: str = "https://data.commoncrawl.org/"  # resolves entries of a *.paths.gz listing
    # A gzipped WARC/WET file larger than this is read as byte ranges of this size by several
    # workers (members are whole records in CommonCrawl files); 0 reads every file whole.
    split_mb: float = 64.0
    # The largest WARC record, or HTTP body once its Content-Encoding is undone, that is kept; a
    # larger one is skipped without being held in memory and counted (record_too_large,
    # decoded_too_large). Bounds a worker's memory against compression bombs and giant records.
    max_decoded_mb: float = 32.0

    def validate(self) -> None:
        if not 0 < self.max_decoded_mb < float("inf"):
            raise ValueError(f"max_decoded_mb: must be a positive number, got {self.max_decoded_mb}")


@dataclasses.dataclass
class WriteParams(Params):
    shard_max_mb: float = 256.0  # a shard is closed once it reaches this size
    shard_max_rows: int = 0  # and/or this many rows (0: no row limit)
    batch_rows: int = 1000  # rows per Arrow record batch
    report_samples: int = 200  # documents sampled for the report (kept and dropped)
    token_shards: int = 8  # training shards per split (tokens/train, tokens/holdout)
    holdout_fraction: float = 0.0  # share of documents held out for evaluation (by a hash of the id)
    shuffle_seed: int = 0  # seeds the deterministic split and shuffle of training shards

    def validate(self) -> None:
        if not 0.0 <= self.holdout_fraction < 1.0:
            raise ValueError(f"holdout_fraction: must be in [0, 1), got {self.holdout_fraction}")
        if self.token_shards < 1:
            raise ValueError(f"token_shards: must be at least 1, got {self.token_shards}")


@dataclasses.dataclass
class RunConfig:
    input: list[str]
    output: str
    stages: list[str]
    keep_rejected: bool
    read: ReadParams
    write: WriteParams
    stage_params: dict[str, Params]  # only for the selected stages
    source_files: list[str]  # the config files merged, for the manifest

    def resolved(self) -> dict[str, Any]:
        """The effective configuration as plain data (for manifest.json and the report)."""
        out: dict[str, Any] = {
            "input": self.input,
            "output": self.output,
            "stages": self.stages,
            "keep_rejected": self.keep_rejected,
            "read": dataclasses.asdict(self.read),
            "write": dataclasses.asdict(self.write),
        }
        for name, params in self.stage_params.items():
            out[name] = dataclasses.asdict(params)
        return out


TOP_LEVEL = {"input", "output", "stages", "keep_rejected", "read", "write"}


def default_config_path() -> Path:
    return Path(str(resources.files("configs").joinpath("default.yaml")))


def load_yaml(path: str | Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {exc}".splitlines()[0]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must be a mapping of sections")
    return data


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def apply_set(data: dict[str, Any], assignment: str) -> None:
    """Apply one ``--set section.key=value`` (value parsed as YAML, so 3, true, [a, b] work)."""
    path, sep, raw = assignment.partition("=")
    if not sep or not path.strip():
        raise ConfigError(f"--set {assignment!r}: expected section.key=value")
    keys = path.strip().split(".")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    node = data
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {path}: {key!r} is not a section")
        node = child
    node[keys[-1]] = value


def _type_ok(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        return isinstance(value, list) and all(_type_ok(v, item) for v in value)
    if origin is dict:
        key_t, val_t = typing.get_args(hint) or (Any, Any)
        return isinstance(value, dict) and all(
            _type_ok(k, key_t) and _type_ok(v, val_t) for k, v in value.items()
        )
    return isinstance(value, hint) if isinstance(hint, type) else True


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _coerce(value: Any, hint: Any) -> Any:
    """``value`` as ``hint`` wants it, or raise TypeError. Ints are fine as floats, and so are
    strings like ``2e-4``: YAML 1.1 (PyYAML) reads an exponent without a dot as a string."""
    if _type_ok(value, hint):
        return float(value) if hint is float else value
    if hint is float and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise TypeError


def build_params(cls: type, data: Any, section: str, check: bool = True) -> Any:
    """Validate a YAML mapping against a (Params) dataclass, nested dataclass fields included;
    with ``check``, also run the dataclass's own ``validate()`` (e.g. model files must exist:
    only for selected stages)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config key {section!r}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        label = f"{section}.{key}" if section else key
        if key not in fields:
            known = ", ".join(sorted(fields)) or "none"
            raise ConfigError(f"config key '{label}': unknown key (known keys: {known})")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            values[key] = build_params(hint, value, label, check)
            continue
        try:
            values[key] = _coerce(value, hint)
        except TypeError:
            raise ConfigError(f"config key '{label}': expected {_type_name(hint)}, got {value!r}") from None
    try:
        params = cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"config key {section!r}: {exc}") from None
    validate = getattr(params, "validate", None)
    if check and callable(validate):
        try:
            validate()
        except ValueError as exc:
            # validate() raises ValueError("key: what is wrong"), e.g. a missing model file.
            key, _, problem = str(exc).partition(": ")
            raise ConfigError(f"config key '{section + '.' if section else ''}{key}': {problem}") from None
    return params


def absolute_local(path: str) -> str:
    """A relative local path made absolute against the current directory; URLs and remote
    filesystem paths (``gs://``, ``s3://``, ``https://``) unchanged."""
    if "://" in path:
        return path
    return os.path.abspath(os.path.expanduser(path))


def absolute_path_params(params: Params) -> None:
    """Resolve the fields marked with ``stages.base.path_param`` (models, tokenizers, spill folders)."""
    for field in dataclasses.fields(params):
        value = getattr(params, field.name)
        if not field.metadata.get("path"):
            continue
        if isinstance(value, str) and value:
            setattr(params, field.name, absolute_local(value))
        elif isinstance(value, list):
            setattr(params, field.name, [absolute_local(v) if isinstance(v, str) else v for v in value])


def parse_stages(value: Any, key: str = "stages") -> list[str]:
    if isinstance(value, str):
        names = [s.strip() for s in value.split(",") if s.strip()]
    elif isinstance(value, list) and all(isinstance(s, str) for s in value):
        names = value
    else:
        raise ConfigError(f"config key {key!r}: expected a list of stage names")
    for name in names:
        if name not in STAGE_ORDER:
            raise ConfigError(
                f"config key {key!r}: unknown stage {name!r} (stages: {', '.join(STAGE_ORDER)})"
            )
    if not names:
        raise ConfigError(f"config key {key!r}: no stage selected")
    # Always run in pipeline order, whatever order they were named in.
    return [name for name in STAGE_ORDER if name in names]


def load_config(
    config_file: str | None = None,
    sets: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> RunConfig:
    """Defaults <- config file <- CLI overrides (``overrides`` holds --input/--output/--stages...)."""
    sources = [str(default_config_path())]
    data = load_yaml(default_config_path())
    if config_file:
        data = merge(data, load_yaml(config_file))
        sources.append(str(config_file))
    for key, value in (overrides or {}).items():
        if value is not None:
            data[key] = value
    for assignment in sets or []:
        apply_set(data, assignment)

    for key in data:
        if key not in TOP_LEVEL and key not in STAGE_ORDER:
            raise ConfigError(
                f"config key {key!r}: unknown key (sections: {', '.join(sorted(TOP_LEVEL))}, stages)"
            )

    inputs = data.get("input") or []
    if isinstance(inputs, str):
        inputs = [inputs]
    if not _type_ok(inputs, list[str]):
        raise ConfigError("config key 'input': expected a list of paths or globs")
    output = data.get("output", "output")
    if not isinstance(output, str) or not output:
        raise ConfigError("config key 'output': expected a directory path")
    keep_rejected = data.get("keep_rejected", False)
    if not isinstance(keep_rejected, bool):
        raise ConfigError(f"config key 'keep_rejected': expected bool, got {keep_rejected!r}")
    stages = parse_stages(data.get("stages", list(STAGE_ORDER)))

    stage_params: dict[str, Params] = {}
    for name in STAGE_ORDER:
        if name not in stages and name not in data:
            continue
        try:
            cls = load_stage_class(name)
        except StageNotImplemented:
            if name in stages:
                raise ConfigError(f"config key 'stages': stage {name!r} is not implemented yet") from None
            raise ConfigError(f"config key {name!r}: stage {name!r} is not implemented yet") from None
        params = build_params(cls.Params, data.get(name), name, check=name in stages)
        if name in stages:
            stage_params[name] = params

    for params in stage_params.values():
        absolute_path_params(params)
    return RunConfig(
        # Workers run elsewhere (another process, another machine, another working directory):
        # local paths are resolved here, where the user typed them.
        input=[absolute_local(pattern) for pattern in inputs],
        output=absolute_local(output),
        stages=stages,
        keep_rejected=keep_rejected,
        read=build_params(ReadParams, data.get("read"), "read"),
        write=build_params(WriteParams, data.get("write"), "write"),
        stage_params=stage_params,
        source_files=sources,
    )
