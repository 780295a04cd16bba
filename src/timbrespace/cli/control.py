"""Named controls from the command line: the start point (`--from`, `--nearest`, `--random`),
`--set` / `--lock` moves, and what `generate control` renders (one sound with requested →
measured per control, or a `--sweep` whose steps at a limit are flagged).
Shared by `generate control`, the `nearest` verb and `demo`; everything goes through
`LatentSpace`."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from timbrespace.cli.common import (
    add_bool,
    check_output,
    gla_iterations,
    print_notices,
    refuse_nonfinite,
    render_named,
    writing,
)
from timbrespace.cli.options import seed
from timbrespace.numbers import format_pitch, format_quantity

if TYPE_CHECKING:
    import torch

    from timbrespace.space import LatentSpace, Move, SweepResult

SETTING_NAME = re.compile(r"^\s*(?P<name>[^=]+?)\s*[+-]?=")
"""The control name of a setting like `pitch=+3st` or `decay+=20%` (already checked by
`LatentSpace.move`)."""


def add_start_and_settings(parser: argparse.ArgumentParser) -> None:
    start = parser.add_mutually_exclusive_group(required=True)
    start.add_argument("--from", dest="source_file", help="start from this audio file")
    start.add_argument("--nearest", help="start from this dataset sound (PACK/.../NAME.wav)")
    start.add_argument("--random", action="store_true", help="start from a random point")
    parser.add_argument("--seed", type=seed, default=0, help="seed for --random, 0…2³²−1")
    parser.add_argument(
        "--set", nargs="+", metavar="NAME=VALUE", help="e.g. pitch=+3st attack=0.01s"
    )
    parser.add_argument("--lock", nargs="+", metavar="NAME", help="controls to keep where they are")
    add_bool(parser, "extrapolate", False, "allow values outside the data's range (else clamp)")
    add_bool(
        parser,
        "closed-loop",
        None,
        "render, measure and correct until the sound measures what was asked (default: on "
        "where the model renders fast, e.g. one-shots; --no-closed-loop moves open-loop)",
    )


def start_point(args: argparse.Namespace, space: LatentSpace) -> tuple[torch.Tensor, str]:
    """The latent to start from (--from FILE, --nearest SOUND or --random) and its description."""
    if args.source_file:
        return space.encode_file(args.source_file), args.source_file
    if args.nearest:
        return space.sound_latent(args.nearest), args.nearest
    return space.random_latents(1, seed=args.seed), f"random point (seed {args.seed})"


def moved_by(
    space: LatentSpace,
    z: torch.Tensor,
    settings: Sequence[str],
    *,
    lock: Sequence[str] = (),
    extrapolate: bool = False,
    closed_loop: bool | None = None,
    gla_iters: int | None = None,
) -> Move:
    """`LatentSpace.move` with its notices on stderr, and one for each weak control used."""
    for name in [*(_setting_name(s) for s in settings), *lock]:
        weak = space.controls[name].weak if name in space.controls else None
        if weak:
            print_notices([f"{name} is a weak control: {weak}"])
    result = space.move(
        z,
        list(settings),
        lock=list(lock),
        extrapolate=extrapolate,
        closed_loop=closed_loop,
        gla_iters=gla_iters,
    )
    print_notices(result.warnings)
    return result


def moved_start(args: argparse.Namespace) -> tuple[LatentSpace, torch.Tensor, str]:
    """Open the space, pick the start point and apply --set/--lock.
    Returns (space, moved latent, description of the start)."""
    space, _, moved, origin = settled_start(args)
    return space, moved.z_new, origin


def settled_start(args: argparse.Namespace) -> tuple[LatentSpace, torch.Tensor, Move, str]:
    """Open the space, pick the start point and move it by --set/--lock (closed loop unless
    --no-closed-loop). Returns (space, start latent, the move, description of the start)."""
    from timbrespace.space import LatentSpace

    space = LatentSpace.open(args.bundle)
    z, origin = start_point(args, space)
    moved = moved_by(
        space,
        z,
        args.set or [],
        lock=args.lock or [],
        extrapolate=args.extrapolate,
        closed_loop=getattr(args, "closed_loop", None),
        gla_iters=getattr(args, "gla_iters", None),
    )
    return space, z, moved, origin


def settings_cause(args: argparse.Namespace) -> str | None:
    """The options that moved the start point (`--set pca1=1e300 --extrapolate`), to name when
    the render is not finite."""
    if not args.set:
        return None
    return " ".join(["--set", *args.set, *(["--extrapolate"] if args.extrapolate else [])])


def print_neighbours(space: LatentSpace, z: torch.Tensor, k: int) -> None:
    print("closest dataset sounds:")
    for item in space.nearest(z, k):
        print(f"  {item.distance:8.4f}  {item.sound}  ({item.pack})")


def run_control(args: argparse.Namespace) -> int:
    """`generate control`: move the start point along named controls and render it (or sweep);
    print requested → measured for each set and locked control, measured on the written
    sound."""
    from timbrespace.audio.io import save_audio

    check_output(args.output, "-o", "folder" if args.sweep else "audio")
    cause = settings_cause(args)
    space, start, moved, origin = settled_start(args)
    if args.sweep:
        write_sweep(
            space,
            moved.z_new,
            origin,
            args.sweep,
            args.output,
            lock=args.lock or [],
            extrapolate=args.extrapolate,
            closed_loop=args.closed_loop,
        )
        return 0
    if moved.audio is not None:
        audio = moved.audio[0]
    else:
        audio = render_named(space, moved.z_new, args.output, cause, gla_iters=args.gla_iters)[0]
    refuse_nonfinite([audio], args.output, cause)
    save_audio(args.output, audio, space.sample_rate)
    measured = moved.measured or space.measure_controls(audio)
    held = {}
    if args.lock:
        held = space.measure_controls(space.render(start, gla_iters=args.gla_iters)[0])
    loop = "closed loop" if moved.renders else "open loop"
    print(f"from {origin} ({loop}, {moved.renders} renders):")
    for line in readout_lines(space, moved, measured, args.set or [], args.lock or [], held):
        print(line)
    print_neighbours(space, moved.z_new, 3)
    print(f"wrote {args.output}")
    return 0


def readout_lines(
    space: LatentSpace,
    moved: Move,
    measured: dict[str, float],
    settings: Sequence[str],
    lock: Sequence[str],
    held: dict[str, float],
) -> list[str]:
    """One line per set control (`pitch=+3st: requested 349.2 Hz (F4) → measured 348.9 Hz
    (F4 -1c)`) and per locked one (`attack: held at 5 ms → measured 5.1 ms`), flagging those
    the loop left outside their tolerance; controls without a descriptor (PCA axes, packs,
    custom) read their value from the latent."""
    values = space.control_values(moved.z_new)
    unreached = set(moved.unreached)
    lines = []
    rows = [(text, _setting_name(text), False) for text in settings]
    rows += [(name, name, True) for name in lock]
    for text, name, locked in rows:
        show = _formatter(space.descriptor_of(name), space.controls[name].unit)
        if locked:
            asked = f"held at {show(held[name])}" if name in held else "held"
        elif name in moved.requested:
            asked = f"requested {show(moved.requested[name])}"
        else:
            asked = "requested"
        if name in measured:
            got = f"measured {show(measured[name], moved.requested.get(name, held.get(name)))}"
        else:
            got = f"latent reads {show(values[name])} (nothing to measure)"
        flag = "  ← not reached (the closest this model came)" if name in unreached else ""
        if name in measured and measured[name] != measured[name]:
            flag = "  ← not measurable in the render (e.g. no clear pitch)"
        label = name if locked or text == name else f"{name} ({text})"
        lines.append(f"  {label}: {asked} → {got}{flag}")
    return lines


def write_sweep(
    space: LatentSpace,
    z: torch.Tensor,
    origin: str,
    sweep_text: str,
    output: str | Path,
    *,
    lock: Sequence[str] = (),
    extrapolate: bool = False,
    closed_loop: bool | None = None,
) -> None:
    """Render `sweep_text` (e.g. `pitch=-12st:+12st:9`) from `z` into the folder `output`: one
    WAV per step, `contact_sheet.png` and `sweep.json`; steps that hit a limit (clamped, or
    left out of reach by the closed loop) are flagged in all three."""
    from timbrespace.atomic import write_json_atomic
    from timbrespace.audio.io import save_audio
    from timbrespace.plots import contact_sheet, save_figure

    out = Path(output)
    sweep = space.sweep(
        z, sweep_text, lock=list(lock), extrapolate=extrapolate, closed_loop=closed_loop
    )
    print_notices(sweep.warnings)
    refuse_nonfinite(
        list(sweep.audio), out, f"--sweep {sweep_text}" + (" --extrapolate" if extrapolate else "")
    )
    files = []
    limited = sweep_limited(sweep, space)
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
            line += f" → measured {show(measured, requested)}"
        if limited[i]:
            line += "  ← limit (clamped, or out of the model's reach)"
        print(line)
    with writing(out / "contact_sheet.png"):
        sheet = save_figure(
            contact_sheet(sweep, space.sample_rate, limited=limited), out / "contact_sheet.png"
        )
    with writing(out / "sweep.json"):
        write_json_atomic(
            out / "sweep.json",
            {
                "control": sweep.name,
                "from": origin,
                "descriptor": sweep.descriptor,
                "unit": sweep.unit,
                "requested": sweep.requested,
                "measured": [v if v == v else None for v in sweep.measured],
                "limited": limited,
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
    ctl.add_argument(
        "--gla-iters",
        type=gla_iterations,
        help="Griffin-Lim iterations of a spectral model (default: the model's)",
    )


def sweep_limited(sweep: SweepResult, space: LatentSpace) -> list[bool]:
    """Per step of a sweep: did it hit a limit (clamped to the data range or to physics, or left
    outside the closed loop's tolerance)? The sweep's own `limited` where it has one; else a
    step sits exactly on an end of the control's range or physical limits after a clamping
    notice."""
    limited = getattr(sweep, "limited", None)
    if limited:
        return [bool(v) for v in limited]
    control = space.controls[sweep.name]
    if not any("clamped" in warning for warning in sweep.warnings):
        return [False] * len(sweep.requested)
    ends = [*(control.range or ()), *(control.scaled_limits() if control.limits else ())]
    return [
        any(math.isclose(float(t), float(e), rel_tol=1e-6, abs_tol=1e-9) for e in ends)
        for t in sweep.targets
    ]


def _setting_name(setting: str) -> str:
    """The control a setting names: `pitch` of `pitch=+3st`."""
    match = SETTING_NAME.match(setting)
    return match["name"] if match else setting.strip()


def _formatter(descriptor: str | None, unit: str) -> Callable[..., str]:
    """How a control's values print (value, and the request a measurement is read against):
    pitches with their note name, unitless ones (PCA axes, packs, custom) with two decimals, the
    rest in their unit."""
    if descriptor == "f0" and unit == "Hz":
        return lambda value, near=None: "undefined" if value != value else format_pitch(value, near)
    if not unit:
        return lambda value, near=None: "undefined" if value != value else f"{value + 0.0:.2f}"
    if unit == "s":
        return lambda value, near=None: "undefined" if value != value else _time(value)
    return lambda value, near=None: "undefined" if value != value else format_quantity(value, unit)


def _time(seconds: float) -> str:
    """A time as people read it: ms below a second (`5.2 ms`, `310 ms`), else s (`1.2 s`)."""
    if abs(seconds) < 1.0:
        return format_quantity(float(f"{seconds * 1000:.3g}"), "ms")
    return format_quantity(float(f"{seconds:.3g}"), "s")
