"""The descriptor registry, and each descriptor's unit, perceptual scale and physical limits.

A `Descriptor` names a quantity measured on a clip: its `unit` (Hz, s, dB, ratio, 1/s), the
`scale` it is best compared on (learned, probed and controlled), and its physical `limits` for a
given sample rate and clip length. Scales:

- `linear`: the value itself;
- `semitones`: `12 log2(value / 440 Hz)` (pitch), non-positive values → NaN;
- `log`: `ln(max(value, 1e-5))` (times, frequencies, amplitudes), non-positive values → NaN.

`to_scale` / `from_scale` map between a unit and a scale (`from_scale` also on torch tensors).
Names not in the registry (e.g. a descriptor of an older cache) are linear and unbounded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from timbrespace.audio.descriptor_analysis import SignalAnalysis

SCALES = ("linear", "semitones", "log")
SEMITONE_REFERENCE_HZ = 440.0
LOG_FLOOR = 1e-5


def to_scale(values: Any, scale: str) -> np.ndarray:
    """Map raw values (in the descriptor's unit) to `scale`: float64 array, same shape.

    Non-positive values of the semitones and log scales → NaN.
    """
    values = np.asarray(values, dtype=np.float64)
    if scale == "linear":
        return values
    with np.errstate(divide="ignore", invalid="ignore"):
        positive = np.where(values > 0, values, np.nan)
        if scale == "semitones":
            return 12.0 * np.log2(positive / SEMITONE_REFERENCE_HZ)
        if scale == "log":
            return np.log(np.maximum(positive, LOG_FLOOR))
    raise ValueError(f"unknown scale {scale!r}")


def from_scale(values: Any, scale: str) -> Any:
    """Inverse of `to_scale`: semitones re 440 Hz → Hz, log → exp; numpy arrays or torch tensors,
    returned in the input's type."""
    if scale == "linear":
        return values
    if scale == "semitones":
        return SEMITONE_REFERENCE_HZ * 2.0 ** (values / 12.0)
    if scale == "log":
        return values.exp() if hasattr(values, "exp") else np.exp(values)
    raise ValueError(f"unknown scale {scale!r}")


class Limits(NamedTuple):
    """Physical range `[low, high]` of a descriptor, in its unit (±inf: unbounded)."""

    low: float
    high: float

    def contains(self, value: float) -> bool:
        """True if `low ≤ value ≤ high` (False for NaN)."""
        return self.low <= value <= self.high


UNBOUNDED = Limits(-math.inf, math.inf)


def _unbounded(sample_rate: float, duration: float) -> Limits:
    return UNBOUNDED


@dataclass(frozen=True)
class Descriptor:
    """A named descriptor: `curve(analysis)` → float32 `[frames]`, `clip(analysis)` → float.

    `unit` is the unit of both; `scale` (one of `SCALES`) the scale it is compared on; `bounds`
    maps `(sample_rate, duration)` (Hz, s) to its physical `Limits` (default: unbounded).
    """

    name: str
    unit: str
    description: str
    curve: Callable[[SignalAnalysis], np.ndarray]
    clip: Callable[[SignalAnalysis], float]
    scale: str = "linear"
    bounds: Callable[[float, float], Limits] = _unbounded

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ValueError(
                f"descriptor {self.name!r}: scale must be one of {SCALES}, got {self.scale!r}"
            )

    def to_scale(self, values: Any) -> np.ndarray:
        """Values in `unit` → this descriptor's scale (float64; NaN where the scale can't hold)."""
        return to_scale(values, self.scale)

    def from_scale(self, values: Any) -> Any:
        """Values on this descriptor's scale → `unit`."""
        return from_scale(values, self.scale)

    def limits(self, sample_rate: float, duration: float = math.inf) -> Limits:
        """Physical range in `unit` for clips at `sample_rate` (Hz) lasting `duration` (s)."""
        if not sample_rate > 0 or not duration > 0:
            raise ValueError(
                f"need sample_rate > 0 and duration > 0, got {sample_rate} and {duration}"
            )
        low, high = self.bounds(float(sample_rate), float(duration))
        return Limits(float(low), float(high))


DESCRIPTORS: dict[str, Descriptor] = {}
"""Name → descriptor. The built-ins join when `timbrespace.audio.descriptors` is imported; the
lookups below import it first, so importing this module alone never sees an empty registry."""


def _registry() -> dict[str, Descriptor]:
    import timbrespace.audio.descriptors  # noqa: F401  (registers the built-ins)

    return DESCRIPTORS


def register_descriptor(descriptor: Descriptor) -> Descriptor:
    """Add `descriptor` to `DESCRIPTORS` under its name; raises ValueError if it is taken."""
    registry = _registry()
    if descriptor.name in registry:
        raise ValueError(f"descriptor {descriptor.name!r} is already registered")
    registry[descriptor.name] = descriptor
    return descriptor


def unregister_descriptor(name: str) -> Descriptor:
    """Remove and return the descriptor `name` (KeyError listing the known names if absent)."""
    get_descriptor(name)
    return DESCRIPTORS.pop(name)


def descriptor_names() -> list[str]:
    """Registered names in registration order (built-ins first)."""
    return list(_registry())


def get_descriptor(name: str) -> Descriptor:
    """The descriptor `name`; KeyError listing the known names if unknown."""
    try:
        return _registry()[name]
    except KeyError:
        raise KeyError(
            f"unknown descriptor {name!r}; known: {', '.join(descriptor_names())}"
        ) from None


def descriptor_scale(name: str) -> str:
    """The scale of the registered descriptor `name`; "linear" for unregistered names."""
    descriptor = _registry().get(name)
    return descriptor.scale if descriptor is not None else "linear"


def descriptor_limits(name: str, sample_rate: float, duration: float = math.inf) -> Limits:
    """Physical range of `name` at `sample_rate` (Hz) for clips of `duration` (s); unregistered
    names are unbounded."""
    descriptor = _registry().get(name)
    if descriptor is None:
        return UNBOUNDED
    return descriptor.limits(sample_rate, duration)
