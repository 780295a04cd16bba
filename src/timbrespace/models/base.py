"""The contract every model family follows, the family registry, configs and bottlenecks.

Shapes: audio is `[batch, channels, samples]` (float32 in [-1, 1]); a latent path is
`[batch, latent_dim, frames]` (one-shot families have `frames == 1`).

Configs are typed dataclasses. They are built from plain dicts (JSON) with `config_from_dict`,
which raises on unknown keys, and resolved from a family's presets (`tiny` for tests, `small` for
CPU, `full` for GPU), each a short overlay on the dataclass defaults, with `resolve_config`.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import importlib
import pkgutil
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from timbrespace.errors import TimbrespaceError

PRESET_NAMES: tuple[str, ...] = ("tiny", "small", "full")


class ConfigError(TimbrespaceError, ValueError):
    """A config dict names an unknown key, preset or family, or holds an invalid value."""


@runtime_checkable
class LatentModel(Protocol):
    """What the latent tools, studio, engine and exporters rely on, whatever the family."""

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Audio `[batch, channels, samples]` -> latent path `[batch, latent_dim, frames]`."""
        ...

    def decode(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Latent path `[batch, latent_dim, frames]` -> audio `[batch, channels, samples]`."""
        ...

    @property
    def sample_rate(self) -> int:
        """Audio sample rate in Hz."""
        ...

    @property
    def latent_dim(self) -> int:
        """Number of latent channels."""
        ...

    @property
    def hop_length(self) -> int:
        """Audio samples per latent frame (the clip length for one-shot families)."""
        ...

    @property
    def channels(self) -> int:
        """Audio channels (1 mono, 2 stereo)."""
        ...

    @property
    def config(self) -> Any:
        """The resolved config dataclass the model was built from."""
        ...


class ConfiguredModel(nn.Module):
    """Base of the family models: the `LatentModel` properties read from `self._config` (a
    dataclass with `sample_rate`, `latent_dim`, `channels`); families add `hop_length`."""

    _config: Any

    @property
    def config(self) -> Any:
        return self._config

    @property
    def sample_rate(self) -> int:
        return self._config.sample_rate

    @property
    def latent_dim(self) -> int:
        return self._config.latent_dim

    @property
    def channels(self) -> int:
        return self._config.channels

    def check_audio(self, x: torch.Tensor) -> torch.Tensor:
        """Raise unless `x` is `[batch, channels, samples]` with the model's channel count."""
        if x.dim() != 3 or x.shape[1] != self.channels:
            raise ValueError(
                f"expected audio [batch, {self.channels}, samples], got shape {tuple(x.shape)}"
            )
        return x


# --------------------------------------------------------------------------------------------
# Configs: dict <-> dataclass


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _unwrap_optional(tp: Any) -> Any:
    """`X | None` -> `X`; anything else unchanged."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _convert_value(tp: Any, value: Any, path: str) -> Any:
    tp = _unwrap_optional(tp)
    if value is None:
        return None
    if _is_dataclass_type(tp):
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key '{path}' expects a mapping, got {type(value).__name__}")
        return _from_dict(tp, value, prefix=f"{path}.")
    if typing.get_origin(tp) is tuple and isinstance(value, list | tuple):
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert_value(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
        return tuple(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
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
    Raises `ConfigError` (a `ValueError`) naming any unknown key and listing the valid ones.
    """
    if not _is_dataclass_type(cls):
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


def _expand_dotted(overrides: Mapping[str, Any]) -> dict[str, Any]:
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


def _deep_merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


# --------------------------------------------------------------------------------------------
# Family registry


@dataclass(frozen=True)
class Family:
    """A registered model family: its config dataclass, model class and preset overlays.

    legacy: values for keys missing from a *saved* config (a bundle or run written before the
    key existed), so old models keep loading as they were trained.
    """

    name: str
    config_cls: type
    model_cls: type[nn.Module]
    presets: Mapping[str, Mapping[str, Any]]
    legacy: Mapping[str, Any] = dataclasses.field(default_factory=dict)


_FAMILIES: dict[str, Family] = {}


def register_family(
    name: str,
    config_cls: type,
    model_cls: type[nn.Module],
    presets: Mapping[str, Mapping[str, Any]] | None = None,
    legacy: Mapping[str, Any] | None = None,
) -> Family:
    """Register a model family under `name`.

    `model_cls(config=config_cls(...))` must build the model. `presets` maps a preset name
    (`tiny`, `small`, `full`) to a small overlay dict on the dataclass defaults; each overlay is
    checked against `config_cls` here, so a misspelt preset key fails at import time.
    Re-registering the same classes under the same name is a no-op (module reloads).
    """
    if not _is_dataclass_type(config_cls):
        raise TypeError(f"family '{name}': config_cls must be a dataclass, got {config_cls!r}")
    frozen_presets = types.MappingProxyType(
        {
            key: types.MappingProxyType(copy.deepcopy(dict(value)))
            for key, value in (presets or {}).items()
        }
    )
    for preset_name, overlay in frozen_presets.items():
        try:
            config_from_dict(config_cls, _deep_merge(config_to_dict(config_cls()), overlay))
        except ConfigError as err:
            raise ConfigError(f"family '{name}', preset '{preset_name}': {err}") from err
    family = Family(
        name=name,
        config_cls=config_cls,
        model_cls=model_cls,
        presets=frozen_presets,
        legacy=types.MappingProxyType(dict(legacy or {})),
    )
    existing = _FAMILIES.get(name)
    if existing is not None and (
        existing.config_cls.__qualname__ != config_cls.__qualname__
        or existing.model_cls.__qualname__ != model_cls.__qualname__
    ):
        raise ValueError(f"model family '{name}' is already registered by {existing.model_cls}")
    _FAMILIES[name] = family
    return family


def _family_module_names() -> list[str]:
    package = importlib.import_module(__name__.rpartition(".")[0])
    return sorted(
        info.name
        for info in pkgutil.iter_modules(package.__path__)
        if info.name != "base" and not info.name.startswith("_")
    )


def available_families() -> list[str]:
    """Registered family names plus the family modules found in `timbrespace.models`."""
    return sorted(set(_FAMILIES) | set(_family_module_names()))


def get_family(name: str) -> Family:
    """The family registered as `name`, importing `timbrespace.models.<name>` on first use."""
    if name not in _FAMILIES and name.isidentifier() and name != "base":
        module_name = f"{__name__.rpartition('.')[0]}.{name}"
        try:
            importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name != module_name:
                raise
    if name not in _FAMILIES:
        raise ConfigError(
            f"unknown model family '{name}'; available: {', '.join(available_families())}"
        )
    return _FAMILIES[name]


def resolve_config(
    family: str, preset: str | None = "small", overrides: Mapping[str, Any] | None = None
) -> Any:
    """Config of `family`: dataclass defaults, then the `preset` overlay, then `overrides`.

    `overrides` may be nested dicts or dotted keys (`{"bottleneck": "vae", "beta": 0.01}`).
    `preset=None` uses the dataclass defaults. Unknown presets or keys raise `ConfigError`.
    """
    fam = get_family(family)
    merged = config_to_dict(fam.config_cls())
    if preset is not None:
        if preset not in fam.presets:
            raise ConfigError(
                f"unknown preset '{preset}' for family '{family}'; "
                f"available: {', '.join(sorted(fam.presets))}"
            )
        merged = _deep_merge(merged, fam.presets[preset])
    if overrides:
        merged = _deep_merge(merged, _expand_dotted(overrides))
    return config_from_dict(fam.config_cls, merged)


def build_model(family: str, config: Mapping[str, Any] | Any | None = None) -> nn.Module:
    """Build a model of `family` from a config dataclass or a dict (a saved config: missing keys
    take the family's legacy values, then the defaults)."""
    fam = get_family(family)
    if config is None:
        config = fam.config_cls()
    elif isinstance(config, Mapping):
        config = config_from_dict(fam.config_cls, {**fam.legacy, **config})
    elif not isinstance(config, fam.config_cls):
        raise ConfigError(
            f"family '{family}' expects a {fam.config_cls.__name__} or a dict, "
            f"got {type(config).__name__}"
        )
    return fam.model_cls(config=config)


# --------------------------------------------------------------------------------------------
# Bottlenecks: one signature, `bottleneck(h) -> BottleneckOutput(z, regularization)`


@dataclass
class BottleneckOutput:
    """`z`: latent `[batch, latent_dim, frames]`; `regularization`: weighted scalar loss term.

    The trainer adds `regularization` to the loss as is (it already carries β for a VAE).
    """

    z: torch.Tensor
    regularization: torch.Tensor


class Bottleneck(nn.Module):
    """Maps encoder features `h: [batch, input_multiplier * latent_dim, frames]` to a latent."""

    input_multiplier: int = 1

    def __init__(self, latent_dim: int = 24) -> None:
        super().__init__()
        self.latent_dim = latent_dim

    @property
    def input_dim(self) -> int:
        """Channels the encoder must produce for this bottleneck."""
        return self.input_multiplier * self.latent_dim

    def forward(self, h: torch.Tensor) -> BottleneckOutput:
        raise NotImplementedError


class AEBottleneck(Bottleneck):
    """Deterministic autoencoder: `z = h`, regularization 0.

    Every training sample keeps an exact latent point (a pack sample can be picked back from
    the latent space) and reconstruction is sharper than a VAE's (Latent Play's choice).
    """

    input_multiplier = 1

    def forward(self, h: torch.Tensor) -> BottleneckOutput:
        return BottleneckOutput(z=h, regularization=h.new_zeros(()))


class VAEBottleneck(Bottleneck):
    """β-VAE (Kingma & Welling 2014; Higgins et al. 2017), parametrised like RAVE.

    `h` holds mean and pre-softplus scale; std = softplus(scale) + 1e-4. In training mode
    `z = mean + std * noise`; in eval mode `z = mean` (deterministic encode). The regularization
    is `beta * KL(q(z|x) || N(0, I))`, summed over latent channels and frames, averaged over batch.
    """

    input_multiplier = 2

    def __init__(self, latent_dim: int = 24, beta: float = 0.01) -> None:
        super().__init__(latent_dim=latent_dim)
        self.beta = beta

    def forward(self, h: torch.Tensor) -> BottleneckOutput:
        mean, scale = h.chunk(2, dim=1)
        std = nn.functional.softplus(scale) + 1e-4
        var = std * std
        kl = (mean * mean + var - torch.log(var) - 1.0).sum(dim=(1, 2)).mean() * 0.5
        z = mean + std * torch.randn_like(mean) if self.training else mean
        return BottleneckOutput(z=z, regularization=self.beta * kl)


_BOTTLENECKS: dict[str, Callable[..., Bottleneck]] = {
    "ae": AEBottleneck,
    "vae": VAEBottleneck,
}


def register_bottleneck(name: str, factory: Callable[..., Bottleneck]) -> None:
    """Add a bottleneck kind (e.g. VQ, WAE) selectable by name in configs."""
    _BOTTLENECKS[name] = factory


def bottleneck_names() -> list[str]:
    """Names accepted by `build_bottleneck`."""
    return sorted(_BOTTLENECKS)


def build_bottleneck(name: str, latent_dim: int, **kwargs: Any) -> Bottleneck:
    """Bottleneck `name` (`"ae"`, `"vae"`, …) for `latent_dim`; kwargs go to its constructor."""
    if name not in _BOTTLENECKS:
        raise ConfigError(f"unknown bottleneck '{name}'; valid: {', '.join(bottleneck_names())}")
    return _BOTTLENECKS[name](latent_dim=latent_dim, **kwargs)
