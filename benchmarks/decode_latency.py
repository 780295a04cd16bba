"""One-shot decode latency: p50/p95 for one sound and throughput at batch 64. Prints JSON.

Uses the `small` preset (1 s at 44.1 kHz) in inference mode, after warm-up, with torch's threads
chosen by `timbrespace.runtime` (a single sound is a `render` job, the batch a `batch` job) unless
`--threads` pins them. A bundle can be given instead of the untrained preset (same architecture,
same cost). `--load N` measures again with N competing busy processes (issue 14's targets: p50 ≤
10 ms quiet, ≤ 1.5× quiet with one busy process, ≤ 3× with two 2-thread torch processes).

    python benchmarks/decode_latency.py
    python benchmarks/decode_latency.py --bundle runs/kit/bundle --threads 2
    python benchmarks/decode_latency.py --load 1 --load-kind numpy
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from competing_load import add_load_arguments, quiet_and_loaded

from timbrespace import runtime


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
    parser.add_argument("--threads", type=int, default=None, help="pin torch's threads")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--batch", type=int, default=64)
    add_load_arguments(parser)
    args = parser.parse_args()

    if args.bundle:
        from timbrespace.bundle import load_bundle

        model = load_bundle(args.bundle).model
    else:
        from timbrespace.models.base import build_model, resolve_config

        model = build_model("oneshot", resolve_config("oneshot", args.preset)).eval()
    z = torch.randn(1, model.latent_dim, 1)
    batch = torch.randn(args.batch, model.latent_dim, 1)

    def measure() -> dict:
        with torch.inference_mode():
            threads = runtime.use_threads("render", args.threads)
            for _ in range(10):
                model.decode(z)
            single = timed(lambda: model.decode(z), args.repeats)
            batch_threads = runtime.use_threads("batch", args.threads)
            model.decode(batch)
            batched = timed(lambda: model.decode(batch), max(3, args.repeats // 20))
        p50 = float(np.percentile(batched, 50))
        return {
            "single": {
                "threads": threads,
                "p50_ms": round(float(np.percentile(single, 50)), 3),
                "p95_ms": round(float(np.percentile(single, 95)), 3),
            },
            "batch": {
                "threads": batch_threads,
                "size": args.batch,
                "p50_ms": round(p50, 3),
                "sounds_per_s": round(args.batch / (p50 / 1000.0), 1),
            },
        }

    result = {
        "benchmark": "decode_latency",
        "model": args.bundle or f"oneshot/{args.preset}",
        "threads": args.threads or "runtime policy",
        "sample_rate": model.sample_rate,
        "sound_seconds": round(model.hop_length / model.sample_rate, 4),
        "parameters": sum(p.numel() for p in model.parameters()),
        **quiet_and_loaded(measure, args.load, args.load_kind),
        "target_p50_ms": 10.0,
    }
    result["meets_target"] = result["single"]["p50_ms"] <= result["target_p50_ms"]
    if "loaded" in result:
        quiet, loaded = result["single"]["p50_ms"], result["loaded"]["single"]["p50_ms"]
        limit = 1.5 if args.load_kind == "numpy" and args.load == 1 else 3.0
        result["loaded"]["slowdown"] = round(loaded / quiet, 2)
        result["loaded"]["target_slowdown"] = limit
        result["loaded"]["meets_target"] = loaded <= limit * quiet
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
