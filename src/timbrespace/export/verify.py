"""Every export is loaded back and compared with the bundle's own streaming output before it is
put in place: the same test sound through the written file in consecutive blocks of 128, 512
and 2048 samples (those that are multiples of the hop), at batch 1 and 4, against
`inference.stream` on the bundle (delay taken off, clamped to [-1, 1] as the engine plays it).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import numpy as np
import torch

from timbrespace import inference
from timbrespace.errors import TimbrespaceError
from timbrespace.exportable import Exportable, ExportableDecoder
from timbrespace.space import LatentSpace

BLOCKS = (128, 512, 2048)
TOLERANCE = 1e-4
"""Largest sample difference accepted between an export and the bundle's stream."""
TEST_SECONDS = 1.5
LEAD_SILENCE = 0.1
BATCH = 4

Runner = Callable[[torch.Tensor], torch.Tensor]
"""One block `[batch, channels, n]` through a loaded export → its output block."""


class ExportMismatch(TimbrespaceError):
    """A written export whose output differs from the bundle's."""


def within_tolerance(errors: dict[str, float], what: str) -> dict[str, float]:
    """`errors` when every one is within `TOLERANCE`; else `ExportMismatch` naming the worst
    (`what` formatted with its key)."""
    worst = max(errors, key=lambda key: errors[key])
    if not errors[worst] <= TOLERANCE:
        raise ExportMismatch(
            f"{what.format(worst)} by {errors[worst]:.2e} (tolerance {TOLERANCE:g}): not written"
        )
    return errors


def test_sound(sample_rate: int, channels: int, seconds: float = TEST_SECONDS) -> torch.Tensor:
    """A deterministic test sound `[1, channels, samples]`: `LEAD_SILENCE` s of digital silence
    (a host's first buffers; an export whose analysis of silence is not finite fails here), a
    110 Hz → sr/8 exponential chirp with harmonics under a slow tremolo, then a decaying noise
    burst, peak 0.5; `seconds` long in all."""
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    top = sample_rate / 8
    phase = 2 * np.pi * 110 * seconds / math.log(top / 110) * ((top / 110) ** (t / seconds) - 1)
    tone = sum(np.sin(k * phase) / k for k in (1, 2, 3))
    tone = tone * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    burst = np.random.default_rng(0).standard_normal(n) * np.exp(-(t - 0.6 * seconds).clip(0) * 8)
    burst[t < 0.6 * seconds] = 0
    signal = tone + burst
    signal = 0.5 * signal / np.abs(signal).max()
    signal[: int(LEAD_SILENCE * sample_rate)] = 0.0
    return torch.from_numpy(np.stack([signal] * channels)[None].astype(np.float32))


def streamed(run: Runner, audio: torch.Tensor, block: int, delay: int) -> torch.Tensor:
    """`audio` through `run` in consecutive blocks (zero-padded by the delay and to a whole
    block), delay taken off and clamped, as `inference.stream` does."""
    samples = int(audio.shape[-1])
    padded = torch.nn.functional.pad(audio, (0, delay + (-(samples + delay) % block)))
    with torch.inference_mode():
        parts = [run(padded[..., i : i + block]) for i in range(0, int(padded.shape[-1]), block)]
    return torch.cat(parts, dim=-1)[..., delay : delay + samples].clamp(-1.0, 1.0)


def check_blocks(
    space: LatentSpace, model: Exportable, load: Callable[[], Runner], batch: bool = True
) -> dict[str, float]:
    """Max |export − bundle| per block size (`"128"`, …) and at batch 4 (`"batch4_2048"`;
    `batch=False` for a host that plays one signal); `load()` gives a fresh runner (state from
    silence). Raises `ExportMismatch` past `TOLERANCE`."""
    sound = test_sound(model.sample_rate, model.channels)
    gains = torch.tensor([1.0, 0.5, 0.25, 0.8])[:, None, None]
    errors: dict[str, float] = {}
    unit = math.lcm(model.hop, model.fixed_block or model.hop)
    usable = [b for b in BLOCKS if b % unit == 0] or [unit, 4 * unit]
    for block in usable:
        reference = inference.stream(space.model, sound, block)
        errors[str(block)] = float(
            (streamed(load(), sound, block, model.delay_samples) - reference).abs().max()
        )
    if batch:
        block, several = usable[-1], sound * gains
        reference = inference.stream(space.model, several, block)
        output = streamed(load(), several, block, model.delay_samples)
        errors[f"batch{BATCH}_{block}"] = float((output - reference).abs().max())
    return within_tolerance(errors, "the export differs from the bundle's stream (blocks {})")


def torchscript_runner(path: str | os.PathLike[str], method: str = "forward") -> Runner:
    module = torch.jit.load(str(path), map_location="cpu")
    return getattr(module, method)


def onnx_runner(path: str | os.PathLike[str], model: Exportable, threads: int = 0) -> Runner:
    """A runner over an ONNX file that carries the states between calls (batch changes start
    from silence); `threads`: ONNX Runtime's intra-op threads (0: its default)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    items: list[list[np.ndarray]] = []

    def step(block: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        output, *state = session.run(None, dict(zip(names, [block, *state], strict=True)))
        return output, state

    def run(block: torch.Tensor) -> torch.Tensor:
        nonlocal items
        audio, batch = block.numpy(), int(block.shape[0])
        if not model.fixed_block:  # one batched state, the whole block at once
            if not items or items[0][0].shape[0] != batch:
                items = [[s.numpy() for s in model.blocks.init_state(batch)]]
            output, items[0] = step(audio, items[0])
            return torch.from_numpy(output)
        if len(items) != batch:  # a recorded graph: batch 1, blocks of `fixed_block`
            items = [[s.numpy() for s in model.blocks.init_state(1)] for _ in range(batch)]
        chunk, rows = model.fixed_block, []
        for item in range(batch):
            pieces = []
            for start in range(0, audio.shape[-1], chunk):
                piece, items[item] = step(
                    audio[item : item + 1, :, start : start + chunk], items[item]
                )
                pieces.append(piece)
            rows.append(np.concatenate(pieces, axis=-1))
        return torch.from_numpy(np.concatenate(rows, axis=0))

    return run


def check_codec(
    space: LatentSpace, model: Exportable, path: str | os.PathLike[str]
) -> dict[str, float]:
    """nn~'s `encode` and `decode` methods in 512-sample blocks: the latent against the
    bundle's offline encoding, and `decode` of it against the bundle's stream."""
    sound = test_sound(model.sample_rate, model.channels)
    unit = math.lcm(model.hop, model.fixed_block or model.hop)
    block = unit * max(1, 512 // unit)
    module = torch.jit.load(str(path), map_location="cpu")
    samples, delay, frames = int(sound.shape[-1]), model.delay_samples, block // model.hop
    padded = torch.nn.functional.pad(sound, (0, delay + (-(samples + delay) % block)))
    with torch.inference_mode():
        latent = torch.cat(
            [module.encode(padded[..., i : i + block]) for i in range(0, padded.shape[-1], block)],
            dim=-1,
        )
        reference = inference.encode_batches(space.model, padded)
        audio = torch.cat(
            [
                module.decode(latent[..., i : i + frames])
                for i in range(0, latent.shape[-1], frames)
            ],
            dim=-1,
        )
    expected = inference.stream(space.model, sound, block)
    errors = {
        "encode": float((latent - reference).abs().max()),
        "decode": float((audio[..., delay : delay + samples] - expected).abs().max()),
    }
    return within_tolerance(errors, "the export's {} differs from the bundle's")


def check_decoder(
    space: LatentSpace, decoder: ExportableDecoder, path: str | os.PathLike[str]
) -> dict[str, float]:
    """An exported stateless decoder against the bundle's on the test sound's latent path (and
    the same path at batch 3, reversed): the largest difference relative to the largest
    output (`"relative"`). Raises `ExportMismatch` past `TOLERANCE`."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    sound = test_sound(decoder.sample_rate, decoder.channels)
    path_z = inference.encode_batches(space.model, sound)
    latents = torch.cat([path_z, path_z.flip(-1), path_z * 0.5])
    with torch.inference_mode():
        expected = decoder.module(latents)
    output = torch.from_numpy(session.run(None, {"latent": latents.numpy()})[0])
    relative = float((output - expected).abs().max() / expected.abs().max().clamp_min(1.0))
    message = "the exported decoder differs from the bundle's ({} to its largest output)"
    return within_tolerance({"relative": relative}, message)
