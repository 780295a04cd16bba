"""Spectral model rendering speed: decode + fast Griffin-Lim as a real-time factor. Prints JSON.

Decodes `--seconds` of latent path with the `small` spectral preset (22.05 kHz, n_fft 1024,
hop 256) and runs `--iterations` Griffin-Lim iterations in inference mode after warm-up; the
median of `--repeats` runs. Torch's threads follow `timbrespace.runtime` (offline rendering is a
`batch` job, the streamed blocks a `realtime` one) unless `--threads` pins them; `--load N`
measures again with N competing busy processes. Also times the streaming path
(`GriffinLimStream`, blocks of 8 frames = 2048 samples) that the live engine uses. A bundle can
replace the untrained preset (same architecture, same cost). Target: ≥ 20× real time with 32
iterations on 2 threads (Latent Timbre Synthesis reports about 2× with one iteration).

    python benchmarks/spectral_speed.py
    python benchmarks/spectral_speed.py --bundle runs/strings/bundle --iterations 32
    python benchmarks/spectral_speed.py --load 1
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch
from competing_load import add_load_arguments, quiet_and_loaded

from timbrespace import runtime


def median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=None)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--threads", type=int, default=None, help="pin torch's threads")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--iterations", type=int, default=32)
    parser.add_argument("--block", type=int, default=8, help="frames per streamed block")
    parser.add_argument("--repeats", type=int, default=5)
    add_load_arguments(parser)
    args = parser.parse_args()
    if args.threads:
        os.environ[runtime.ENV_THREADS] = str(args.threads)

    from timbrespace.audio.griffinlim import GriffinLimStream, griffin_lim
    from timbrespace.models.base import build_model, resolve_config

    if args.bundle:
        from timbrespace.bundle import load_bundle

        model = load_bundle(args.bundle).model
    else:
        model = build_model("spectral", resolve_config("spectral", args.preset))
    model.eval()
    config = model.config
    frames = 1 + int(args.seconds * config.sample_rate) // config.hop
    z = torch.randn(1, config.latent_dim, frames, generator=torch.Generator().manual_seed(0))
    audio_seconds = (frames - 1) * config.hop / config.sample_rate

    with torch.inference_mode():
        magnitude = model.decode_magnitude(z)[:, 0]

    def decode_only() -> None:
        runtime.use_threads("batch")
        model.decode_magnitude(z)

    def full() -> None:
        runtime.use_threads("batch")
        model.decode(z, gla_iters=args.iterations)

    def gla_only() -> None:
        griffin_lim(magnitude, n_fft=config.n_fft, hop=config.hop, iterations=args.iterations)

    def streamed() -> None:
        runtime.use_threads("realtime")
        stream = GriffinLimStream(n_fft=config.n_fft, hop=config.hop, iterations=args.iterations)
        for start in range(0, frames, args.block):
            block = z[..., start : start + args.block]
            stream.process(model.decode_magnitude(block)[:, 0])
        stream.flush()

    def measure() -> dict:
        with torch.inference_mode():
            for function in (decode_only, full, gla_only, streamed):
                function()
            timings = {
                name: median_seconds(function, args.repeats)
                for name, function in (
                    ("decode", decode_only),
                    ("griffin_lim", gla_only),
                    ("decode_and_griffin_lim", full),
                    ("streamed_blocks", streamed),
                )
            }
        rtf = {name: audio_seconds / seconds for name, seconds in timings.items()}
        return {
            "milliseconds": {k: round(v * 1000, 2) for k, v in timings.items()},
            "real_time_factor": {k: round(v, 1) for k, v in rtf.items()},
            "meets_target": bool(rtf["decode_and_griffin_lim"] >= 20.0),
        }

    print(
        json.dumps(
            {
                "benchmark": "spectral_speed",
                "model": args.bundle or f"untrained {args.preset} preset",
                "threads": args.threads or "runtime policy",
                "audio_seconds": round(audio_seconds, 3),
                "sample_rate": config.sample_rate,
                "n_fft": config.n_fft,
                "hop": config.hop,
                "iterations": args.iterations,
                "block_frames": args.block,
                "target": {"real_time_factor_min": 20.0},
                **quiet_and_loaded(measure, args.load, args.load_kind),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
