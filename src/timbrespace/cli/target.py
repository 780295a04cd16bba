"""`generate target`: a codebook model (the vq family) made to follow descriptor curves — from a
formula (`--curve centroid=sine:800:4000:2`), a CSV, or another sound (`--like`)."""

from __future__ import annotations

import argparse
import csv
import io
import math
from pathlib import Path

from timbrespace.atomic import write_bytes_atomic
from timbrespace.cli.common import check_output, gla_iterations, print_notices, save_sounds
from timbrespace.errors import TimbrespaceError
from timbrespace.numbers import parse_number

LIKE_DEFAULT = "f0,loudness,centroid"


def parse_weights(texts: list[str]) -> dict[str, float]:
    """`--weight centroid=2` (repeatable) → {"centroid": 2.0}."""
    weights = {}
    for text in texts:
        name, sep, value = text.partition("=")
        if not sep or not name.strip():
            raise TimbrespaceError(f"--weight {text!r}: expected NAME=WEIGHT, e.g. centroid=2")
        weights[name.strip()] = parse_number(value, f"weight of {name.strip()}", "--weight")
    return weights


def _targets(args: argparse.Namespace, bundle, codebook) -> tuple[dict, float]:  # noqa: ANN001
    from timbrespace.codebook_play import (
        csv_targets,
        formula_targets,
        like_targets,
        target_frames,
    )

    if not (args.curve or args.csv or args.like):
        raise TimbrespaceError("give at least one --curve, a --csv or a --like sound")
    seconds = args.seconds
    if seconds is None and args.like:
        from timbrespace.audio.io import audio_info

        seconds = audio_info(args.like).duration
    seconds = 4.0 if seconds is None else seconds
    frames = target_frames(bundle.model, seconds)
    targets: dict = {}
    if args.like:
        names = [n.strip() for n in args.like_descriptors.split(",") if n.strip()]
        targets.update(like_targets(bundle, args.like, names, frames))
    if args.csv:
        targets.update(csv_targets(args.csv, codebook, frames, seconds))
    if args.curve:
        targets.update(formula_targets(args.curve, codebook, frames))
    return targets, seconds


def _curves_csv(render, hop_seconds: float) -> bytes:  # noqa: ANN001
    """frame, time (s), code, and per descriptor: target, code value, measured."""
    names = list(render.selection.targets)
    out = io.StringIO()
    writer = csv.writer(out)
    header = ["frame", "time", "code"]
    for name in names:
        header += [f"{name}_target", f"{name}_code", f"{name}_measured"]
    writer.writerow(header)
    for i, code in enumerate(render.selection.codes):
        row: list[object] = [i, f"{i * hop_seconds:.4f}", int(code)]
        for name in names:
            for curve in (
                render.selection.targets[name],
                render.selection.predicted[name],
                render.measured[name],
            ):
                value = float(curve[i])
                row.append("" if math.isnan(value) else f"{value:.4g}")
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


def run_target(args: argparse.Namespace) -> int:
    from timbrespace.bundle import load_bundle
    from timbrespace.codebook_play import bundle_codebook, error_unit, follow_targets
    from timbrespace.space import LatentSpace

    output = check_output(args.output, "-o", "audio")
    space = LatentSpace.open(args.bundle, analysis=False)
    bundle = load_bundle(space.bundle.path)
    codebook = bundle_codebook(bundle, "generate target")
    targets, seconds = _targets(args, bundle, codebook)
    render = follow_targets(
        bundle,
        targets,
        weights=parse_weights(args.weight),
        method=args.method,
        smoothness=args.smoothness,
        gla_iters=args.gla_iters,
        codebook=codebook,
    )
    print_notices(render.selection.notices)
    save_sounds(space, [render.audio.numpy()], str(output), [output.stem])
    if args.curves:
        hop_seconds = bundle.model.hop_length / bundle.model.sample_rate
        csv_path = output.with_suffix(".csv")
        write_bytes_atomic(csv_path, _curves_csv(render, hop_seconds))
        print(f"wrote {csv_path} (target, code and measured curves per frame)")
    changes = int((render.selection.codes[1:] != render.selection.codes[:-1]).sum())
    print(
        f"{args.method}: {render.selection.codes.size} frames ({seconds:g} s), "
        f"{len(set(render.selection.codes.tolist()))} codes, {changes} code changes, "
        f"selected in {1000 * render.selection.seconds:.0f} ms"
    )
    for name, numbers in render.tracking.items():
        print(
            f"  {name}: measured vs target r = {numbers['r']:.3f}, median error "
            f"{numbers['median_error']:.3g} {error_unit(name)}"
        )
    return 0


def add_target_parser(actions: argparse._SubParsersAction) -> None:
    target = actions.add_parser(
        "target",
        help="a codebook model following descriptor curves (centroid, f0, loudness, ...)",
        description="Choose one code of a codebook model (train --model vq, then analyze) per "
        "frame so that the sound follows target descriptor curves, and render it. Curves: "
        "NAME=SHAPE:ARGS in the descriptor's unit (Hz, dB), SHAPE one of const:V, ramp:A:B, "
        "log:A:B, exp:A:B, sine:LOW:HIGH:CYCLES[:PHASE], steps:V1,V2,...; or a CSV "
        "(time,<descriptor>,...); or the curves of another sound (--like). A target beyond "
        "what the codebook renders is clamped, with a notice giving the range.",
    )
    target.add_argument("bundle", help="bundle folder (or run folder) of a vq model")
    target.add_argument(
        "--curve", action="append", default=[], help="e.g. centroid=sine:800:4000:2 (repeatable)"
    )
    target.add_argument("--csv", help="curves from a CSV file: time,<descriptor>,...")
    target.add_argument("--like", help="follow the descriptor curves of this sound")
    target.add_argument(
        "--like-descriptors",
        default=LIKE_DEFAULT,
        help=f"which of --like's curves to follow (default {LIKE_DEFAULT})",
    )
    target.add_argument(
        "--weight", action="append", default=[], help="NAME=W: a curve's weight (default 1)"
    )
    target.add_argument(
        "--seconds", type=float, help="length (default 4 s, or the --like sound's length)"
    )
    target.add_argument(
        "--method",
        choices=("dp", "greedy"),
        default="dp",
        help="dp: dynamic programming with learned transitions (default); greedy: nearest "
        "code per frame (seed 001's way)",
    )
    target.add_argument(
        "--smoothness",
        type=float,
        default=1.0,
        help="weight of dp's transition cost: learned code-to-code statistics and the spectral "
        "jump of each change (0: follow the target only, as greedy; default 1)",
    )
    target.add_argument(
        "--gla-iters", type=gla_iterations, help="Griffin-Lim iterations (default: the model's)"
    )
    target.add_argument(
        "--curves",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also write OUT.csv with the target, code and measured curves (default on)",
    )
    target.add_argument("-o", "--output", required=True, type=Path, help="output WAV")
