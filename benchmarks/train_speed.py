"""Training speed of the one-shot model on a prepared cache: steps/second and where a step's
time goes. Prints JSON.

One step is what `ReconstructionTask` does per batch (forward, the loss with its pitch and
descriptor terms, backward, gradient clipping, AdamW), timed without Lightning's bookkeeping.
The breakdown times each part *forward and backward* on its own, from leaf tensors:
data loading, encoder (+ bottleneck), decoder controls, harmonic synth, filtered noise, the
reconstruction loss (multi-resolution STFT), the pitch/descriptor terms and the optimizer.
Their sum is close to the full step (medians of separate runs, so not exactly).

The machine is shared, so compare variants in the same run of the shell (alternate A/B) and
read the ratio. `--baseline SRC` runs the same measurement on another checkout's `src`
directory (e.g. `git archive HEAD src | tar -x -C /tmp/base`) in a subprocess, interleaved
with this one, and reports the speed-up:

    python benchmarks/train_speed.py --data /tmp/hydrogen_cache
    python benchmarks/train_speed.py --data /tmp/hydrogen_cache --baseline /tmp/base/src
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HYDROGEN = "/usr/share/hydrogen/data/drumkits"


def _median_ms(values: list[float]) -> float:
    return round(1000 * statistics.median(values), 1)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Steps/second and the component breakdown (ms, medians) of this checkout."""
    import numpy as np
    import torch

    from timbrespace.audio.synth import filtered_noise, harmonic_synth
    from timbrespace.cli import parse_overrides
    from timbrespace.data.cache import SoundCache
    from timbrespace.data.split import split_cache
    from timbrespace.models.base import build_model, resolve_config
    from timbrespace.train.config import train_config
    from timbrespace.train.dataset import ClipDataset
    from timbrespace.train.targets import DescriptorTargets
    from timbrespace.train.task import ReconstructionTask, f0_loss

    if args.threads:
        torch.set_num_threads(args.threads)
    else:  # what `train` would choose (checkouts from before the thread policy: torch's default)
        try:
            from timbrespace.train.callbacks import training_threads
        except ImportError:
            pass
        else:
            torch.set_num_threads(training_threads())
    torch.manual_seed(0)
    cache = SoundCache(args.data)
    overrides = parse_overrides(args.train_set)
    config = train_config(args.preset, **overrides)
    names = [n for n in config.head_descriptors if n in cache.descriptor_names]
    split = split_cache(cache, config.val_fraction, config.seed)
    columns = np.stack([cache.descriptor(n) for n in names], axis=1)
    targets = DescriptorTargets.fit(names, columns[split.train])
    data_fields = {
        "sample_rate": cache.sample_rate,
        "channels": cache.channels,
        "clip_samples": cache.clip_samples,
        "n_descriptors": len(names),
    }
    model_config = resolve_config(
        "oneshot", args.preset, {**data_fields, **parse_overrides(args.set)}
    )
    model = build_model("oneshot", model_config).train()
    f0_curves = np.asarray(cache.curves[:, cache.descriptor_names.index("f0")])
    dataset = ClipDataset(
        cache, split.train, targets.transform(columns)[split.train], f0_curves[split.train]
    )
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=config.batch_size, shuffle=True, drop_last=True
    )
    task = ReconstructionTask(model, config, descriptor_hop=int(cache.config["hop_length"]))
    optimizer = task.configure_optimizers()["optimizer"]
    batches = iter(loader)

    def next_batch() -> dict[str, torch.Tensor]:
        nonlocal batches
        try:
            return next(batches)
        except StopIteration:
            batches = iter(loader)
            return next(batches)

    def optimize(loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.gradient_clip)
        optimizer.step()

    def full_step() -> None:
        optimize(task._losses(next_batch())["loss"])

    times: dict[str, list[float]] = {}

    def timed(name: str, function: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        result = function()
        times.setdefault(name, []).append(time.perf_counter() - start)
        return result

    def leaf(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.detach().requires_grad_(True)

    decoder = model.decoder

    def components() -> None:
        batch = timed("data", next_batch)
        x = batch["audio"]
        timed("encoder", lambda: model.bottleneck(model._features(x)).z.square().sum().backward())
        with torch.no_grad():
            z = model.bottleneck(model._features(x)).z[..., 0]
        timed("controls", lambda: _controls_backward(decoder, leaf(z)))
        with torch.no_grad():
            controls = decoder.controls(z)
        b, c, frames = controls.f0.shape
        f0 = controls.f0.reshape(b * c, frames)
        harmonics = leaf(controls.harmonics.reshape(b * c, -1, frames))
        noise = leaf(controls.noise.reshape(b * c, -1, frames))
        timed(
            "harmonic_synth",
            lambda: (
                harmonic_synth(
                    f0,
                    harmonics,
                    sample_rate=decoder.sample_rate,
                    samples=decoder.clip_samples,
                    hop=decoder.hop,
                )
                .square()
                .sum()
                .backward()
            ),
        )
        timed(
            "filtered_noise",
            lambda: (
                filtered_noise(noise, samples=decoder.clip_samples, hop=decoder.hop)
                .square()
                .sum()
                .backward()
            ),
        )
        with torch.no_grad():
            audio = decoder.render(controls)
        timed("stft_loss", lambda: task.reconstruction(leaf(audio), x)["loss"].backward())
        pitch = leaf(controls.f0)
        timed(
            "f0_loss",
            lambda: f0_loss(
                pitch, decoder.hop, batch["f0_curve"], task.descriptor_hop, controls.base_pitch
            ).backward(),
        )
        for parameter in model.parameters():
            parameter.grad = torch.randn_like(parameter) * 1e-3
        timed("optimizer", lambda: _clip_and_step(model, optimizer, config.gradient_clip))
        optimizer.zero_grad(set_to_none=True)

    for _ in range(args.warmup):
        full_step()
    step_times: list[float] = []
    for _ in range(args.steps):
        timed("step", full_step)
        step_times.append(times["step"][-1])
    if args.breakdown:
        for _ in range(args.breakdown):
            components()
    breakdown = {name: _median_ms(values) for name, values in times.items() if name != "step"}
    return {
        "source": str(Path(sys.modules["timbrespace"].__file__ or "").parent.parent),
        "threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
        "batch_size": config.batch_size,
        "step_ms_median": _median_ms(step_times),
        "steps_per_second": round(1 / statistics.median(step_times), 3),
        "breakdown_ms": breakdown,
        "breakdown_sum_ms": round(sum(breakdown.values()), 1),
    }


def _controls_backward(decoder: Any, z: Any) -> None:
    controls = decoder.controls(z)
    total = controls.f0.log().square().sum() + controls.harmonics.sum() + controls.noise.sum()
    total.backward()


def _clip_and_step(model: Any, optimizer: Any, clip: float) -> None:
    import torch

    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()


def _run_baseline(args: argparse.Namespace, source: str) -> dict[str, Any]:
    """The same measurement with `source` first on the import path, in a fresh process."""
    command = [sys.executable, __file__, "--worker", *_forwarded(args)]
    env = {**os.environ, "PYTHONPATH": source}
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(output)


def _forwarded(args: argparse.Namespace) -> list[str]:
    options = [
        f"--data={args.data}",
        f"--preset={args.preset}",
        f"--steps={args.steps}",
        f"--warmup={args.warmup}",
        f"--breakdown={args.breakdown}",
        f"--threads={args.threads}",
    ]
    options += [f"--set={item}" for item in args.set]
    options += [f"--train-set={item}" for item in args.train_set]
    return options


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="prepared cache (default: hydrogen, 1 s)")
    parser.add_argument("--work", default="/tmp/timbrespace-quality")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--steps", type=int, default=8, help="timed full steps per round")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--breakdown", type=int, default=3, help="component rounds (0: none)")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads (0: as `train` chooses them)"
    )
    parser.add_argument("--rounds", type=int, default=1, help="A/B rounds with --baseline")
    parser.add_argument("--baseline", default=None, help="another checkout's src directory")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--train-set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.data is None:
        from timbrespace.data.prepare import PrepareConfig, prepare_dataset

        args.data = str(Path(args.work) / "cache")
        prepare_dataset(HYDROGEN, args.data, PrepareConfig(sample_rate=44100, length=1.0))
    if args.worker:
        print(json.dumps(measure(args)))
        return
    if args.baseline is None:
        print(json.dumps({"benchmark": "train_speed", **measure(args)}, indent=2))
        return
    here = str(Path(__file__).resolve().parent.parent / "src")
    runs: dict[str, list[dict[str, Any]]] = {"current": [], "baseline": []}
    for _ in range(args.rounds):
        runs["baseline"].append(_run_baseline(args, args.baseline))
        runs["current"].append(_run_baseline(args, here))
    rates = {key: [r["steps_per_second"] for r in value] for key, value in runs.items()}
    ratios = [now / before for now, before in zip(rates["current"], rates["baseline"], strict=True)]
    result = {
        "benchmark": "train_speed",
        "steps_per_second": {key: statistics.median(value) for key, value in rates.items()},
        "speedup_per_round": [round(ratio, 2) for ratio in ratios],
        "speedup": round(statistics.median(ratios), 2),
        "runs": runs,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
