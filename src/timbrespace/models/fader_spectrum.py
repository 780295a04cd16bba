"""A style's spectrum as explicit parameters of the note model's synth (`FaderConfig.spectrum`):
each instrument's body filter (formants, fixed in frequency) and its harmonic pattern (a reed
organ's stops, a clarinet's missing even partials, fixed in harmonic number), added to the
synth head's logits before the softmax, i.e. multiplying its harmonic and noise amplitudes.

Both are linear in the conditions `c = [style embedding, velocity code, 1]`, so a 0.5/0.5 style
mix plays the mean of two filters in dB, and 1.3/−0.3 goes past one. Unlike the decoder's
convolutions, which must learn each (style, pitch) pair's spectrum from notes at that pitch,
a filter over frequency is shared by every note whose partials cross it: a held-out octave is
played through the filter its instrument's lower notes taught.
"""

from __future__ import annotations

import math

import torch
from torch import nn

ANCHORS_PER_OCTAVE = 3
"""Points of the body filter per octave (linear interpolation in log frequency between)."""
LOWEST_HZ = 30.0
GAIN = 8.0
"""The parameters are scaled by this, so Adam's steps (about the learning rate each) move
the filters `GAIN` times faster than a weight of the network: a 30 dB formant is ~3.5 logits,
within reach in the few thousand steps a CPU budget buys."""


def hat_weights(position: torch.Tensor, anchors: int) -> torch.Tensor:
    """Linear-interpolation weights `[..., anchors]` of fractional anchor indices `position`
    `[...]` (clamped to the first and last anchor): two non-zero entries summing to 1."""
    position = position.clamp(0, anchors - 1)
    index = torch.arange(anchors, device=position.device, dtype=position.dtype)
    return (1 - (position[..., None] - index).abs()).clamp_min(0)


class ConditionedSpectrum(nn.Module):
    """Logit offsets `[batch, channels, 2 + n_harmonics + noise_bands]` of the synth head (zero
    for its bend and level) from the decoder inputs `[batch, inputs]`, whose last `conditions`
    entries are `[style embedding, pitch code, velocity code]`, and the base pitch `[batch,
    channels]` (octaves re 440 Hz). Harmonic k (1…n) sounds at `k · 440 · 2^base` Hz (with
    `sub_octave`, the base is an octave under the label); noise band b at `b / (bands − 1)` of
    Nyquist. Starts at zero (no effect)."""

    def __init__(
        self,
        conditions: int,
        n_harmonics: int,
        noise_bands: int,
        sample_rate: int,
    ) -> None:
        super().__init__()
        self.conditions, self.n_harmonics = conditions, n_harmonics
        self.lowest = math.log2(LOWEST_HZ)
        self.anchors = (
            math.ceil(ANCHORS_PER_OCTAVE * (math.log2(sample_rate / 2) - self.lowest)) + 1
        )
        width = conditions  # [style embedding, velocity code, 1]
        self.body = nn.Parameter(torch.zeros(self.anchors, width))
        self.pattern = nn.Parameter(torch.zeros(n_harmonics, width))
        self.noise = nn.Parameter(torch.zeros(noise_bands, width))

    def condition(self, inputs: torch.Tensor) -> torch.Tensor:
        """`[style embedding, velocity code, 1]` `[batch, conditions]` of decoder inputs."""
        tail = inputs[:, -self.conditions :]
        style, velocity = tail[:, :-2], tail[:, -1:]
        return torch.cat([style, velocity, torch.ones_like(velocity)], dim=1)

    def body_at(self, hz: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The body filter (logits) at frequencies `hz` `[batch, channels, k]` for conditions
        `cond` `[batch, conditions]`: `[batch, channels, k]`."""
        position = (torch.log2(hz.clamp_min(1e-3)) - self.lowest) * ANCHORS_PER_OCTAVE
        per_anchor = cond @ self.body.T  # [batch, anchors]
        return (hat_weights(position, self.anchors) * per_anchor[:, None, None, :]).sum(-1)

    def forward(self, inputs: torch.Tensor, base_octaves: torch.Tensor) -> torch.Tensor:
        cond = self.condition(inputs)
        k = torch.arange(1, self.n_harmonics + 1, device=inputs.device, dtype=inputs.dtype)
        hz = 440.0 * torch.exp2(base_octaves)[..., None] * k
        harmonics = self.body_at(hz, cond) + (cond @ self.pattern.T)[:, None, :]
        noise = (cond @ self.noise.T)[:, None, :].expand(-1, base_octaves.shape[1], -1)
        head = torch.zeros_like(harmonics[..., :2])
        return GAIN * torch.cat([head, harmonics, noise], dim=-1)
