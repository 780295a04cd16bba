"""The exported graphs run in-process: what the realtime engine plays when it is compiled.

`compiled_steps` gives a streaming bundle's encoder and decoder block functions as TorchScript
(compiled from the code for the stream family, recorded on one block for ddsp), the same graphs
the nn~ export holds, with the zero states they start from. Without Python between the
operators a 128-sample block costs about half as much on one CPU thread
(`benchmarks/export_speed.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from timbrespace.exportable import exportable
from timbrespace.space import LatentSpace


@dataclass
class CompiledSteps:
    """`encoder(x, state) → (z, state)` and `decoder(z, state) → (audio, state)` at batch 1,
    and the zero states `[tensors]` each starts from."""

    encoder: nn.Module
    decoder: nn.Module
    encoder_state: list[torch.Tensor]
    decoder_state: list[torch.Tensor]


def compiled_steps(space: LatentSpace, block: int) -> CompiledSteps:
    """The bundle's block functions compiled for blocks of `block` samples (CPU)."""
    from timbrespace.export.nn_tilde import steps

    model = exportable(space, controls=[], block=block)
    encoder, decoder, _ = steps(model)
    if not model.fixed_block:
        encoder, decoder = torch.jit.script(encoder), torch.jit.script(decoder)
    return CompiledSteps(
        encoder, decoder, model.blocks.init_encoder_state(1), model.blocks.init_decoder_state(1)
    )
