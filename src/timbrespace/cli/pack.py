"""`generate pack`: N variations of one sound written to a folder with descriptive names, at
44.1 or 48 kHz, 16- or 24-bit, with `pack.csv` of their control values — along chosen controls
(`--vary pitch=-3st:+3st:4`, a grid) or around the sound in the latent space (`--around 0.5
-n 16`). Everything goes through `timbrespace.pack`; this module only reads the command line
and prints."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING

from timbrespace.cli.common import (
    add_bool,
    check_output,
    gla_iterations,
    print_notices,
    writing,
)
from timbrespace.cli.options import positive_float, positive_int, seed
from timbrespace.errors import TimbrespaceError
from timbrespace.limits import PACK_BITS, PACK_RATES
from timbrespace.numbers import format_reading

if TYPE_CHECKING:
    from timbrespace.pack import PackItem
    from timbrespace.space import LatentSpace

AROUND_N = 16
"""Variations of an `--around` pack when -n is not given."""
SUMMARY = ("pitch", "brightness", "attack")
"""What each sound of an --around pack measures, printed as it is rendered."""


def run_pack(args: argparse.Namespace) -> int:
    """Check everything (options, folder, model, start, controls, counts) before rendering;
    render and measure every variation, then write the WAVs and pack.csv; print each sound
    as it is rendered and the folder at the end."""
    from timbrespace.pack import (
        PackRequest,
        check_pack_folder,
        plan_pack,
        render_pack,
        write_pack,
    )
    from timbrespace.space import LatentSpace

    out = check_output(args.output, "-o", "folder")
    check_pack_folder(out, force=args.force)
    if args.vary and args.n is not None:
        raise TimbrespaceError(
            "-n: a --vary pack has one sound per point of its grid (the product of its STEPS); "
            "-n is for --around"
        )
    sound = args.sound
    request = PackRequest(
        sound=int(sound) if sound is not None and sound.isdigit() else sound,
        source=args.source_file,
        stem=args.name,
        vary=tuple(args.vary or ()),
        around=args.around,
        n=AROUND_N if args.n is None else args.n,
        seed=args.seed,
        rate=args.rate,
        bits=args.bits,
        lock=tuple(args.lock or ()),
        extrapolate=args.extrapolate,
        closed_loop=args.closed_loop,
        gla_iters=args.gla_iters,
    )
    space = LatentSpace.open(args.bundle)
    plan = plan_pack(space, request)
    print_notices(plan.warnings)
    how = " × ".join(request.vary) if request.vary else f"around it, radius {request.around:g}"
    print(f"{len(plan.variations)} variations of {plan.origin} ({how}):")

    def show(done: int, total: int, item: PackItem) -> None:
        print(f"  {done:{len(str(total))}d}/{total}  {item.file}{_readings(space, item)}")
        print_notices([f"{item.file}: {warning}" for warning in item.warnings])

    items = render_pack(space, request, plan=plan, progress=show)
    with writing(out):
        write_pack(space, items, out, request)
    print(f"wrote {len(items)} sounds ({request.rate} Hz, {request.bits}-bit WAV) and pack.csv")
    print(out)
    return 0


def _readings(space: LatentSpace, item: PackItem) -> str:
    """`  pitch 415 Hz (G#4 -1c), brightness 1.2 kHz`: what the varied controls measure (or read
    from the latent); for an --around pack, the `SUMMARY` controls."""
    parts = []
    for name in item.offsets or [n for n in SUMMARY if n in item.measured]:
        value = item.values.get(name, math.nan)
        if math.isfinite(value):
            pitch = space.descriptor_of(name) == "f0"
            parts.append(f"{name} {format_reading(value, space.controls[name].unit, pitch=pitch)}")
    return "  " + ", ".join(parts) if parts else ""


def add_pack_parser(actions: argparse._SubParsersAction) -> None:
    """The `pack` action of `generate` (run by `run_pack`)."""
    pack = actions.add_parser(
        "pack",
        help="N variations of one sound into a folder (a sample pack), with pack.csv",
        description="Render variations of one sound into a folder: along controls (--vary, "
        "repeatable: a grid of every combination; values in the syntax of `generate control "
        "--set`, offsets step evenly in the unit typed, absolute values on the control's "
        "scale) or around it in the latent space (--around RADIUS, in per-axis standard "
        "deviations of the training latents, -n directions). Files are named after the sound "
        "and its offsets (kick_pitch+3st_brightness+20pct.wav, kick_around03.wav), resampled "
        "to --rate with soxr; pack.csv holds every control's value, measured on the rendered "
        "sound where a descriptor measures it. Needs `timbrespace analyze` first.",
    )
    pack.add_argument("bundle", help="bundle folder (or run folder)")
    start = pack.add_mutually_exclusive_group(required=True)
    start.add_argument(
        "--sound",
        "--nearest",
        dest="sound",
        metavar="NAME_OR_INDEX",
        help="a dataset sound of the analysis: its index, path or a unique end of it",
    )
    start.add_argument(
        "--from",
        dest="source_file",
        metavar="FILE",
        help="an audio file, or a latent saved by `generate encode` (.safetensors)",
    )
    how = pack.add_mutually_exclusive_group(required=True)
    how.add_argument(
        "--vary",
        action="append",
        metavar="NAME=START:STOP:STEPS",
        help="vary a control (repeatable), e.g. pitch=-3st:+3st:4, brightness=-20%%:+20%%:3",
    )
    how.add_argument(
        "--around",
        type=positive_float,
        metavar="RADIUS",
        help="random directions at this distance (per-axis standard deviations, e.g. 0.5)",
    )
    pack.add_argument(
        "-n", type=positive_int, help=f"variations of an --around pack (default {AROUND_N})"
    )
    pack.add_argument("--seed", type=seed, default=0, help="seed of --around's directions")
    pack.add_argument("--name", help="stem of the file names (default: the sound's)")
    pack.add_argument(
        "--rate", type=int, choices=PACK_RATES, default=44100, help="Hz (default 44100)"
    )
    pack.add_argument(
        "--bits", type=int, choices=PACK_BITS, default=24, help="WAV bits (default 24)"
    )
    pack.add_argument("--lock", nargs="+", metavar="NAME", help="controls to keep in place")
    add_bool(pack, "extrapolate", False, "allow values outside the data's range (else clamp)")
    add_bool(
        pack,
        "closed-loop",
        None,
        "render, measure and correct each --vary sound until it measures what was asked "
        "(default: the model's, on for one-shots)",
    )
    pack.add_argument(
        "--gla-iters",
        type=gla_iterations,
        help="Griffin-Lim iterations of a spectral model (default: the model's)",
    )
    add_bool(pack, "force", False, "write into a folder that is not empty (same names replaced)")
    pack.add_argument("-o", "--output", required=True, help="output folder")
