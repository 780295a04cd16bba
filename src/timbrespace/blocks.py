"""Block-by-block inference with the model state held between blocks: what the realtime engine
runs. Like `timbrespace.inference`, the one way the faces run a model block by block.

- `BlockStream`: a streaming model (`models.base.StreamingModel`): audio block → latent frames
  (`encode`), latent frames → audio block (`decode`), each with its own state.
- `PathStream`: a model that renders its latent path through Griffin-Lim: latent frames →
  magnitude frames → `GriffinLimStream` → audio, re-blocked to exactly `block` samples.

Blocks are `[1, channels, block]` float32 audio and `[1, latent_dim, block // hop]` latents; the
first `delay_samples` of the output are the model's intrinsic delay (silence at the start).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Protocol, cast

import torch

from timbrespace.audio.griffinlim import GriffinLimStream
from timbrespace.inference import check_stream_block
from timbrespace.latent.paths import check_finite
from timbrespace.limits import check
from timbrespace.models.base import CapabilityError, ConfiguredModel

__all__ = ["BlockStream", "PathStream", "check_block", "open_decoder"]


Step = Callable[[torch.Tensor, list[Any]], tuple[torch.Tensor, list[Any]]]
"""A block function: a block and the state (tensors, or what the runtime keeps) → the output
block and the new state."""


class _MagnitudeModel(Protocol):
    config: Any

    def decode_magnitude(self, z: torch.Tensor) -> torch.Tensor: ...


def check_block(model: ConfiguredModel, block: int) -> int:
    """`block` (samples) when this model can render it live: a positive multiple of its hop;
    else a one-line `BlockSizeError` / `CapabilityError`."""
    block = int(block)
    if model.streaming:
        check_stream_block(model, block)
        return block
    if model.latent_kind == "path" and model.default_gla_iters is not None:
        model.check_block(block)
    return block


class BlockStream:
    """A streaming model run live: `encode` and `decode` keep separate states, so the latent
    frames may be edited (or replaced) between them. `decode(encode(x))` block after block equals
    `inference.stream`'s result, `delay_samples` later."""

    def __init__(self, model: ConfiguredModel, block: int) -> None:
        self.model = check_stream_block(model, block)
        self.block = int(block)
        self.frames = self.block // int(self.model.hop_length)
        self.delay_samples = int(self.model.delay_samples)
        self.latency_samples = float(getattr(model, "input_latency_samples", self.delay_samples))
        """How late the output follows the input beyond the block (a model that tracks its
        input's pitch adds the tracker's lag)."""
        self.channels = int(model.channels)
        self._device = next(model.parameters()).device
        self._steps: tuple[Step, Step, list[Any], list[Any]] | None = None
        self.reset()

    def use_steps(
        self, encoder: Step, decoder: Step, encoder_state: list[Any], decoder_state: list[Any]
    ) -> None:
        """Run these block functions from now on (the model's own, compiled: the same
        results), starting from these zero states."""
        self._steps = (encoder, decoder, encoder_state, decoder_state)
        self.reset()

    @property
    def compiled(self) -> bool:
        return self._steps is not None

    def reset(self) -> None:
        """Forget the past: the next block starts from silence."""
        if self._steps is not None:  # tensors, or numpy arrays for ONNX Runtime
            self._encoder = copy.deepcopy(self._steps[2])
            self._decoder = copy.deepcopy(self._steps[3])
            return
        state = self.model.init_state(1)
        split = self.model.encoder_state_size
        self._encoder, self._decoder = state[:split], state[split:]

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """Audio `[1, channels, block]` → latent frames `[1, latent_dim, block // hop]`."""
        check_finite(audio, "audio block")
        step = self.model.encode_block if self._steps is None else self._steps[0]
        with torch.inference_mode():
            z, self._encoder = step(audio.to(self._device), self._encoder)
        return z.float().cpu()

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent frames `[1, latent_dim, block // hop]` → audio `[1, channels, block]` in
        [-1, 1] (`delay_samples` late)."""
        check_finite(z, "latent block")
        step = self.model.decode_block if self._steps is None else self._steps[1]
        with torch.inference_mode():
            audio, self._decoder = step(z.to(self._device), self._decoder)
        return audio.float().cpu().clamp(-1.0, 1.0)


class PathStream:
    """A Griffin-Lim path model (e.g. the spectral family) played live: each block's latent
    frames are decoded to magnitudes and continued by `GriffinLimStream` with `gla_iters`
    iterations (changeable between blocks). The output is re-blocked to exactly `block` samples,
    `delay_samples` = hop + the stream's look-ahead latency late."""

    def __init__(self, model: ConfiguredModel, block: int, *, gla_iters: int | None = None) -> None:
        if model.latent_kind != "path" or model.default_gla_iters is None:
            raise CapabilityError(
                f"a {model.label} model does not render a latent path through Griffin-Lim"
            )
        self.block = check_block(model, block)
        self.model = cast(_MagnitudeModel, model)
        self.channels = int(model.channels)
        self.frames = self.block // int(model.hop_length)
        config = self.model.config
        self._stream = GriffinLimStream(
            n_fft=int(config.n_fft),
            hop=int(config.hop),
            iterations=int(model.default_gla_iters),
            momentum=float(config.gla_momentum),
            window=str(config.window),
        )
        self.gla_iters = int(model.default_gla_iters) if gla_iters is None else int(gla_iters)
        self.delay_samples = int(config.hop) + self._stream.latency
        self._device = next(model.parameters()).device
        self.reset()

    @property
    def gla_iters(self) -> int:
        return self._stream.iterations

    @gla_iters.setter
    def gla_iters(self, value: int) -> None:
        self._stream.iterations = int(check("gla_iters", int(value), "Griffin-Lim iterations"))

    def reset(self) -> None:
        self._stream.reset()
        self._pending = torch.zeros(self.channels, self.delay_samples)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent frames `[1, latent_dim, block // hop]` → audio `[1, channels, block]` in
        [-1, 1]."""
        check_finite(z, "latent block")
        with torch.inference_mode():
            magnitude = self.model.decode_magnitude(z.to(self._device)).float().cpu()
            audio = self._stream.process(magnitude[0])  # channels as the stream's batch
        self._pending = torch.cat([self._pending, audio], dim=-1)
        out, self._pending = self._pending[:, : self.block], self._pending[:, self.block :]
        if out.shape[-1] < self.block:  # cannot happen once primed; keep the length exact
            out = torch.nn.functional.pad(out, (0, self.block - out.shape[-1]))
        return out[None].clamp(-1.0, 1.0)


def open_decoder(
    model: ConfiguredModel, block: int, *, gla_iters: int | None = None
) -> BlockStream | PathStream | None:
    """The block decoder this model plays live with: a `BlockStream` (streaming family), a
    `PathStream` (Griffin-Lim path family), or None for a model of whole sounds (one-shots are
    rendered whole, as triggered voices)."""
    if model.streaming:
        return BlockStream(model, block)
    if model.latent_kind == "path" and model.default_gla_iters is not None:
        return PathStream(model, block, gla_iters=gla_iters)
    return None
