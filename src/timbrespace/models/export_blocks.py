"""What a streaming family hands to the exporters (`ConfiguredModel.export_blocks`)."""

from __future__ import annotations

from typing import Protocol

import torch


class ExportBlocks(Protocol):
    """A streaming family's block functions as one module that TorchScript and the ONNX
    exporter compile (`ConfiguredModel.export_blocks`): every setting a plain number, every
    state a flat list of tensors, encoder and decoder apart; see `models.stream_blocks`.
    `fixed_block` 0: TorchScript compiles the code and blocks may be any multiple of `hop`;
    else blocks are exactly `fixed_block` samples and the exporters record one graph of it
    (`torch.jit.trace`) at batch 1 (`models.ddsp_blocks`). `phase_decisions`: the output's
    phase follows discrete peak decisions (a locked phase), so a runtime that rounds differently
    can tip a near-tie and part the phase of the bins around it (`export.verify`)."""

    fixed_block: int
    phase_decisions: bool
    sample_rate: int
    channels: int
    hop: int
    latent_dim: int
    delay_samples: int
    encoder_state_size: int

    def init_encoder_state(self, batch: int) -> list[torch.Tensor]: ...

    def init_decoder_state(self, batch: int) -> list[torch.Tensor]: ...

    def init_state(self, batch: int) -> list[torch.Tensor]: ...

    def encode(
        self, x: torch.Tensor, state: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]: ...

    def decode(
        self, z: torch.Tensor, state: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]: ...

    def __call__(
        self, x: torch.Tensor, state: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]: ...
