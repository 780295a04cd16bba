"""The exported graphs run in-process: what the realtime engine plays when it is compiled.

`compiled_steps` gives a streaming bundle's encoder and decoder block functions as one of two
runtimes, each the same graphs an export file holds:
- `torchscript`: compiled from the code for the stream family, recorded on one block for ddsp
  (the nn~ export's graphs);
- `onnxruntime`: the ONNX export's graphs (`export.onnx.write_onnx_steps`, encoder and decoder
  apart at the engine's block) in ONNX Runtime sessions.

Without Python between the operators a 128-sample block costs about half as much on one CPU
thread, and ONNX Runtime about half again (`benchmarks/stream_speed.py`). `fastest_steps`
times both on the block the engine plays and keeps the faster: a measurement, since which one
wins depends on the family and the block (`benchmarks/export_speed.py`).
"""

from __future__ import annotations

import copy
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from timbrespace.exportable import exportable
from timbrespace.space import LatentSpace

RUNTIMES = ("torchscript", "onnxruntime")
TRIAL_BLOCKS = 64
"""Blocks each runtime renders when `fastest_steps` times them (after as many to warm up)."""


@dataclass
class CompiledSteps:
    """`encoder(x, state) → (z, state)` and `decoder(z, state) → (audio, state)` at batch 1
    (blocks are tensors), the zero states each starts from (tensors; numpy arrays for ONNX
    Runtime: copy them with `copy.deepcopy`), the runtime's name, and (after
    `fastest_steps`) each runtime's measured time per block, ms."""

    encoder: Any
    decoder: Any
    encoder_state: list[Any]
    decoder_state: list[Any]
    runtime: str = "torchscript"
    block_ms: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    """Runtimes `fastest_steps` could not time here, and why."""


class OnnxStep:
    """One ONNX Runtime session behind the `(block, state) → (block, state)` call of a step:
    the block a tensor in and out (CPU, float32), the state numpy arrays, so that nothing is
    converted but the block (at 128 samples the conversions of a dozen states cost 15 % of
    the block)."""

    def __init__(self, path: str, threads: int) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            path, options, providers=["CPUExecutionProvider"]
        )
        self.names = [i.name for i in self.session.get_inputs()]

    def __call__(self, x: torch.Tensor, state: list[np.ndarray]) -> tuple[torch.Tensor, list]:
        feed = dict(zip(self.names, [x.cpu().float().numpy(), *state], strict=True))
        first, *rest = self.session.run(None, feed)
        return torch.from_numpy(first), rest


def compiled_steps(
    space: LatentSpace, block: int, runtime: str = "torchscript", threads: int = 1
) -> CompiledSteps:
    """The bundle's block functions compiled for blocks of `block` samples (CPU) in `runtime`
    (`RUNTIMES`); `threads`: ONNX Runtime's intra-op threads (TorchScript uses torch's)."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    model = exportable(space, controls=[], block=block)
    encoder_state = model.blocks.init_encoder_state(1)
    decoder_state = model.blocks.init_decoder_state(1)
    if runtime == "onnxruntime":
        from timbrespace.export.onnx import write_onnx_steps

        with tempfile.TemporaryDirectory(prefix="timbrespace-onnx-") as folder:
            encoder_file, decoder_file = write_onnx_steps(model, block, folder)
            encoder: Any = OnnxStep(str(encoder_file), threads)
            decoder: Any = OnnxStep(str(decoder_file), threads)
        encoder_arrays = [t.numpy() for t in encoder_state]
        decoder_arrays = [t.numpy() for t in decoder_state]
        return CompiledSteps(encoder, decoder, encoder_arrays, decoder_arrays, runtime)
    from timbrespace.export.nn_tilde import steps

    scripted: tuple[nn.Module, nn.Module, nn.Module] = steps(model)
    encoder, decoder = scripted[0], scripted[1]
    if not model.fixed_block:
        encoder, decoder = torch.jit.script(encoder), torch.jit.script(decoder)
    return CompiledSteps(encoder, decoder, encoder_state, decoder_state, runtime)


def times_per_block(
    runs: list[CompiledSteps], block: int, channels: int, blocks: int
) -> list[float]:
    """Median ms per encoder + decoder block of each of `runs` over `blocks` blocks of noise
    (after as many to warm up), from the zero states; the runs take turns block by block, so a
    change in the machine's speed meets them alike."""
    noise = torch.randn(2 * blocks, 1, channels, block, generator=torch.Generator().manual_seed(0))
    states = [[copy.deepcopy(r.encoder_state), copy.deepcopy(r.decoder_state)] for r in runs]
    times: list[list[float]] = [[] for _ in runs]
    with torch.inference_mode():
        for x in 0.1 * noise:
            for run, state, spent in zip(runs, states, times, strict=True):
                began = time.perf_counter()
                z, state[0] = run.encoder(x, state[0])
                _, state[1] = run.decoder(z, state[1])
                spent.append(time.perf_counter() - began)
    return [float(np.median(spent[blocks:]) * 1000.0) for spent in times]


def onnxruntime_available() -> bool:
    """Whether the ONNX graphs can be made (onnxscript) and run (onnxruntime) here."""
    try:
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        return False
    return True


def fastest_steps(space: LatentSpace, block: int, threads: int = 1) -> CompiledSteps:
    """Both runtimes timed on `TRIAL_BLOCKS` blocks of `block` samples; the faster one, with
    every runtime's ms per block in `block_ms` and in `skipped` the ones that could not run
    here (ONNX Runtime not installed, or its export failed) and why."""
    runs, skipped = [], {}
    for name in RUNTIMES:
        if name == "onnxruntime" and not onnxruntime_available():
            skipped[name] = "onnxruntime or onnxscript is not installed"
            continue
        try:
            runs.append(compiled_steps(space, block, name, threads))
        except Exception as error:  # an exporter's failure: the other runtime still plays
            if name == RUNTIMES[0]:
                raise
            skipped[name] = f"{type(error).__name__}: {error}".splitlines()[0]
    times = times_per_block(runs, block, int(space.model.channels), TRIAL_BLOCKS)
    best = runs[int(np.argmin(times))]
    best.block_ms = {run.runtime: round(ms, 4) for run, ms in zip(runs, times, strict=True)}
    best.skipped = skipped
    return best


def engine_steps(space: LatentSpace, block: int, runtime: str, threads: int = 1) -> CompiledSteps:
    """The steps `runtime` names: `auto` (`fastest_steps`) or one of `RUNTIMES`."""
    if runtime == "auto":
        return fastest_steps(space, block, threads)
    return compiled_steps(space, block, runtime, threads)
