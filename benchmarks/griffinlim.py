"""Griffin-Lim speed and quality: timbrespace's `griffin_lim` against `librosa.griffinlim` at the
same STFT settings (n_fft, hop, window), momentum and iteration counts, measured in one run.
Prints JSON.

The audio is 5 s of real drum one-shots from Debian's hydrogen-drumkits (each file cut to at
most `--per-file` seconds, concatenated, mono, resampled with soxr); torch uses `--threads`
threads. For each iteration count and each seed i < `--repeats`, the two implementations run
alternately (which one goes first alternates too, so both see the same machine load):

- speed: each from its own random phases seeded with i, generation included; the median wall
  time of each and their ratio;
- quality: ours from librosa's own random start for seed i (`np.random.RandomState(i)`), so the
  two run the same iterates and differ only by float32 rounding; spectral convergence
  ‖ |STFT(y)| − M ‖_F / ‖M‖_F averaged over the seeds (lower is better). The target counts
  ours as "≤ librosa's" within `--rounding` relative tolerance.

Torch's threads follow `timbrespace.runtime` (Griffin-Lim is a `batch` job: the cores other
processes leave idle, re-checked every 8 iterations) unless `--threads` pins them. `--load N`
measures again with N competing busy processes (issue 14: ≥ 5× librosa quiet, ≥ 3× with one busy
process, at 32 iterations).

    python benchmarks/griffinlim.py
    python benchmarks/griffinlim.py --iterations 8 32 64 --repeats 5 --threads 2
    python benchmarks/griffinlim.py --iterations 32 --load 1
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
import soxr
import torch
from competing_load import add_load_arguments, competing_load

from timbrespace import runtime
from timbrespace.audio.griffinlim import griffin_lim, spectral_convergence
from timbrespace.audio.spectral import magnitude

HYDROGEN_ROOT = Path("/usr/share/hydrogen/data/drumkits")
SUFFIXES = {".wav", ".flac", ".aif", ".aiff"}
TARGET_SPEEDUP = 5.0
TARGET_SPEEDUP_LOADED = 3.0


def drum_excerpt(root: Path, seconds: float, sample_rate: int, per_file: float) -> np.ndarray:
    """Real one-shots, each cut to `per_file` s, concatenated to `seconds` s: float32 mono."""
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in SUFFIXES)
    if not files:
        raise SystemExit(f"no audio under {root}: install the Debian package hydrogen-drumkits")
    wanted, parts, total = int(seconds * sample_rate), [], 0
    for path in files[:: max(1, len(files) // 40)]:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
        audio = soxr.resample(audio.mean(axis=1), rate, sample_rate)[: int(per_file * sample_rate)]
        parts.append(audio.astype(np.float32))
        total += audio.size
        if total >= wanted:
            break
    audio = np.concatenate(parts)[:wanted]
    return np.pad(audio, (0, wanted - audio.size))


def timed(function: Callable[[], torch.Tensor]) -> tuple[float, torch.Tensor]:
    """Wall time (ms) of one call, and its result."""
    start = time.perf_counter()
    result = function()
    return (time.perf_counter() - start) * 1000.0, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=HYDROGEN_ROOT)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--per-file", type=float, default=0.5)
    parser.add_argument("--sample-rate", type=int, default=22050)
    parser.add_argument("--n-fft", type=int, default=2048)
    parser.add_argument("--hop", type=int, default=512)
    parser.add_argument("--window", default="hann")
    parser.add_argument("--momentum", type=float, default=0.99)
    parser.add_argument("--iterations", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="pin torch's threads")
    parser.add_argument("--rounding", type=float, default=1e-3)
    add_load_arguments(parser)
    args = parser.parse_args()
    if args.threads:
        os.environ[runtime.ENV_THREADS] = str(args.threads)

    audio = drum_excerpt(args.root, args.seconds, args.sample_rate, args.per_file)
    target = magnitude(torch.from_numpy(audio)[None], args.n_fft, args.hop, args.window)
    target_np = target[0].numpy()
    settings = {"n_fft": args.n_fft, "hop": args.hop, "window": args.window}

    def ours(iterations: int, seed: int, phase: torch.Tensor | None = None) -> torch.Tensor:
        return griffin_lim(
            target,
            iterations=iterations,
            momentum=args.momentum,
            seed=seed,
            initial_phase=phase,
            **settings,
        )

    def reference(iterations: int, seed: int) -> torch.Tensor:
        rebuilt = librosa.griffinlim(
            target_np,
            n_iter=iterations,
            hop_length=args.hop,
            n_fft=args.n_fft,
            window=args.window,
            momentum=args.momentum,
            random_state=seed,
        )
        return torch.from_numpy(rebuilt)[None]

    def librosa_start(seed: int) -> torch.Tensor:
        """The phases `librosa.griffinlim(random_state=seed)` starts from, [1, bins, frames]."""
        phase = 2 * np.pi * np.random.RandomState(seed).random_sample(target_np.shape)
        return torch.from_numpy(phase).float()[None]

    def convergence(rebuilt: torch.Tensor) -> float:
        return float(spectral_convergence(target, rebuilt, **settings)[0])

    def measure(target_speedup: float) -> dict:
        ours(2, 0), reference(2, 0)  # warm-up: first-call allocations, librosa's numba kernels
        rows = [run(iterations, target_speedup) for iterations in args.iterations]
        return {"runs": rows, "meets_target": all(row["meets_target"] for row in rows)}

    def run(iterations: int, target_speedup: float) -> dict:
        times: dict[str, list[float]] = {"ours": [], "librosa": []}
        quality: dict[str, list[float]] = {"ours": [], "librosa": []}
        for seed in range(args.repeats):
            runs = [
                ("ours", lambda n=iterations, s=seed: ours(n, s)),
                ("librosa", lambda n=iterations, s=seed: reference(n, s)),
            ]
            for name, function in runs[:: 1 if seed % 2 == 0 else -1]:
                elapsed, rebuilt = timed(function)
                times[name].append(elapsed)
                if name == "librosa":
                    quality[name].append(convergence(rebuilt))
            quality["ours"].append(convergence(ours(iterations, seed, librosa_start(seed))))
        ours_ms, librosa_ms = (float(np.median(times[name])) for name in ("ours", "librosa"))
        ours_sc, librosa_sc = (float(np.mean(quality[name])) for name in ("ours", "librosa"))
        return {
            "iterations": iterations,
            "ours_ms": round(ours_ms, 2),
            "librosa_ms": round(librosa_ms, 2),
            "speedup": round(librosa_ms / ours_ms, 2),
            "ours_convergence": round(ours_sc, 6),
            "librosa_convergence": round(librosa_sc, 6),
            "convergence_ratio": round(ours_sc / librosa_sc, 5),
            "meets_target": librosa_ms / ours_ms >= target_speedup
            and ours_sc <= librosa_sc * (1.0 + args.rounding),
        }

    quiet = measure(TARGET_SPEEDUP)
    loaded = None
    if args.load:
        with competing_load(args.load, args.load_kind):
            loaded = {"load": args.load, "load_kind": args.load_kind}
            loaded.update(measure(TARGET_SPEEDUP_LOADED))
    result = {
        "benchmark": "griffinlim",
        "threads": args.threads or "runtime policy",
        "audio": f"{args.seconds} s of hydrogen drum one-shots at {args.sample_rate} Hz",
        "frames": target.shape[-1],
        "momentum": args.momentum,
        **settings,
        "repeats": args.repeats,
        "torch": torch.__version__,
        "librosa": librosa.__version__,
        "target_speedup": TARGET_SPEEDUP,
        "target_speedup_loaded": TARGET_SPEEDUP_LOADED,
        "convergence_tolerance": args.rounding,
        **quiet,
    }
    if loaded is not None:
        result["loaded"] = loaded
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
