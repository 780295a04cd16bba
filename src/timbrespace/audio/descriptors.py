"""Audio descriptors: one registry, name → per-frame curve and per-clip scalar, with units,
scales and physical limits.

Every clip is analysed once by a `SignalAnalysis` (center-padded frames, STFT magnitude, frame
RMS, A-weighted frame power, YIN, a fine amplitude envelope); each descriptor only reads from it.
All curves share one frame grid: frame `i` is centred on sample `i * hop_length` and a clip of
`n` samples has `frame_count(n, settings) == 1 + n // hop_length` frames.

Clip scalars of frame-wise descriptors are means weighted by the frame's A-weighted power (the
linear quantity behind `loudness`), so silent frames do not count. Pitch is a vectorised YIN run
at 16 kHz whatever the clip rate (enough for f0 ≤ 2 kHz, and the same answer for 16 and 44.1 kHz
datasets). Envelope descriptors (`attack_time`, `release_time`, `decay_constant`) read a ~1 ms
analytic-signal envelope and are measured once per clip; their curve repeats the clip value on
every frame. NaN marks an undefined value (f0 of noise, decay of a flat tone).

    values = compute_descriptors(audio, DescriptorSettings(sample_rate=44100))
    values.value("f0"), values.curve("loudness")
    get_descriptor("f0").to_scale(values.value("f0"))    # semitones re 440 Hz
    descriptor_limits("centroid", 44100)                  # Limits(low=0.0, high=22050.0)

Custom descriptors join the registry by name: `register_descriptor(Descriptor("peak", "ratio",
"...", curve=..., clip=...))`; both callables receive the clip's `SignalAnalysis`.

This module is the public face: it registers the built-ins and re-exports the registry
(`descriptor_registry`), the signal analysis (`descriptor_signal`, `descriptor_analysis`) and the
measures (`descriptor_measures`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from timbrespace.audio.descriptor_analysis import ABSOLUTE_SILENCE_RMS, SignalAnalysis
from timbrespace.audio.descriptor_measures import (
    ATTACK_HIGH,
    ATTACK_LOW,
    DECAY_END_DB,
    DECAY_START_DB,
    FLATNESS_AMIN,
    RELEASE_DB,
    ROLLOFF_FRACTION,
    attack_time,
    decay_constant,
    release_time,
    spectral_bandwidth,
    spectral_centroid,
    spectral_flatness,
    spectral_rolloff,
    zero_crossing_rate,
)
from timbrespace.audio.descriptor_registry import (
    DESCRIPTORS,
    SCALES,
    UNBOUNDED,
    Descriptor,
    Limits,
    descriptor_limits,
    descriptor_names,
    descriptor_scale,
    from_scale,
    get_descriptor,
    register_descriptor,
    to_scale,
    unregister_descriptor,
)
from timbrespace.audio.descriptor_signal import (
    PITCH_SAMPLE_RATE,
    SILENCE_DB,
    SINE_POWER,
    DescriptorSettings,
    PitchTrack,
    a_weighting,
    amplitude_envelope,
    frame_count,
    frame_signal,
    framed_sums,
    hann_window,
    loudness_weights,
    power_to_db,
    smooth,
    to_mono,
    weighted_mean,
    yin,
)

__all__ = [
    "ABSOLUTE_SILENCE_RMS",
    "ATTACK_HIGH",
    "ATTACK_LOW",
    "DECAY_END_DB",
    "DECAY_START_DB",
    "DESCRIPTORS",
    "F0_RANGE_HZ",
    "FLATNESS_AMIN",
    "PITCH_SAMPLE_RATE",
    "RELEASE_DB",
    "ROLLOFF_FRACTION",
    "SCALES",
    "SILENCE_DB",
    "SINE_POWER",
    "UNBOUNDED",
    "Descriptor",
    "DescriptorSettings",
    "DescriptorValues",
    "Limits",
    "PitchTrack",
    "SignalAnalysis",
    "a_weighting",
    "amplitude_envelope",
    "attack_time",
    "compute_descriptors",
    "decay_constant",
    "descriptor_limits",
    "descriptor_names",
    "descriptor_scale",
    "frame_count",
    "frame_signal",
    "framed_sums",
    "from_scale",
    "get_descriptor",
    "hann_window",
    "loudness_weights",
    "max_loudness_db",
    "power_to_db",
    "register_descriptor",
    "release_time",
    "smooth",
    "spectral_bandwidth",
    "spectral_centroid",
    "spectral_flatness",
    "spectral_rolloff",
    "to_mono",
    "to_scale",
    "unregister_descriptor",
    "weighted_mean",
    "yin",
    "zero_crossing_rate",
]

F0_RANGE_HZ = (20.0, 440.0 * 2.0 ** (39 / 12))
"""Plausible f0 (Hz): the bottom of hearing to the top of the piano (C8, 4186.01 Hz)."""


@dataclass(frozen=True)
class DescriptorValues:
    """Descriptors of one clip: `clip` float32 `[D]`, `curves` float32 `[D, frames]`."""

    names: list[str]
    clip: np.ndarray
    curves: np.ndarray

    def value(self, name: str) -> float:
        """The clip scalar of `name`."""
        return float(self.clip[self.names.index(name)])

    def curve(self, name: str) -> np.ndarray:
        """The curve of `name` `[frames]`."""
        return self.curves[self.names.index(name)]


def compute_descriptors(
    audio: np.ndarray, settings: DescriptorSettings, names: Sequence[str] | None = None
) -> DescriptorValues:
    """Compute `names` (default: all registered) on `audio` `[samples]` or `[channels, samples]`.

    Multi-channel audio is analysed as its channel mean. Raises KeyError for unknown names and
    ValueError for empty or non-finite audio.
    """
    selected = descriptor_names() if names is None else list(names)
    descriptors = [get_descriptor(name) for name in selected]
    analysis = SignalAnalysis(audio, settings)
    curves = np.empty((len(selected), analysis.n_frames), np.float32)
    clip = np.empty(len(selected), np.float32)
    for i, descriptor in enumerate(descriptors):
        curves[i] = analysis.curve(descriptor.name)
        clip[i] = descriptor.clip(analysis)
    return DescriptorValues(names=selected, clip=clip, curves=curves)


@lru_cache(maxsize=1)
def _a_weighting_peak() -> float:
    """Frequency (Hz) of the A-weighting curve's maximum (≈ 2512 Hz, +1.27 dB)."""
    frequencies = np.linspace(1000.0, 5000.0, 400_001)  # 0.01 Hz steps
    return float(frequencies[np.argmax(a_weighting(frequencies))])


def max_loudness_db(sample_rate: float) -> float:
    """Highest `loudness` (dB) a clip in [-1, 1] can reach at `sample_rate`.

    A frame's A-weighted power is at most its mean square (≤ 1 for samples in [-1, 1]) times the
    largest A-weighting gain below Nyquist: 10 log10(2) + 1.27 ≈ 4.28 dB from 5.1 kHz on.
    """
    peak_gain = float(a_weighting(min(_a_weighting_peak(), sample_rate / 2)))
    return 10 * math.log10(peak_gain / SINE_POWER)


def _between(low: float, high: float) -> Callable[[float, float], Limits]:
    return lambda sample_rate, duration: Limits(low, high)


def _nyquist(fraction: float = 1.0) -> Callable[[float, float], Limits]:
    return lambda sample_rate, duration: Limits(0.0, fraction * sample_rate / 2)


def _f0_limits(sample_rate: float, duration: float) -> Limits:
    return Limits(F0_RANGE_HZ[0], min(F0_RANGE_HZ[1], sample_rate / 2))


def _loudness_limits(sample_rate: float, duration: float) -> Limits:
    return Limits(SILENCE_DB, max_loudness_db(sample_rate))


def _clip_time(sample_rate: float, duration: float) -> Limits:
    return Limits(0.0, duration)


def _f0_curve(analysis: SignalAnalysis) -> np.ndarray:
    return np.where(analysis.voiced, analysis.pitch.f0, np.nan)


def _f0_clip(analysis: SignalAnalysis) -> float:
    voiced = analysis.pitch.f0[analysis.voiced]
    return float(np.median(voiced)) if voiced.size else float("nan")


def _loudness_clip(analysis: SignalAnalysis) -> float:
    power = analysis.weighted_power
    total = float(power.sum())
    mean_power = float(np.dot(power, power) / total) if total > 0 else 0.0
    return float(power_to_db(np.array(mean_power)))


def _register_frame_descriptor(
    name: str,
    unit: str,
    description: str,
    curve: Callable[[SignalAnalysis], np.ndarray],
    scale: str,
    bounds: Callable[[float, float], Limits],
) -> None:
    register_descriptor(
        Descriptor(
            name,
            unit,
            description,
            curve,
            lambda analysis: analysis.weighted_clip(name),
            scale=scale,
            bounds=bounds,
        )
    )


def _register_envelope_descriptor(
    name: str,
    description: str,
    measure: Callable[[SignalAnalysis], float],
    bounds: Callable[[float, float], Limits],
) -> None:
    register_descriptor(
        Descriptor(
            name,
            "s",
            description,
            curve=lambda analysis: analysis.constant(measure(analysis)),
            clip=lambda analysis: float(analysis.curve(name)[0]),
            scale="log",
            bounds=bounds,
        )
    )


register_descriptor(
    Descriptor(
        "f0",
        "Hz",
        "Fundamental frequency by YIN; NaN on unvoiced or silent frames. Clip: median f0 of "
        "voiced frames, NaN if none.",
        curve=_f0_curve,
        clip=_f0_clip,
        scale="semitones",
        bounds=_f0_limits,
    )
)
_register_frame_descriptor(
    "f0_confidence",
    "ratio",
    "YIN voicing confidence 1 − min(cmnd), 0..1; 0 on silent frames.",
    lambda analysis: analysis.pitch.confidence,
    scale="linear",
    bounds=_between(0.0, 1.0),
)
register_descriptor(
    Descriptor(
        "loudness",
        "dB",
        "A-weighted frame power in dB re. a full-scale sine (a 1 kHz sine of amplitude 1 → 0 dB), "
        "floored at −120 dB. Clip: the power-weighted mean frame power, in dB.",
        curve=lambda analysis: analysis.loudness,
        clip=_loudness_clip,
        scale="linear",
        bounds=_loudness_limits,
    )
)
_register_frame_descriptor(
    "rms",
    "ratio",
    "Root mean square amplitude of each frame (linear, full scale = 1).",
    lambda analysis: analysis.frame_rms,
    scale="log",
    bounds=_between(0.0, 1.0),
)
_register_frame_descriptor(
    "centroid",
    "Hz",
    "Spectral centroid: magnitude-weighted mean frequency.",
    lambda analysis: spectral_centroid(analysis.magnitude, analysis.frequencies),
    scale="log",
    bounds=_nyquist(),
)
_register_frame_descriptor(
    "bandwidth",
    "Hz",
    "Spectral bandwidth: magnitude-weighted deviation around the centroid.",
    lambda analysis: spectral_bandwidth(
        analysis.magnitude, analysis.frequencies, analysis.curve("centroid")
    ),
    scale="log",
    # the standard deviation of a distribution on [0, Nyquist] is at most Nyquist / 2
    bounds=_nyquist(0.5),
)
_register_frame_descriptor(
    "rolloff",
    "Hz",
    "Frequency below which 85 % of the spectral magnitude lies.",
    lambda analysis: spectral_rolloff(analysis.magnitude, analysis.frequencies),
    scale="log",
    bounds=_nyquist(),
)
_register_frame_descriptor(
    "flatness",
    "ratio",
    "Spectral flatness: geometric / arithmetic mean of the power spectrum.",
    lambda analysis: spectral_flatness(analysis.power),
    scale="linear",
    bounds=_between(0.0, 1.0),
)
_register_frame_descriptor(
    "zcr",
    "1/s",
    "Zero-crossing rate in crossings per second (a sine of f Hz → 2f).",
    lambda analysis: zero_crossing_rate(
        analysis.audio,
        analysis.settings.sample_rate,
        analysis.settings.frame_length,
        analysis.settings.hop_length,
    ),
    scale="linear",
    # at most one crossing per sample
    bounds=lambda sample_rate, duration: Limits(0.0, sample_rate),
)
_register_envelope_descriptor(
    "attack_time",
    "Time from 10 % to 90 % of the envelope peak, on the fine (~1 ms) envelope, the peak taken "
    "from the 10 ms-smoothed one, each crossing averaged over levels ±5 % of the peak (no jump "
    "of a period where a ripple peaks near 90 %); constant curve.",
    lambda analysis: attack_time(
        analysis.envelope, analysis.envelope_times, float(analysis.smooth_envelope.max())
    ),
    bounds=_clip_time,
)
_register_envelope_descriptor(
    "release_time",
    "Time from the envelope peak until it stays 40 dB below it, clipped to the clip end; "
    "constant curve.",
    lambda analysis: release_time(
        analysis.smooth_envelope, analysis.envelope_times, analysis.duration
    ),
    bounds=_clip_time,
)
_register_envelope_descriptor(
    "decay_constant",
    "Time constant τ of e^(−t/τ) fitted to the envelope between −3 and −40 dB after the peak; "
    "NaN without a decay; constant curve.",
    lambda analysis: decay_constant(analysis.smooth_envelope, analysis.envelope_times),
    # a fitted time constant, not a time inside the clip: a slow decay's τ exceeds the clip
    bounds=_between(0.0, math.inf),
)
