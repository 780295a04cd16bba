"""Prepare speed: `timbrespace prepare` vs a plain sequential librosa loop, in the same run.

The baseline is what a user would write first: for every file, `librosa.load` at the target rate
(mono) and `librosa.pyin` on the same clip length that prepare keeps (1 s by default). Ours decodes,
trims, crops, computes every registered descriptor (f0 by vectorised YIN with confidence, loudness,
spectral shape, attack/release, ...) and writes the cache, using all cores. Prints JSON.

    python benchmarks/prepare.py                       # whole hydrogen collection
    python benchmarks/prepare.py --limit 100           # quicker look
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

HYDROGEN = "/usr/share/hydrogen/data/drumkits"


def baseline(paths: list[Path], sample_rate: int, clip_samples: int) -> tuple[float, int]:
    import librosa

    failures = 0
    start = time.perf_counter()
    for path in paths:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                audio, _ = librosa.load(path, sr=sample_rate, mono=True)
                librosa.pyin(audio[:clip_samples], fmin=30.0, fmax=2000.0, sr=sample_rate)
        except Exception:
            failures += 1
    return time.perf_counter() - start, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=HYDROGEN)
    parser.add_argument("--sr", type=int, default=44100)
    parser.add_argument("--length", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--limit", type=int, default=None, help="only the first N audio files")
    args = parser.parse_args()

    from timbrespace.data.prepare import PrepareConfig, prepare_dataset
    from timbrespace.data.scan import scan_dataset

    sources = scan_dataset(args.data).audio[: args.limit]
    work = Path(tempfile.mkdtemp(prefix="bench-prepare-"))
    try:
        data = Path(args.data)
        if args.limit is not None:
            data = work / "data"
            for source in sources:
                target = data / source.relpath
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(Path(args.data).resolve() / source.relpath)
        config = PrepareConfig(sample_rate=args.sr, length=args.length)
        start = time.perf_counter()
        report = prepare_dataset(data, work / "cache", config, workers=args.workers)
        ours = time.perf_counter() - start
        paths = [Path(args.data) / source.relpath for source in sources]
        base_seconds, base_failures = baseline(paths, args.sr, config.clip_samples)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    files = len(sources)
    result = {
        "benchmark": "prepare",
        "data": args.data,
        "files": files,
        "sample_rate": args.sr,
        "clip_seconds": args.length,
        "workers": args.workers,
        "ours": {
            "seconds": round(ours, 3),
            "files_per_s": round(files / ours, 2),
            "cached": report.sources,
            "bad": len(report.bad),
        },
        "baseline_librosa_load_pyin": {
            "seconds": round(base_seconds, 3),
            "files_per_s": round(files / base_seconds, 2),
            "failures": base_failures,
        },
        "speedup": round(base_seconds / ours, 2),
        "target_speedup": 5.0,
    }
    result["meets_target"] = result["speedup"] >= result["target_speedup"]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
