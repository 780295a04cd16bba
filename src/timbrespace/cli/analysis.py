"""Analysis verbs: `analyze`, `plot`, `nearest`, `eval`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from timbrespace.cli.common import add_bool, add_verb, print_json
from timbrespace.cli.control import add_start_and_settings, moved_start

if TYPE_CHECKING:
    from timbrespace.analyze import AnalysisReport


def run_analyze(args: argparse.Namespace) -> int:
    from timbrespace.analyze import CustomControlSpec, analyze_bundle

    specs = [CustomControlSpec.parse(text) for text in args.control or []]
    print_analysis(analyze_bundle(args.run, args.data, custom=specs), as_json=args.json)
    return 0


def _rounded(value: float, digits: int) -> float | None:
    return None if value != value else round(value, digits)


def print_analysis(report: AnalysisReport, *, as_json: bool = False) -> None:
    """Print what `analyze_bundle` stored: a summary, as JSON or one line per probe."""
    probes = {
        probe.name: {
            "unit": probe.unit,
            "scale": probe.scale,
            "r2_heldout": _rounded(probe.r2_heldout, 3),
        }
        for probe in report.probes
    }
    pitch_r2 = None if report.model_pitch is None else _rounded(report.model_pitch.r2_heldout, 3)
    if as_json:
        print_json(
            {
                "bundle": str(report.bundle),
                "sounds": report.sounds,
                "pca_explained_variance_ratio": [
                    round(r, 4) for r in report.explained_variance_ratio[:8]
                ],
                "probes": probes,
                "packs": report.packs,
                "custom_controls": report.custom_controls,
                "model_pitch_r2": pitch_r2,
            }
        )
        return
    print(f"analysed {report.sounds} sounds → {report.bundle}/analysis.*")
    for name, probe in probes.items():
        print(f"  probe {name:<15} R² held-out {probe['r2_heldout']}")
    if report.model_pitch is not None:
        print(f"  model pitch readout R² vs measured f0 {pitch_r2}")


def run_plot(args: argparse.Namespace) -> int:
    from timbrespace.plots import plot_analysis
    from timbrespace.space import LatentSpace

    written = plot_analysis(LatentSpace.open(args.bundle).analysis, args.output)
    print_plots(written, args.output)
    return 0


def print_plots(written: Sequence[Path], output: str | Path) -> None:
    print(f"wrote {len(written)} figures to {output}: {', '.join(p.name for p in written)}")


def run_nearest(args: argparse.Namespace) -> int:
    space, z, origin = moved_start(args)
    neighbours = space.nearest(z, args.k)
    if args.json:
        print_json([item.__dict__ for item in neighbours])
        return 0
    print(f"nearest to {origin}" + (f" after {' '.join(args.set)}" if args.set else "") + ":")
    for item in neighbours:
        print(f"  {item.distance:8.4f}  {item.sound}  ({item.pack})")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from timbrespace.evaluation import evaluate

    print_json(evaluate(args.run, args.data, split=args.split, limit=args.limit))
    return 0


def add_parsers(verbs: argparse._SubParsersAction) -> None:
    sub = add_verb(
        verbs,
        "analyze",
        run_analyze,
        "Encode every cached sound; store latents, PCA, descriptor probes and pack directions "
        "in the bundle.",
        "  timbrespace analyze runs/kit\n  timbrespace analyze runs/kit/bundle --data cache/kit --json\n",
    )
    sub.add_argument("run", help="run or bundle folder")
    sub.add_argument("--data", default=None, help="cache (default: the one the model trained on)")
    sub.add_argument(
        "--control",
        action="append",
        metavar="NAME=A:B",
        help="custom control from two groups of sounds: 0 at group A, 1 at group B; groups are "
        "comma-separated globs over dataset paths or @list.txt (repeatable)",
    )
    add_bool(sub, "json", False, "print the summary as JSON")

    sub = add_verb(
        verbs,
        "plot",
        run_plot,
        "PNG figures of an analysed bundle: latent maps by pack and by each descriptor, "
        "explained variance, probe R².",
        "  timbrespace plot runs/kit -o figures/kit\n",
    )
    sub.add_argument("bundle", help="bundle folder (or run folder), analysed")
    sub.add_argument("-o", "--output", required=True, help="folder for the PNG files")

    sub = add_verb(
        verbs,
        "nearest",
        run_nearest,
        "The dataset sounds closest to a latent point: pick a point, load that sample.",
        "  timbrespace nearest runs/kit --from my_kick.wav -k 5\n"
        "  timbrespace nearest runs/kit --nearest kicks/808/kick_0000.wav --set pitch=+7st\n",
    )
    sub.add_argument("bundle", help="bundle folder (or run folder), analysed")
    add_start_and_settings(sub)
    sub.add_argument("-k", type=int, default=5, help="how many sounds (default 5)")
    add_bool(sub, "json", False, "print JSON")


def add_eval_parser(verbs: argparse._SubParsersAction) -> None:
    """`eval`, listed last in `timbrespace --help`."""
    sub = add_verb(
        verbs,
        "eval",
        run_eval,
        "Quality metrics of a model and a linear (PCA) baseline on a cache split, as JSON.",
        "  timbrespace eval runs/kit --data cache/samples --split val\n",
    )
    sub.add_argument("run", help="run or bundle folder")
    sub.add_argument("--data", required=True, help="cache folder (same sample rate as the model)")
    sub.add_argument("--split", default="val", choices=["val", "train", "all"])
    sub.add_argument("--limit", type=int, default=None, help="evaluate at most N clips")
