"""One-shot model quality on the real hydrogen collection vs the PCA baseline. Prints JSON.

Prepares the whole collection (1 s at 44.1 kHz; reused if already there), then for each seed
trains the `small` preset for at most `--minutes` on the CPU and runs `timbrespace eval` on that
run's validation split: multi-resolution STFT distance, log-spectral distance, attack-time error
and SI-SDR for the model and for PCA on the waveform with the same latent dimension, fitted on
the training split. The seed sets the initial weights, the batch order and the train/validation
split. Prints every seed's report, the mean and the worst seed (lowest MR-STFT improvement,
highest attack error ratio), and training steps per minute.
Targets, on the mean and on the worst seed: STFT distance ≥ 25 % below the baseline's, and an
attack-time error below the baseline's.

    python benchmarks/oneshot_quality.py --work /tmp/quality --minutes 15 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

HYDROGEN = "/usr/share/hydrogen/data/drumkits"
MRSTFT_IMPROVEMENT_MIN = 0.25


def summary(report: dict[str, Any]) -> dict[str, float]:
    """The target numbers of one `evaluate` report."""
    model, baseline = report["model"], report["baseline_pca"]
    return {
        "mrstft": model["mrstft_distance"],
        "mrstft_pca": baseline["mrstft_distance"],
        "mrstft_improvement": report["improvement"]["mrstft_distance"],
        "attack_error_ms": model["attack_time_error_ms"],
        "attack_error_pca_ms": baseline["attack_time_error_ms"],
        "attack_error_ratio": model["attack_time_error_ms"] / baseline["attack_time_error_ms"],
    }


def meets(numbers: dict[str, float]) -> bool:
    return bool(
        numbers["mrstft_improvement"] >= MRSTFT_IMPROVEMENT_MIN
        and numbers["attack_error_ratio"] < 1.0
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=HYDROGEN)
    parser.add_argument("--work", default="/tmp/timbrespace-quality")
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--resume", action="store_true", help="continue existing runs")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model setting, as in `timbrespace train --set` (e.g. transient_ms=0)",
    )
    parser.add_argument(
        "--train-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="training setting (e.g. batch_size=8, precision=32, threads=1)",
    )
    args = parser.parse_args()

    from timbrespace.cli import parse_overrides
    from timbrespace.data.prepare import PrepareConfig, prepare_dataset
    from timbrespace.evaluation import evaluate
    from timbrespace.train.run import train

    work = Path(args.work)
    cache = work / "cache"
    start = time.perf_counter()
    prepare_dataset(args.data, cache, PrepareConfig(sample_rate=44100, length=1.0))
    prepare_seconds = time.perf_counter() - start
    runs = []
    for seed in args.seeds:
        run_dir = work / f"run_seed{seed}"
        began = time.perf_counter()
        result = train(
            cache,
            run_dir,
            preset=args.preset,
            model_overrides=parse_overrides(args.set),
            resume=args.resume,
            train_overrides={
                **parse_overrides(args.train_set),
                "max_minutes": args.minutes,
                "seed": seed,
            },
            logger="tensorboard",
            progress=False,
        )
        minutes = (time.perf_counter() - began) / 60
        report = evaluate(run_dir, cache, split="val")
        runs.append(
            {
                "seed": seed,
                "train_minutes": round(minutes, 2),
                "steps": result.steps - result.start_step,
                "steps_per_minute": round((result.steps - result.start_step) / minutes, 1),
                **summary(report),
                "eval": report,
            }
        )
        print(json.dumps({"seed": seed, **summary(report), "steps": result.steps}), flush=True)
    keys = list(summary(runs[0]["eval"]))
    mean = {key: statistics.fmean(run[key] for run in runs) for key in keys}
    worst = {
        "mrstft_improvement": min(run["mrstft_improvement"] for run in runs),
        "attack_error_ratio": max(run["attack_error_ratio"] for run in runs),
    }
    output = {
        "benchmark": "oneshot_quality",
        "preset": args.preset,
        "model_settings": parse_overrides(args.set),
        "train_settings": parse_overrides(args.train_set),
        "minutes_per_seed": args.minutes,
        "prepare_seconds": round(prepare_seconds, 1),
        "steps_per_minute": statistics.fmean(run["steps_per_minute"] for run in runs),
        "runs": runs,
        "mean": mean,
        "worst": worst,
        "targets": {
            "mrstft_improvement_min": MRSTFT_IMPROVEMENT_MIN,
            "attack_error_ratio_max": 1.0,
        },
        "meets_targets": meets(mean) and meets(worst),
    }
    print(json.dumps(output, indent=2))


if __name__ == "__main__":
    main()
