"""Streaming speed: our stream model next to RAVE v2 on the same cores, block by block. JSON.

For each block size (2048, 512, 128 samples by default) consecutive blocks of a 44.1 kHz test
signal go through the block functions the engine plays (`export.compiled`), encode + decode
with the explicit state, after warm-up: `blocks` with the runtime `serve --runtime auto` picks
at that block (`fastest_steps`, which times both), `torchscript_blocks` and
`onnxruntime_blocks` with each runtime, and `eager_blocks` with the model's Python
`forward_block`. Per row: real-time factor (audio seconds / wall seconds), per-block p50 / p95 /
max against the block's deadline, and the share of blocks over it; plus the intrinsic delay and
the parameter count. Threads (torch's and ONNX Runtime's intra-op) follow
`timbrespace.runtime`'s `realtime` policy (1, as the engine) unless `--threads` pins them; the
`small` preset by default, or a trained bundle (`--bundle`, same cost).

RAVE v2 (random weights, its own `--streaming` TorchScript export) runs in its own venv made by
`benchmarks/setup_rave.sh` (`--rave-python`, default `$RAVE_VENV/bin/python`, then
/work/.rave-venv), with `--rave-threads` (default 2); when that venv is missing the JSON says so.
`--load N` measures our model again with N competing busy processes.

    python benchmarks/stream_speed.py
    python benchmarks/stream_speed.py --threads 2 --load 1
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from competing_load import add_load_arguments, quiet_and_loaded

from timbrespace import runtime

TARGET_RTF = {2048: 20.0, 128: 5.0}
TARGET_DELAY_MS = 10.0
HERE = Path(__file__).resolve().parent


def test_signal(seconds: float, sample_rate: int) -> torch.Tensor:
    """A tone with vibrato and noise bursts `[1, 1, samples]`, so no layer sees only zeros."""
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    tone = 0.3 * torch.sin(2 * torch.pi * (220 * t + 3 * torch.sin(2 * torch.pi * 5 * t)))
    bursts = 0.1 * torch.randn(t.shape, generator=torch.Generator().manual_seed(0))
    return (tone + bursts * (torch.sin(2 * torch.pi * 2 * t) > 0.9))[None, None]


def time_blocks(model, block: int, seconds: float, warmup: int = 20) -> dict:  # noqa: ANN001
    """Per-block times (ms) of `forward_block` over `seconds` of audio in blocks of `block`."""
    audio = test_signal(seconds, model.sample_rate)
    count = audio.shape[-1] // block
    state = model.init_state(1)
    times = []
    with torch.inference_mode():
        for index in range(warmup + count):
            start = (index % count) * block
            chunk = audio[..., start : start + block]
            began = time.perf_counter()
            _, state = model.forward_block(chunk, state)
            times.append(time.perf_counter() - began)
    blocks = np.array(times[warmup:]) * 1000.0
    deadline = block / model.sample_rate * 1000.0
    return {
        "block": block,
        "blocks": int(blocks.size),
        "deadline_ms": round(deadline, 3),
        "p50_ms": round(float(np.percentile(blocks, 50)), 3),
        "p95_ms": round(float(np.percentile(blocks, 95)), 3),
        "max_ms": round(float(blocks.max()), 3),
        "percent_over_deadline": round(float((blocks > deadline).mean() * 100), 3),
        "rtf": round(deadline * blocks.size / float(blocks.sum()), 2),
    }


class EngineSteps:
    """A bundle's compiled block functions at one block size (`export.compiled`: what the engine
    plays) behind the `forward_block` / `init_state` the timing loop calls; `runtime` "auto"
    picks as the engine does."""

    def __init__(self, space, block: int, runtime: str, threads: int) -> None:  # noqa: ANN001
        from timbrespace.export.compiled import engine_steps

        self.sample_rate = space.sample_rate
        self.steps = engine_steps(space, block, runtime, threads)

    def init_state(self, batch: int) -> list:
        return copy.deepcopy([*self.steps.encoder_state, *self.steps.decoder_state])

    def forward_block(self, x: torch.Tensor, state: list):  # noqa: ANN201
        split = len(self.steps.encoder_state)
        z, encoder = self.steps.encoder(x, state[:split])
        y, decoder = self.steps.decoder(z, state[split:])
        return y, encoder + decoder


def rave_figures(python: str | None, blocks: list[int], threads: int, seconds: float) -> dict:
    """RAVE v2's figures from `benchmarks/rave_anchor.py` in its own venv, or why not."""
    candidates = [
        python,
        os.environ.get("RAVE_VENV", "") + "/bin/python",
        "/work/.rave-venv/bin/python",
    ]
    found = next((c for c in candidates if c and Path(c).is_file()), None)
    if found is None:
        return {"skipped": "no RAVE venv: run benchmarks/setup_rave.sh (or pass --rave-python)"}
    figures = {}
    for config in ("v2", "causal"):
        command = [
            found,
            str(HERE / "rave_anchor.py"),
            "--blocks",
            ",".join(str(b) for b in blocks),
            "--threads",
            str(threads),
            "--seconds",
            str(seconds),
            "--config",
            config,
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            figures[config] = {"failed": done.stderr.strip().splitlines()[-3:]}
        else:
            figures[config] = json.loads(done.stdout)
    return figures


def speed_checks(rows: list[dict]) -> dict[str, bool]:
    """The issue's real-time targets per block size, and no block over its deadline."""
    by_block = {row["block"]: row for row in rows}
    checks = {
        f"rtf_{block}": by_block[block]["rtf"] >= target
        for block, target in TARGET_RTF.items()
        if block in by_block
    }
    checks["no_block_over_deadline"] = all(row["percent_over_deadline"] == 0 for row in rows)
    return checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=None, help="a trained stream bundle (default: preset)")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--blocks", default="2048,512,128")
    parser.add_argument("--seconds", type=float, default=10.0, help="audio per block size")
    parser.add_argument("--threads", type=int, default=None, help="pin torch's threads")
    parser.add_argument("--rave-python", default=None)
    parser.add_argument("--rave-threads", type=int, default=2)
    parser.add_argument("--no-rave", dest="rave", action="store_false")
    add_load_arguments(parser)
    args = parser.parse_args()
    blocks = [int(b) for b in args.blocks.split(",")]

    folder = tempfile.TemporaryDirectory()
    if args.bundle:
        from timbrespace.bundle import bundle_dir, load_bundle

        model = load_bundle(args.bundle).model.eval()
        bundle = bundle_dir(args.bundle)
    else:
        from timbrespace.bundle import save_bundle
        from timbrespace.cli import parse_overrides
        from timbrespace.models.base import build_model, resolve_config

        overrides = parse_overrides(args.set)
        model = build_model("stream", resolve_config("stream", args.preset, overrides)).eval()
        bundle = save_bundle(Path(folder.name) / "stream", model, "stream")
    from timbrespace.space import LatentSpace

    space = LatentSpace.open(bundle)

    def runtime_rows(name: str, threads: int) -> list[dict]:
        rows = []
        for block in blocks:
            engine = EngineSteps(space, block, name, threads)
            rows.append(time_blocks(engine, block, args.seconds))
            rows[-1]["runtime"] = engine.steps.runtime
            if engine.steps.block_ms:  # `auto`: what the choice measured, ms per block
                rows[-1]["chosen_on_ms"] = engine.steps.block_ms
        return rows

    def measure() -> dict:
        threads = runtime.use_threads("realtime", args.threads)
        return {
            "threads": threads,
            "blocks": runtime_rows("auto", threads),
            "torchscript_blocks": runtime_rows("torchscript", threads),
            "onnxruntime_blocks": runtime_rows("onnxruntime", threads),
            "eager_blocks": [time_blocks(model, b, args.seconds) for b in blocks],
        }

    ours = {
        "model": args.bundle or f"stream/{args.preset}",
        "model_settings": args.set,
        "sample_rate": model.sample_rate,
        "hop": model.hop_length,
        "parameters": sum(p.numel() for p in model.parameters()),
        "delay_samples": model.delay_samples,
        "delay_ms": round(model.delay_samples / model.sample_rate * 1000, 2),
        **quiet_and_loaded(measure, args.load, args.load_kind),
    }
    checks = speed_checks(ours["blocks"])
    checks["delay_at_44_1_khz"] = model.delay_samples / 44100 * 1000 <= TARGET_DELAY_MS
    result = {
        "benchmark": "stream_speed",
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "ours": ours,
        "rave": rave_figures(args.rave_python, blocks, args.rave_threads, args.seconds)
        if args.rave
        else {"skipped": "--no-rave"},
        "targets": {"rtf": TARGET_RTF, "delay_ms_at_44_1_khz": TARGET_DELAY_MS, **checks},
        "meets_targets": all(checks.values()),
        "torchscript_targets": speed_checks(ours["torchscript_blocks"]),
        "onnxruntime_targets": speed_checks(ours["onnxruntime_blocks"]),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
