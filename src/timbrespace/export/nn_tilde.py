"""nn~ (Max / Pure Data) export: a TorchScript module on the `nn_tilde` package's contract.

Methods (each with its `<method>_params` buffer `[in_ch, in_ratio, out_ch, out_ratio]`):
`encode` audio `[batch, channels, n]` → latent `[batch, latent_dim, n / hop]`; `decode` the
reverse; `forward` audio → audio. Each method keeps its own streaming state inside the module,
so consecutive buffers continue; a new batch size (mc.nn~) starts that method from silence.
Output audio is `delay_samples` late and clamped to [-1, 1]. One float attribute per named
control (a target in the control's unit; 0 releases it) moves the latent before decoding.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from types import MethodType
from typing import Any, cast

import torch
from torch import nn

from timbrespace.atomic import atomic_path
from timbrespace.exportable import Exportable

NN_TILDE_TORCH = "2.5"
"""The torch nn~ 1.6 links: a model saved by a newer torch may not load in it."""
LATENT_LABELS = ("loudness",)


class NoControls(nn.Module):
    """The identity in place of `ControlHold` when an export carries no control."""

    def forward(self, z: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return z


def _nn_tilde() -> Any:
    try:
        import nn_tilde
    except ImportError as error:
        raise ImportError(
            f"the nn~ export needs the nn-tilde package ({error}); install it with "
            "`pip install --no-deps nn-tilde cached-conv` (its own requirements would replace torch)"
        ) from error
    return nn_tilde


def _targets_source(attributes: list[str]) -> str:
    """TorchScript source of the method that gathers the control attributes into a tensor."""
    values = ", ".join(f"float(self.{name}[0])" for name in attributes)
    gather = (
        f"torch.tensor([{values}], dtype=torch.float64)"
        if attributes
        else "torch.zeros(0, dtype=torch.float64)"
    )
    return f"@torch.jit.export\ndef control_targets(self) -> torch.Tensor:\n\treturn {gather}\n"


class EncodeStep(nn.Module):
    """`blocks.encode` as a module of its own (TorchScript compiles one method per module)."""

    def __init__(self, blocks: nn.Module) -> None:
        super().__init__()
        self.blocks = blocks

    def forward(
        self, x: torch.Tensor, state: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.blocks.encode(x, state)  # type: ignore[operator]


class DecodeStep(EncodeStep):
    def forward(
        self, z: torch.Tensor, state: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.blocks.decode(z, state)  # type: ignore[operator]


class BlockStates(nn.Module):
    """Zero states from the compiled block functions: one batched state (kind 0: encoder,
    1: decoder)."""

    def __init__(self, blocks: nn.Module) -> None:
        super().__init__()
        self.blocks = blocks

    def forward(self, kind: int, batch: int) -> list[list[torch.Tensor]]:
        if kind == 0:
            return [self.blocks.init_encoder_state(batch)]  # type: ignore[operator]
        return [self.blocks.init_decoder_state(batch)]  # type: ignore[operator]


class TemplateStates(nn.Module):
    """Zero states of a recorded (batch-1) graph: one copy per batch item."""

    def __init__(self, encoder: list[torch.Tensor], decoder: list[torch.Tensor]) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, kind: int, batch: int) -> list[list[torch.Tensor]]:
        template = self.encoder if kind == 0 else self.decoder
        return [[t.clone() for t in template] for _ in range(batch)]


def steps(model: Exportable) -> tuple[nn.Module, nn.Module, nn.Module]:
    """(encoder step, decoder step, zero states): compiled from the code when the blocks take
    any length, else recorded at batch 1 on one block of `fixed_block` samples."""
    blocks = cast(nn.Module, model.blocks)
    if not model.fixed_block:
        return EncodeStep(blocks), DecodeStep(blocks), BlockStates(blocks)
    encoder_state = model.blocks.init_encoder_state(1)
    decoder_state = model.blocks.init_decoder_state(1)
    x = torch.zeros(1, model.channels, model.fixed_block)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on constants: one block length
        z, _ = model.blocks.encode(x, encoder_state)
        encoder = torch.jit.trace(EncodeStep(blocks), (x, encoder_state), check_trace=False)
        decoder = torch.jit.trace(DecodeStep(blocks), (z, decoder_state), check_trace=False)
    return encoder, decoder, TemplateStates(encoder_state, decoder_state)


def build_module(model: Exportable) -> Any:
    """The nn~ module of `model` (not yet scripted), its methods tested by `nn_tilde`."""
    nn_tilde = _nn_tilde()
    from nn_tilde.codegen import method_from_template

    class NnTildeModel(nn_tilde.Module):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__(sr=model.sample_rate)
            self.encoder_step, self.decoder_step, self.zero_states = steps(model)
            self.hold = model.hold if model.hold is not None else NoControls()
            self.hop: int = model.hop
            self.chunk: int = model.fixed_block
            self.reset()
            channels, hop, dim = model.channels, model.hop, model.latent_dim
            audio = [f"(signal) audio {i}" for i in range(channels)]
            latent = [
                f"(signal) latent {i}"
                + (f" ({LATENT_LABELS[i]})" if i < len(LATENT_LABELS) else "")
                for i in range(dim)
            ]
            for control in model.controls:
                self.register_attribute(control.attribute, 0.0)
            source = _targets_source([control.attribute for control in model.controls])
            compiled = method_from_template(self.tmp_file_session, source, globals(), {})
            self.control_targets = MethodType(compiled["control_targets"], self)
            unit = math.lcm(hop, model.fixed_block or hop)
            test = unit * max(1, 8192 // unit)
            self.register_method("encode", channels, 1, dim, hop, audio, latent, True, test)
            self.register_method("decode", dim, hop, channels, 1, latent, audio, True, test)
            self.register_method("forward", channels, 1, channels, 1, audio, audio, True, test)
            self.reset()

        def reset(self) -> None:
            self.encode_states: list[list[torch.Tensor]] = self.zero_states(0, 1)
            self.decode_states: list[list[torch.Tensor]] = self.zero_states(1, 1)
            self.forward_encoder: list[list[torch.Tensor]] = self.zero_states(0, 1)
            self.forward_decoder: list[list[torch.Tensor]] = self.zero_states(1, 1)
            self.encode_batch, self.decode_batch, self.forward_batch = 1, 1, 1

        def run(
            self, x: torch.Tensor, states: list[list[torch.Tensor]], decoder: bool
        ) -> torch.Tensor:
            """Audio `[batch, channels, n]` → latent (or, `decoder`, latent → audio in
            [-1, 1]), each state item (a batch item of a recorded graph, or the whole batch)
            in chunks of the block length."""
            outputs: list[torch.Tensor] = []
            single = len(states) == 1
            for item in range(len(states)):
                part = x if single else x[item : item + 1]
                length = int(part.shape[-1])
                chunk = self.chunk if self.chunk > 0 else length
                if decoder and self.chunk > 0:
                    chunk = self.chunk // self.hop
                if length % chunk != 0:
                    raise ValueError("the buffer size must be a multiple of the exported block")
                pieces: list[torch.Tensor] = []
                state = states[item]
                for start in range(0, length, chunk):
                    block = part[..., start : start + chunk]
                    if decoder:
                        y, state = self.decoder_step(block, state)
                    else:
                        y, state = self.encoder_step(block, state)
                    pieces.append(y)
                states[item] = state
                outputs.append(torch.cat(pieces, dim=-1))
            out = torch.cat(outputs, dim=0)
            return out.clamp(-1.0, 1.0) if decoder else out

        @torch.jit.export
        def encode(self, x: torch.Tensor) -> torch.Tensor:
            if x.shape[0] != self.encode_batch:
                self.encode_batch = x.shape[0]
                self.encode_states = self.zero_states(0, x.shape[0])
            return self.run(x, self.encode_states, False)

        @torch.jit.export
        def decode(self, z: torch.Tensor) -> torch.Tensor:
            if z.shape[0] != self.decode_batch:
                self.decode_batch = z.shape[0]
                self.decode_states = self.zero_states(1, z.shape[0])
            held = self.hold(z, self.control_targets())
            return self.run(held, self.decode_states, True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.shape[0] != self.forward_batch:
                self.forward_batch = x.shape[0]
                self.forward_encoder = self.zero_states(0, x.shape[0])
                self.forward_decoder = self.zero_states(1, x.shape[0])
            z = self.run(x, self.forward_encoder, False)
            return self.run(self.hold(z, self.control_targets()), self.forward_decoder, True)

    return NnTildeModel().eval()


def write_nn_tilde(
    model: Exportable, out: str | os.PathLike[str], *, verify: Callable[[Path], None] | None = None
) -> Path:
    """Script `model`'s nn~ module and save it at `out`; `verify(path)` runs on the written file
    before it is renamed into place (an exception leaves nothing at `out`)."""
    module = build_module(model)
    module.reset()
    with torch.inference_mode(False), torch.no_grad():
        scripted = torch.jit.script(module)
    with atomic_path(out) as tmp:
        torch.jit.save(scripted, str(tmp))
        if verify is not None:
            verify(tmp)
    return Path(out)
