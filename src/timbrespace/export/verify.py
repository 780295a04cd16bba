"""Every export is loaded back and compared with the bundle's own streaming output before it is
put in place: the same test sound through the written file in consecutive blocks of 128, 512
and 2048 samples (those that are multiples of the hop), at batch 1 and 4, against
`inference.stream` on the bundle (delay taken off, clamped to [-1, 1] as the engine plays it).

A TorchScript export runs the bundle's own kernels, so its stream equals the bundle's sample for
sample. ONNX Runtime's kernels round differently, and a stream whose phase follows discrete peak
decisions (`ExportBlocks.phase_decisions`) is chaotic in rounding: one near-tie tipped the other
way parts the phase of the bins around it from then on (measured: the same tiny model's stream
in 128- and in 512-sample blocks, both in PyTorch, parted by 0.22 at 1.23 s). An ONNX file, whose
host carries the state, is therefore checked block by block from the bundle's own state
(`check_steps`): each block must match, except where a near-tie tipped inside it.
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

PARTED_SHARE = 0.02
"""Share of blocks (at least one) that may part from the bundle's by a tipped peak decision in
a stream with `phase_decisions` (measured: 1 block of 188 at 128 samples)."""

Runner = Callable[[torch.Tensor], torch.Tensor]
"""One block `[batch, channels, n]` through a loaded export → its output block."""
StepRunner = Callable[[np.ndarray, list[np.ndarray]], tuple[np.ndarray, list[np.ndarray]]]
"""One block and the state before it through a loaded export → its output and the next state."""


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


def forced_errors(
    model: Exportable, step: StepRunner, audio: torch.Tensor, block: int
) -> np.ndarray:
    """Max |export − bundle| `[blocks]` of each block of `audio` `[batch, channels, samples]`
    (zero-padded to whole blocks) when the export runs it from the state the bundle's block
    functions (`model.blocks`) had before it: over the output (both clamped to [-1, 1]) and the
    next state (relative to each state's largest value, if above 1). A difference cannot carry
    over from one block to the next."""
    padded = torch.nn.functional.pad(audio, (0, -int(audio.shape[-1]) % block))
    state = model.blocks.init_state(int(audio.shape[0]))
    errors = []
    with torch.inference_mode():
        for start in range(0, int(padded.shape[-1]), block):
            x = padded[..., start : start + block]
            output, new_state = step(x.numpy(), [s.numpy() for s in state])
            expected, state = model.blocks(x, state)
            differences = [np.clip(output, -1, 1) - expected.clamp(-1.0, 1.0).numpy()]
            for got, wanted in zip(new_state, state, strict=True):
                scale = max(1.0, float(wanted.abs().max())) if wanted.numel() else 1.0
                differences.append((got - wanted.numpy()) / scale)
            errors.append(max(float(np.abs(d).max(initial=0.0)) for d in differences))
    return np.array(errors)


def allowed_parted(model: Exportable, blocks: int) -> int:
    """Blocks of `blocks` that may part from the bundle's by a tipped peak decision."""
    return max(1, int(PARTED_SHARE * blocks)) if model.blocks.phase_decisions else 0


def check_steps(
    space: LatentSpace, model: Exportable, load: Callable[[], StepRunner]
) -> tuple[dict[str, float], dict[str, int]]:
    """An export with explicit state (ONNX) block by block from the bundle's state
    (`forced_errors`), per block size (`"128"`, …) and at batch 4 (`"batch4_2048"`; a recorded
    graph: blocks of `fixed_block` at batch 1 only): the largest difference outside the parted
    blocks, and how many parted (`allowed_parted`). Also checks that the block functions
    stream as the bundle does. Raises `ExportMismatch` past `TOLERANCE` or with more parted
    blocks than allowed."""
    sound = test_sound(model.sample_rate, model.channels)
    if model.fixed_block:
        runs = {str(model.fixed_block): (sound, model.fixed_block)}
    else:
        usable = [b for b in BLOCKS if b % model.hop == 0] or [model.hop, 4 * model.hop]
        several = sound * torch.tensor([1.0, 0.5, 0.25, 0.8])[:, None, None]
        runs = {str(b): (sound, b) for b in usable}
        runs[f"batch{BATCH}_{usable[-1]}"] = (several, usable[-1])
    errors: dict[str, float] = {}
    parted: dict[str, int] = {}
    for key, (audio, block) in runs.items():
        per_block = np.sort(forced_errors(model, load(), audio, block))
        count = int(np.sum(per_block > TOLERANCE))
        if count > allowed_parted(model, len(per_block)):
            worst = float(per_block[-1])
            raise ExportMismatch(
                f"the export differs from the bundle's stream (blocks {key}) by {worst:.2e} in "
                f"{count} of {len(per_block)} blocks (tolerance {TOLERANCE:g}): not written"
            )
        errors[key] = float(per_block[-count - 1]) if count < len(per_block) else 0.0
        if count:
            parted[key] = count
    block = int(next(iter(runs.values()))[1])
    reference = inference.stream(space.model, sound, block)
    own = streamed(blocks_runner(model), sound, block, model.delay_samples)
    within_tolerance(
        {"own": float((own - reference).abs().max())},
        "the block functions exported differ from the bundle's stream ({})",
    )
    return within_tolerance(
        errors, "the export differs from the bundle's stream (blocks {})"
    ), parted


def blocks_runner(model: Exportable) -> Runner:
    """A runner over the block functions the export was made from, carrying their state."""
    state: list[list[torch.Tensor]] = []

    def run(block: torch.Tensor) -> torch.Tensor:
        if not state:
            state.append(model.blocks.init_state(int(block.shape[0])))
        output, state[0] = model.blocks(block, state[0])
        return output

    return run


def torchscript_runner(path: str | os.PathLike[str], method: str = "forward") -> Runner:
    module = torch.jit.load(str(path), map_location="cpu")
    return getattr(module, method)


def onnx_step(path: str | os.PathLike[str], threads: int = 0) -> StepRunner:
    """One block and its state through an ONNX file (`threads`: ONNX Runtime's intra-op
    threads, 0: its default)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def step(block: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        output, *state = session.run(None, dict(zip(names, [block, *state], strict=True)))
        return output, state

    return step


def onnx_runner(path: str | os.PathLike[str], model: Exportable, threads: int = 0) -> Runner:
    """A runner over an ONNX file that carries the states between calls (batch changes start
    from silence); `threads`: ONNX Runtime's intra-op threads (0: its default)."""
    step = onnx_step(path, threads)
    items: list[list[np.ndarray]] = []

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
