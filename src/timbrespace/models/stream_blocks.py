"""The block functions of a streaming VAE as one self-contained module, for the exports.

`StreamBlocks` shares the trained layers of a `StreamingVAE` (no copy of the weights) and runs
the same analysis and synthesis functions, with every setting a plain number, so TorchScript
(nn~, Neutone) and the ONNX exporter can compile it. Shapes: audio `[batch, channels, k·hop]`,
latent `[batch, latent_dim, k]`; the state is a flat list of tensors, encoder and decoder apart
(`init_encoder_state`, `init_decoder_state`), taken and returned by `encode` and `decode`.
"""

# no `from __future__ import annotations`: TorchScript reads the class annotations as types

import torch
from torch import nn

from timbrespace.models.bottleneck import AEBottleneck, VAEBottleneck
from timbrespace.models.stream import StreamingVAE, stream_analysis, stream_synthesis


class StreamBlocks(nn.Module):
    """`encode`, `decode` and `forward` of a `StreamingVAE` over explicit state; the model
    must be in eval mode (the VAE's mean, no sampling)."""

    window: torch.Tensor
    synthesis_window: torch.Tensor

    def __init__(self, model: StreamingVAE) -> None:
        super().__init__()
        if not isinstance(model.bottleneck, AEBottleneck | VAEBottleneck):
            raise TypeError(f"cannot export a {type(model.bottleneck).__name__} bottleneck")
        cfg = model.config
        self.encoder = model.encoder
        self.decoder = model.decoder
        self.register_buffer("window", model.window.detach().clone())
        self.register_buffer("synthesis_window", model.synthesis_window.detach().clone())
        self.fixed_block: int = 0
        self.sample_rate: int = int(cfg.sample_rate)
        self.channels: int = int(cfg.channels)
        self.hop: int = int(cfg.hop)
        self.n_fft: int = int(cfg.n_fft)
        self.latent_dim: int = int(cfg.latent_dim)
        self.learned: int = int(model.bottleneck.latent_dim)
        self.delay_samples: int = int(model.delay_samples)
        self.log_floor: float = float(cfg.log_floor)
        self.measured: bool = model.measured > 0
        self.power_floor: float = float(model.power_floor)
        self.loudness_offset: float = float(model.loudness_offset)
        self.max_log_magnitude: float = float(cfg.max_log_magnitude)
        self.encoder_state_size: int = 1 + len(model.encoder.units)
        self.decoder_units: int = len(model.decoder.units)
        self.bins: int = int(model.bins)
        self.phase_mode: int = int(model.phase_mode)
        self.phase_decisions: bool = self.phase_mode == 2
        self.running_phase: bool = model.running_phase > 0
        self.loudness_gain: bool = bool(model.loudness_gain)
        self.log_power_offset: float = float(model.log_power_offset)

    def init_encoder_state(self, batch: int) -> list[torch.Tensor]:
        """The past `n_fft − hop` samples `[batch, channels, ·]`, then one tensor per unit."""
        past = torch.zeros(batch, self.channels, self.n_fft - self.hop, device=self.window.device)
        return [past] + self.encoder.init_state(batch, self.window.device)

    def init_decoder_state(self, batch: int) -> list[torch.Tensor]:
        """One tensor per unit, the last frame's phase `[batch, channels, bins]` if the model
        accumulates it, then the overlap-add tail `[batch, channels, n_fft − hop]`."""
        device = self.window.device
        tail = torch.zeros(batch, self.channels, self.n_fft - self.hop, device=device)
        states = self.decoder.init_state(batch, device)
        if self.running_phase:
            states.append(torch.zeros(batch, self.channels, self.bins, device=device))
        return states + [tail]

    def init_state(self, batch: int) -> list[torch.Tensor]:
        return self.init_encoder_state(batch) + self.init_decoder_state(batch)

    def encode(
        self, x: torch.Tensor, state: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Audio `[batch, channels, k·hop]` → latent `[batch, latent_dim, k]`, new state."""
        if x.shape[-1] % self.hop != 0:
            raise ValueError("the block length must be a multiple of the model's hop")
        rows, loudness, past = stream_analysis(
            x, state[0], self.window, self.n_fft, self.hop, self.log_floor, self.measured,
            self.power_floor, self.loudness_offset,
        )  # fmt: skip
        h, units = self.encoder(rows, state[1:])
        z = torch.cat([loudness, h.transpose(1, 2)[:, : self.learned]], dim=1)
        return z, [past] + units

    def decode(
        self, z: torch.Tensor, state: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Latent `[batch, latent_dim, k]` → audio `[batch, channels, k·hop]` (`delay_samples`
        late), new state."""
        out, units = self.decoder(z.transpose(1, 2), state[: self.decoder_units])
        previous_phase: torch.Tensor | None = None
        if self.running_phase:
            previous_phase = state[self.decoder_units]
        loudness: torch.Tensor | None = None
        if self.loudness_gain:
            loudness = z[:, 0]
        audio, tail, phase, _ = stream_synthesis(
            out, state[-1], self.synthesis_window, self.channels, self.hop,
            self.max_log_magnitude, previous_phase, self.phase_mode, loudness,
            self.log_power_offset,
        )  # fmt: skip
        if phase is not None:
            units.append(phase)
        return audio, units + [tail]

    def forward(
        self, x: torch.Tensor, state: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Audio block in → audio block out (`delay_samples` late), with the whole state."""
        z, encoder_state = self.encode(x, state[: self.encoder_state_size])
        y, decoder_state = self.decode(z, state[self.encoder_state_size :])
        return y, encoder_state + decoder_state
