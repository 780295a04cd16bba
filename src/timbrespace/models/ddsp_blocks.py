"""The ddsp instrument's block functions at one block length, for the exports.

The tracker, the network and the synth run on fixed-size blocks here: the reverb's spectrum
for that length is computed once (a buffer, so a trace or an ONNX graph holds it as a
constant) and every state starts fully shaped, so one recorded graph (`torch.jit.trace`, the
ONNX exporter) serves a whole stream. Shapes: audio `[batch, 1, block]`, latent `[batch,
latent_dim, block / hop]`; the state is the instrument's own flat list.
"""

from __future__ import annotations

import torch
from torch import nn

from timbrespace.models.base import BlockSizeError
from timbrespace.models.ddsp import DdspInstrument

State = list[torch.Tensor]


class DdspBlocks(nn.Module):
    """`encode`, `decode` and `forward` of a `DdspInstrument` on blocks of exactly
    `fixed_block` samples (the instrument in eval mode)."""

    spectrum: torch.Tensor

    def __init__(self, model: DdspInstrument, block: int) -> None:
        super().__init__()
        hop = model.hop_length
        if block < hop or block % hop:
            raise BlockSizeError(
                f"a ddsp export runs blocks of a multiple of its hop ({hop}), got {block}"
            )
        self.model = model
        self.fixed_block = int(block)
        self.phase_decisions = False
        self.sample_rate = int(model.sample_rate)
        self.channels = 1
        self.hop = int(hop)
        self.latent_dim = int(model.latent_dim)
        self.delay_samples = int(model.delay_samples)
        self.encoder_state_size = int(model.encoder_state_size)
        impulse = model.reverb
        with torch.no_grad():
            spectrum = (
                model.reverb_spectrum(impulse, block).clone()
                if impulse is not None
                else torch.zeros(0)
            )
        self.register_buffer("spectrum", spectrum)

    def init_encoder_state(self, batch: int) -> State:
        return self.model.init_encoder_state(batch)

    def init_decoder_state(self, batch: int) -> State:
        """The instrument's zero state, its partitioned reverb history shaped for the block."""
        state = self.model.init_decoder_state(batch)
        if self.spectrum.dim() == 2:
            count, bins = (int(n) for n in self.spectrum.shape)
            state[-2] = torch.zeros(batch, count, bins, 2, device=self.spectrum.device)
            state[-1] = torch.zeros(batch, self.fixed_block, device=self.spectrum.device)
        return state

    def init_state(self, batch: int) -> State:
        return self.init_encoder_state(batch) + self.init_decoder_state(batch)

    def encode(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        return self.model.encode_block(x, state)

    def decode(self, z: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        spectrum = self.spectrum if self.spectrum.numel() else None
        return self.model.decode_block(z, state, None, spectrum)

    def forward(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        z, encoder_state = self.encode(x, state[: self.encoder_state_size])
        y, decoder_state = self.decode(z, state[self.encoder_state_size :])
        return y, encoder_state + decoder_state
