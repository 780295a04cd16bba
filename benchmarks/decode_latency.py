"""One-shot decode latency: p50/p95 for one sound and throughput at batch 64. Prints JSON.

Uses the `small` preset (1 s at 44.1 kHz) with torch limited to 2 threads, in inference mode,
after warm-up. A bundle can be given instead of the untrained preset (same architecture, same
cost).

    python benchmarks/decode_latency.py
    python benchmarks/decode_latency.py --bundle runs/kit/bundle --threads 2
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch


def timed(function, repeats: int) -> np.ndarray:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return np.array(times) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=None)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    if args.bundle:
        from timbrespace.bundle import load_bundle

        model = load_bundle(args.bundle).model
    else:
        from timbrespace.models.base import build_model, resolve_config

        model = build_model("oneshot", resolve_config("oneshot", args.preset)).eval()
    z = torch.randn(1, model.latent_dim, 1)
    batch = torch.randn(args.batch, model.latent_dim, 1)
    with torch.inference_mode():
        for _ in range(10):
            model.decode(z)
        single = timed(lambda: model.decode(z), args.repeats)
        model.decode(batch)
        batched = timed(lambda: model.decode(batch), max(3, args.repeats // 20))
    seconds_per_sound = model.hop_length / model.sample_rate
    result = {
        "benchmark": "decode_latency",
        "model": args.bundle or f"oneshot/{args.preset}",
        "threads": args.threads,
        "sample_rate": model.sample_rate,
        "sound_seconds": round(seconds_per_sound, 4),
        "parameters": sum(p.numel() for p in model.parameters()),
        "single": {
            "p50_ms": round(float(np.percentile(single, 50)), 3),
            "p95_ms": round(float(np.percentile(single, 95)), 3),
        },
        "batch": {
            "size": args.batch,
            "p50_ms": round(float(np.percentile(batched, 50)), 3),
            "sounds_per_s": round(args.batch / (np.percentile(batched, 50) / 1000.0), 1),
        },
        "target_p50_ms": 10.0,
    }
    result["meets_target"] = result["single"]["p50_ms"] <= result["target_p50_ms"]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
