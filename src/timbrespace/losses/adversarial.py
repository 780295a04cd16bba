"""The adversarial phase of waveform training (RAVE's second phase): discriminators that look at
audio at several scales (MelGAN, Kumar et al. 2019) and several periods (HiFi-GAN, Kong et al.
2020), hinge losses, and feature matching (the L1 distance between the discriminators' inner
features on real and generated audio, which steadies the generator).

Audio is `[batch, channels, samples]`; a discriminator returns its feature maps, the last one
being its logits.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

DISCRIMINATOR_KINDS = ("scale", "period", "both")
SCALES = (1, 2, 4)
PERIODS = (2, 3, 5, 7, 11)

Features = list[torch.Tensor]


class ScaleDiscriminator(nn.Module):
    """Strided, grouped 1-D convolutions over audio average-pooled by `scale`."""

    def __init__(self, channels: int, scale: int, width: int = 16) -> None:
        super().__init__()
        self.pool = nn.AvgPool1d(scale, scale) if scale > 1 else nn.Identity()
        w = width
        self.layers = nn.ModuleList(
            [
                weight_norm(nn.Conv1d(channels, w, 15, padding=7)),
                weight_norm(nn.Conv1d(w, 4 * w, 41, stride=4, padding=20, groups=4)),
                weight_norm(nn.Conv1d(4 * w, 16 * w, 41, stride=4, padding=20, groups=16)),
                weight_norm(nn.Conv1d(16 * w, 16 * w, 5, padding=2)),
            ]
        )
        self.logits = weight_norm(nn.Conv1d(16 * w, 1, 3, padding=1))

    def forward(self, audio: torch.Tensor) -> Features:
        h, features = self.pool(audio), []
        for layer in self.layers:
            h = nn.functional.leaky_relu(layer(h), 0.2)
            features.append(h)
        return [*features, self.logits(h)]


class PeriodDiscriminator(nn.Module):
    """2-D convolutions over audio folded into rows of `period` samples (each column is every
    period-th sample), so periodic structure at that period is seen directly."""

    def __init__(self, channels: int, period: int, width: int = 16) -> None:
        super().__init__()
        self.period = period
        sizes = [channels, 2 * width, 8 * width, 16 * width]
        self.layers = nn.ModuleList(
            weight_norm(nn.Conv2d(a, b, (5, 1), stride=(3, 1), padding=(2, 0)))
            for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.logits = weight_norm(nn.Conv2d(sizes[-1], 1, (3, 1), padding=(1, 0)))

    def forward(self, audio: torch.Tensor) -> Features:
        batch, channels, samples = audio.shape
        pad = -samples % self.period
        h = nn.functional.pad(audio, (0, pad), mode="reflect" if pad < samples else "constant")
        h = h.reshape(batch, channels, -1, self.period)
        features = []
        for layer in self.layers:
            h = nn.functional.leaky_relu(layer(h), 0.2)
            features.append(h)
        return [*features, self.logits(h)]


class Discriminators(nn.Module):
    """The scale discriminators, the period discriminators, or both (`kind`)."""

    def __init__(self, channels: int, kind: str = "both", width: int = 16) -> None:
        super().__init__()
        if kind not in DISCRIMINATOR_KINDS:
            raise ValueError(f"discriminators: expected one of {DISCRIMINATOR_KINDS}, got {kind!r}")
        members: list[nn.Module] = []
        if kind in ("scale", "both"):
            members += [ScaleDiscriminator(channels, s, width) for s in SCALES]
        if kind in ("period", "both"):
            members += [PeriodDiscriminator(channels, p, width) for p in PERIODS]
        self.members = nn.ModuleList(members)

    def forward(self, audio: torch.Tensor) -> list[Features]:
        return [member(audio) for member in self.members]


def discriminator_hinge(real: list[Features], fake: list[Features]) -> torch.Tensor:
    """Hinge loss of the discriminators: real logits pushed above 1, generated below −1."""
    terms = [
        torch.relu(1 - r[-1]).mean() + torch.relu(1 + f[-1]).mean()
        for r, f in zip(real, fake, strict=True)
    ]
    return torch.stack(terms).mean()


def generator_hinge(fake: list[Features]) -> torch.Tensor:
    """The generator's side of the hinge loss: raise the discriminators' logits."""
    return torch.stack([-f[-1].mean() for f in fake]).mean()


def feature_matching(real: list[Features], fake: list[Features]) -> torch.Tensor:
    """Mean L1 distance between inner features on real (held fixed) and generated audio."""
    terms = [
        (r_layer.detach() - f_layer).abs().mean()
        for r, f in zip(real, fake, strict=True)
        for r_layer, f_layer in zip(r[:-1], f[:-1], strict=True)
    ]
    return torch.stack(terms).mean()
