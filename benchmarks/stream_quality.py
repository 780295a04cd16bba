"""Streaming waveform VAE quality on real instrument melodies, next to the spectral family. JSON.

Renders monophonic melodies from the General MIDI soundfont with fluidsynth (6 instruments ×
`--seconds`, reused if already there), prepares them in continuous mode (1 s chunks, 0.5 s hop,
22.05 kHz), trains the `small` stream preset for at most `--minutes` on the CPU, and the `small`
spectral preset for the same minutes on the same cache (unless `--no-spectral`), then runs
`timbrespace eval` on the validation split for both. The stream model's baseline is PCA of
log-magnitude STFT frames at its own frame rate with the same latent size, rebuilt by 32
iterations of Griffin-Lim. Target (issue 15): MR-STFT ≥ 25 % below that baseline.

    python benchmarks/stream_quality.py --work /tmp/stream_quality --minutes 15
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

TARGET_MRSTFT_IMPROVEMENT = 0.25


def train_and_evaluate(cache: Path, run: Path, family: str, args: argparse.Namespace) -> dict:
    from timbrespace.cli import parse_overrides
    from timbrespace.evaluation import evaluate
    from timbrespace.train.run import train

    started = time.perf_counter()
    result = train(
        cache,
        run,
        family=family,
        preset=args.preset,
        model_overrides=parse_overrides(args.set) if family == "stream" else None,
        resume=args.resume,
        train_overrides={"max_minutes": args.minutes},
        logger="tensorboard",
        progress=False,
    )
    minutes = (time.perf_counter() - started) / 60
    report = evaluate(run, cache, split="val")
    return {"train_minutes": round(minutes, 2), "steps": result.steps, "eval": report}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/timbrespace-stream-quality")
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--seconds", type=float, default=120.0, help="audio per instrument")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--resume", action="store_true", help="continue existing runs")
    parser.add_argument("--no-spectral", dest="spectral", action="store_false")
    parser.add_argument(
        "--spectral-run",
        default=None,
        help="evaluate this spectral run (trained earlier by this script on the same cache and "
        "minutes) instead of training one",
    )
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

    from timbrespace.data.melodies import write_melodies
    from timbrespace.data.prepare import PrepareConfig, prepare_dataset

    work = Path(args.work)
    cache = work / "cache"
    write_melodies(work / "melodies", seconds=args.seconds, sample_rate=22050)
    prepare_dataset(
        work / "melodies",
        cache,
        PrepareConfig(mode="continuous", sample_rate=22050, length=1.0, hop=0.5),
    )
    stream = train_and_evaluate(cache, work / "stream", "stream", args)
    improvement = stream["eval"]["improvement"]["mrstft_distance"]
    output: dict = {
        "benchmark": "stream_quality",
        "preset": args.preset,
        "model_settings": args.set,
        "stream": stream,
    }
    if args.spectral_run:
        from timbrespace.evaluation import evaluate

        spectral = {
            "run": args.spectral_run,
            "eval": evaluate(args.spectral_run, cache, split="val"),
        }
    elif args.spectral:
        spectral = train_and_evaluate(cache, work / "spectral", "spectral", args)
    if args.spectral or args.spectral_run:
        output["spectral"] = spectral
        output["side_by_side"] = {
            family: {
                metric: output[family]["eval"]["model"][metric]
                for metric in ("mrstft_distance", "log_spectral_distance_db")
            }
            for family in ("stream", "spectral")
        }
    output["targets"] = {
        "mrstft_improvement_vs_frame_pca": improvement,
        "required": TARGET_MRSTFT_IMPROVEMENT,
    }
    output["meets_targets"] = bool(improvement >= TARGET_MRSTFT_IMPROVEMENT)
    print(json.dumps(output, indent=2))


if __name__ == "__main__":
    main()
