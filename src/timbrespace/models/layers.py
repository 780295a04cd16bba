"""Generic neural layers shared by the model families: activations by name, layer init and
weight norm, residual dilated conv units, strided downsampling and sub-pixel upsampling.

All convolutional layers work on `[batch, channels, frames]` feature maps. Parameter names
(`conv`, `conv1`, `conv2`, and weight norm's `parametrizations.weight.original0/1`) are part of
every saved bundle's state dict: keep them when editing.
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm as _weight_norm

from timbrespace.models.base import ConfigError

ACTIVATIONS: tuple[str, ...] = ("leaky_relu", "elu", "gelu", "silu")
"""Activation names a config may give (`make_activation`)."""

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def check_common_fields(config: Any, positive: tuple[str, ...]) -> None:
    """Raise `ConfigError` unless `config.activation` and `config.bottleneck` are known names
    and every field named in `positive` is >= 1 (the checks every family config shares)."""
    from timbrespace.models.bottleneck import bottleneck_names

    activation, bottleneck = config.activation, config.bottleneck
    if activation not in ACTIVATIONS:
        raise ConfigError(f"activation: unknown {activation!r}; expected {', '.join(ACTIVATIONS)}")
    if bottleneck not in bottleneck_names():
        raise ConfigError(
            f"bottleneck: unknown {bottleneck!r}; expected {', '.join(bottleneck_names())}"
        )
    for name in positive:
        if getattr(config, name) < 1:
            raise ConfigError(f"{name} must be >= 1, got {getattr(config, name)}")


def make_activation(name: str) -> nn.Module:
    """Activation module by name (one of `ACTIVATIONS`)."""
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2)
    if name == "elu":
        return nn.ELU()
    if name == "gelu":
        return nn.GELU()
    if name == "silu":
        return nn.SiLU()
    raise ConfigError(f"unknown activation '{name}'; valid: {', '.join(ACTIVATIONS)}")


def init_layer(layer: ModuleT, gain: float = 1.0) -> ModuleT:
    """Kaiming-normal weights scaled by `gain`, zero bias (before any weight norm)."""
    if isinstance(layer, nn.Conv1d | nn.Linear):
        nn.init.kaiming_normal_(layer.weight, a=0.2, nonlinearity="leaky_relu")
        with torch.no_grad():
            layer.weight.mul_(gain)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
    return layer


def with_weight_norm(layer: nn.Module, use_weight_norm: bool) -> nn.Module:
    """`layer` under weight norm (Salimans & Kingma 2016) if `use_weight_norm`, else unchanged."""
    return _weight_norm(layer) if use_weight_norm else layer


class ResidualUnit(nn.Module):
    """`x + conv1x1(act(conv_k,dilated(act(x))))` on `[batch, width, frames]` (length kept)."""

    def __init__(
        self,
        width: int = 64,
        kernel_size: int = 7,
        dilation: int = 1,
        activation: str = "leaky_relu",
        use_weight_norm: bool = True,
    ) -> None:
        super().__init__()
        padding = dilation * (kernel_size - 1) // 2
        self.act1 = make_activation(activation)
        self.conv1 = with_weight_norm(
            init_layer(nn.Conv1d(width, width, kernel_size, dilation=dilation, padding=padding)),
            use_weight_norm,
        )
        self.act2 = make_activation(activation)
        self.conv2 = with_weight_norm(
            init_layer(nn.Conv1d(width, width, 1), gain=0.1), use_weight_norm
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(self.act1(x))
        y = self.conv2(self.act2(y))
        return x + y


def residual_stack(
    width: int,
    n_blocks: int,
    kernel_size: int,
    dilations: tuple[int, ...],
    activation: str,
    use_weight_norm: bool,
) -> list[nn.Module]:
    """`n_blocks` `ResidualUnit`s of `width` channels; block i has dilation
    `dilations[i % len(dilations)]`."""
    return [
        ResidualUnit(
            width=width,
            kernel_size=kernel_size,
            dilation=dilations[i % len(dilations)],
            activation=activation,
            use_weight_norm=use_weight_norm,
        )
        for i in range(n_blocks)
    ]


class Downsample(nn.Module):
    """Strided conv `[batch, c_in, frames * stride] -> [batch, c_out, frames]`."""

    def __init__(
        self,
        in_channels: int = 64,
        out_channels: int = 64,
        stride: int = 4,
        use_weight_norm: bool = True,
    ) -> None:
        super().__init__()
        kernel = 2 * stride if stride > 1 else 3
        padding = math.ceil(stride / 2) if stride > 1 else 1
        self.conv = with_weight_norm(
            init_layer(
                nn.Conv1d(in_channels, out_channels, kernel, stride=stride, padding=padding)
            ),
            use_weight_norm,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class SubPixelUpsample(nn.Module):
    """Sub-pixel conv `[batch, c_in, frames] -> [batch, c_out, frames * stride]`.

    One conv (odd `kernel_size`, same padding) gives `c_out * stride` channels, interleaved in
    time. Initialised so all `stride` phases share weights (ICNR, Aitken et al. 2017): at init it
    equals nearest-neighbour upsampling after a conv, free of checkerboard artefacts. `gain`
    scales the Kaiming init; 0.5 keeps a fresh decoder's output around −40 dBFS, far from tanh
    saturation (which slowed the first training steps).
    """

    def __init__(
        self,
        in_channels: int = 64,
        out_channels: int = 32,
        stride: int = 4,
        kernel_size: int = 3,
        gain: float = 0.5,
        use_weight_norm: bool = True,
    ) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ConfigError(f"upsample kernel size must be odd, got {kernel_size}")
        self.stride = stride
        self.out_channels = out_channels
        conv = nn.Conv1d(in_channels, out_channels * stride, kernel_size, padding=kernel_size // 2)
        base = init_layer(nn.Conv1d(in_channels, out_channels, kernel_size), gain=gain)
        with torch.no_grad():
            conv.weight.copy_(base.weight.repeat_interleave(stride, dim=0))
            assert conv.bias is not None  # nn.Conv1d's default bias=True
            conv.bias.zero_()
        self.conv = with_weight_norm(conv, use_weight_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if self.stride == 1:
            return y
        batch, _, frames = y.shape
        y = y.view(batch, self.out_channels, self.stride, frames).transpose(2, 3)
        return y.reshape(batch, self.out_channels, frames * self.stride)
