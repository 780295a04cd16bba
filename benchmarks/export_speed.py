"""Export speed: the nn~ (TorchScript) and ONNX Runtime exports next to eager torch, in one run.

For each family (the `small` presets with random weights, saved as bundles, or trained bundles
given with `--stream-bundle` / `--ddsp-bundle`) the bundle is exported both ways (each export
verified against the bundle by `timbrespace.export`), then consecutive blocks of a 44.1 kHz
test signal of 2048, 512 and 128 samples run through three paths, taking turns for `--rounds`
passes: eager `forward_block` (what the engine runs), the nn~ file's `forward`, and ONNX
Runtime with its state fed back. Per path: real-time
factor (audio seconds / wall seconds), per-block p50 / p95 in ms against the deadline, share of
blocks over it. One thread for all three (`realtime` policy; ONNX Runtime: one intra-op thread).
A ddsp export records one block length, so it is exported once per block size (`--block`), as
a host with that buffer would use it.

    python benchmarks/export_speed.py
    python benchmarks/export_speed.py --ddsp-bundle runs/violin --seconds 10
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from timbrespace import runtime
from timbrespace.bundle import load_bundle, save_bundle
from timbrespace.export import export_bundle
from timbrespace.export.verify import onnx_runner, test_sound
from timbrespace.exportable import exportable
from timbrespace.models.base import build_model, resolve_config
from timbrespace.space import LatentSpace

BLOCKS = (2048, 512, 128)
Step = Callable[[torch.Tensor], torch.Tensor]


def random_bundle(family: str, folder: Path) -> Path:
    """The family's `small` preset with random weights (the same cost as a trained one)."""
    torch.manual_seed(0)
    model = build_model(family, resolve_config(family, "small")).eval()
    return save_bundle(folder / family, model, family)


def eager_step(space: LatentSpace) -> Step:
    """`forward_block` on the bundle's model with its state carried, as the engine runs it."""
    model = space.model
    state: list[torch.Tensor] = []

    def run(block: torch.Tensor) -> torch.Tensor:
        nonlocal state
        if not state:
            state = model.init_state(1)
        out, state = model.forward_block(block, state)
        return out

    return run


def time_paths(
    makes: dict[str, Callable[[], Step]], audio: torch.Tensor, block: int, rate: int, rounds: int
) -> dict[str, dict]:
    """Per-block times of fresh runners over `audio` in blocks of `block`, the paths taking
    turns for `rounds` passes (a busy second of the machine then falls on every path, not on
    one), after 10 blocks of warm-up each: real-time factor and the blocks over their deadline."""
    runs = {name: make() for name, make in makes.items()}
    count = audio.shape[-1] // block
    times: dict[str, list[float]] = {name: [] for name in runs}
    with torch.inference_mode():
        for run in runs.values():
            for index in range(10):
                run(audio[..., index * block : (index + 1) * block])
        for _ in range(rounds):
            for name, run in runs.items():
                for index in range(count):
                    piece = audio[..., index * block : (index + 1) * block]
                    began = time.perf_counter()
                    run(piece)
                    times[name].append(time.perf_counter() - began)
    deadline = block / rate
    return {name: _timing(np.array(seconds), deadline) for name, seconds in times.items()}


def _timing(seconds: np.ndarray, deadline: float) -> dict:
    return {
        "real_time_factor": round(float(seconds.size * deadline / seconds.sum()), 2),
        "block_ms_p50": round(1000 * float(np.percentile(seconds, 50)), 3),
        "block_ms_p95": round(1000 * float(np.percentile(seconds, 95)), 3),
        "deadline_ms": round(1000 * deadline, 3),
        "over_deadline": round(float(np.mean(seconds > deadline)), 4),
    }


def export_pair(space: LatentSpace, folder: Path, block: int) -> tuple[Path, Path, dict]:
    """nn~ and ONNX files of the bundle (`block`: the recorded block of a fixed-block family)
    and the largest difference each export measured against the bundle."""
    stem = f"{space.bundle.family}_{block}"
    scripted, onnx_file = folder / f"{stem}.ts", folder / f"{stem}.onnx"
    differences = {}
    for fmt, path in (("nn_tilde", scripted), ("onnx", onnx_file)):
        report = export_bundle(space, fmt, path, block=block)
        differences[fmt] = max(report.description["max_difference"].values())
    return scripted, onnx_file, differences


def measure(bundle: Path, folder: Path, seconds: float, threads: int, rounds: int) -> dict:
    """Eager, TorchScript and ONNX Runtime at each block size; a fixed-block family is exported
    once per block size (its files record one block length), the others once."""
    space = LatentSpace.open(bundle)
    fixed = exportable(space).fixed_block
    rate = space.sample_rate
    audio = test_sound(rate, 1, seconds)
    result: dict = {"family": space.bundle.family, "sample_rate": rate, "fixed_block": bool(fixed)}
    shared = None if fixed else export_pair(space, folder, 0)
    for block in BLOCKS:
        if block % space.model.hop_length:
            continue
        scripted, onnx_file, differences = shared or export_pair(space, folder, block)
        model = exportable(space, block=block)
        paths: dict[str, Callable[[], Step]] = {
            "eager": lambda: eager_step(space),
            "torchscript": lambda path=scripted: torch.jit.load(str(path)).forward,
            "onnxruntime": lambda path=onnx_file, m=model: onnx_runner(path, m, threads),
        }
        timed: dict = time_paths(paths, audio, block, rate, rounds)
        timed["onnxruntime_over_eager"] = round(
            timed["onnxruntime"]["real_time_factor"] / timed["eager"]["real_time_factor"], 2
        )
        timed["export_max_difference"] = differences
        result[str(block)] = timed
    result["delay_samples"] = exportable(space).delay_samples
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stream-bundle", default=None)
    parser.add_argument("--ddsp-bundle", default=None)
    parser.add_argument("--families", default="stream,ddsp")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3, help="passes, the paths in turns")
    args = parser.parse_args()
    threads = runtime.use_threads("realtime", args.threads)
    import onnxruntime

    onnxruntime.set_default_logger_severity(3)
    given = {"stream": args.stream_bundle, "ddsp": args.ddsp_bundle}
    results = {"torch_threads": threads, "onnxruntime": onnxruntime.__version__}
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        for family in args.families.split(","):
            bundle = Path(given[family]) if given[family] else random_bundle(family, folder)
            load_bundle(bundle)  # a one-line error for a bad path before anything else
            results[family] = measure(bundle, folder, args.seconds, threads, args.rounds)
            results[family]["bundle"] = str(given[family] or "small preset, random weights")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
