"""VQ family: reconstruction, codebook usage, and how well drawn descriptor curves are followed.

Renders 6 GM instruments × `--seconds` of melodies (fluidsynth, as `spectral_quality.py`),
prepares them in continuous mode at 22.05 kHz, trains the `small` vq preset for `--minutes` on
the CPU, analyses it (every code measured on decoded audio), then measures, all in one run:
- reconstruction: `timbrespace eval` on the validation split against PCA of log-magnitude
  frames with as many components as a code vector has dimensions (same Griffin-Lim);
- codebook usage over the validation split (codes used by at least one frame) and perplexity;
- target curves (4 s each, inside the codebook's range): centroid sine, log ramp and exp ramp;
  f0 sine and ramp; a joint centroid + loudness target — each rendered with dynamic
  programming (dp) and with greedy nearest codes, the output measured with librosa (centroid:
  `librosa.feature.spectral_centroid`; f0: `librosa.pyin`; loudness: RMS in dB), independent of
  the project's descriptor code: Pearson r, MAE normalised by the target's range, median f0
  error in cents, and the spectral flux at code changes (mean L2 distance of consecutive
  normalised magnitude frames where the code changes);
- speed: selection + decoding of 4 s on 2 threads, as a real-time factor.

    python benchmarks/vq_targets.py --work /tmp/vq_targets --minutes 15
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

INSTRUMENTS = ("flute", "violin", "cello", "trumpet", "alto_sax", "organ")
TARGET_SECONDS = 4.0


def librosa_curves(audio: np.ndarray, sr: int, hop: int, frames: int) -> dict[str, np.ndarray]:
    """Centroid (Hz), f0 (Hz, NaN unvoiced, pyin) and RMS loudness (dB) per model frame
    (centred frames of 2048 samples at 22.05 kHz, hop = the model's), cut to `frames`."""
    import librosa

    n_fft = 2048
    centroid = librosa.feature.spectral_centroid(y=audio, sr=sr, n_fft=n_fft, hop_length=hop)[0]
    rms = librosa.feature.rms(y=audio, frame_length=n_fft, hop_length=hop)[0]
    f0, voiced, _ = librosa.pyin(
        audio, fmin=60.0, fmax=2000.0, sr=sr, frame_length=n_fft, hop_length=hop
    )
    f0 = np.where(voiced, f0, np.nan)

    def fit(curve: np.ndarray) -> np.ndarray:
        curve = np.asarray(curve, np.float64)[:frames]
        return np.pad(curve, (0, frames - curve.size), constant_values=np.nan)

    return {
        "centroid": fit(centroid),
        "f0": fit(f0),
        "loudness": fit(20 * np.log10(np.maximum(rms, 1e-6)) + 3.01),
    }


def follow_score(name: str, target: np.ndarray, measured: np.ndarray) -> dict[str, float]:
    """Pearson r, MAE / target range, and (f0) the median error in cents, over frames where
    both are finite (edges of 4 frames left out: the analysis window spans the silence)."""
    keep = np.isfinite(target) & np.isfinite(measured)
    keep[:4] = False
    keep[-4:] = False
    t, m = target[keep], measured[keep]
    span = float(np.ptp(t)) or 1.0
    out = {
        "frames": int(keep.sum()),
        "r": float(np.corrcoef(t, m)[0, 1]) if t.size > 2 and np.std(t) > 0 else math.nan,
        "nmae": float(np.mean(np.abs(m - t)) / span),
    }
    if name == "f0":
        out["median_cents"] = float(np.median(np.abs(1200 * np.log2(m / t))))
        out["voiced_fraction"] = float(np.isfinite(measured[4:-4]).mean())
    return out


def flux_at_changes(audio: np.ndarray, codes: np.ndarray, hop: int, n_fft: int) -> float:
    """Mean spectral flux (L2 distance of consecutive unit-norm magnitude frames) at the frames
    where the code changes; 0 when it never changes."""
    import librosa

    magnitude = np.abs(librosa.stft(audio, n_fft=n_fft, hop_length=hop))
    magnitude = magnitude / np.maximum(np.linalg.norm(magnitude, axis=0, keepdims=True), 1e-9)
    flux = np.linalg.norm(np.diff(magnitude, axis=1), axis=0)
    changes = np.nonzero(codes[1:] != codes[:-1])[0]
    changes = changes[changes < flux.size]
    return float(flux[changes].mean()) if changes.size else 0.0


def targets_inside(codebook, frames: int) -> dict[str, dict[str, str]]:  # noqa: ANN001
    """The target formulas of the benchmark, inside the codebook's range (10th–90th percentile
    of the used codes' values)."""
    used = codebook.used()
    loud = codebook.audible() & used

    def pct(name: str, q: float, mask: np.ndarray) -> float:
        values = codebook.column(name)[mask]
        return float(np.nanpercentile(values, q))

    c_lo, c_hi = pct("centroid", 10, loud), pct("centroid", 90, loud)
    f_lo, f_hi = pct("f0", 20, loud), pct("f0", 80, loud)
    l_lo, l_hi = pct("loudness", 30, used), pct("loudness", 90, used)
    return {
        "centroid_sine": {"centroid": f"centroid=sine:{c_lo:.0f}:{c_hi:.0f}:2"},
        "centroid_log": {"centroid": f"centroid=log:{c_lo:.0f}:{c_hi:.0f}"},
        "centroid_exp": {"centroid": f"centroid=exp:{c_lo:.0f}:{c_hi:.0f}"},
        "f0_sine": {"f0": f"f0=sine:{f_lo:.1f}:{f_hi:.1f}:1"},
        "f0_ramp": {"f0": f"f0=ramp:{f_lo:.1f}:{f_hi:.1f}"},
        "centroid_loudness": {
            "centroid": f"centroid=sine:{c_lo:.0f}:{c_hi:.0f}:1",
            "loudness": f"loudness=ramp:{l_lo:.1f}:{l_hi:.1f}",
        },
    }


def run_targets(bundle, codebook, weights: dict) -> dict:  # noqa: ANN001
    from timbrespace.codebook_play import follow_targets, formula_targets, target_frames

    model = bundle.model
    sr, hop = int(model.sample_rate), int(model.hop_length)
    frames = target_frames(model, TARGET_SECONDS)
    results: dict = {}
    for case, formulas in targets_inside(codebook, frames).items():
        targets = formula_targets(list(formulas.values()), codebook, frames)
        results[case] = {"formulas": list(formulas.values())}
        for method in ("dp", "greedy"):
            render = follow_targets(
                bundle,
                targets,
                method=method,
                codebook=codebook,
                **weights,
            )
            audio = render.audio.mean(dim=0).numpy()
            measured = librosa_curves(audio, sr, hop, frames)
            codes = render.selection.codes
            results[case][method] = {
                "scores": {
                    name: follow_score(name, render.selection.targets[name], measured[name])
                    for name in render.selection.targets
                },
                "flux_at_changes": flux_at_changes(audio, codes, hop, int(model.config.n_fft)),
                "code_changes": int((codes[1:] != codes[:-1]).sum()),
                "distinct_codes": len(set(codes.tolist())),
                "notices": render.selection.notices,
            }
    return results


def speed(bundle, codebook, repeats: int = 5) -> dict:  # noqa: ANN001
    import torch

    from timbrespace.codebook_play import follow_targets, formula_targets, target_frames

    torch.set_num_threads(2)
    frames = target_frames(bundle.model, TARGET_SECONDS)
    lo, hi = codebook.value_range("centroid")
    targets = formula_targets([f"centroid=sine:{lo * 1.5:.0f}:{hi / 1.5:.0f}:2"], codebook, frames)
    from timbrespace.codebook_play import render_codes, select_codes

    times = []
    for repeat in range(repeats + 1):  # the first call warms up (allocations, FFT plans)
        began = time.perf_counter()
        selection = select_codes(codebook, targets)
        render_codes(bundle.model, selection.codes, selection.levels, selection.pitches)
        if repeat:
            times.append(time.perf_counter() - began)
    follow_targets(bundle, targets, codebook=codebook)  # the full path works too
    best = min(times)
    return {
        "seconds_4s_median": float(np.median(times)),
        "realtime_factor": TARGET_SECONDS / float(np.median(times)),
        "best_realtime_factor": TARGET_SECONDS / best,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/timbrespace-vq-targets")
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--seconds", type=float, default=120.0, help="audio per instrument")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--smoothness", type=float, help="dp transition weight (default 1)")
    parser.add_argument("--learned", type=float, help="weight of the learned transitions")
    parser.add_argument("--continuity", type=float, help="weight of the spectral distance")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--reuse", action="store_true", help="reuse a trained run in --work")
    args = parser.parse_args()

    from timbrespace.analyze import analyze_bundle
    from timbrespace.bundle import load_bundle
    from timbrespace.cli import parse_overrides
    from timbrespace.codebook_play import bundle_codebook
    from timbrespace.data.melodies import write_melodies
    from timbrespace.data.prepare import PrepareConfig, prepare_dataset
    from timbrespace.evaluation import evaluate
    from timbrespace.train.run import train

    work = Path(args.work)
    cache = work / "cache"
    run = work / "run"
    began = time.perf_counter()
    write_melodies(
        work / "melodies", instruments=INSTRUMENTS, seconds=args.seconds, sample_rate=22050
    )
    prepare_dataset(
        work / "melodies",
        cache,
        PrepareConfig(mode="continuous", sample_rate=22050, length=1.0, hop=0.5),
    )
    prepared = time.perf_counter()
    steps = None
    if not (args.reuse and (run / "bundle" / "weights.safetensors").is_file()):
        result = train(
            cache,
            run,
            family="vq",
            preset=args.preset,
            model_overrides=parse_overrides(args.set),
            train_overrides={"max_minutes": args.minutes, "seed": args.seed},
            logger="tensorboard",
            progress=False,
        )
        steps = result.steps
    trained = time.perf_counter()
    analysis = analyze_bundle(run)
    bundle = load_bundle(run)
    codebook = bundle_codebook(bundle)
    report = evaluate(run, cache, split="val")
    usage = report["codebook"]
    weights = {
        key: value
        for key, value in (
            ("smoothness", args.smoothness),
            ("learned", args.learned),
            ("continuity", args.continuity),
        )
        if value is not None
    }
    followed = run_targets(bundle, codebook, weights)
    timing = speed(bundle, codebook)
    output = {
        "benchmark": "vq_targets",
        "preset": args.preset,
        "seed": args.seed,
        "model_settings": parse_overrides(args.set),
        "instruments": list(INSTRUMENTS),
        "prepare_seconds": round(prepared - began, 1),
        "train_minutes": round((trained - prepared) / 60, 2),
        "steps": steps,
        "analyze_seconds": round(analysis.seconds, 1),
        "eval": report,
        "codebook_usage": usage,
        "targets": followed,
        "speed": timing,
    }
    output["acceptance"] = acceptance(output)
    print(json.dumps(output, indent=2, allow_nan=True))


def acceptance(output: dict) -> dict:
    targets = output["targets"]
    centroid_cases = ("centroid_sine", "centroid_log", "centroid_exp")
    centroid = {case: targets[case]["dp"]["scores"]["centroid"] for case in centroid_cases}
    f0 = {case: targets[case]["dp"]["scores"]["f0"] for case in ("f0_sine", "f0_ramp")}
    joint = targets["centroid_loudness"]["dp"]["scores"]

    def total_error(method: str) -> float:
        return float(
            np.mean(
                [
                    score["nmae"]
                    for case in targets.values()
                    for score in case[method]["scores"].values()
                ]
            )
        )

    def mean_flux(method: str) -> float:
        return float(np.mean([case[method]["flux_at_changes"] for case in targets.values()]))

    improvement = output["eval"]["improvement"]["mrstft_distance"]
    return {
        "usage_ge_80": output["codebook_usage"]["usage"] >= 0.8,
        "mrstft_25_below_pca": improvement >= 0.25,
        "mrstft_improvement": improvement,
        "centroid_r_ge_095": all(s["r"] >= 0.95 for s in centroid.values()),
        "centroid_nmae_le_10": all(s["nmae"] <= 0.10 for s in centroid.values()),
        "f0_median_le_50_cents": all(s["median_cents"] <= 50 for s in f0.values()),
        "joint_r_ge_09": all(s["r"] >= 0.9 for s in joint.values()),
        "dp_error_vs_greedy": [total_error("dp"), total_error("greedy")],
        "dp_flux_vs_greedy": [mean_flux("dp"), mean_flux("greedy")],
        "dp_beats_greedy": total_error("dp") < total_error("greedy")
        and mean_flux("dp") < mean_flux("greedy"),
        "speed_ge_10x": output["speed"]["realtime_factor"] >= 10,
    }


if __name__ == "__main__":
    main()
