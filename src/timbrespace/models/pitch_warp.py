"""Spectra on a pitch-relative log-frequency axis: the pitch-shape factorisation of the vq family.

A harmonic frame at f0 has its partials at k·f0; on the axis u = log2(f / f0) (octaves above the
frame's f0) they sit at log2(k) whatever the pitch, so the same note shape at two pitches is the
same curve and one code can serve both. `to_pitch_axis` resamples a linear-frequency spectrum
`[batch, bins, frames]` (bin k at k·sample_rate / n_fft Hz) onto the grid `pitch_axis` at each
frame's f0; `from_pitch_axis` resamples back. Both interpolate linearly between neighbours
(values, e.g. log magnitudes, not powers), hold the edge value outside their input, and are
differentiable in the values (not in f0).
"""

from __future__ import annotations

import math

import torch

A4_HZ = 440.0


def pitch_axis(low: float, high: float, per_octave: int) -> torch.Tensor:
    """Grid `[points]` of u = log2(f / f0) from `low` to `high` octaves (inclusive ends),
    `per_octave` points per octave, float64."""
    if not high > low or per_octave < 1:
        raise ValueError(f"need high > low and per_octave >= 1, got {low}, {high}, {per_octave}")
    points = int(round((high - low) * per_octave)) + 1
    return low + torch.arange(points, dtype=torch.float64) / per_octave


def octaves_of(f0: torch.Tensor) -> torch.Tensor:
    """f0 (Hz) → the latent pitch channel, octaves re A4 (440 Hz): log2(f0 / 440)."""
    return torch.log2(f0 / A4_HZ)


def hertz_of(octaves: torch.Tensor) -> torch.Tensor:
    """The latent pitch channel (octaves re A4) → f0 (Hz)."""
    return A4_HZ * torch.exp2(octaves)


def _interpolate(values: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
    """`values` `[batch, n, frames]` read at fractional indices `position` `[batch, m, frames]`
    (clamped to [0, n − 1]) with linear interpolation → `[batch, m, frames]`."""
    n = values.shape[1]
    position = position.clamp(0.0, n - 1.0)
    below = position.floor().clamp(max=n - 2 if n > 1 else 0).long()
    above = (below + 1).clamp(max=n - 1)
    fraction = (position - below.to(position.dtype)).to(values.dtype)
    low = torch.gather(values, 1, below)
    high = torch.gather(values, 1, above)
    return low + (high - low) * fraction


def to_pitch_axis(
    spectrum: torch.Tensor, f0: torch.Tensor, axis: torch.Tensor, sample_rate: int, n_fft: int
) -> torch.Tensor:
    """Linear-frequency `spectrum` `[batch, bins, frames]` (bins = n_fft // 2 + 1) → values at
    f = f0 · 2^u for every u of `axis` `[points]` → `[batch, points, frames]`; `f0` `[batch,
    frames]` Hz. Points above Nyquist hold the top bin's value."""
    hz = f0.double()[:, None, :] * torch.exp2(axis.to(f0.device))[None, :, None]
    return _interpolate(spectrum, (hz * n_fft / sample_rate).to(spectrum.dtype))


def from_pitch_axis(
    grid: torch.Tensor, f0: torch.Tensor, axis: torch.Tensor, sample_rate: int, n_fft: int
) -> torch.Tensor:
    """Values on the pitch axis `grid` `[batch, points, frames]` (at u = `axis`, uniform) →
    the linear-frequency spectrum `[batch, n_fft // 2 + 1, frames]` at each frame's `f0`
    `[batch, frames]` Hz; bins below the axis (DC) or above it hold the edge values."""
    bins = n_fft // 2 + 1
    hz = torch.arange(bins, dtype=torch.float64, device=grid.device) * sample_rate / n_fft
    hz[0] = hz[1] * 0.5  # DC: below every pitch, held at the axis' lowest point
    u = torch.log2(hz[None, :, None] / f0.double()[:, None, :])
    axis = axis.to(device=grid.device, dtype=torch.float64)
    step = axis[1] - axis[0] if axis.numel() > 1 else torch.ones_like(axis[0])
    return _interpolate(grid, ((u - axis[0]) / step).to(grid.dtype))


def axis_for(sample_rate: int, fmin: float, per_octave: int, below: float = 1.0) -> torch.Tensor:
    """The pitch axis a model needs: from `below` octaves under f0 up to Nyquist for the lowest
    f0 the tracker reports (`fmin`, Hz)."""
    top = math.log2(sample_rate / 2 / fmin)
    return pitch_axis(-below, math.ceil(top * per_octave) / per_octave, per_octave)
