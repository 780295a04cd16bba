"""Brightness by construction for the one-shot synth (`OneShotConfig.tilt`).

The synth's render is tilted in the STFT domain before its fade-in: bin f of every frame is
multiplied by `(max(f, TILT_FLOOR_HZ) / TILT_REFERENCE_HZ) ** a` and the frame rescaled to keep
its A-weighted power, so the tilt moves where the energy lies and not how loud each moment is,
but never above its own unweighted power: a kick darkened at that loudness reached 13× its peak
and clipped, and the clipping's harmonics made its centroid rise again.
The slope `a = TILT_LIMIT · tanh(r / TILT_LIMIT)` (octave-power units: +1 doubles the gain an
octave up) comes from a latent readout `r = w·z + b` (`EnvelopeReadouts` "tilt"); the rest of
the decoder sees the latent without it, so a move along `w` changes the tilt and nothing else.

Why: the brightness control followed a direction fitted over a collection, and what the decoder
renders along it ends where the decoded content ends (a demo kick's centroid stopped at 1.4 kHz
for every request above it; 73 % of sweep steps within 5 %). Every frame's centroid rises with
`a` at fixed frame weights (the clip centroid's weights are the frames' A-weighted powers), so
the brightness can be searched over `a` on one render (`space_readout`): on the same demo
bundle's sweeps, 92 % of steps within 5 % on a grid of 0.1, the loudness moved by 0.08 dB.
Training learns the readout with the rest (no target): it starts at `a = 0`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from timbrespace.audio.descriptor_signal import loudness_weights

TILT_REFERENCE_HZ = 1000.0
TILT_FLOOR_HZ = 40.0
"""Bins below this get its gain: a steep negative tilt must not blow up the DC bin."""
TILT_LIMIT = 4.0
"""|a| stays below this (±24 dB per octave)."""
TILT_FRAME, TILT_HOP = 2048, 512
"""The STFT of the tilt: the descriptors' frames (`DescriptorSettings`), so the frames whose
A-weighted power it keeps are the ones the loudness and the centroid's weights are measured on."""
POWER_FLOOR = 1e-20


@dataclass(frozen=True)
class TiltStage:
    """A decoder's tilt: its readout `weights` `[latent_dim]` and `bias` (the readout value is
    `w·z + b`), and `apply` (audio `[n, channels, samples]`, readout values `[n]`) → the audio
    tilted as the decoder tilts its render."""

    weights: torch.Tensor
    bias: float
    apply: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def tilt_slope(raw: torch.Tensor) -> torch.Tensor:
    """The tilt `a` (octave-power units) of readout values `raw` `[batch]`, soft-limited to
    ±`TILT_LIMIT`."""
    return TILT_LIMIT * torch.tanh(raw / TILT_LIMIT)


def tilt_gains(slope: torch.Tensor, frequencies: torch.Tensor) -> torch.Tensor:
    """Amplitude gains `[batch, bins]` of slopes `[batch]` at `frequencies` (Hz) `[bins]`."""
    octaves = torch.log2(frequencies.clamp_min(TILT_FLOOR_HZ) / TILT_REFERENCE_HZ)
    return torch.exp2(slope[:, None] * octaves[None, :])


def spectral_tilt(audio: torch.Tensor, raw: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """`audio` `[batch, channels, samples]` tilted by the readout values `raw` `[batch]` (see
    the module docstring), each frame's A-weighted power kept; same shape and dtype."""
    batch, channels, samples = audio.shape
    frame = min(TILT_FRAME, 1 << (max(samples, 2).bit_length() - 1))
    hop = max(1, frame * TILT_HOP // TILT_FRAME)
    window = torch.hann_window(frame, dtype=audio.dtype, device=audio.device)
    spectrum = torch.stft(
        audio.reshape(batch * channels, samples), frame, hop, window=window, return_complex=True
    )  # [batch · channels, bins, frames]
    frequencies = torch.fft.rfftfreq(frame, 1.0 / sample_rate, dtype=audio.dtype)
    gains = tilt_gains(tilt_slope(raw.to(audio.dtype)), frequencies.to(audio.device))
    gains = gains.repeat_interleave(channels, dim=0)[:, :, None]  # [batch · channels, bins, 1]
    # the weights the loudness descriptor turns a Hann STFT frame into A-weighted power with
    # (copied: the cached array is read-only)
    weights = torch.tensor(loudness_weights(sample_rate, frame), dtype=audio.dtype)
    weights = weights.to(audio.device)[None, :, None]
    power = spectrum.real.square() + spectrum.imag.square()
    before = (weights * power).sum(dim=1, keepdim=True)
    after = (weights * power * gains.square()).sum(dim=1, keepdim=True)
    raw_before = power.sum(dim=1, keepdim=True)
    raw_after = (power * gains.square()).sum(dim=1, keepdim=True)
    scale = torch.sqrt(
        torch.minimum(
            (before + POWER_FLOOR) / (after + POWER_FLOOR),
            (raw_before + POWER_FLOOR) / (raw_after + POWER_FLOOR),
        )
    )
    tilted = torch.istft(spectrum * (gains * scale), frame, hop, window=window, length=samples)
    return tilted.view(batch, channels, samples)
