"""Is a one-shot model in tune? Measured with an independent tracker (librosa's pyin), against
the demo pack's ground truth (`parameters.csv`: the f0 each sound was synthesised at).

Prints JSON: per family, the reconstructions' f0 error in cents (median, median |error|,
fraction within ±50 cents) next to the same measurement on the original files (the tracker's
own error), and for pitch sweeps (`pitch=-12st:+12st`) the requested vs measured error in cents
(requests beyond the tracker's range, within a semitone of 30 Hz or 2 kHz, counted apart).

    python benchmarks/tuning.py demo/run demo/pack --families pluck,kick --n 15
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import librosa
import numpy as np

from timbrespace.space import LatentSpace

TRACKER_FMIN_HZ, TRACKER_FMAX_HZ = 30.0, 2000.0
MEASURABLE_HZ = (TRACKER_FMIN_HZ * 2 ** (1 / 12), TRACKER_FMAX_HZ * 2 ** (-1 / 12))
"""Requests outside this range are not judged: pyin reports nothing below its lowest candidate
(a 27.5 Hz request reads 30.0 Hz, +150 cents) or above its highest."""


def measured_hz(audio: np.ndarray, sample_rate: int) -> float:
    """Median voiced pyin f0 (Hz) over the first third of a second of mono audio, NaN if none."""
    f0, voiced, _ = librosa.pyin(
        audio[: sample_rate // 3],
        fmin=TRACKER_FMIN_HZ,
        fmax=TRACKER_FMAX_HZ,
        sr=sample_rate,
        frame_length=2048,
    )
    voiced_f0 = np.where(voiced, f0, np.nan)
    return float(np.nanmedian(voiced_f0)) if np.isfinite(voiced_f0).any() else float("nan")


def cents(measured: float, wanted: float) -> float:
    return float(1200 * np.log2(measured / wanted)) if np.isfinite(measured) else float("nan")


def summary(errors: list[float]) -> dict[str, float | int]:
    values = np.asarray(errors, dtype=float)
    finite = values[np.isfinite(values)]
    return {
        "median_cents": float(np.median(finite)) if finite.size else float("nan"),
        "median_abs_cents": float(np.median(np.abs(finite))) if finite.size else float("nan"),
        "within_50_cents": float(np.mean(np.abs(finite) <= 50)) if finite.size else 0.0,
        "unvoiced": int(values.size - finite.size),
        "n": int(values.size),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", help="bundle or run folder of a one-shot model")
    parser.add_argument("pack", type=Path, help="a demo pack (with parameters.csv)")
    parser.add_argument("--families", default="pluck,kick")
    parser.add_argument("--n", type=int, default=15, help="sounds per family")
    parser.add_argument("--sweeps", type=int, default=5, help="pitch sweeps per family")
    args = parser.parse_args()

    space = LatentSpace.open(args.bundle)
    rate = space.sample_rate
    rows = list(csv.DictReader((args.pack / "parameters.csv").open()))
    report: dict[str, object] = {"bundle": str(space.bundle.path), "tracker": "librosa.pyin"}
    for family in args.families.split(","):
        chosen = [row for row in rows if row["family"] == family][: args.n]
        rebuilt, original, sweep = [], [], []
        outside_tracker = 0
        for number, row in enumerate(chosen):
            path, truth = args.pack / row["path"], float(row["f0_hz"])
            rebuilt.append(cents(measured_hz(space.transfer(path)[0], rate), truth))
            source, _ = librosa.load(path, sr=rate, mono=True)
            original.append(cents(measured_hz(source, rate), truth))
            if number < args.sweeps:
                result = space.sweep(space.sound_latent(row["path"]), "pitch=-12st:+12st:5")
                for requested, audio in zip(result.requested, result.audio, strict=True):
                    if not MEASURABLE_HZ[0] <= requested <= MEASURABLE_HZ[1]:
                        outside_tracker += 1
                        continue
                    sweep.append(cents(measured_hz(audio[0], rate), requested))
        report[family] = {
            "reconstruction": summary(rebuilt),
            "original_files": summary(original),
            "pitch_sweep_requested_vs_measured": {
                **summary(sweep),
                "requests_outside_tracker": outside_tracker,
            },
        }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
