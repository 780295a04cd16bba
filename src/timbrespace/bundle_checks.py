"""Checks of a bundle before anything is built from it: its JSON (size, nesting, types, known
format), its config (types and the maxima of `timbrespace.limits`) and its weights (the
safetensors header's tensor names and shapes against those the config implies, read without
loading a tensor), so a tampered or truncated bundle is refused with one line naming the file
and the field, and never allocates what its JSON claims.

A bundle is user-shared input: every failure here is a `TimbrespaceError`, never a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from timbrespace.config import ConfigError, config_from_dict
from timbrespace.errors import TimbrespaceError
from timbrespace.limits import LIMITS, LimitError, check, check_config
from timbrespace.models.base import ConfiguredModel, build_model, get_family

__all__ = [
    "check_config_dict",
    "check_extra",
    "check_meta",
    "check_model_fields",
    "check_weights",
    "meta_model",
    "read_header",
]


def check_meta(meta: Any, meta_path: Path, format_version: int) -> dict[str, Any]:
    """`meta` (a parsed `bundle.json`) if its top-level fields have the right types and its
    format is one this version reads (1…`format_version`); else a `TimbrespaceError`."""
    if not isinstance(meta, dict):
        raise TimbrespaceError(f"{meta_path}: expected a JSON object, got {_json_type(meta)}")
    version = meta.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise TimbrespaceError(
            f"{meta_path}: missing or invalid field 'format_version' ({_shown(version)}; "
            f"expected a whole number from 1 to {format_version})"
        )
    if version > format_version:
        raise TimbrespaceError(
            f"{meta_path}: bundle format {version} was written by a newer timbrespace "
            f"(this one reads up to {format_version}); upgrade timbrespace"
        )
    expected = {"family": str, "config": dict, "sample_rate": int}
    for key, kind in expected.items():
        if key not in meta:
            raise TimbrespaceError(f"{meta_path}: missing field {key!r}")
        if isinstance(meta[key], bool) or not isinstance(meta[key], kind):
            raise TimbrespaceError(
                f"{meta_path}: field {key!r} expects {_kind_name(kind)}, got {_shown(meta[key])}"
            )
    for key in ("channels", "latent_dim", "hop_length"):
        value = meta.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise TimbrespaceError(
                f"{meta_path}: field {key!r} expects a whole number, got {_shown(value)}"
            )
    _check_training(meta.get("training", {}), meta_path)
    return meta


def _check_training(training: Any, meta_path: Path) -> None:
    """The training summary: a mapping whose `prepare_config` is valid prepare settings and
    whose `cache` and `split` are mappings."""
    from timbrespace.data.clips import PrepareConfig

    if not isinstance(training, dict):
        raise TimbrespaceError(
            f"{meta_path}: field 'training' expects an object, got {_json_type(training)}"
        )
    for key in ("cache", "split", "prepare_config"):
        value = training.get(key)
        if value is not None and not isinstance(value, dict):
            raise TimbrespaceError(
                f"{meta_path}: field 'training.{key}' expects an object, got {_json_type(value)}"
            )
    cache_path = (training.get("cache") or {}).get("path")
    if cache_path is not None and not isinstance(cache_path, str):
        raise TimbrespaceError(f"{meta_path}: field 'training.cache.path' expects a string")
    settings = training.get("prepare_config")
    if settings is not None:
        try:
            PrepareConfig.from_dict(settings)
        except TimbrespaceError as error:
            raise TimbrespaceError(f"{meta_path}: training.prepare_config: {error}") from None


def check_config_dict(family: str, config: Mapping[str, Any], meta_path: Path) -> Any:
    """The family's typed config from the bundle's `config` object, checked against the limits
    (types first, then maxima); a `TimbrespaceError` naming the file and the field."""
    try:
        fam = get_family(family)
        values = {**fam.legacy, **config}
        check_config(values, "config.")  # the maxima first: before any of the config's checks
        typed = config_from_dict(fam.config_cls, values)
        check_config(typed, "config.")
    except (ConfigError, LimitError) as error:
        raise TimbrespaceError(f"{meta_path}: {error}") from None
    except TimbrespaceError as error:  # a config's own range checks (__post_init__)
        raise TimbrespaceError(f"{meta_path}: config: {error}") from None
    return typed


def check_model_fields(meta: Mapping[str, Any], model: ConfiguredModel, meta_path: Path) -> None:
    """The sizes `bundle.json` states beside its config (`sample_rate`, `channels`,
    `latent_dim`, `hop_length`) must be those of the model the config builds."""
    for key in ("sample_rate", "channels", "latent_dim", "hop_length"):
        if key in meta and int(meta[key]) != int(getattr(model, key)):
            raise TimbrespaceError(
                f"{meta_path}: field {key!r} is {meta[key]} but the config gives "
                f"{int(getattr(model, key))}"
            )


def meta_model(family: str, config: Any) -> ConfiguredModel:
    """The model of `config` built on the `meta` device: every shape, no memory."""
    with torch.device("meta"):
        return build_model(family, config)


def check_weights(model: ConfiguredModel, weights: Path) -> None:
    """Compare the safetensors header of `weights` (names, shapes; no tensor is read) with the
    state of `model` (built on the meta device), and the model's size with `LIMITS`; a
    one-line `TimbrespaceError` naming the file on any difference or an unreadable file."""
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    parameters = sum(_numel(shape) for shape in expected.values())
    try:
        check("parameters", parameters, "the config's model parameters")
    except LimitError as error:
        raise TimbrespaceError(f"{weights.parent / 'bundle.json'}: {error}") from None
    found = read_header(weights)
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    if missing or unexpected:
        problems = [f"missing {_few(missing)}"] if missing else []
        problems += [f"unexpected {_few(unexpected)}"] if unexpected else []
        raise TimbrespaceError(
            f"{weights}: weights do not match the config ({'; '.join(problems)})"
        )
    for name, shape in expected.items():
        if found[name] != shape:
            raise TimbrespaceError(
                f"{weights}: weights do not match the config ({name} is "
                f"{list(found[name])} in the file, {list(shape)} in the config)"
            )


def read_header(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name → shape from a safetensors file's header, without reading the tensors;
    a `TimbrespaceError` naming the file when it is missing, empty, truncated or not
    safetensors (e.g. a pickle)."""
    if not path.is_file():
        raise TimbrespaceError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise TimbrespaceError(f"{path}: empty file (not safetensors)")
    try:
        with safe_open(str(path), framework="pt") as handle:
            names = list(handle.keys())
            return {name: tuple(handle.get_slice(name).get_shape()) for name in names}
    except Exception as error:  # safetensors raises its own error types for bad files
        reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise TimbrespaceError(f"{path}: not a valid safetensors file ({reason})") from None


def check_extra(path: Path, latent_dim: int) -> None:
    """`extra.safetensors`: readable, with the latent statistics `[latent_dim]` and
    `[latent_dim, latent_dim]` when present and no tensor beyond `LIMITS['parameters']`."""
    shapes = read_header(path)
    wanted = {"latent_mean": (latent_dim,), "latent_cholesky": (latent_dim, latent_dim)}
    for name, shape in wanted.items():
        if name in shapes and shapes[name] != shape:
            raise TimbrespaceError(
                f"{path}: {name} is {list(shapes[name])}, the model's latent needs {list(shape)}"
            )
    total = sum(_numel(shape) for shape in shapes.values())
    if total > LIMITS["parameters"].high:
        raise TimbrespaceError(f"{path}: {total} values, more than a bundle holds")


def _numel(shape: tuple[int, ...]) -> int:
    count = 1
    for size in shape:
        count *= int(size)
    return count


def _few(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "true/false"}
    if value is None:
        return "null"
    return names.get(type(value), "a number" if isinstance(value, int | float) else "a value")


def _kind_name(kind: type) -> str:
    return {str: "a string", dict: "an object", int: "a whole number"}[kind]


def _shown(value: Any) -> str:
    if isinstance(value, str | int | float | bool) or value is None:
        return repr(value)[:60]
    return _json_type(value)
