"""Timbre transfer keeps the loudness envelope: a drum loop through a stream model. JSON.

Builds a loop from single hits of a hydrogen kit (`timbrespace.data.loops.drum_loop`: one hit
every 0.25 s at gains cycling 0 / −12 / −6 / −18 dB), renders it through the bundle block by
block as live (`inference.stream`, `--block` samples), and reports Spearman's ρ between the
frame loudness of the loop and of the rendering (librosa RMS in dB; `timbrespace.audio.loudness`),
with two references measured the same way: the loop against itself (1.0) and against noise.
Target (issue 15): ρ ≥ 0.8 for a model trained on melodies.

    python benchmarks/stream_transfer.py --bundle /tmp/stream_quality/stream/bundle
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

TARGET_RHO = 0.8
HYDROGEN = Path("/usr/share/hydrogen/data/drumkits")


def loop_transfer(bundle_path: str | Path, kit: str, hits: int, block: int) -> dict:
    """ρ of one kit's loop through the bundle, with the per-hit levels in and out (dB)."""
    from timbrespace.audio.loudness import envelope_spearman
    from timbrespace.bundle import load_bundle
    from timbrespace.data.loops import drum_loop
    from timbrespace.inference import stream

    bundle = load_bundle(bundle_path)
    files = sorted((HYDROGEN / kit).glob("*.wav"))[:hits] + sorted((HYDROGEN / kit).glob("*.flac"))
    files = files[:hits]
    loop = drum_loop(files, bundle.sample_rate)
    rendered = stream(bundle.model.eval(), torch.from_numpy(loop)[None, None], block)[0, 0].numpy()
    noise = np.random.default_rng(0).standard_normal(loop.size).astype(np.float32) * 0.1
    return {
        "kit": kit,
        "hits": len(files),
        "seconds": round(loop.size / bundle.sample_rate, 2),
        "rho": round(envelope_spearman(loop, rendered), 3),
        "rho_noise_reference": round(envelope_spearman(loop, noise), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--kits", default="Audiophob,HardElectro1,VariBreaks")
    parser.add_argument("--hits", type=int, default=16)
    parser.add_argument("--block", type=int, default=512)
    args = parser.parse_args()
    rows = [loop_transfer(args.bundle, kit, args.hits, args.block) for kit in args.kits.split(",")]
    result = {
        "benchmark": "stream_transfer",
        "bundle": args.bundle,
        "block": args.block,
        "kits": rows,
        "target_rho": TARGET_RHO,
        "meets_target": all(row["rho"] >= TARGET_RHO for row in rows),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
