"""Phases for the streaming decoder's frames, made causally from the frames before.

A decoder that sees only a window of latents cannot output the ever-growing phase of a steady
partial (a steady latent gives the same frame every hop, and only multiples of
sample_rate / hop survive that), so the phase is accumulated from frame to frame:
- `accumulate_phase`: each bin advances by its own frequency over a hop plus a deviation (a
  phase vocoder; the deviation is learned);
- `locked_phase`: the phase is made from the magnitudes alone (a phase vocoder with identity
  phase locking, Laroche & Dolson 1999): each bin belongs to its nearest spectral peak, the peak's
  frequency is read off the log-magnitude parabola through it and its neighbours, every bin
  advances at its peak's frequency, and the bins around a peak are locked to the peak's phase
  with the offset of a steady sinusoid under a window centred in the frame (−π per bin). From
  true magnitudes of melodies (n_fft 512, hop 128) this renders an MR-STFT distance of 0.62,
  against 0.48 for 32 Griffin-Lim iterations and 1.54 for random phases.

Shapes: `[batch, channels, frames, bins]`, rad. The running sums are float64, so a whole path
and the same path in blocks agree to float32 rounding; only ops that TorchScript and the ONNX
exporter record (cumsum, scatter, gather) are used.
"""

from __future__ import annotations

import math

import torch

PEAK_SPAN = 1e6
"""Stands for "no peak on this side" in bin distances (more than any bin count)."""


def accumulate_phase(
    deviation: torch.Tensor, previous: torch.Tensor, hop: int, n_fft: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each bin's phase (in [−π, π)) advances from `previous` `[batch, channels, bins]` (the
    last frame's) by its own advance over one hop, 2π·bin·hop / n_fft, plus `deviation`; also
    returns the last frame's phase."""
    bins = deviation.shape[-1]
    advance = torch.arange(bins, dtype=torch.float64, device=deviation.device)
    advance = advance * (2 * math.pi * hop / n_fft)
    phase = previous.double()[:, :, None] + torch.cumsum(deviation.double() + advance, dim=2)
    wrapped = torch.remainder(phase + math.pi, 2 * math.pi) - math.pi
    return wrapped.to(deviation.dtype), wrapped[:, :, -1].to(previous.dtype)


def nearest_peaks(
    log_magnitude: torch.Tensor, span: float = PEAK_SPAN
) -> tuple[torch.Tensor, torch.Tensor]:
    """For every bin the nearest local maximum of its frame (`[..., bins]` int64; the lower one
    on a tie; the bin itself in a frame with no peak) and that peak's frequency in bins (the
    vertex of the parabola through the peak and its two neighbours, within ±1 bin). `span`
    stands for "no peak on this side"."""
    bins = log_magnitude.shape[-1]
    index = torch.arange(bins, device=log_magnitude.device).expand_as(log_magnitude)
    below = torch.cat([log_magnitude[..., :1], log_magnitude[..., :-1]], dim=-1)
    above = torch.cat([log_magnitude[..., 1:], log_magnitude[..., -1:]], dim=-1)
    inner = (index > 0) & (index < bins - 1)
    peak = inner & (log_magnitude > below) & (log_magnitude >= above)
    rank = torch.cumsum(peak.long(), dim=-1)  # peaks at or below each bin
    far = torch.full_like(log_magnitude, span)
    positions = torch.cat([-far[..., :1], far, far[..., :1]], dim=-1)  # by rank, 0 = none below
    slot = torch.where(peak, rank, torch.full_like(rank, bins + 1))
    positions = positions.scatter(-1, slot, index.to(positions.dtype))
    positions = torch.cat([positions[..., : bins + 1], far[..., :1]], dim=-1)  # none above
    last = torch.gather(positions, -1, rank)
    following = torch.gather(positions, -1, rank + (~peak).long())
    here = index.to(positions.dtype)
    nearest = torch.where(here - last <= following - here, last, following)
    nearest = torch.where(nearest.abs() < span, nearest, here).long()
    curvature = below - 2 * log_magnitude + above
    safe = torch.where(curvature.abs() > 1e-9, curvature, torch.ones_like(curvature))
    offset = torch.where(curvature.abs() > 1e-9, 0.5 * (below - above) / safe, 0 * curvature)
    offset = torch.gather(offset.clamp(-1.0, 1.0), -1, nearest)
    return nearest, nearest.to(offset.dtype) + offset


def locked_phase(
    log_magnitude: torch.Tensor, previous: torch.Tensor, hop: int, n_fft: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Phase of every bin from the log-magnitudes `[batch, channels, frames, bins]` (natural
    log) and `previous` `[batch, channels, bins]`, each bin's running phase at the last frame;
    returns the phase and the new running phase. Not differentiable (made from detached
    magnitudes): the loss reaches the magnitudes through the rendering."""
    peak, frequency = nearest_peaks(log_magnitude.detach())
    step = frequency.double() * (2 * math.pi * hop / n_fft)
    running = previous.double()[:, :, None] + torch.cumsum(step, dim=2)
    running = torch.remainder(running + math.pi, 2 * math.pi) - math.pi
    index = torch.arange(log_magnitude.shape[-1], device=log_magnitude.device)
    phase = torch.gather(running, -1, peak) - math.pi * (index - peak).double()
    return phase.to(log_magnitude.dtype), running[:, :, -1].to(previous.dtype)
