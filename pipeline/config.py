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
import re
import reprlib
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from stages import StepTypeError, load_step_class
from stages.base import Params, Stage


class ConfigError(ValueError):
    """A configuration problem, phrased for the user, naming the key."""


@dataclasses.dataclass
class ReadParams(Params):
    cc_base_url: str = "https://data.commoncrawl.org/"  # resolves entries of a *.paths.gz listing
    # A gzipped WARC/WET file larger than this is read as byte ranges of this size by several
    # workers (members are whole records in CommonCrawl files); 0 reads every file whole.
    split_mb: float = 64.0
    # Document field -> the input's column or key, for JSONL and Parquet inputs named otherwise,
    # e.g. {text: content, lang: language}; fields not named here use their own name.
    fields: dict[str, str] = dataclasses.field(default_factory=dict)
    # The largest WARC record, or HTTP body once its Content-Encoding is undone, that is kept; a
    # larger one is skipped without being held in memory and counted (record_too_large,
    # decoded_too_large). Bounds a worker's memory against compression bombs and giant records.
    max_decoded_mb: float = 32.0

    def validate(self) -> None:
        from stages.base import BASE_FIELDS, STEP_FIELDS

        if not 0 < self.max_decoded_mb < float("inf"):
            raise ValueError(f"max_decoded_mb: must be a positive number, got {self.max_decoded_mb}")
        for field in self.fields:
            if field not in BASE_FIELDS and field not in STEP_FIELDS:
                known = ", ".join([*BASE_FIELDS, *STEP_FIELDS])
                raise ValueError(f"fields: {field!r} is not a document field ({known})")


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
class ChunkParams(Params):
    """How a resumable run (``resume: true`` or ``--resume``, pipeline.chunks) cuts its inputs."""

    # Input per chunk; a larger gzipped WARC/WET file is cut into byte ranges of this size (0: no
    # limit). Each chunk is one Beam run (~3 CPU-s of fixed cost), so keep chunks well above that.
    mb: float = 256.0
    files: int = 0  # input files per chunk at most (0: no limit)

    def validate(self) -> None:
        if self.mb < 0:
            raise ValueError(f"mb: must be >= 0, got {self.mb}")
        if self.files < 0:
            raise ValueError(f"files: must be >= 0, got {self.files}")


@dataclasses.dataclass
class TopLevelParams(Params):
    keep_rejected: bool = False  # write dropped documents to OUTPUT/rejected/ with stage and reason
    # Run the inputs as chunks, each committed under OUTPUT/chunks/ before the next starts; a rerun
    # with the same inputs and config continues after the last committed chunk (also --resume).
    resume: bool = False
    # A step (or the reader) that raises on a document drops it as step_error / reader_error; when a
    # worker sees more than max_errors of them in one step AND they are more than max_error_share of
    # what that step saw there, the failure is systematic and the run stops with the first error.
    max_errors: int = 100
    max_error_share: float = 0.01

    def validate(self) -> None:
        if self.max_errors < 0:
            raise ValueError(f"max_errors: must be >= 0, got {self.max_errors}")
        if not 0.0 <= self.max_error_share <= 1.0:
            raise ValueError(f"max_error_share: must be in [0, 1], got {self.max_error_share}")


@dataclasses.dataclass
class StepConfig:
    """One entry of the ``steps:`` list: its name in the run, its type, its validated parameters."""

    name: str
    type: str  # a built-in type name (stages.STEP_TYPES) or an import path "pkg.module:Class"
    params: Params

    def build(self) -> Stage:
        stage = load_step_class(self.type)(self.params)
        stage.name = self.name
        return stage


@dataclasses.dataclass
class RunConfig:
    input: list[str]
    output: str
    steps: list[StepConfig]  # the selected steps, in the order of the steps: list
    read: ReadParams
    write: WriteParams
    source_files: list[str]  # the config files merged, for the manifest
    listed: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # the whole steps: list, resolved
    chunks: ChunkParams = dataclasses.field(default_factory=ChunkParams)
    top: TopLevelParams = dataclasses.field(default_factory=TopLevelParams)  # keep_rejected, resume ...

    # The top-level settings read as the run's own (cfg.keep_rejected, cfg.resume, ...).
    keep_rejected = property(lambda self: self.top.keep_rejected)
    resume = property(lambda self: self.top.resume)
    max_errors = property(lambda self: self.top.max_errors)
    max_error_share = property(lambda self: self.top.max_error_share)

    @property
    def step_names(self) -> list[str]:
        return [step.name for step in self.steps]

    def step(self, name: str) -> StepConfig:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    def params(self, name: str) -> Any:
        """The parameters of the selected step called ``name``."""
        return self.step(name).params

    def steps_of_type(self, step_type: str) -> list[StepConfig]:
        return [step for step in self.steps if step.type == step_type]

    def resolved(self) -> dict[str, Any]:
        """The effective configuration as plain data (for manifest.json and the report)."""
        return {
            "input": self.input,
            "output": self.output,
            "stages": self.step_names,
            **dataclasses.asdict(self.top),
            "chunks": dataclasses.asdict(self.chunks),
            "read": dataclasses.asdict(self.read),
            "write": dataclasses.asdict(self.write),
            "steps": self.listed,
        }


TOP_LEVEL_PARAMS = tuple(f.name for f in dataclasses.fields(TopLevelParams))
TOP_LEVEL = {"input", "output", "steps", "stages", "chunks", "read", "write", *TOP_LEVEL_PARAMS}
# Keys of a step's mapping that are not parameters.
STEP_KEYS = ("type", "enabled")
_STEP_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def default_config_path() -> Path:
    return Path(str(resources.files("configs").joinpath("default.yaml")))


# A configuration is a few hundred values. YAML aliases can make a 1 KB file expand to billions
# (the "billion laughs"), and nesting can be deep enough to exhaust recursion: both are refused
# with one line, in bounded memory and time, before anything walks or prints the value.
MAX_CONFIG_NODES = 100_000
MAX_CONFIG_DEPTH = 64


def parse_yaml(text: str, what: str) -> Any:
    """``yaml.safe_load`` with the bounds above; ``what`` names the source in errors."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} is not valid YAML: {exc}".splitlines()[0]) from None
    except RecursionError:
        raise ConfigError(f"{what} is nested too deeply (more than {MAX_CONFIG_DEPTH} levels)") from None
    nodes = 0
    stack = [(data, 1)]
    while stack:  # counts shared (aliased) values each time they are used, as expansion would
        value, depth = stack.pop()
        nodes += 1
        if nodes > MAX_CONFIG_NODES:
            raise ConfigError(f"{what} expands to more than {MAX_CONFIG_NODES:,} values (YAML aliases?)")
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"{what} is nested too deeply (more than {MAX_CONFIG_DEPTH} levels)")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in (*value.keys(), *value.values()))
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return data


def short(value: Any) -> str:
    """A bounded repr for error messages: a huge or deep value must not become a huge message."""
    return reprlib.repr(value)


def load_yaml(path: str | Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"config file {str(path)!r} cannot be read: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    data = parse_yaml(text, f"config file {str(path)!r}")
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
        value = parse_yaml(raw, f"--set {path}") if raw.strip() else ""
    except ConfigError as exc:
        if "not valid YAML" not in str(exc):
            raise
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
            raise ConfigError(
                f"config key '{label}': expected {_type_name(hint)}, got {short(value)}"
            ) from None
    try:
        params = cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"config key {section!r}: {short(str(exc))}") from None
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


def parse_step_list(value: Any) -> list[tuple[str, dict[str, Any]]]:
    """``steps:`` -> [(name, mapping)]. An item is a step name (``- pii``) or a one-key mapping
    ``{name: {type: ..., enabled: ..., <params>}}``; ``type`` defaults to the name."""
    if not isinstance(value, list):
        raise ConfigError("config key 'steps': expected a list of steps (e.g. '- extract: {}')")
    out: list[tuple[str, dict[str, Any]]] = []
    for index, item in enumerate(value):
        if isinstance(item, str):
            name, body = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            ((name, body),) = item.items()
            body = {} if body is None else body
        else:
            raise ConfigError(
                f"config key 'steps[{index}]': expected a step name or a one-key mapping name: {{type: ..., params}}"
            )
        if not isinstance(name, str) or not _STEP_NAME.fullmatch(name) or name in TOP_LEVEL:
            raise ConfigError(
                f"config key 'steps[{index}]': {name!r} is not a valid step name "
                "(letters, digits, _ and -; not a top-level key)"
            )
        if not isinstance(body, dict):
            raise ConfigError(f"config key 'steps.{name}': expected a mapping of parameters")
        if any(name == seen for seen, _ in out):
            raise ConfigError(
                f"config key 'steps.{name}': two steps are named {name!r} (names must be unique)"
            )
        out.append((name, dict(body)))
    return out


def parse_selection(value: Any, names: list[str], key: str = "stages") -> list[str]:
    """``stages`` / ``--stages``: a subset of the step names, always run in list order."""
    if isinstance(value, str):
        wanted = [s.strip() for s in value.split(",") if s.strip()]
    elif isinstance(value, list) and all(isinstance(s, str) for s in value):
        wanted = value
    else:
        raise ConfigError(f"config key {key!r}: expected a list of step names")
    for name in wanted:
        if name not in names:
            raise ConfigError(f"config key {key!r}: unknown step {name!r} (steps: {', '.join(names)})")
    if not wanted:
        raise ConfigError(f"config key {key!r}: no step selected")
    return [name for name in names if name in wanted]


def build_step(name: str, body: dict[str, Any], selected: bool) -> StepConfig:
    """Validate one step's mapping: its type, ``enabled``, and its parameters against the type's
    Params (``validate()`` only when it runs: e.g. a model file must exist then)."""
    step_type = body.pop("type", name)
    body.pop("enabled", None)
    if not isinstance(step_type, str) or not step_type:
        raise ConfigError(f"config key '{name}.type': expected a step type name or import path")
    try:
        cls = load_step_class(step_type)
    except StepTypeError as exc:
        raise ConfigError(f"config key '{name}.type': {exc}") from None
    params = build_params(cls.Params, body, name, check=selected)
    absolute_path_params(params)
    return StepConfig(name, step_type, params)


def load_config(
    config_file: str | None = None,
    sets: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> RunConfig:
    """Defaults <- config file <- CLI overrides (``overrides`` holds --input/--output/--stages...).

    The pipeline is the ``steps:`` list (a config file's list replaces the default one whole). A
    top-level section named after a step (``langid:``, or ``--set langid.min_score=0.7``) overrides
    that step's parameters. ``stages`` selects steps by name; without it, every step whose
    ``enabled`` is not false runs."""
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

    listed = parse_step_list(data.get("steps", []))
    names = [name for name, _ in listed]
    for key in data:
        if key not in TOP_LEVEL and key not in names:
            raise ConfigError(
                f"config key {key!r}: unknown key (sections: {', '.join(sorted(TOP_LEVEL))}; "
                f"steps: {', '.join(names)})"
            )
    bodies = {}
    for name, body in listed:
        section = data.get(name)
        if section is not None and not isinstance(section, dict):
            raise ConfigError(f"config key {name!r}: expected a mapping, got {type(section).__name__}")
        bodies[name] = merge(body, section or {})
    for name, body in bodies.items():
        if not isinstance(body.get("enabled", True), bool):
            raise ConfigError(f"config key '{name}.enabled': expected bool, got {short(body['enabled'])}")
    if data.get("stages") is not None:
        selected = parse_selection(data["stages"], names)
    else:
        selected = [name for name in names if bodies[name].get("enabled", True)]
        if not selected:
            raise ConfigError("config key 'steps': no step is enabled")

    steps: dict[str, StepConfig] = {}
    resolved_list = []
    for name in names:
        step = build_step(name, dict(bodies[name]), selected=name in selected)
        steps[name] = step
        entry = {"type": step.type, **({} if name in selected else {"enabled": False})}
        resolved_list.append({name: {**entry, **dataclasses.asdict(step.params)}})
    tokenizers = [name for name in selected if steps[name].type == "tokenize"]
    if len(tokenizers) > 1:
        raise ConfigError(
            f"config key 'stages': more than one tokenize step selected ({', '.join(tokenizers)})"
        )

    inputs = data.get("input") or []
    if isinstance(inputs, str):
        inputs = [inputs]
    if not _type_ok(inputs, list[str]):
        raise ConfigError("config key 'input': expected a list of paths or globs")
    output = data.get("output", "output")
    if not isinstance(output, str) or not output:
        raise ConfigError("config key 'output': expected a directory path")
    top = build_params(
        TopLevelParams,
        {k: data[k] for k in TOP_LEVEL_PARAMS if k in data},
        "",
    )
    return RunConfig(
        # Workers run elsewhere (another process, another machine, another working directory):
        # local paths are resolved here, where the user typed them.
        input=[absolute_local(pattern) for pattern in inputs],
        output=absolute_local(output),
        steps=[steps[name] for name in selected],
        top=top,
        chunks=build_params(ChunkParams, data.get("chunks"), "chunks"),
        read=build_params(ReadParams, data.get("read"), "read"),
        write=build_params(WriteParams, data.get("write"), "write"),
        source_files=sources,
        listed=resolved_list,
    )
