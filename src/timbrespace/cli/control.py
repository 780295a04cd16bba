"""Named controls from the command line: the start point (`--from`, `--nearest`, `--random`),
`--set` / `--lock` moves, and what `generate control` renders (one sound, or a `--sweep`).
Shared by `generate control`, the `nearest` verb and `demo`; everything goes through
`LatentSpace`."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from timbrespace.cli.common import add_bool, print_notices
from timbrespace.numbers import format_pitch, format_quantity

if TYPE_CHECKING:
    import torch

    from timbrespace.space import LatentSpace

SETTING_NAME = re.compile(r"^\s*(?P<name>[^=]+?)\s*[+-]?=")
"""The control name of a setting like `pitch=+3st` or `decay+=20%` (already checked by
`LatentSpace.move`)."""


def add_start_and_settings(parser: argparse.ArgumentParser) -> None:
    start = parser.add_mutually_exclusive_group(required=True)
    start.add_argument("--from", dest="source_file", help="start from this audio file")
    start.add_argument("--nearest", help="start from this dataset sound (PACK/.../NAME.wav)")
    start.add_argument("--random", action="store_true", help="start from a random point")
    parser.add_argument("--seed", type=int, default=0, help="seed for --random")
    parser.add_argument(
        "--set", nargs="+", metavar="NAME=VALUE", help="e.g. pitch=+3st attack=0.01s"
    )
    parser.add_argument("--lock", nargs="+", metavar="NAME", help="controls to keep where they are")
    add_bool(parser, "extrapolate", False, "allow values outside the data's range (else clamp)")


def start_point(args: argparse.Namespace, space: LatentSpace) -> tuple[torch.Tensor, str]:
    """The latent to start from (--from FILE, --nearest SOUND or --random) and its description."""
    if args.source_file:
        return space.encode_file(args.source_file), args.source_file
    if args.nearest:
        return space.sound_latent(args.nearest), args.nearest
    return space.random_latents(1, seed=args.seed), f"random point (seed {args.seed})"


def move(
    space: LatentSpace,
    z: torch.Tensor,
    settings: Sequence[str],
    *,
    lock: Sequence[str] = (),
    extrapolate: bool = False,
) -> torch.Tensor:
    """`z` moved by `settings` with `lock`ed controls kept; notices go to stderr."""
    result = space.move(z, list(settings), lock=list(lock), extrapolate=extrapolate)
    print_notices(result.warnings)
    return cast("torch.Tensor", result.z_new)  # the type of `z`


def moved_start(args: argparse.Namespace) -> tuple[LatentSpace, torch.Tensor, str]:
    """Open the space, pick the start point and apply --set/--lock.
    Returns (space, moved latent, description of the start)."""
    from timbrespace.space import LatentSpace

    space = LatentSpace.open(args.bundle)
    z, origin = start_point(args, space)
    moved = move(space, z, args.set or [], lock=args.lock or [], extrapolate=args.extrapolate)
    return space, moved, origin


def print_neighbours(space: LatentSpace, z: torch.Tensor, k: int) -> None:
    print("closest dataset sounds:")
    for item in space.nearest(z, k):
        print(f"  {item.distance:8.4f}  {item.sound}  ({item.pack})")


def run_control(args: argparse.Namespace) -> int:
    """`generate control`: move the start point along named controls and render it (or sweep)."""
    from timbrespace.audio.io import save_audio

    space, z, origin = moved_start(args)
    if args.sweep:
        write_sweep(
            space,
            z,
            origin,
            args.sweep,
            args.output,
            lock=args.lock or [],
            extrapolate=args.extrapolate,
        )
        return 0
    audio = space.render(z)[0]
    save_audio(args.output, audio, space.sample_rate)
    measured = space.measure(audio)
    values = space.control_values(z)
    print(f"from {origin}:")
    for setting in args.set or []:
        match = SETTING_NAME.match(setting)
        name = match["name"] if match else setting
        unit = space.controls[name].unit
        descriptor = space.descriptor_of(name)
        show = _formatter(descriptor, unit)
        line = f"  {name}: requested {setting}, latent reads {show(values[name])}"
        if descriptor is not None:
            line += f", rendered audio measures {show(measured.value(descriptor))}"
        print(line)
    print_neighbours(space, z, 3)
    print(f"wrote {args.output}")
    return 0


def write_sweep(
    space: LatentSpace,
    z: torch.Tensor,
    origin: str,
    sweep_text: str,
    output: str | Path,
    *,
    lock: Sequence[str] = (),
    extrapolate: bool = False,
) -> None:
    """Render `sweep_text` (e.g. `pitch=-12st:+12st:9`) from `z` into the folder `output`: one
    WAV per step, `contact_sheet.png` and `sweep.json`."""
    from timbrespace.atomic import write_json_atomic
    from timbrespace.audio.io import save_audio
    from timbrespace.plots import contact_sheet, save_figure

    out = Path(output)
    sweep = space.sweep(z, sweep_text, lock=list(lock), extrapolate=extrapolate)
    print_notices(sweep.warnings)
    files = []
    print(f"sweep of {sweep.name} from {origin}:")
    for i, (audio, requested, measured) in enumerate(
        zip(sweep.audio, sweep.requested, sweep.measured, strict=True)
    ):
        path = save_audio(
            out / f"{sweep.name.replace(':', '_')}_{i + 1:02d}.wav", audio, space.sample_rate
        )
        files.append(path.name)
        show = _formatter(sweep.descriptor, sweep.unit)
        line = f"  {i + 1:2d}  requested {show(requested)}"
        if sweep.descriptor:
            line += f"  measured {sweep.descriptor} {show(measured)}"
        print(line)
    sheet = save_figure(contact_sheet(sweep, space.sample_rate), out / "contact_sheet.png")
    write_json_atomic(
        out / "sweep.json",
        {
            "control": sweep.name,
            "from": origin,
            "descriptor": sweep.descriptor,
            "unit": sweep.unit,
            "requested": sweep.requested,
            "measured": [v if v == v else None for v in sweep.measured],
            "files": files,
        },
    )
    print(f"wrote {len(files)} sounds, {sheet.name} and sweep.json to {out}")


def add_control_parser(actions: argparse._SubParsersAction) -> None:
    """The `control` action of `generate` (run by `run_control`)."""
    ctl = actions.add_parser(
        "control",
        help="move a sound along named controls (PCA axes, descriptors, packs, custom)",
        description="Start from a file, a dataset sound or a random point, set controls by the "
        "minimum-norm constrained move, decode. Needs `timbrespace analyze` first. Examples: "
        "--set pitch=+3st attack=0.005s pca1=1.5 'pack:kicks=1'; "
        "--sweep pitch=-12st:+12st:9 -o sweep_dir (WAVs, contact_sheet.png, sweep.json)",
    )
    ctl.add_argument("bundle", help="bundle folder (or run folder)")
    add_start_and_settings(ctl)
    ctl.add_argument(
        "--sweep",
        metavar="NAME=START:STOP:STEPS",
        help="render STEPS sounds from START to STOP (e.g. pitch=-12st:+12st:9); -o is a folder",
    )
    ctl.add_argument("-o", "--output", required=True, help="output WAV (a folder with --sweep)")


def _formatter(descriptor: str | None, unit: str) -> Callable[[float], str]:
    """How a control's values print: pitches with their note name, the rest in their unit."""
    if descriptor == "f0" and unit == "Hz":
        return format_pitch
    return lambda value: format_quantity(value, unit)
