"""Differentiable twins of clip descriptors, in torch, for gradients through a decoder.

Each function computes the clip value `compute_descriptors` reports for the same audio (the
same center-padded Hann frames, the same A-weighted frame power as the weight of each frame's
value), so a gradient of it points where the measured descriptor moves. Only descriptors whose
computation is smooth have a twin here (a pitch tracker's trough search or an envelope's
threshold crossing are not).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from timbrespace.audio.descriptor_registry import LOG_FLOOR, SEMITONE_REFERENCE_HZ
from timbrespace.audio.descriptor_signal import (
    SILENCE_DB,
    SINE_POWER,
    DescriptorSettings,
    frame_count,
    hann_window,
    loudness_weights,
)

SILENT_POWER = 1e-20
"""A-weighted frame power below which a frame carries no weight (the descriptors' "silent")."""


def frame_spectra(mono: torch.Tensor, settings: DescriptorSettings) -> torch.Tensor:
    """Hann STFT magnitude `[batch, frames, bins]` of `mono` `[batch, samples]`, framed as
    `descriptor_signal.frame_signal` frames (centred on `i * hop_length`, zero-padded)."""
    length, hop = settings.frame_length, settings.hop_length
    samples = mono.shape[-1]
    n_frames = frame_count(samples, settings)
    left = length // 2
    right = max((n_frames - 1) * hop + length - left - samples, 0)
    padded = torch.nn.functional.pad(mono, (left, right))
    frames = padded.unfold(-1, length, hop)[:, :n_frames]
    window = torch.tensor(hann_window(length), dtype=mono.dtype, device=mono.device)
    return torch.fft.rfft(frames * window, dim=-1).abs()


def _frame_weights(magnitude: torch.Tensor, settings: DescriptorSettings) -> torch.Tensor:
    """A-weighted mean square of each frame `[batch, frames]` (`DescriptorAnalysis.weighted_power`)."""
    weights = loudness_weights(settings.sample_rate, settings.frame_length)
    gains = torch.tensor(weights, dtype=magnitude.dtype, device=magnitude.device)
    return magnitude.square() @ gains


def clip_centroid(audio: torch.Tensor, settings: DescriptorSettings) -> torch.Tensor:
    """Spectral centroid (Hz) `[batch]` of `audio` `[batch, channels, samples]` (channel mean):
    per-frame magnitude-weighted mean frequency, averaged with the frames' A-weighted power."""
    magnitude = frame_spectra(audio.mean(dim=1), settings)
    bins = magnitude.shape[-1]
    frequencies = torch.arange(bins, dtype=magnitude.dtype, device=magnitude.device) * (
        settings.sample_rate / settings.frame_length
    )
    total = magnitude.sum(dim=-1)
    centroid = (magnitude @ frequencies) / torch.where(total > 0, total, torch.ones_like(total))
    power = _frame_weights(magnitude, settings)
    weight = torch.where(power > SILENT_POWER, power, torch.zeros_like(power))
    return (centroid * weight).sum(dim=-1) / weight.sum(dim=-1).clamp_min(SILENT_POWER)


def clip_loudness(audio: torch.Tensor, settings: DescriptorSettings) -> torch.Tensor:
    """Loudness (dB re a full-scale sine) `[batch]` of `audio` `[batch, channels, samples]`
    (channel mean): the A-weighted frame powers' power-weighted mean, floored at `SILENCE_DB`."""
    power = _frame_weights(frame_spectra(audio.mean(dim=1), settings), settings)
    mean_power = power.square().sum(dim=-1) / power.sum(dim=-1).clamp_min(SILENT_POWER)
    floor = SINE_POWER * 10 ** (SILENCE_DB / 10)
    return 10 * torch.log10(mean_power.clamp_min(floor) / SINE_POWER)


DIFFERENTIABLE: dict[str, Callable[[torch.Tensor, DescriptorSettings], torch.Tensor]] = {
    "centroid": clip_centroid,
    "loudness": clip_loudness,
}
"""Descriptor name → its differentiable clip value: audio `[batch, channels, samples]` →
`[batch]` in the descriptor's unit."""


def scaled(values: torch.Tensor, scale: str) -> torch.Tensor:
    """`descriptor_registry.to_scale` in torch (differentiable): values in the descriptor's unit
    → "linear" (as they are), "semitones" (re 440 Hz) or "log" (natural log)."""
    if scale == "linear":
        return values
    if scale == "semitones":
        return 12.0 * torch.log2(values / SEMITONE_REFERENCE_HZ)
    if scale == "log":
        return torch.log(values.clamp_min(LOG_FLOOR))
    raise ValueError(f"unknown scale {scale!r}")
