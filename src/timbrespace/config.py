"""Typed configs from plain dicts and back: one checked way for every config dataclass.

Model, training and preparation settings are (possibly nested) dataclasses, saved as JSON and
edited by users. `config_from_dict(cls, data)` builds `cls` from a dict: missing keys keep their
defaults, lists become tuples where the field is a tuple, ints become floats where the field is a
float, a value of another type than its field's (a string for an int, a float for an int, a
mapping for a list) raises `ConfigError` naming the key, and so does an unknown key, with the
closest valid key:

    config_from_dict(TrainConfig, {"batch_sise": 8})
    # ConfigError: TrainConfig: unknown config key 'batch_sise' (did you mean 'batch_size'?); …

`config_to_dict` is its inverse (JSON-ready); `deep_merge` and `expand_dotted` overlay presets
and CLI-style `a.b=1` overrides on such dicts. A low-level module: imports only
`timbrespace.errors`.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import numbers
import types
import typing
from collections.abc import Mapping
from typing import Any

from timbrespace.errors import TimbrespaceError


class ConfigError(TimbrespaceError, ValueError):
    """A config dict names an unknown key, preset or family, or holds an invalid value."""


def is_dataclass_type(tp: Any) -> bool:
    """True if `tp` is a dataclass type (not an instance)."""
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _unwrap_optional(tp: Any) -> Any:
    """`X | None` -> `X`; anything else unchanged."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


_SCALARS: dict[type, str] = {
    int: "a whole number",
    float: "a number",
    str: "a string",
    bool: "true or false",
}


def _scalar(tp: Any, value: Any, path: str) -> Any:
    """`value` as the scalar type `tp` (an int where a float is asked becomes a float), or a
    `ConfigError` naming `path`, what was expected and what came."""
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    else:
        ok = isinstance(value, tp)
    if not ok:
        shown = repr(value) if isinstance(value, str | int | float | bool) else type(value).__name__
        raise ConfigError(f"config key '{path}' expects {_SCALARS[tp]}, got {shown[:60]}")
    return tp(value) if tp in (int, float) else value


def _convert_value(tp: Any, value: Any, path: str) -> Any:
    tp = _unwrap_optional(tp)
    if value is None:
        return None
    if is_dataclass_type(tp):
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key '{path}' expects a mapping, got {type(value).__name__}")
        return _from_dict(tp, value, prefix=f"{path}.")
    if typing.get_origin(tp) is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"config key '{path}' expects a list, got {type(value).__name__}")
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert_value(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
        if args and len(args) != len(value):
            raise ConfigError(
                f"config key '{path}' expects a list of {len(args)} values, got {len(value)}"
            )
        if not args:
            return tuple(value)
        return tuple(
            _convert_value(arg, v, f"{path}[{i}]")
            for i, (arg, v) in enumerate(zip(args, value, strict=True))
        )
    if tp in _SCALARS:
        return _scalar(tp, value, path)
    return value


def _from_dict(cls: type, data: Mapping[str, Any], prefix: str = "") -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{cls.__name__} expects a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            raise ConfigError(
                f"{cls.__name__}: unknown config key '{prefix}{key}'{hint}; "
                f"valid keys: {', '.join(sorted(fields))}"
            )
    kwargs = {
        key: _convert_value(hints[key], value, f"{prefix}{key}") for key, value in data.items()
    }
    return cls(**kwargs)


def config_from_dict(cls: type, data: Mapping[str, Any]) -> Any:
    """Build the (possibly nested) config dataclass `cls` from a plain dict.

    Missing keys keep their dataclass defaults; lists become tuples where the field is a tuple.
    Raises `ConfigError` (a `ValueError`) naming any unknown key, the closest valid key when one
    is close (difflib), and listing the valid ones.
    """
    if not is_dataclass_type(cls):
        raise TypeError(f"config_from_dict needs a dataclass type, got {cls!r}")
    return _from_dict(cls, data)


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_to_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _to_plain(v) for k, v in value.items()}
    return value


def config_to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass -> a JSON-ready dict (tuples become lists); inverse of `config_from_dict`."""
    if not (dataclasses.is_dataclass(config) and not isinstance(config, type)):
        raise TypeError(f"config_to_dict needs a dataclass instance, got {type(config).__name__}")
    return _to_plain(config)


def expand_dotted(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`{"a.b": 1}` -> `{"a": {"b": 1}}`, so CLI-style overrides reach nested configs."""
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        parts = str(key).split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(
                    f"override '{key}' conflicts with a non-mapping value at '{part}'"
                )
        node[parts[-1]] = value
    return out


def deep_merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of `base` with `overlay` merged in (nested mappings merge key by key)."""
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
