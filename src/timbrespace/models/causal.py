"""Causal layers with explicit streaming state: what a streaming family is built from.

Every layer takes its input block and its state (plain tensors, never hidden buffers) and
returns its output block and the new state, so that running a signal in blocks gives the same
result as running it whole from the zero state (`init` states are zeros, which equals zero
padding on the left). The same code serves offline training, the realtime engine and the
TorchScript / ONNX exports.

Shapes: feature rows `[batch, frames, channels]` (frames as rows of matrix products, the fast
layout on a CPU for the one-frame blocks of a 128-sample stream); audio `[batch, channels,
samples]`.
Framing: frame k of a signal covers samples `[(k + 1)·hop − n_fft, (k + 1)·hop)`, i.e. it ends
where its hop ends, so it can be computed as soon as those samples have arrived.
"""

from __future__ import annotations

import torch
from torch import nn

from timbrespace.models.layers import init_layer, make_activation


class CausalConv(nn.Module):
    """A 1-D convolution that sees only the present and the past: output frame t depends on
    input frames `t − (kernel − 1)·dilation … t`. Works on rows `[batch, frames, channels]`
    (one matrix product over the stacked taps: dilated convolutions have no fast CPU kernel);
    its state holds the last `context` input rows `[batch, context, in_channels]`."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 1, dilation: int = 1
    ) -> None:
        super().__init__()
        self.in_channels, self.kernel_size, self.dilation = in_channels, kernel_size, dilation
        self.linear = init_layer(nn.Linear(in_channels * kernel_size, out_channels))
        self.context = (kernel_size - 1) * dilation

    def init_state(self, batch: int, device: torch.device | None = None) -> torch.Tensor:
        return torch.zeros(batch, self.context, self.in_channels, device=device)

    def forward(self, x: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`[batch, frames, in]`, state → `[batch, frames, out]`, new state."""
        if self.context == 0:
            return self.linear(x), state
        full = torch.cat([state, x], dim=1)
        frames = x.shape[1]
        taps = [
            full[:, j * self.dilation : j * self.dilation + frames] for j in range(self.kernel_size)
        ]
        return self.linear(torch.cat(taps, dim=-1)), full[:, full.shape[1] - self.context :]


class CausalResidual(nn.Module):
    """`x + linear(act(causal_conv_k,d(act(x))))` on rows `[batch, frames, width]`; the output
    layer starts small (gain 0.1) so a deep stack starts near the identity."""

    def __init__(self, width: int, kernel_size: int, dilation: int, activation: str) -> None:
        super().__init__()
        self.act1 = make_activation(activation)
        self.conv1 = CausalConv(width, width, kernel_size, dilation)
        self.act2 = make_activation(activation)
        self.conv2 = init_layer(nn.Linear(width, width), gain=0.1)

    def init_state(self, batch: int, device: torch.device | None = None) -> torch.Tensor:
        return self.conv1.init_state(batch, device)

    def forward(self, x: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y, state = self.conv1(self.act1(x), state)
        return x + self.conv2(self.act2(y)), state


class CausalStack(nn.Module):
    """Input projection, causal residual units (one per dilation), output projection, on rows:
    `[batch, frames, in]` → `[batch, frames, out]`, one state tensor per unit."""

    __jit_unused_properties__ = ["receptive_frames"]

    def __init__(
        self,
        in_channels: int,
        width: int,
        out_channels: int,
        dilations: tuple[int, ...],
        kernel_size: int,
        activation: str,
    ) -> None:
        super().__init__()
        self.input = init_layer(nn.Linear(in_channels, width))
        self.units = nn.ModuleList(
            CausalResidual(width, kernel_size, d, activation) for d in dilations
        )
        self.act = make_activation(activation)
        self.output = init_layer(nn.Linear(width, out_channels))

    def residuals(self) -> list[CausalResidual]:
        return [unit for unit in self.units if isinstance(unit, CausalResidual)]

    def init_state(self, batch: int, device: torch.device | None = None) -> list[torch.Tensor]:
        states: list[torch.Tensor] = []
        for unit in self.units:
            states.append(unit.init_state(batch, device))  # type: ignore[operator]
        return states

    def forward(
        self, x: torch.Tensor, state: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h = self.input(x)
        new_state: list[torch.Tensor] = []
        for index, unit in enumerate(self.units):
            h, past = unit(h, state[index])
            new_state.append(past)
        return self.output(self.act(h)), new_state

    @property
    def receptive_frames(self) -> int:
        """Past frames an output frame depends on (the present included)."""
        return 1 + sum(unit.conv1.context for unit in self.residuals())


def causal_frames(
    x: torch.Tensor, past: torch.Tensor, n_fft: int, hop: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut `x` `[batch, channels, samples]` (samples a multiple of `hop`) into frames of `n_fft`
    samples that end at each hop: `[batch, channels, samples // hop, n_fft]`, reading the
    `n_fft − hop` samples before the block from `past` `[batch, channels, n_fft − hop]`; returns
    the frames and the new past."""
    full = torch.cat([past, x], dim=-1)
    frames = full.unfold(-1, n_fft, hop)
    return frames, full[..., full.shape[-1] - (n_fft - hop) :]


def overlap_add(
    frames: torch.Tensor, tail: torch.Tensor, hop: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Overlap-add frames `[batch, channels, count, n_fft]` placed every `hop` samples onto the
    not yet finished `tail` `[batch, channels, n_fft − hop]` of the previous block: returns the
    `count·hop` finished samples `[batch, channels, count·hop]` and the new tail."""
    batch, channels, count, n_fft = frames.shape
    length = (count - 1) * hop + n_fft
    summed = nn.functional.fold(
        frames.reshape(batch * channels, count, n_fft).transpose(1, 2),
        output_size=(1, length),
        kernel_size=(1, n_fft),
        stride=(1, hop),
    ).reshape(batch, channels, length)
    summed = torch.cat([summed[..., : n_fft - hop] + tail, summed[..., n_fft - hop :]], dim=-1)
    return summed[..., : count * hop], summed[..., count * hop :]


class BlockFunctions:
    """Mixed into a streaming family whose state is its encoder's (`encoder_state_size`
    tensors) then its decoder's: the whole stream in one call, and inputs padded to a hop."""

    @property
    def hop_length(self) -> int:
        raise NotImplementedError

    @property
    def encoder_state_size(self) -> int:
        raise NotImplementedError

    def encode_block(
        self, x: torch.Tensor, state: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        raise NotImplementedError

    def decode_block(
        self, z: torch.Tensor, state: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        raise NotImplementedError

    def forward_block(
        self, x: torch.Tensor, state: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Audio block in → audio block out (`delay_samples` late), with the whole state."""
        split = self.encoder_state_size
        z, encoder_state = self.encode_block(x, state[:split])
        y, decoder_state = self.decode_block(z, state[split:])
        return y, [*encoder_state, *decoder_state]

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        """`x` `[..., samples]` zero-padded at the end to a whole number of hops."""
        extra = -int(x.shape[-1]) % int(self.hop_length)
        return nn.functional.pad(x, (0, extra)) if extra else x
