"""Do the knobs do what they say? Control fidelity and latency. Prints JSON.

For each of pitch, attack, release and brightness: sweep the control over its data range
(5th–95th percentile of its value over the analysed sounds, `--steps` targets) from `--starts`
seeded random dataset sounds (for pitch, sounds with a confident f0: a hat has no pitch), render,
measure the descriptor on the audio and report the median Spearman ρ between requested and
measured. Side effects: how much the other watched descriptors move, against a random latent
direction moved by the same distances (see `timbrespace.control_fidelity`).

Two models, each `small`, trained for `--minutes` on the CPU (reused when the run already has a
bundle): the demo pack (targets ρ ≥ 0.9 for all four) and the whole hydrogen collection, swept
from its kicks, every file with "kick" in its name, over the range the kicks span (targets
ρ ≥ 0.8 for pitch and release; the 25 kicks alone are too few to train a model or fit a probe). Also: probe R² on held-out sounds,
and slider latency (a move to its rendered sound) p50/p95 on 2 threads, open loop and with the
closed loop (target p95 ≤ 50 ms). `within_tolerance`: the fraction of in-range sweep steps
whose measured value is within 15 cents (pitch) or 5 % of the request (target ≥ 0.9).

    python benchmarks/controls.py --work /tmp/controls --minutes 15
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

HYDROGEN = "/usr/share/hydrogen/data/drumkits"
LATENCY_RUNS = 200


def build_model(dataset: Path, work: Path, sample_rate: int, minutes: float, retrain: bool) -> Path:
    """Prepare, train (`small`) and analyze; reuses an existing bundle unless `retrain`."""
    from timbrespace.analyze import analyze_bundle
    from timbrespace.data.prepare import PrepareConfig, prepare_dataset
    from timbrespace.train.run import train

    cache, run = work / "cache", work / "run"
    prepare_dataset(dataset, cache, PrepareConfig(sample_rate=sample_rate, length=1.0))
    if retrain or not (run / "bundle" / "bundle.json").is_file():
        train(
            cache,
            run,
            preset="small",
            resume=(run / "run.json").is_file(),
            train_overrides={"max_minutes": minutes},
            logger="tensorboard",
            progress=False,
        )
    analyze_bundle(run / "bundle")
    return run / "bundle"


def latency(space, runs: int = LATENCY_RUNS, closed_loop: bool = True) -> dict[str, object]:  # noqa: ANN001
    """A slider move (pitch ±12 semitones with attack/release locked) to the rendered sound, in
    ms: with the closed loop (renders and measures until the sound measures the request) or
    open loop (one constrained move and one decode). From a seeded pitched sound (a bell whose
    tracked f0 is 41 Hz has no pitch a tracker can follow an octave down)."""
    from timbrespace.control_fidelity import choose_starts

    start = choose_starts(space, 1, seed=0, pitched_only=True)[0]
    z = space.sound_latent(start)
    lock = [name for name in ("attack", "release") if name in space.controls]

    def slider(shift: int) -> int:
        moved = space.move(z, [f"pitch={shift:+d}st"], lock=lock, closed_loop=closed_loop)
        if moved.audio is None:
            space.render(moved.z_new)
        return max(1, moved.renders)

    for _ in range(5):
        slider(1)
    times, renders = [], []
    for i in range(runs):
        began = time.perf_counter()
        renders.append(slider((i % 25) - 12))
        times.append(1000 * (time.perf_counter() - began))
    return {
        "p50_ms": round(float(np.percentile(times, 50)), 2),
        "p95_ms": round(float(np.percentile(times, 95)), 2),
        "median_renders": float(np.median(renders)),
        "runs": runs,
        "start": space.analysis.sounds[start],
    }


def measure(
    bundle: Path, args: argparse.Namespace, targets: dict[str, float], subset: str | None = None
) -> dict:
    """Fidelity of the four main controls; `subset`: only start from (and take the sweep range
    over) sounds whose file name contains it."""
    from timbrespace.control_fidelity import MAIN_CONTROLS, choose_starts, measure_control
    from timbrespace.space import LatentSpace

    space = LatentSpace.open(bundle)
    sounds = space.analysis.sounds
    pool = None
    if subset is not None:
        pool = [i for i, path in enumerate(sounds) if subset in Path(path).name.lower()]
    report: dict = {"bundle": str(bundle), "sounds": len(sounds), "controls": {}}
    if pool is not None:
        report["start_pool"] = f"{len(pool)} sounds with {subset!r} in the file name"
    for name in [c for c in MAIN_CONTROLS if args.controls is None or c in args.controls]:
        starts = choose_starts(
            space, args.starts, seed=args.seed, pitched_only=name == "pitch", pool=pool
        )
        lock = [other for other in args.lock if other != name]
        began = time.perf_counter()
        result = measure_control(
            space, name, starts, steps=args.steps, lock=lock, seed=args.seed, range_from=pool
        ).summary()
        result["lock"] = lock
        result["seconds"] = round(time.perf_counter() - began, 1)
        if name in targets:
            rho = result["median_spearman"]
            result["target_median_spearman"] = targets[name]
            result["meets_target"] = rho is not None and rho >= targets[name]
        report["controls"][name] = result
    report["probe_r2_heldout"] = {
        name: round(probe.r2_heldout, 3) if np.isfinite(probe.r2_heldout) else None
        for name, probe in space.analysis.probes.items()
    }
    report["latency_open_loop"] = latency(space, closed_loop=False)
    report["latency"] = latency(space)
    report["latency"]["meets_target"] = report["latency"]["p95_ms"] <= 50.0
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/timbrespace-controls")
    parser.add_argument("--minutes", type=float, default=15.0, help="training time per model")
    parser.add_argument("--sr", type=int, default=22050, help="sample rate of both models, Hz")
    parser.add_argument("--starts", type=int, default=20)
    parser.add_argument("--steps", type=int, default=9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--lock",
        nargs="*",
        default=["pitch", "attack", "release", "brightness", "loudness"],
        help="controls kept where they are while one is swept (default: the other watched ones)",
    )
    parser.add_argument("--demo-bundle", help="use this analysed demo-pack bundle")
    parser.add_argument("--hydrogen-bundle", help="use this analysed whole-hydrogen bundle")
    parser.add_argument("--skip-hydrogen", action="store_true")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--controls", nargs="*", help="measure only these (default: all four)")
    parser.add_argument("--retrain", action="store_true", help="train even if a bundle exists")
    parser.add_argument("--hydrogen", default=HYDROGEN)
    args = parser.parse_args()

    import torch

    from timbrespace.data.demo_pack import write_demo_pack

    torch.set_num_threads(2)
    work = Path(args.work)
    output: dict = {"benchmark": "controls", "threads": 2, "sample_rate": args.sr}
    demo_bundle = args.demo_bundle
    if demo_bundle is None and not args.skip_demo:
        pack = work / "demo" / "pack"
        if not (pack / "parameters.csv").is_file():
            write_demo_pack(pack, n=600, seed=0, sample_rate=args.sr)
        demo_bundle = build_model(pack, work / "demo", args.sr, args.minutes, args.retrain)
    targets = {"pitch": 0.9, "attack": 0.9, "release": 0.9, "brightness": 0.9}
    if demo_bundle is not None:
        output["demo_pack"] = measure(Path(demo_bundle), args, targets)
    if not args.skip_hydrogen:
        hydrogen_bundle = args.hydrogen_bundle or build_model(
            Path(args.hydrogen), work / "hydrogen", args.sr, args.minutes, args.retrain
        )
        output["hydrogen_kicks"] = measure(
            Path(hydrogen_bundle), args, {"pitch": 0.8, "release": 0.8}, subset="kick"
        )
    print(json.dumps(output, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    main()
