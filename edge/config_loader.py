"""YAML + environment loading for pydantic config models, with errors that point at YAML lines.

Frigate's `--validate-config` idea: a user who mistypes a key must see the key's path and its line
in the file, not a stack trace. Environment overrides use `SIGHTLINE_EDGE_<PATH>` with `__` between
levels (e.g. `SIGHTLINE_EDGE_TRANSPORT__MQTT__PASSWORD`), parsed as YAML scalars.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from edge.errors import ConfigError

ENV_PREFIX = "SIGHTLINE_EDGE_"
Model = TypeVar("Model", bound=BaseModel)
Location = tuple[str | int, ...]


def _node_lines(node: yaml.Node, path: Location, lines: dict[Location, int]) -> None:
    """Record the 1-based line of every key and list item below `node`."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*path, key_node.value)
            lines[child] = key_node.start_mark.line + 1
            _node_lines(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines[child] = item.start_mark.line + 1
            _node_lines(item, child, lines)


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        keys = name.removeprefix(ENV_PREFIX).lower().split("__")
        if name.endswith("_FILE"):
            # Secrets: SIGHTLINE_EDGE_X__PASSWORD_FILE=/run/secrets/p sets x.password.
            keys[-1] = keys[-1].removesuffix("_file")
            try:
                value: Any = Path(raw).read_text(encoding="utf-8").strip()
            except OSError as err:
                raise ConfigError(f"{name}: cannot read {raw}: {err.strerror}") from err
        else:
            try:
                value = yaml.safe_load(raw) if raw else raw
            except yaml.YAMLError as err:
                raise ConfigError(f"{name}: not a YAML value: {err}") from err
        target = overrides
        for key in keys[:-1]:
            target = target.setdefault(key, {})
            if not isinstance(target, dict):
                raise ConfigError(f"{name}: {key} is set by another variable as a single value")
        if isinstance(target.get(keys[-1]), dict):
            raise ConfigError(f"{name}: other variables set keys below {keys[-1]}")
        target[keys[-1]] = value
    return overrides


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            merged[key] = _merge(current, value)
        else:
            merged[key] = value
    return merged


def _describe(error: ValidationError, source: str, lines: dict[Location, int]) -> str:
    messages = []
    for item in error.errors():
        loc = tuple(item["loc"])
        # The closest enclosing key that exists in the file (a missing key has no line itself).
        line = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), None)
        where = f"{source}:{line}" if line else source
        dotted = ".".join(str(part) for part in loc) or "(root)"
        messages.append(f"{where}: {dotted}: {item['msg']}")
    return "\n".join(messages)


def load_yaml_model(
    model: type[Model], path: Path, environ: Mapping[str, str] | None = None
) -> Model:
    """Parse `path` (YAML) plus `SIGHTLINE_EDGE_*` overrides into `model`.

    Raises ConfigError with one `file:line: key.path: message` line per problem.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read config: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from err
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: the top level must be a mapping of keys")
    lines: dict[Location, int] = {}
    if root is not None:
        _node_lines(root, (), lines)
    merged = _merge(data, _env_overrides(os.environ if environ is None else environ))
    try:
        return model.model_validate(merged)
    except ValidationError as err:
        raise ConfigError(_describe(err, str(path), lines)) from err
