"""Analysis verbs: `analyze`, `controls`, `plot`, `nearest`, `eval`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from timbrespace.cli.common import add_bool, add_verb, check_output, print_json, writing
from timbrespace.cli.control import add_start_and_settings, moved_start
from timbrespace.cli.options import positive_int
from timbrespace.numbers import format_quantity

if TYPE_CHECKING:
    from timbrespace.analyze import AnalysisReport
    from timbrespace.space import LatentSpace


def run_analyze(args: argparse.Namespace) -> int:
    from timbrespace.analyze import CustomControlSpec, analyze_bundle
    from timbrespace.bundle import bundle_dir

    specs = [CustomControlSpec.parse(text) for text in args.control or []]
    check_output(bundle_dir(args.run), "RUN", "folder")  # the analysis is written into the bundle
    report = analyze_bundle(args.run, args.data, custom=specs, calibrate=args.calibrate)
    print_analysis(report, as_json=args.json)
    return 0


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None or value != value else round(value, digits)


def _user_range(span: Sequence[float] | None, scale: str) -> list[float] | None:
    """A range on a descriptor's scale → its unit (Hz, s, …), 4 significant digits."""
    if span is None:
        return None
    import numpy as np

    from timbrespace.audio.descriptors import from_scale

    return [float(f"{v:.4g}") for v in from_scale(np.asarray(span, dtype=np.float64), scale)]


def _probe_summary(probe: Any, calibration: Any) -> dict[str, Any]:
    """What `analyze` reports of one probe (a `LinearProbe` and its `Calibration` or None): R² against the original sounds and against what the
    decoder renders, what moves along it render, its rendered range (in its unit), weak."""
    summary: dict[str, Any] = {
        "unit": probe.unit,
        "scale": probe.scale,
        "r2_heldout": _rounded(probe.r2_heldout, 3),
    }
    if calibration is not None:
        summary |= {
            "r2_original": _rounded(calibration.r2_original, 3),
            "r2_decoded": _rounded(calibration.r2_decoded, 3),
            "gain": _rounded(calibration.gain, 3),
            "spearman": _rounded(calibration.spearman, 3),
            "rendered_range": _user_range(calibration.rendered_range, probe.scale),
            "weak": calibration.weak,
        }
    return summary


def print_analysis(report: AnalysisReport, *, as_json: bool = False) -> None:
    """Print what `analyze_bundle` stored: a summary, as JSON or one line per probe."""
    probes = {
        probe.name: _probe_summary(probe, report.calibration.get(probe.name))
        for probe in report.probes
    }
    pitch = None
    if report.model_pitch is not None:
        pitch = _probe_summary(report.model_pitch, report.calibration.get("model_pitch"))
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
                "model_pitch_r2": None if pitch is None else pitch["r2_heldout"],
                "model_pitch": pitch,
                "decoded": report.decoded,
                "seconds": round(report.seconds, 1),
                "calibration_seconds": round(report.calibration_seconds, 1),
            }
        )
        return
    print(f"analysed {report.sounds} sounds → {report.bundle}/analysis.*")
    if report.decoded:
        print(
            f"calibrated on {report.decoded} decoded sounds in {report.calibration_seconds:.1f} s "
            f"(analysis {report.seconds:.1f} s); R² held out, vs the original sounds → vs what "
            "the decoder renders; 'renders': change rendered / change requested along the probe"
        )
    for name, probe in probes.items():
        print(f"  probe {name:<15} {_probe_line(probe)}")
    if pitch is not None:
        print(f"  model pitch readout R² vs measured f0 {pitch['r2_heldout']}", end="")
        print(f"; {_probe_line(pitch, original=False)}" if "r2_decoded" in pitch else "")


def _probe_line(probe: dict[str, Any], *, original: bool = True) -> str:
    if "r2_decoded" not in probe:
        return f"R² held-out {probe['r2_heldout']}"
    start = (
        f"R² {probe['r2_original']} → {probe['r2_decoded']}"
        if original
        else (f"vs decoded f0 {probe['r2_decoded']}")
    )
    gain = "?" if probe["gain"] is None else f"{round(100 * probe['gain'])} %"
    line = f"{start}, renders {gain} (ρ {probe['spearman']})"
    if probe["rendered_range"] is not None:
        low, high = probe["rendered_range"]
        line += f", renders {format_quantity(low)}…{format_quantity(high, probe['unit'])}"
    if probe["weak"]:
        line += f"  WEAK: {probe['weak']}"
    return line


def run_controls(args: argparse.Namespace) -> int:
    from timbrespace.space import LatentSpace

    space = LatentSpace.open(args.bundle)
    rows = [control_row(space, name) for name in space.controls]
    if args.json:
        print_json(rows)
        return 0
    print(f"controls of {space.bundle.path} (range: what the decoder renders, else the data's):")
    for row in rows:
        span = "—"
        if row["range"] is not None:
            low, high = row["range"]
            span = f"{format_quantity(low)}…{format_quantity(high, row['unit'])}"
            span += " (rendered)" if row["rendered"] else " (data)"
        line = f"  {row['name']:<16} {row['kind']:<10} {span}"
        if row["gain"] is not None:
            line += f"  renders {round(100 * row['gain'])} %"
        if row["weak"]:
            line += f"  WEAK: {row['weak']}"
        print(line)
    weak = [row["name"] for row in rows if row["weak"]]
    if weak:
        print(f"{len(weak)} weak control(s), offered but unreliable: {', '.join(weak)}")
    return 0


def control_row(space: LatentSpace, name: str) -> dict[str, Any]:
    """One control as `timbrespace controls` lists it: kind, unit, range in its unit (rendered
    or data), and for a calibrated descriptor control its decoded R², gain and weak reason."""
    control = space.controls[name]
    analysis = space.analysis
    key = space.descriptor_of(name)
    if name == "pitch" and analysis.model_pitch is not None:
        key = "model_pitch"
    calibration = None if key is None else analysis.calibration.get(key)
    span = None
    if control.range is not None:
        span = sorted(float(f"{control.to_user(v):.4g}") for v in control.range)
    return {
        "name": name,
        "kind": space.control_kind(name),
        "unit": control.unit,
        "range": span,
        "rendered": control.rendered,
        "r2_decoded": None if calibration is None else _rounded(calibration.r2_decoded, 3),
        "gain": None if calibration is None else _rounded(calibration.gain, 3),
        "weak": control.weak,
    }


def run_plot(args: argparse.Namespace) -> int:
    from timbrespace.codebook_play import bundle_codebook
    from timbrespace.plots import plot_analysis, plot_codebook
    from timbrespace.space import LatentSpace

    check_output(args.output, "-o", "folder")
    space = LatentSpace.open(args.bundle)
    codebook = bundle_codebook(space.bundle, "plot") if space.model.codebook else None
    with writing(args.output):
        written = plot_analysis(space.analysis, args.output)
        if codebook is not None:
            written += plot_codebook(codebook, args.output)
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
        job="batch",
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
    add_bool(
        sub,
        "calibrate",
        True,
        "fit descriptor controls on decoded audio and measure the range the model renders "
        "(--no-calibrate: on the original sounds, data ranges; faster)",
    )
    add_bool(sub, "json", False, "print the summary as JSON")

    sub = add_verb(
        verbs,
        "controls",
        run_controls,
        "List an analysed bundle's controls: kind, unit, the range the model renders, how much "
        "of a requested change it renders, and the weak ones with the reason.",
        "  timbrespace controls runs/kit\n  timbrespace controls runs/kit --json\n",
    )
    sub.add_argument("bundle", help="bundle folder (or run folder), analysed")
    add_bool(sub, "json", False, "print JSON")

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
        job="render",
    )
    sub.add_argument("bundle", help="bundle folder (or run folder), analysed")
    add_start_and_settings(sub)
    sub.add_argument("-k", type=positive_int, default=5, help="how many sounds (default 5)")
    add_bool(sub, "json", False, "print JSON")


def add_eval_parser(verbs: argparse._SubParsersAction) -> None:
    """`eval`, listed last in `timbrespace --help`."""
    sub = add_verb(
        verbs,
        "eval",
        run_eval,
        "Quality metrics of a model and a linear (PCA) baseline on a cache split, as JSON.",
        "  timbrespace eval runs/kit --data cache/samples --split val\n",
        job="batch",
    )
    sub.add_argument("run", help="run or bundle folder")
    sub.add_argument("--data", required=True, help="cache folder (same sample rate as the model)")
    sub.add_argument("--split", default="val", choices=["val", "train", "all"])
    sub.add_argument("--limit", type=positive_int, default=None, help="evaluate at most N clips")
