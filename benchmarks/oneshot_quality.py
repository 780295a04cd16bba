"""One-shot model quality on the real hydrogen collection vs the PCA baseline. Prints JSON.

Prepares the whole collection (1 s at 44.1 kHz; reused if already there), trains the `small`
preset for at most `--minutes` on the CPU, then runs `timbrespace eval` on the validation split:
multi-resolution STFT distance, log-spectral distance, attack-time error and SI-SDR for the model
and for PCA on the waveform with the same latent dimension, fitted on the training split.
Targets: STFT distance ≥ 25 % below the baseline's, and a lower attack-time error.

    python benchmarks/oneshot_quality.py --work /tmp/quality --minutes 15
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

HYDROGEN = "/usr/share/hydrogen/data/drumkits"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=HYDROGEN)
    parser.add_argument("--work", default="/tmp/timbrespace-quality")
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--resume", action="store_true", help="continue an existing run")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model setting, as in `timbrespace train --set` (e.g. transient_ms=0)",
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
    prepared = time.perf_counter()
    result = train(
        cache,
        work / "run",
        preset=args.preset,
        model_overrides=parse_overrides(args.set),
        resume=args.resume,
        train_overrides={"max_minutes": args.minutes},
        logger="tensorboard",
        progress=False,
    )
    trained = time.perf_counter()
    report = evaluate(work / "run", cache, split="val")
    model, baseline = report["model"], report["baseline_pca"]
    output = {
        "benchmark": "oneshot_quality",
        "preset": args.preset,
        "model_settings": parse_overrides(args.set),
        "train_minutes": round((trained - prepared) / 60, 2),
        "steps": result.steps,
        "prepare_seconds": round(prepared - start, 1),
        "eval": report,
        "targets": {
            "mrstft_improvement_min": 0.25,
            "mrstft_improvement": report["improvement"]["mrstft_distance"],
            "attack_error_lower": model["attack_time_error_ms"] < baseline["attack_time_error_ms"],
        },
    }
    output["meets_targets"] = bool(
        output["targets"]["mrstft_improvement"] >= 0.25 and output["targets"]["attack_error_lower"]
    )
    print(json.dumps(output, indent=2))


if __name__ == "__main__":
    main()
