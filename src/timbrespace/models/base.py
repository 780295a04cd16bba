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
import importlib
import pkgutil
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import torch
from torch import nn

from timbrespace.config import ConfigError, config_from_dict, config_to_dict
from timbrespace.config import deep_merge as _deep_merge
from timbrespace.config import expand_dotted as _expand_dotted
from timbrespace.config import is_dataclass_type as _is_dataclass_type
from timbrespace.errors import TimbrespaceError
from timbrespace.limits import check_config
from timbrespace.models.export_blocks import ExportBlocks

PRESET_NAMES: tuple[str, ...] = ("tiny", "small", "full")


LatentKind = Literal["point", "path"]
"""What a family's latent is: one point per sound (`frames == 1`) or a path over time (one point
per frame). A codebook family (`codebook = True`) has a path whose frames are code vectors."""

InputKind = Literal["clip", "continuous", "f0_loudness", "notes"]
"""What a family encodes: clips cut as in training, whole recordings of any length, f0 and
loudness curves, or labelled notes."""


class CapabilityError(TimbrespaceError, ValueError):
    """An operation the model's family cannot do (e.g. a curve over time on a point latent)."""


class BlockSizeError(ConfigError):
    """A block whose length is not a whole number of the model's hops."""


def require_path_latent(model: LatentModel, what: str, instead: str) -> None:
    """Raise `CapabilityError` unless `model`'s latent is a path over time; `what` names the
    refused operation (e.g. "curve"), `instead` what to give instead (e.g. "--amount")."""
    if model.latent_kind != "path":
        raise CapabilityError(
            f"{what}: a {model.label} model mixes whole sounds, one latent point each; a "
            f"{what} over time needs a path model (give {instead})"
        )


def require_streaming(model: LatentModel, what: str) -> None:
    """Raise `CapabilityError` unless `model` streams (explicit state); `what`: the operation."""
    if not model.streaming:
        raise CapabilityError(
            f"{what}: a {model.label} model does not stream block by block; streaming needs a "
            "model of the stream family (train --model stream)"
        )


def require_features(model: LatentModel, what: str) -> None:
    """Raise `CapabilityError` unless `model` plays f0 + loudness (ddsp); `what`: the operation."""
    if model.input_kind != "f0_loudness":
        raise CapabilityError(
            f"{what}: a {model.label} model is not played from pitch and loudness; this needs "
            "an instrument model (train --model ddsp)"
        )


def require_notes(model: LatentModel, what: str) -> None:
    """Raise `CapabilityError` unless `model` plays labelled notes (fader); `what`: the operation."""
    if model.input_kind != "notes":
        raise CapabilityError(
            f"{what}: a {model.label} model is not played by note and style; this needs a note "
            "model (train --model fader on a set from `timbrespace notes`)"
        )


def require_codebook(model: LatentModel, what: str) -> None:
    """Raise `CapabilityError` unless `model`'s frames are codes (vq); `what`: the operation."""
    if not getattr(model, "codebook", False):
        raise CapabilityError(f"{what}: a {model.label} model has no codebook; train --model vq")


class FeatureModel(Protocol):
    """What a family played from f0 and loudness adds (`input_kind == "f0_loudness"`): its
    latent holds pitch (MIDI number), loudness (dB) and voicing (0..1) per frame."""

    tracker_range: tuple[float, float]
    """The pitch tracker's f0 range (Hz)."""

    def features_latent(
        self, f0: torch.Tensor, loudness: torch.Tensor, voicing: torch.Tensor
    ) -> torch.Tensor:
        """Curves `[batch, frames]` (Hz, dB, 0..1) → latent `[batch, latent_dim, frames]`."""
        ...

    def feature_curves(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Latent `[batch, latent_dim, frames]` → (pitch MIDI, loudness dB, voicing)."""
        ...

    def shift_features(self, z: torch.Tensor, semitones: float, gain_db: float) -> torch.Tensor:
        """The latent transposed by `semitones` and made `gain_db` louder."""
        ...

    def trained_range(self) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """(pitch (MIDI), loudness (dB)) 5th–95th percentiles of the voiced training frames;
        None before training."""
        ...


class StreamingModel(Protocol):
    """What a streaming family adds (`streaming = True`): block functions over a flat state.

    Blocks are `[batch, channels, k·hop]` audio or `[batch, latent_dim, k]` latents; the state is
    a list of tensors from `init_state(batch)` (encoder part first, `encoder_state_size` of
    them), taken and returned by every block function; `delay_samples` is how late the output
    comes out of `forward_block` / `decode_block` relative to `decode(encode(x))`."""

    hop_length: int
    delay_samples: int
    encoder_state_size: int

    def init_state(self, batch: int = 1) -> list[torch.Tensor]: ...

    def check_block(self, samples: int) -> None: ...

    def encode_block(
        self, x: torch.Tensor, state: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]: ...

    def decode_block(
        self, z: torch.Tensor, state: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]: ...

    def forward_block(
        self, x: torch.Tensor, state: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]: ...


@runtime_checkable
class LatentModel(Protocol):
    """What the latent tools, studio, engine and exporters rely on, whatever the family."""

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Audio `[batch, channels, samples]` -> latent path `[batch, latent_dim, frames]`."""
        ...

    def decode(
        self, z: torch.Tensor, cond: torch.Tensor | None = None, *, gla_iters: int | None = None
    ) -> torch.Tensor:
        """Latent path `[batch, latent_dim, frames]` -> audio `[batch, channels, samples]`;
        `gla_iters`: Griffin-Lim iterations of a family that renders through Griffin-Lim
        (`default_gla_iters` is not None; None = that default), unused by the others."""
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

    label: ClassVar[str]
    latent_kind: ClassVar[LatentKind]
    input_kind: ClassVar[InputKind]
    conditions: ClassVar[tuple[str, ...]]
    streaming: ClassVar[bool]
    closed_loop: ClassVar[bool]

    @property
    def default_gla_iters(self) -> int | None:
        """Griffin-Lim iterations `decode` uses by default (None: the family renders the
        waveform itself and takes no `gla_iters`)."""
        ...

    def latent_frames(self, samples: int) -> int:
        """Latent frames of `samples` of audio (1 for a point latent)."""
        ...


class ConfiguredModel(nn.Module):
    """Base of the family models: the `LatentModel` properties read from `self._config` (a
    dataclass with `sample_rate`, `latent_dim`, `channels`); families add `hop_length` and
    override the capabilities (class attributes) that differ from a one-shot clip model."""

    _config: Any
    label: ClassVar[str] = "point-latent"
    """What users call the family in messages (e.g. "one-shot")."""
    latent_kind: ClassVar[LatentKind] = "point"
    input_kind: ClassVar[InputKind] = "clip"
    conditions: ClassVar[tuple[str, ...]] = ()
    streaming: ClassVar[bool] = False
    export_refusal: ClassVar[str] = "has no decoder that the exporters can record"
    codebook: ClassVar[bool] = False
    """Whether each latent frame is a code (`codes`, `code_path`, `code_vectors`: vq)."""
    closed_loop: ClassVar[bool] = False
    """Whether a control move renders and corrects on the measured sound (`space_loop`)."""
    differentiable_render: ClassVar[bool] = False  # decode has gradients (no Griffin-Lim)

    @property
    def hop_length(self) -> int:
        raise NotImplementedError

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(
        self, z: torch.Tensor, cond: torch.Tensor | None = None, *, gla_iters: int | None = None
    ) -> torch.Tensor:
        raise NotImplementedError

    @property
    def default_gla_iters(self) -> int | None:
        return None

    def export_blocks(self, block: int = 0) -> ExportBlocks:
        """The block functions as one module (an `nn.Module` in eval mode) that TorchScript and
        the ONNX exporter compile; `block`: the block length of a fixed-block family (0: its
        default). Families that do not stream refuse."""
        raise CapabilityError(
            f"a {self.label} model does not stream block by block, so it has no block functions "
            "to export"
        )

    def export_decoder(self) -> nn.Module:
        """The decoder as one stateless module for the ONNX export: latent `[batch,
        latent_dim, frames]` → what the family renders before any iterative loop. Families
        without one refuse, saying why."""
        raise CapabilityError(f"a {self.label} model {self.export_refusal}")

    def gla_work(self, frames: int, gla_iters: int) -> float:
        """Griffin-Lim work of decoding one latent path of `frames` frames with `gla_iters`
        iterations, in STFT bins × frames × iterations (0 for a family that renders the
        waveform itself); `timbrespace.limits` bounds it per render."""
        return 0.0

    def pitch_readout(self) -> tuple[torch.Tensor, float] | None:
        """The model's own pitch as a linear function of the latent, in semitones re 440 Hz:
        `(weights [latent_dim], bias)`; None when the family has no explicit pitch."""
        return None

    def tune_pitch(self, z: torch.Tensor, f0_hz: torch.Tensor) -> torch.Tensor:
        """Latents `[batch, dim, frames]` moved the least so that the model's own pitch is
        `f0_hz` `[batch]` (Hz; NaN = leave that item). A family without an explicit pitch
        returns `z` unchanged."""
        return z

    def latent_frames(self, samples: int) -> int:
        """Latent frames of `samples` of audio: 1 for a point latent, else one per hop (a frame
        at every hop from sample 0)."""
        return 1 if self.latent_kind == "point" else 1 + int(samples) // int(self.hop_length)

    def check_block(self, samples: int) -> None:
        """Raise `BlockSizeError` unless `samples` is a positive multiple of the hop: a block a
        path model can be played in, frame by frame."""
        hop = int(self.hop_length)
        if samples <= 0 or samples % hop:
            raise BlockSizeError(
                f"block of {samples} samples: a {self.label} model takes blocks of a multiple of "
                f"its hop, {hop} samples (e.g. {hop * max(1, round(samples / hop))})"
            )

    def decoded_samples(self, frames: int) -> int:
        """Samples `decode` renders from `frames` latent frames: the clip for a point latent,
        `(frames − 1)·hop` for a frame-centred path."""
        hop = int(self.hop_length)
        return hop if self.latent_kind == "point" else hop * (int(frames) - 1)

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


@dataclass(kw_only=True)
class ModelOutput:
    """A training forward pass of any family: `z` `[batch, latent_dim, frames]`,
    `regularization` (scalar bottleneck term), `descriptors_pred` `[batch, n_descriptors]` or
    None; `f0` `[batch, channels, frames]` (Hz, frame i at sample i·`f0_hop`) and `base_pitch`
    `[batch, channels]` (octaves re 440 Hz) when the family predicts its own pitch."""

    z: torch.Tensor
    regularization: torch.Tensor
    descriptors_pred: torch.Tensor | None = None
    f0: torch.Tensor | None = None
    base_pitch: torch.Tensor | None = None
    f0_hop: int = 0
    logs: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)
    """Parts of `regularization` (and other scalars) the trainer logs under `reg/`."""


@dataclass(kw_only=True)
class WaveformOutput(ModelOutput):
    """Training output of a waveform family: `audio`, `target` (what it rebuilds when not the
    whole input, e.g. a crop; None = the input) `[batch, channels, samples]`; `valid_samples`:
    score only the first this many (None = all); synthesised / input frames `log(|STFT| + floor)`
    `[batch, channels, bins, frames]` for the spectral family's frame loss, or None."""

    audio: torch.Tensor
    valid_samples: int | None = None
    target: torch.Tensor | None = None
    frames_log_magnitude: torch.Tensor | None = None
    target_frames_log_magnitude: torch.Tensor | None = None


@dataclass(kw_only=True)
class SpectrumOutput(ModelOutput):
    """A family trained on spectra: `log_magnitude` (decoded) and `target_log_magnitude`
    `[batch, channels, bins, frames]` as `log(|STFT| + floor)`."""

    log_magnitude: torch.Tensor
    target_log_magnitude: torch.Tensor


# --------------------------------------------------------------------------------------------
# Family registry


@dataclass(frozen=True)
class Family:
    """A registered model family: its config dataclass, model class and preset overlays.

    legacy: values for keys missing from a *saved* config (a bundle or run written before the
    key existed), so old models keep loading as they were trained."""

    name: str
    config_cls: type
    model_cls: type[ConfiguredModel]
    presets: Mapping[str, Mapping[str, Any]]
    legacy: Mapping[str, Any] = dataclasses.field(default_factory=dict)


_FAMILIES: dict[str, Family] = {}


def register_family(
    name: str,
    config_cls: type,
    model_cls: type[ConfiguredModel],
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
    """The registered family names, after importing every module of `timbrespace.models`
    (a family registers itself when its module is imported; layer modules register none)."""
    package = __name__.rpartition(".")[0]
    for name in _family_module_names():
        importlib.import_module(f"{package}.{name}")
    return sorted(_FAMILIES)


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


def build_model(family: str, config: Mapping[str, Any] | Any | None = None) -> ConfiguredModel:
    """Build a model of `family` from a config dataclass or a dict (a saved config: missing keys
    take the family's legacy values, then the defaults). Every size field is checked against
    `timbrespace.limits` first (`LimitError`), so no config allocates beyond them."""
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
    check_config(config)
    return fam.model_cls(config=config)
