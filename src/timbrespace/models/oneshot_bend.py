"""The one-shot synth's pitch bend as a sum of a few decaying glides (`OneShotConfig.pitch_bend`).

A one-shot's pitch moves, if at all, as a glide that settles: a kick's or a tom's drop, a
string's slight fall after the pluck. `GlideBend` writes the bend (octaves, before the synth's
tanh bound) as `Σ_k c_k · e^(−t/τ_k)` with fixed time constants `GLIDE_TIME_CONSTANTS_S` and
coefficients `c` read from the latent, so it has no freedom for what no one-shot does: a
frame-to-frame vibrato (the per-frame bend of an under-trained 4-minute demo model wobbled by
±100–200 cents at the f0 target's hop, which its loss never sees) or a pluck that starts a
semitone and a half flat and climbs into tune over 170 ms (measured on a 302-step demo model).
The coefficients start at zero, so an untrained model is in tune, and they read the latent
without its pitch component, so a pitch move transposes a sound without changing its glide.
"""

from __future__ import annotations

import torch
from torch import nn

GLIDE_TIME_CONSTANTS_S = (0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64)
"""Time constants (s) of the glides: from a kick's first milliseconds to a long tom's drop."""
GLIDE_HIDDEN = 64


def glide_basis(frames: int, hop: int, sample_rate: int) -> torch.Tensor:
    """`e^(−t/τ_k)` at each control frame (frame i at `i · hop / sample_rate` s) for each
    time constant of `GLIDE_TIME_CONSTANTS_S`: `[len(GLIDE_TIME_CONSTANTS_S), frames]`."""
    seconds = torch.arange(frames, dtype=torch.float64) * hop / sample_rate
    taus = torch.tensor(GLIDE_TIME_CONSTANTS_S, dtype=torch.float64)
    return torch.exp(-seconds[None, :] / taus[:, None]).float()


def without_directions(z: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """`z` `[batch, dim]` with its components along the span of `directions` `[n, dim]` removed."""
    basis, _ = torch.linalg.qr(directions.T.to(z.dtype))  # [dim, n], orthonormal columns
    return z - (z @ basis) @ basis.T


class GlideBend(nn.Module):
    """The bend `[batch, channels, frames]` (octaves, before the tanh bound) of latents
    `[batch, dim]` as decaying glides; see the module docstring."""

    def __init__(
        self, latent_dim: int, channels: int, frames: int, hop: int, sample_rate: int
    ) -> None:
        super().__init__()
        self.channels = channels
        n = len(GLIDE_TIME_CONSTANTS_S)
        self.coefficients = nn.Sequential(
            nn.Linear(latent_dim, GLIDE_HIDDEN),
            nn.LeakyReLU(0.2),
            nn.Linear(GLIDE_HIDDEN, channels * n),
        )
        last = self.coefficients[-1]
        assert isinstance(last, nn.Linear)
        with torch.no_grad():
            last.weight.zero_()
            last.bias.zero_()
        self.register_buffer("basis", glide_basis(frames, hop, sample_rate), persistent=False)

    def forward(self, z: torch.Tensor, pitch_weight: torch.Tensor) -> torch.Tensor:
        """z `[batch, dim]`; pitch_weight `[channels, dim]`: the directions along which the latent
        sets the base pitch (removed from what the glides read, without a gradient to them)."""
        reading = without_directions(z, pitch_weight.detach())
        coefficients = self.coefficients(reading).view(z.shape[0], self.channels, -1)
        return coefficients @ self.basis.to(z.dtype)
