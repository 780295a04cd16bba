"""Differentiable sinusoids at free frequencies (ratios of a base pitch), for the inharmonic and
polyphonic part of a sound: a bell's modal partials, the strings of a chord (McAulay & Quatieri
1986's sinusoidal model, driven like DDSP's oscillators: Engel et al. 2020).

Plain DSP with no learned weights, batched torch. Control frame i sits at sample `i * hop`, as in
`timbrespace.audio.synth`; amplitudes are interpolated linearly between frames.
"""

from __future__ import annotations

import math

import torch


def partial_bank(
    ratios: torch.Tensor,
    amplitudes: torch.Tensor,
    base_hz: torch.Tensor,
    *,
    sample_rate: int,
    samples: int,
    hop: int,
) -> torch.Tensor:
    """Sum of sinusoids at `ratios × base_hz`, each with its own amplitude envelope.

    ratios `[batch, partials]` (frequency ratios to the base pitch, constant over the clip);
    amplitudes `[batch, partials, frames]` (linear, frame i at sample i·hop, with
    `(frames − 1)·hop ≥ samples`); base_hz `[batch]` (Hz). Every partial starts at phase 0;
    partials at or above Nyquist are silent. Returns `[batch, samples]`.

    Unlike `harmonic_synth`, the phase carries a gradient to `ratios` (d phase / d ratio =
    2π · base_hz · t), so a partial near a spectral peak of the target can be pulled onto it; the
    base pitch itself gets none (it is learned from the pitch loss). Each partial's phase at the
    first sample of each control frame, a, is accumulated in float64 and wrapped; within the
    frame, sin(a + ωk) = sin a · cos ωk + cos a · sin ωk, so the amplitude ramps and the sum over
    partials are two batched matrix products `[frames · 2, partials] @ [partials, hop]` and no
    `[partials, samples]` tensor is ever built (sines are evaluated on `frames + hop` points
    per partial instead of every sample).
    """
    batch, partials, frames = amplitudes.shape
    if ratios.shape != (batch, partials) or base_hz.shape != (batch,):
        raise ValueError(
            f"ratios must be [batch, partials] = {(batch, partials)} and base_hz [batch], got "
            f"{tuple(ratios.shape)} and {tuple(base_hz.shape)}"
        )
    if (frames - 1) * hop < samples:
        raise ValueError(f"{frames} frames at hop {hop} cover fewer than {samples} samples")
    cycles_per_sample = ratios * (base_hz.detach() / sample_rate)[:, None]  # [batch, partials]
    audible = (cycles_per_sample.detach() < 0.5).to(amplitudes.dtype)
    amplitudes = amplitudes * audible[..., None]
    starts = torch.arange(frames - 1, device=ratios.device, dtype=torch.float64) * hop
    cycles = cycles_per_sample.double()[..., None] * starts
    # wrapped to one cycle; the gradient is that of the unwrapped phase
    start_phase = (2 * math.pi) * (cycles - cycles.detach().floor()).to(amplitudes.dtype)
    offsets = torch.arange(hop, device=ratios.device, dtype=amplitudes.dtype)
    within = (2 * math.pi) * cycles_per_sample[..., None] * offsets  # [batch, partials, hop]
    ends = torch.stack([amplitudes[..., :-1], amplitudes[..., 1:]], dim=-1)  # [b, p, f-1, 2]
    by_sin = (ends * torch.sin(start_phase)[..., None]).reshape(batch, partials, -1)
    by_cos = (ends * torch.cos(start_phase)[..., None]).reshape(batch, partials, -1)
    levels = by_sin.transpose(1, 2) @ torch.cos(within) + by_cos.transpose(1, 2) @ torch.sin(within)
    levels = levels.view(batch, frames - 1, 2, hop)
    ramp = torch.arange(hop, device=ratios.device, dtype=amplitudes.dtype) / hop
    audio = levels[:, :, 0] * (1 - ramp) + levels[:, :, 1] * ramp
    return audio.reshape(batch, -1)[:, :samples]
