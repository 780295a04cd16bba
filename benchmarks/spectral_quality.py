"""Spectral (frame-wise VAE) model quality on real instrument melodies vs PCA of frames. JSON.

Renders monophonic melodies from the General MIDI soundfont with fluidsynth (`--seconds` per
instrument, reused if already there), prepares them in continuous mode (1 s chunks, 0.5 s hop,
22.05 kHz), trains the `small` spectral preset for at most `--minutes` on the CPU, then runs
`timbrespace eval` on the validation split: the baseline is PCA of log-magnitude STFT frames with
the same latent size, rebuilt by the same Griffin-Lim. Target: a lower log-spectral distance.

    python benchmarks/spectral_quality.py --work /tmp/spectral_quality --minutes 15
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/timbrespace-spectral-quality")
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--seconds", type=float, default=120.0, help="audio per instrument")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--resume", action="store_true", help="continue an existing run")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

    from timbrespace.cli import parse_overrides
    from timbrespace.data.melodies import write_melodies
    from timbrespace.data.prepare import PrepareConfig, prepare_dataset
    from timbrespace.evaluation import evaluate
    from timbrespace.train.run import train

    work = Path(args.work)
    cache = work / "cache"
    start = time.perf_counter()
    write_melodies(work / "melodies", seconds=args.seconds, sample_rate=22050)
    prepare_dataset(
        work / "melodies",
        cache,
        PrepareConfig(mode="continuous", sample_rate=22050, length=1.0, hop=0.5),
    )
    prepared = time.perf_counter()
    result = train(
        cache,
        work / "run",
        family="spectral",
        preset=args.preset,
        model_overrides=parse_overrides(args.set),
        resume=args.resume,
        train_overrides={"max_minutes": args.minutes},
        logger="tensorboard",
        progress=False,
    )
    trained = time.perf_counter()
    report = evaluate(work / "run", cache, split="val")
    improvement = report["improvement"]["log_spectral_distance_db"]
    output = {
        "benchmark": "spectral_quality",
        "preset": args.preset,
        "model_settings": parse_overrides(args.set),
        "train_minutes": round((trained - prepared) / 60, 2),
        "steps": result.steps,
        "prepare_seconds": round(prepared - start, 1),
        "eval": report,
        "targets": {"lsd_improvement": improvement, "lsd_lower": improvement > 0},
        "meets_targets": bool(improvement > 0),
    }
    print(json.dumps(output, indent=2))


if __name__ == "__main__":
    main()
