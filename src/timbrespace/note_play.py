"""Playing a note model (the fader family): style mixes, pitches and velocities turned into the
model's conditions, checked against what it was trained on, and rendered. Part of the inference
layer: the faces reach note models through these functions and `LatentSpace`.

A style mix is a weight per trained style: `flute=0.5,cello=0.5` blends two, `flute=1.3,
cello=-0.3` extrapolates beyond the flute; styles not named weigh 0. Pitches are MIDI numbers
(`C4` = 60; fractions are cents/100).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from timbrespace import inference
from timbrespace.errors import TimbrespaceError
from timbrespace.models.base import ConfiguredModel, require_notes
from timbrespace.numbers import parse_number, parse_pitch

MAX_WEIGHT = 4.0
"""The largest style weight magnitude accepted (beyond, notes are noise, not a style)."""
VELOCITY_RANGE = (1.0, 127.0)
"""The velocities a note is played at (MIDI)."""
PITCH_MARGIN = 12
"""Semitones outside the trained pitch range that are still rendered, with a warning."""


@dataclass(frozen=True)
class Note:
    """One note to render: MIDI `pitch`, `velocity` (1–127) and a weight per style."""

    pitch: float
    velocity: float
    weights: tuple[float, ...]


def styles_of(model: ConfiguredModel, what: str = "styles") -> tuple[str, ...]:
    """The styles a note model was trained on; other families are refused naming `what`
    (the operation asked for, e.g. "the notes panel")."""
    require_notes(model, what)
    return tuple(model.config.styles)


def parse_style_mix(
    text: str, styles: tuple[str, ...], label: str = "--style"
) -> tuple[float, ...]:
    """`flute=0.5,cello=0.5` (or one name: weight 1) → a weight per style in `styles` order;
    an unknown style is refused with the list of trained ones."""
    weights = dict.fromkeys(styles, 0.0)
    for item in (part.strip() for part in text.split(",")):
        name, _, value = item.partition("=")
        name = name.strip()
        if name not in weights:
            raise TimbrespaceError(
                f"{label}: no style {name!r} in this model; its styles: {', '.join(styles)}"
            )
        weight = parse_number(value, f"weight of {name}", label) if value else 1.0
        if abs(weight) > MAX_WEIGHT:
            raise TimbrespaceError(f"{label}: weight {weight:g} of {name} beyond ±{MAX_WEIGHT:g}")
        weights[name] = weight
    return tuple(weights.values())


def parse_style_sweep(text: str, styles: tuple[str, ...]) -> list[tuple[float, ...]]:
    """`style=flute:cello:9` (or without `style=`) → 9 mixes from all flute to all cello."""
    spec = text.removeprefix("style=")
    parts = spec.split(":")
    if len(parts) != 3:
        raise TimbrespaceError(f"--sweep: expected style=A:B:STEPS, got {text!r}")
    first = parse_style_mix(parts[0], styles, "--sweep")
    last = parse_style_mix(parts[1], styles, "--sweep")
    steps = parse_number(parts[2], "steps", "--sweep")
    if steps != int(steps) or not 2 <= steps <= 64:
        raise TimbrespaceError(f"--sweep: steps must be a whole number 2…64, got {parts[2]!r}")
    count = int(steps)
    return [
        tuple(a + (b - a) * i / (count - 1) for a, b in zip(first, last, strict=True))
        for i in range(count)
    ]


def parse_pitches(text: str) -> list[float]:
    """`C4`, `60,64,67` or a chromatic range `C3:C4` (13 pitches) → MIDI pitches."""
    if ":" in text:
        low_text, _, high_text = text.partition(":")
        low, high = parse_pitch(low_text, "--pitch"), parse_pitch(high_text, "--pitch")
        if high < low:
            raise TimbrespaceError(f"--pitch: range {text!r} goes down; give LOW:HIGH")
        return [low + step for step in range(int(high - low) + 1)]
    return [parse_pitch(item, "--pitch") for item in text.split(",")]


def check_notes(model: ConfiguredModel, notes: list[Note]) -> list[str]:
    """Refuse a velocity outside 1–127 or a pitch more than `PITCH_MARGIN` semitones outside
    the trained range; return warnings for pitches outside it (rendered, less reliable)."""
    styles = styles_of(model)
    low, high = model.config.pitch_range
    warnings = []
    for note in notes:
        if len(note.weights) != len(styles):
            raise TimbrespaceError(f"expected {len(styles)} style weights, got {len(note.weights)}")
        low_velocity, high_velocity = VELOCITY_RANGE
        if not (math.isfinite(note.velocity) and low_velocity <= note.velocity <= high_velocity):
            raise TimbrespaceError(
                f"velocity {note.velocity:g} outside {low_velocity:g}…{high_velocity:g}"
            )
        if not low - PITCH_MARGIN <= note.pitch <= high + PITCH_MARGIN:
            raise TimbrespaceError(
                f"pitch {note.pitch:g} is far outside the trained range {low}…{high} (MIDI); "
                f"this model renders {low - PITCH_MARGIN}…{high + PITCH_MARGIN}"
            )
        if not low <= note.pitch <= high:
            warnings.append(
                f"pitch {note.pitch:g} is outside the trained range {low}…{high} (MIDI): "
                "rendered, but the timbre there is a guess"
            )
    return sorted(set(warnings))


def prior_latents(model: ConfiguredModel, count: int, seed: int = 0) -> torch.Tensor:
    """`count` latents `[count, latent_dim, 1]` drawn from the model's prior (a standard normal,
    which the MMD term matched the encoded notes to)."""
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn(count, int(model.latent_dim), 1, generator=generator)


def note_conditions(notes: list[Note]) -> torch.Tensor:
    """Conditions `[notes, styles + 2]`: the weights, the pitch, the velocity."""
    return torch.tensor(
        [[*note.weights, note.pitch, note.velocity] for note in notes], dtype=torch.float32
    )


def render_notes(model: ConfiguredModel, z: torch.Tensor, notes: list[Note]) -> torch.Tensor:
    """Audio `[notes, channels, samples]` in [-1, 1] of latents `z` `[notes, latent_dim, 1]`
    played as `notes` (checked first: see `check_notes`)."""
    check_notes(model, notes)
    if z.shape[0] != len(notes):
        raise TimbrespaceError(f"{z.shape[0]} latents for {len(notes)} notes")
    return inference.render(model, z, cond=note_conditions(notes))
