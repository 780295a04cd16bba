"""ONNX export with explicit state: `forward(audio, state_0 … state_n) → (output, new_state_0 …
new_state_n)`, any batch size and any block length that is a multiple of the hop (a fixed-block
family: batch 1 and blocks of exactly `fixed_block` samples). ONNX keeps no
state between runs, so the host feeds each call the states the previous call returned
(`initial_state` gives the zeros to start from). Output is `delay_samples` late, not clamped.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from timbrespace.atomic import atomic_path
from timbrespace.exportable import Exportable, ExportableDecoder

OPSET = 18
MAX_BLOCK_HOPS = 4096
"""Longest block the file accepts, in hops (≥ 4096 samples for every preset)."""


class FlatState(nn.Module):
    """`blocks.forward(x, [states…])` with the states as separate inputs and outputs."""

    def __init__(self, blocks: nn.Module) -> None:
        super().__init__()
        self.blocks = blocks

    def forward(self, x: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        y, new_state = self.blocks(x, list(state))
        return (y, *new_state)


def state_names(count: int) -> tuple[list[str], list[str]]:
    """Input and output names: `audio`, `state_i` → `output`, `new_state_i`."""
    return (
        ["audio", *(f"state_{i}" for i in range(count))],
        ["output", *(f"new_state_{i}" for i in range(count))],
    )


def initial_state(model: Exportable, batch: int = 1) -> list[np.ndarray]:
    """The zero states a stream starts from, float32 arrays in input order."""
    return [s.numpy().astype(np.float32) for s in model.blocks.init_state(batch)]


def signature(model: Exportable) -> dict[str, Any]:
    """Inputs and outputs with their shapes (strings: dynamic axes), for the description."""
    states = model.blocks.init_state(1)
    inputs, outputs = state_names(len(states))
    if model.fixed_block:
        audio: list[Any] = [1, model.channels, model.fixed_block]
        shapes: list[list[Any]] = [list(s.shape) for s in states]
    else:
        audio = ["batch", model.channels, f"samples (a multiple of {model.hop})"]
        shapes = [["batch", *s.shape[1:]] for s in states]
    return {
        "opset": OPSET,
        "inputs": [{"name": inputs[0], "shape": audio}]
        + [{"name": n, "shape": s} for n, s in zip(inputs[1:], shapes, strict=True)],
        "outputs": [{"name": outputs[0], "shape": audio}]
        + [{"name": n, "shape": s} for n, s in zip(outputs[1:], shapes, strict=True)],
        "dtype": "float32",
    }


@contextlib.contextmanager
def quiet_exporter() -> Iterator[None]:
    """The exporter's progress lines, deprecation warnings and log lines, kept off the screen."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def write_onnx(model: Exportable, out: str | os.PathLike[str], *, verify: Any = None) -> Path:
    """Export `model`'s stream to ONNX at `out`; `verify(path)` runs on the written file before
    it is renamed into place (an exception leaves nothing at `out`)."""
    flat = FlatState(cast(nn.Module, model.blocks)).eval()
    dynamic: Any = None
    if model.fixed_block:  # one recorded block length, batch 1
        example = model.blocks.init_state(1)
        x = torch.zeros(1, model.channels, model.fixed_block)
    else:
        example = model.blocks.init_state(2)
        x = torch.zeros(2, model.channels, 8 * model.hop)
        batch = torch.export.Dim("batch", min=1, max=1024)
        hops = torch.export.Dim("hops", min=1, max=MAX_BLOCK_HOPS)
        states = tuple({0: batch} for _ in example)
        dynamic = {"x": {0: batch, 2: hops * model.hop}, "state": states}
    inputs, outputs = state_names(len(example))
    return _save(flat, (x, *example), dynamic, (inputs, outputs), out, verify)


def write_onnx_steps(
    model: Exportable, block: int, folder: str | os.PathLike[str]
) -> tuple[Path, Path]:
    """The encoder and decoder block functions apart, at batch 1 on blocks of `block` samples
    (the engine's), as `encoder.onnx` (`audio, state_i… → latent, new_state_i…`) and
    `decoder.onnx` (`latent, state_i… → output, new_state_i…`) in `folder`: the engine edits
    the latent between them. Fixed shapes, which ONNX Runtime plans best."""
    from timbrespace.export.nn_tilde import DecodeStep, EncodeStep

    if model.fixed_block and block != model.fixed_block:
        raise ValueError(f"this export was recorded for blocks of {model.fixed_block} samples")
    blocks = cast(nn.Module, model.blocks)
    x = torch.zeros(1, model.channels, block)
    encoder_state = model.blocks.init_encoder_state(1)
    decoder_state = model.blocks.init_decoder_state(1)
    with torch.no_grad():
        z, _ = model.blocks.encode(x, encoder_state)
    inputs, outputs = state_names(len(encoder_state))
    encoder = _save(
        FlatState(EncodeStep(blocks)).eval(), (x, *encoder_state), None,
        (inputs, ["latent", *outputs[1:]]), Path(folder) / "encoder.onnx", None,
    )  # fmt: skip
    inputs, outputs = state_names(len(decoder_state))
    decoder = _save(
        FlatState(DecodeStep(blocks)).eval(), (z, *decoder_state), None,
        (["latent", *inputs[1:]], outputs), Path(folder) / "decoder.onnx", None,
    )  # fmt: skip
    return encoder, decoder


def write_onnx_decoder(
    decoder: ExportableDecoder, out: str | os.PathLike[str], *, verify: Any = None
) -> Path:
    """Export a stateless decoder to ONNX at `out`: `latent [batch, latent_dim, frames]` →
    `magnitude`, any batch and frame count; `verify(path)` as in `write_onnx`."""
    z = torch.zeros(2, decoder.latent_dim, 8)
    batch = torch.export.Dim("batch", min=1, max=1024)
    frames = torch.export.Dim("frames", min=1, max=1 << 16)
    dynamic = {"z": {0: batch, 2: frames}}
    return _save(decoder.module, (z,), dynamic, (["latent"], ["magnitude"]), out, verify)


def _save(
    module: nn.Module,
    example: tuple[torch.Tensor, ...],
    dynamic: Any,
    names: tuple[list[str], list[str]],
    out: str | os.PathLike[str],
    verify: Any,
) -> Path:
    """Record `module` on `example` (opset `OPSET`), write it beside `out`, `verify(path)` it,
    then rename it into place. Without the exporter's optimizer: its no-op rules take a
    constant within 1e-8 of zero for zero, and so removed the −100 dB floor of the stream's
    loudness (`power + 9.6e-9`), and a silent block analysed to −inf. ONNX Runtime optimizes
    the graph itself, removing exact no-ops only."""
    with atomic_path(out) as tmp:
        with torch.no_grad(), quiet_exporter():
            program = torch.onnx.export(
                module,
                example,
                dynamo=True,
                dynamic_shapes=dynamic,
                input_names=names[0],
                output_names=names[1],
                opset_version=OPSET,
                verbose=False,
                optimize=False,  # see the docstring
            )
        assert program is not None
        program.save(str(tmp), external_data=False)
        if verify is not None:
            verify(tmp)
    return Path(out)
