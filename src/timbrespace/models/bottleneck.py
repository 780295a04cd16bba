"""Bottlenecks: one signature, `bottleneck(h) -> BottleneckOutput(z, regularization)`, chosen by
name in a family's config (`"ae"`, `"vae"`, or one added with `register_bottleneck`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from timbrespace.config import ConfigError


@dataclass
class BottleneckOutput:
    """`z`: latent `[batch, latent_dim, frames]`; `regularization`: weighted scalar loss term.

    The trainer adds `regularization` to the loss as is (it already carries β for a VAE).
    """

    z: torch.Tensor
    regularization: torch.Tensor
    logs: dict[str, torch.Tensor] = field(default_factory=dict)
    """Scalars the trainer logs beside the loss (e.g. a codebook's usage)."""


class Bottleneck(nn.Module):
    """Maps encoder features `h: [batch, input_multiplier * latent_dim, frames]` to a latent."""

    input_multiplier: int = 1

    def __init__(self, latent_dim: int = 24) -> None:
        super().__init__()
        self.latent_dim = latent_dim

    @property
    def input_dim(self) -> int:
        """Channels the encoder must produce for this bottleneck."""
        return self.input_multiplier * self.latent_dim

    def forward(self, h: torch.Tensor) -> BottleneckOutput:
        raise NotImplementedError

    def mean(self, h: torch.Tensor) -> torch.Tensor:
        """The deterministic latent of `h` (what eval mode returns), without the regularization:
        the cheap path of a streaming encoder."""
        return self.forward(h).z


class AEBottleneck(Bottleneck):
    """Deterministic autoencoder: `z = h`, regularization 0.

    Every training sample keeps an exact latent point (a pack sample can be picked back from
    the latent space) and reconstruction is sharper than a VAE's (Latent Play's choice).
    """

    input_multiplier = 1

    def forward(self, h: torch.Tensor) -> BottleneckOutput:
        return BottleneckOutput(z=h, regularization=h.new_zeros(()))

    def mean(self, h: torch.Tensor) -> torch.Tensor:
        return h


class VAEBottleneck(Bottleneck):
    """β-VAE (Kingma & Welling 2014; Higgins et al. 2017), parametrised like RAVE.

    `h` holds mean and pre-softplus scale; std = softplus(scale) + 1e-4. In training mode
    `z = mean + std * noise`; in eval mode `z = mean` (deterministic encode). The regularization
    is `beta * KL(q(z|x) || N(0, I))`, summed over latent channels and frames, averaged over batch.
    """

    input_multiplier = 2

    def __init__(self, latent_dim: int = 24, beta: float = 0.01) -> None:
        super().__init__(latent_dim=latent_dim)
        self.beta = beta

    def forward(self, h: torch.Tensor) -> BottleneckOutput:
        mean, scale = h.chunk(2, dim=1)
        std = nn.functional.softplus(scale) + 1e-4
        var = std * std
        kl = (mean * mean + var - torch.log(var) - 1.0).sum(dim=(1, 2)).mean() * 0.5
        z = mean + std * torch.randn_like(mean) if self.training else mean
        return BottleneckOutput(z=z, regularization=self.beta * kl)

    def mean(self, h: torch.Tensor) -> torch.Tensor:
        return h[:, : self.latent_dim]


_BOTTLENECKS: dict[str, Callable[..., Bottleneck]] = {
    "ae": AEBottleneck,
    "vae": VAEBottleneck,
}


def register_bottleneck(name: str, factory: Callable[..., Bottleneck]) -> None:
    """Add a bottleneck kind (e.g. VQ, WAE) selectable by name in configs."""
    _BOTTLENECKS[name] = factory


def bottleneck_names() -> list[str]:
    """Names accepted by `build_bottleneck`."""
    return sorted(_BOTTLENECKS)


def build_bottleneck(name: str, latent_dim: int, **kwargs: Any) -> Bottleneck:
    """Bottleneck `name` (`"ae"`, `"vae"`, …) for `latent_dim`; kwargs go to its constructor."""
    if name not in _BOTTLENECKS:
        raise ConfigError(f"unknown bottleneck '{name}'; valid: {', '.join(bottleneck_names())}")
    return _BOTTLENECKS[name](latent_dim=latent_dim, **kwargs)
