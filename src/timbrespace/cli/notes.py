"""`generate note`: notes of a note model (the fader family) by pitch, velocity and style mix —
one note, a chromatic range, or a sweep from one style to another."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from timbrespace.cli.common import check_output, print_notices, save_sounds
from timbrespace.cli.options import seed
from timbrespace.numbers import NOTE_NAMES, parse_number

if TYPE_CHECKING:
    import torch

    from timbrespace.space import LatentSpace


def pitch_label(pitch: float) -> str:
    """`60` → `C4`, `60.5` → `C4+50c` (file names)."""
    nearest = round(pitch)
    name = f"{NOTE_NAMES[nearest % 12]}{nearest // 12 - 1}".replace("#", "s")
    cents = round(100 * (pitch - nearest))
    return name if cents == 0 else f"{name}{cents:+d}c"


def mix_label(styles: tuple[str, ...], weights: tuple[float, ...]) -> str:
    """`flute0.5_cello0.5` (styles of weight 0 left out; `flute` alone for a pure style)."""
    named = [(name, weight) for name, weight in zip(styles, weights, strict=True) if weight]
    if len(named) == 1 and named[0][1] == 1.0:
        return named[0][0]
    return "_".join(f"{name}{weight:g}" for name, weight in named) or "nostyle"


def _latent(space: LatentSpace, source: str, seed_value: int) -> torch.Tensor:
    """`random` → one latent from the prior; else a saved latent or a note file, encoded."""
    from timbrespace.note_play import prior_latents

    if source == "random":
        return prior_latents(space.model, 1, seed_value)
    return space.load_input(source)[:1]


def run_note(args: argparse.Namespace) -> int:
    from timbrespace.note_play import (
        Note,
        check_notes,
        parse_pitches,
        parse_style_mix,
        parse_style_sweep,
        render_notes,
        styles_of,
    )
    from timbrespace.space import LatentSpace

    pitches = parse_pitches(args.pitch)
    velocity = parse_number(args.velocity, "velocity", "--velocity")
    space = LatentSpace.open(args.bundle, analysis=False)
    styles = styles_of(space.model, "generate note")
    if args.sweep:
        mixes = parse_style_sweep(args.sweep, styles)
    else:
        mixes = [parse_style_mix(args.style or styles[0], styles)]
    notes = [Note(pitch, velocity, mix) for mix in mixes for pitch in pitches]
    check_output(args.output, "-o", "audio" if len(notes) == 1 else "folder")
    print_notices(check_notes(space.model, notes))
    z = _latent(space, args.z, args.seed).expand(len(notes), -1, -1)
    audio = render_notes(space.model, z, notes)
    names = [
        f"{i:03d}_{pitch_label(note.pitch)}_v{note.velocity:g}_{mix_label(styles, note.weights)}"
        for i, note in enumerate(notes)
    ]
    save_sounds(space, list(audio.numpy()), args.output, names)
    return 0


def add_note_parser(actions: argparse._SubParsersAction) -> None:
    note = actions.add_parser(
        "note",
        help="notes of a note model by pitch, velocity and style mix",
        description="Render notes of a note model (train --model fader): a pitch, a chromatic "
        "range (--pitch C3:C5) or several (--pitch 60,64,67), at a velocity, in a style mix "
        "(--style flute=0.5,cello=0.5; weights of any sign, 1.3 goes beyond a style) or a "
        "sweep from one style to another (--sweep style=flute:cello:9). The same latent "
        "(--z: random from the prior, or a note file or saved latent) plays every note.",
    )
    note.add_argument("bundle", help="bundle folder (or run folder) of a note model")
    note.add_argument("--pitch", default="C4", help="C4, 60, 60,64,67 or C3:C5 (default C4)")
    note.add_argument("--velocity", default="100", help="1…127 (default 100)")
    how = note.add_mutually_exclusive_group()
    how.add_argument("--style", help="style mix, e.g. flute=0.5,cello=0.5 (default: the first)")
    how.add_argument("--sweep", help="style=A:B:STEPS, e.g. style=flute:cello:9")
    note.add_argument("--z", default="random", help="random (default) or a note file / latent")
    note.add_argument("--seed", type=seed, default=0, help="seed of --z random (default 0)")
    note.add_argument("-o", "--output", required=True, help="output WAV (a folder for several)")
