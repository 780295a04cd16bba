"""Named controls held at targets, as one self-contained module for the exports.

`ControlHold` is the open-loop move of `apply_controls` (each target clamped to the control's
physical limits, then to its range; nothing locked) with every setting a tensor, so that
TorchScript can compile it into an nn~ model and a host can turn its knobs without Python.
"""

# no `from __future__ import annotations`: TorchScript reads the class annotations as types

import math
from collections.abc import Sequence

import torch
from torch import nn

from timbrespace.audio.descriptor_registry import SCALES, SEMITONE_REFERENCE_HZ
from timbrespace.latent.control import RCOND, Control


class ControlHold(nn.Module):
    """Latent frames `z` `[batch, dim, frames]` and targets `[n]` in the controls' units (Hz,
    s, dB…; 0 or NaN: released) → `z` moved frame by frame by the minimum-norm step that
    sets every held control to its target (float64 inside, `z`'s dtype out)."""

    rows: torch.Tensor
    offsets: torch.Tensor
    scales: torch.Tensor
    physical_low: torch.Tensor
    physical_high: torch.Tensor
    range_low: torch.Tensor
    range_high: torch.Tensor

    def __init__(self, controls: Sequence[Control]) -> None:
        super().__init__()
        if not controls:
            raise ValueError("ControlHold needs at least one control")
        f64 = torch.float64
        self.reference_hz: float = SEMITONE_REFERENCE_HZ
        self.rcond: float = RCOND
        self.register_buffer("rows", torch.stack([c.direction.to(f64) for c in controls]))
        self.register_buffer("offsets", torch.tensor([c.offset for c in controls], dtype=f64))
        self.register_buffer(
            "scales", torch.tensor([SCALES.index(c.scale) for c in controls], dtype=torch.long)
        )
        physical = [c.scaled_limits() for c in controls]
        spans = [c.range if c.range is not None else (-math.inf, math.inf) for c in controls]
        self.register_buffer("physical_low", torch.tensor([p[0] for p in physical], dtype=f64))
        self.register_buffer("physical_high", torch.tensor([p[1] for p in physical], dtype=f64))
        self.register_buffer("range_low", torch.tensor([s[0] for s in spans], dtype=f64))
        self.register_buffer("range_high", torch.tensor([s[1] for s in spans], dtype=f64))

    def scaled(self, targets: torch.Tensor) -> torch.Tensor:
        """Targets `[n]` in the controls' units → on their scales (NaN where a scale can't hold
        the value: 0 Hz on a semitone or log scale)."""
        t = targets.to(torch.float64)
        positive = torch.where(t > 0.0, t, torch.full_like(t, math.nan))
        semitones = 12.0 * torch.log2(positive / self.reference_hz)
        return torch.where(
            self.scales == 0, t, torch.where(self.scales == 1, semitones, torch.log(positive))
        )

    def forward(self, z: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        wanted = self.scaled(targets)
        held = torch.isfinite(wanted) & (targets != 0)
        if not bool(held.any()):
            return z
        wanted = torch.minimum(torch.maximum(wanted, self.physical_low), self.physical_high)
        wanted = torch.minimum(torch.maximum(wanted, self.range_low), self.range_high)[held]
        rows, offsets = self.rows[held], self.offsets[held]
        z64 = z.to(torch.float64)
        current = torch.einsum("md,bdf->bmf", rows, z64) + offsets[:, None]
        norms = torch.linalg.vector_norm(rows, dim=1)
        residual = (wanted[None, :, None] - current) / norms[None, :, None]
        pseudo_inverse = torch.linalg.pinv(rows / norms[:, None], rtol=self.rcond)
        return (z64 + torch.einsum("dm,bmf->bdf", pseudo_inverse, residual)).to(z.dtype)
