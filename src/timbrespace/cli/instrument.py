"""The instrument actions of `generate` (models played from pitch and loudness, the ddsp
family): `transfer`'s octave / loudness / reverb options and `midi`."""

from __future__ import annotations

import argparse

from timbrespace.cli.common import add_bool, check_output, print_notices, save_sounds
from timbrespace.cli.options import non_negative_float
from timbrespace.errors import TimbrespaceError


def _auto_or(kind: type, what: str):  # noqa: ANN202 - an argparse type
    def parse(text: str) -> object:
        if text == "auto":
            return None
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what} or auto, got {text!r:.40}") from None

    return parse


def add_performance_options(parser: argparse.ArgumentParser, *, fitted: bool) -> None:
    """`--octave`, `--semitones`, `--loudness-db`, `--reverb` (instrument models only);
    `fitted`: octave and loudness default to `auto` (fitted to the trained range)."""
    default = "auto (fitted to the model's range)" if fitted else "0"
    parser.add_argument(
        "--octave",
        type=_auto_or(int, "a whole number of octaves"),
        default=None,
        help=f"transpose by octaves, -4..4, or auto (default {default}; instrument models)",
    )
    parser.add_argument(
        "--semitones", type=float, default=0.0, help="transpose further, semitones (default 0)"
    )
    parser.add_argument(
        "--loudness-db",
        type=_auto_or(float, "a gain in dB"),
        default=None,
        help=f"gain on the loudness curve, dB, or auto (default {default})",
    )
    parser.add_argument(
        "--reverb",
        type=non_negative_float,
        default=None,
        help="wet level of the learned reverb (0 = dry; default 1, as trained)",
    )


def performance_of(args: argparse.Namespace):  # noqa: ANN201 - instrument.Performance
    from timbrespace.instrument import Performance

    return Performance(
        octave=args.octave,
        semitones=args.semitones,
        loudness_db=args.loudness_db,
        reverb=args.reverb,
    )


def performance_given(args: argparse.Namespace) -> bool:
    return any(value is not None for value in (args.octave, args.loudness_db, args.reverb)) or bool(
        args.semitones
    )


def describe(played, fitted: bool) -> str:  # noqa: ANN001 - instrument.Played
    octave = f"{played.octave:+d} octave{'s' if abs(played.octave) != 1 else ''}"
    parts = [octave]
    if played.semitones:
        parts.append(f"{played.semitones:+g} semitones")
    parts.append(f"loudness {played.loudness_db:+.1f} dB")
    if fitted:
        parts.append(f"{100 * played.voiced:.0f}% voiced")
    if played.voices > 1:
        parts.append(f"{played.voices} voices")
    return "played " + ", ".join(parts)


def run_instrument_transfer(space, args: argparse.Namespace) -> int:  # noqa: ANN001
    """`generate transfer` on an instrument model: fitted octave and loudness, notices."""
    from timbrespace.instrument import transfer

    audio, played = transfer(space.bundle, args.input, performance_of(args))
    print_notices(played.notices)
    print(describe(played, fitted=True))
    save_sounds(space, [_normalized(audio, args.normalize)], args.output, [])
    return 0


def _normalized(audio, normalize: bool):  # noqa: ANN001, ANN202
    from timbrespace.audio.io import peak_normalize

    return peak_normalize(audio) if normalize else audio


def run_midi(args: argparse.Namespace) -> int:
    from timbrespace.audio.midi import Envelope, Vibrato
    from timbrespace.instrument import render_midi
    from timbrespace.space import LatentSpace

    check_output(args.output, "-o", "audio")
    space = LatentSpace.open(args.bundle, analysis=False)
    try:
        envelope = Envelope(
            attack=args.attack, decay=args.decay, sustain_db=args.sustain_db, release=args.release
        )
        vibrato = Vibrato(rate=args.vibrato_rate, depth_cents=args.vibrato_cents)
    except ValueError as error:
        raise TimbrespaceError(str(error)) from error
    audio, played = render_midi(
        space.bundle, args.midi, performance_of(args), envelope=envelope, vibrato=vibrato
    )
    print_notices(played.notices)
    print(describe(played, fitted=False))
    save_sounds(space, [_normalized(audio, args.normalize)], args.output, [])
    return 0


def add_midi_parser(actions: argparse._SubParsersAction) -> None:
    midi = actions.add_parser(
        "midi",
        help="play a MIDI file with an instrument model (ddsp)",
        description="Render a MIDI file as the trained instrument: note → f0 (with pitch bend "
        "and optional vibrato), velocity and an ADSR → loudness (mapped onto the loudness range "
        "the model was trained on). A monophonic line plays legato where notes touch; "
        "overlapping notes get one voice each.",
    )
    midi.add_argument("bundle", help="bundle folder (or run folder) of an instrument model")
    midi.add_argument("midi", help="MIDI file (.mid)")
    midi.add_argument("-o", "--output", required=True, help="output WAV")
    add_performance_options(midi, fitted=False)
    midi.add_argument("--attack", type=non_negative_float, default=0.01, help="s (0.01)")
    midi.add_argument("--decay", type=non_negative_float, default=0.15, help="s (0.15)")
    midi.add_argument("--sustain-db", type=float, default=-6.0, help="dB re the peak (-6)")
    midi.add_argument("--release", type=non_negative_float, default=0.15, help="s (0.15)")
    midi.add_argument("--vibrato-cents", type=non_negative_float, default=0.0, help="depth (0)")
    midi.add_argument("--vibrato-rate", type=non_negative_float, default=5.5, help="Hz (5.5)")
    add_bool(midi, "normalize", False, "peak-normalise the output to -1 dBFS")
