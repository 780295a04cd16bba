"""The one-shot model's waveform decoder (`OneShotConfig.synth = "waveform"`): a latent point
→ dense layer → residual dilated blocks and sub-pixel upsampling stages → tanh waveform."""

from __future__ import annotations

import math

import torch
from torch import nn

from timbrespace.models.layers import (
    SubPixelUpsample,
    init_layer,
    make_activation,
    residual_stack,
)


class OneShotDecoder(nn.Module):
    """Latent `[batch, latent_dim]` -> audio `[batch, channels, clip_samples]` in (-1, 1)."""

    def __init__(
        self,
        channels: int = 1,
        clip_samples: int = 44100,
        latent_dim: int = 24,
        widths: tuple[int, ...] = (192, 128, 64, 32, 16),
        strides: tuple[int, ...] = (4, 4, 4, 4, 4),
        res_blocks: tuple[int, ...] = (1, 2, 1, 0, 0),
        kernel_size: int = 7,
        upsample_kernel_size: int = 3,
        output_kernel_size: int = 7,
        dilations: tuple[int, ...] = (1, 3, 9),
        activation: str = "leaky_relu",
        use_weight_norm: bool = True,
    ) -> None:
        super().__init__()
        self.clip_samples = clip_samples
        self.width0 = widths[0]
        self.frames = math.ceil(clip_samples / math.prod(strides))
        self.dense = init_layer(nn.Linear(latent_dim, widths[0] * self.frames))
        layers: list[nn.Module] = []
        n_stages = len(strides)
        for i, stride in enumerate(strides):
            last = i == n_stages - 1
            layers += residual_stack(
                widths[i], res_blocks[i], kernel_size, dilations, activation, use_weight_norm
            )
            layers += [
                make_activation(activation),
                SubPixelUpsample(
                    widths[i],
                    channels if last else widths[i + 1],
                    stride,
                    output_kernel_size if last else upsample_kernel_size,
                    use_weight_norm=use_weight_norm,
                ),
            ]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.dense(z).view(z.shape[0], self.width0, self.frames)
        return torch.tanh(self.net(h)[..., : self.clip_samples])
