"""The `generate` verb: every action renders through `LatentSpace` (reconstruct, random,
control, interpolate, plane, path, encode, transfer, midi, note, target, pack)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from timbrespace.cli.common import (
    add_bool,
    add_threads_option,
    add_verb,
    check_output,
    gla_iterations,
    print_notices,
    render_named,
    save_sounds,
    write_sounds,
    writing,
)
from timbrespace.cli.control import add_control_parser, run_control
from timbrespace.cli.instrument import (
    add_midi_parser,
    add_performance_options,
    performance_given,
    run_instrument_transfer,
    run_midi,
)
from timbrespace.cli.notes import add_note_parser, run_note
from timbrespace.cli.options import non_negative_float, positive_int, seed
from timbrespace.cli.pack import add_pack_parser, run_pack
from timbrespace.cli.target import add_target_parser, run_target
from timbrespace.errors import TimbrespaceError
from timbrespace.limits import ALIGN_MODES, check_count
from timbrespace.numbers import parse_numbers

if TYPE_CHECKING:
    import torch

    from timbrespace.space import LatentSpace


def _open(path: str) -> LatentSpace:
    """The bundle (or run folder) at `path`, without its analysis (these actions need none)."""
    from timbrespace.space import LatentSpace

    return LatentSpace.open(path, analysis=False)


def input_limit(space: LatentSpace) -> tuple[float, str]:
    """How much of an input file `transfer` renders (s) and where that limit comes from."""
    from timbrespace import inference
    from timbrespace.data.clips import PrepareConfig

    if space.model.input_kind != "clip":
        seconds = inference.MAX_INPUT_SECONDS
        return seconds, f"this model reads at most {seconds:g} s of a recording"
    config = PrepareConfig.from_dict(space.bundle.training.get("prepare_config") or {})
    if config.mode == "oneshot":
        return (
            config.length,
            f"a one-shot model renders one {config.length:g} s clip from the onset",
        )
    return (
        config.read_seconds,
        f"the training data was prepared with --max-seconds {config.read_seconds:g}",
    )


def check_input_length(space: LatentSpace, path: str, *, crop: bool) -> None:
    """Say (or, without `crop`, refuse) when the file at `path` is longer than what the model
    renders of it (`input_limit`), never cut silently."""
    from timbrespace.audio.io import audio_info

    seconds = audio_info(path).duration
    limit, reason = input_limit(space)
    if seconds <= limit + 1e-3:
        return
    if not crop:
        raise TimbrespaceError(
            f"{path}: lasts {seconds:.3g} s but {reason}; cut it shorter or drop --no-crop"
        )
    print_notices([f"{path} lasts {seconds:.3g} s; rendered {limit:g} s of it ({reason})"])


def run_transfer(args: argparse.Namespace) -> int:
    """`reconstruct` and `transfer` (the same for an in-domain sound): render a sound through the
    model's latent space, saying when the input is longer than what the model renders."""
    check_output(args.output, "-o", "audio")
    space = _open(args.bundle)
    block = getattr(args, "block", None)
    if block is not None:
        space.check_stream_block(block)
    if args.action == "transfer" and performance_given(args):
        from timbrespace.instrument import feature_model

        feature_model(space.bundle, "--octave, --semitones, --loudness-db and --reverb")
    check_input_length(space, args.input, crop=args.crop)
    if space.model.input_kind == "f0_loudness" and block is None and args.action == "transfer":
        return run_instrument_transfer(space, args)
    audio = space.transfer(
        args.input,
        gla_iters=args.gla_iters,
        normalize=args.normalize,
        block=getattr(args, "block", None),
    )
    save_sounds(space, [audio], args.output, [])
    return 0


def run_random(args: argparse.Namespace) -> int:
    check_output(args.output, "-o", "folder")
    write_random(
        _open(args.bundle), args.output, args.n, seed=args.seed, temperature=args.temperature
    )
    return 0


def write_random(
    space: LatentSpace, output: str | Path, n: int, *, seed: int = 0, temperature: float = 1.0
) -> None:
    """Draw `n` latents from the data's distribution, render them into the folder `output` as
    `random_{seed}_{i:03d}.wav`."""
    from timbrespace.audio.io import save_audio

    out_dir = Path(output)
    z = space.random_latents(n, seed=seed, temperature=temperature)
    sounds = render_named(space, z, out_dir, f"--temperature {temperature:g}")
    for i, sound in enumerate(sounds):
        save_audio(out_dir / f"random_{seed}_{i:03d}.wav", sound, space.sample_rate)
    print(f"wrote {len(sounds)} sounds to {out_dir}")


def _load_inputs(space: LatentSpace, files: list[str]) -> list[torch.Tensor]:
    """Each file's latent: saved latents first (they fail fast), then audio files, encoded."""
    from timbrespace.inference import LATENT_SUFFIX

    saved = {path: space.load_input(path) for path in files if path.lower().endswith(LATENT_SUFFIX)}
    return [saved[path] if path in saved else space.load_input(path) for path in files]


def run_interpolate(args: argparse.Namespace) -> int:
    """`interpolate`: A + amount·(B − A) per `--amount` (one sound each), or along `--curve`."""
    import torch

    amounts = parse_numbers(args.amount, "--amount") if args.amount else None
    if amounts:
        check_count("sounds", len(amounts), "--amount values")
    several = amounts is not None and len(amounts) > 1
    check_output(args.output, "-o", "folder" if several else "audio_or_latent")
    space = _open(args.bundle)
    a, b = _load_inputs(space, [args.a, args.b])
    if args.curve:
        mixed = space.interpolate(a, b, curve=args.curve, align=args.align).z
        names = ["interpolate"]
    else:
        values = amounts or [0.5]
        edits = [space.interpolate(a, b, amount=value, align=args.align) for value in values]
        mixed = torch.cat([edit.z for edit in edits])
        names = [f"interpolate_{i:02d}_{value:+.2f}" for i, value in enumerate(values)]
    write_sounds(
        space,
        mixed,
        args.output,
        names,
        gla_iters=args.gla_iters,
        normalize=args.normalize,
        cause=f"--curve {args.curve}" if args.curve else f"--amount {args.amount or 0.5}",
    )
    return 0


def run_plane(args: argparse.Namespace) -> int:
    """`plane`: the bilinear mix of four corners at `--xy` or along `--trajectory`."""
    xy = parse_numbers(args.xy, "--xy", 2) if args.xy else None
    check_output(args.output, "-o", "audio_or_latent")
    space = _open(args.bundle)
    corners = _load_inputs(space, [args.a, args.b, args.c, args.d])
    edit = space.plane(corners, xy=xy, trajectory=args.trajectory or None, align=args.align)
    where = f"--trajectory {args.trajectory}" if args.trajectory else f"--xy {args.xy or '0.5,0.5'}"
    write_sounds(
        space,
        edit.z,
        args.output,
        ["plane"],
        gla_iters=args.gla_iters,
        normalize=args.normalize,
        cause=where,
    )
    return 0


def run_path(args: argparse.Namespace) -> int:
    """`path`: apply the operators in order to the input's latent, write the result."""
    check_output(args.output, "-o", "audio_or_latent")
    space = _open(args.bundle)
    z = space.edit(space.load_input(args.input), args.op, seed=args.seed)
    write_sounds(
        space,
        z,
        args.output,
        ["path"],
        gla_iters=args.gla_iters,
        normalize=args.normalize,
        cause=" ".join(f"--op {op}" for op in args.op),
    )
    return 0


def run_encode(args: argparse.Namespace) -> int:
    """`encode`: save a sound's latent path, to edit or mix later (`.safetensors`)."""
    check_output(args.output, "-o", "latent")
    space = _open(args.bundle)
    z = space.encode_file(args.input)
    with writing(args.output):
        space.save_latent(z, args.output)
    print(f"wrote the latent path {args.output} ({z.shape[-1]} frames × {z.shape[1]} dims)")
    return 0


ACTIONS = {
    "reconstruct": run_transfer,
    "random": run_random,
    "control": run_control,
    "interpolate": run_interpolate,
    "plane": run_plane,
    "path": run_path,
    "encode": run_encode,
    "transfer": run_transfer,
    "midi": run_midi,
    "note": run_note,
    "target": run_target,
    "pack": run_pack,
}


def run_generate(args: argparse.Namespace) -> int:
    return ACTIONS[args.action](args)


def add_parsers(verbs: argparse._SubParsersAction) -> None:
    sub = add_verb(
        verbs,
        "generate",
        run_generate,
        "Render sounds from a bundle: reconstruct a file, draw random sounds, move along named "
        "controls, interpolate or extrapolate, mix four corners, edit a latent with operators.",
        "  timbrespace generate reconstruct runs/kit/bundle kick.wav -o kick_ae.wav\n"
        "  timbrespace generate random runs/kit/bundle -n 8 -o out/random\n"
        "  timbrespace generate control runs/kit --nearest kicks/k.wav --set pitch=+3st -o k.wav\n"
        "  timbrespace generate interpolate runs/kit a.wav b.wav --amount 0,0.5,1,1.2 -o mix/\n"
        "  timbrespace generate plane runs/kit a.wav b.wav c.wav d.wav --xy 0.3,0.7 -o p.wav\n"
        "  timbrespace generate path runs/kit a.wav --op scale=1.5 --op 'curve:3+=0:0,1:2' -o e.wav\n"
        "  timbrespace generate transfer runs/violin voice.wav --octave auto --reverb 0.5 -o v.wav\n"
        "  timbrespace generate midi runs/violin song.mid --vibrato-cents 20 -o song.wav\n"
        "  timbrespace generate note runs/gm --pitch C3:C5 --style flute=0.5,cello=0.5 -o notes/\n"
        "  timbrespace generate pack runs/kit --sound kick_0001.wav --vary pitch=-3st:+3st:4 -o p/\n"
        "  timbrespace generate target runs/vq --curve centroid=sine:800:4000:2 -o sweep.wav\n",
        job="render",
        threads_option=False,
    )
    actions = sub.add_subparsers(dest="action", metavar="ACTION", required=True)
    rec = actions.add_parser(
        "reconstruct",
        help="encode and decode one file",
        description="Encode and decode one file (cut as in training).",
    )
    rec.add_argument("bundle", help="bundle folder (or run folder)")
    rec.add_argument("input", help="audio file")
    rec.add_argument("-o", "--output", required=True, help="output WAV")
    _add_audio_options(rec)
    _add_crop_option(rec)

    rnd = actions.add_parser(
        "random",
        help="draw sounds from the data's latent distribution",
        description="Draw latents from a Gaussian fitted to the training latents and decode them.",
    )
    rnd.add_argument("bundle", help="bundle folder (or run folder)")
    rnd.add_argument("-n", type=positive_int, default=8, help="number of sounds (default 8)")
    rnd.add_argument("--seed", type=seed, default=0, help="random seed, 0…2³²−1 (default 0)")
    rnd.add_argument(
        "--temperature",
        type=non_negative_float,
        default=1.0,
        help="spread relative to the data (1 = as in the data)",
    )
    rnd.add_argument("-o", "--output", required=True, help="output folder")

    add_control_parser(actions)
    add_note_parser(actions)
    add_target_parser(actions)
    add_pack_parser(actions)

    mix = actions.add_parser(
        "interpolate",
        help="mix two sounds' latents; amounts beyond 0..1 extrapolate",
        description="Encode A and B and decode a + amount·(b − a). One-shot models mix whole "
        "sounds: --amount 0,0.5,1,1.2 writes one sound per amount (a folder when several; 1.2 "
        "goes 20 % beyond B). Path models take --curve TIME:AMOUNT,… over the output length.",
    )
    mix.add_argument("bundle", help="bundle folder (or run folder)")
    mix.add_argument("a", help="audio file A (amount 0)")
    mix.add_argument("b", help="audio file B (amount 1)")
    how = mix.add_mutually_exclusive_group()
    how.add_argument("--amount", help="comma-separated amounts (default 0.5)")
    how.add_argument("--curve", help="amount over time for path models, e.g. 0:0,0.5:1,1:1.3")
    mix.add_argument("--align", choices=ALIGN_MODES, help="for paths of unequal length")
    mix.add_argument("-o", "--output", required=True, help="output WAV (a folder for several)")
    _add_audio_options(mix)

    pln = actions.add_parser(
        "plane",
        help="bilinear mix of four sounds at a point of the unit square",
        description="Corners: A at (0, 0), B at (1, 0), C at (0, 1), D at (1, 1); values "
        "outside 0..1 extrapolate. Path models also take --trajectory FILE (t,x,y lines).",
    )
    pln.add_argument("bundle", help="bundle folder (or run folder)")
    for corner in "abcd":
        pln.add_argument(corner, help=f"audio file at corner {corner.upper()}")
    where = pln.add_mutually_exclusive_group()
    where.add_argument("--xy", help="position X,Y (default 0.5,0.5)")
    where.add_argument("--trajectory", help="t,x,y per line (path models)")
    pln.add_argument("--align", choices=ALIGN_MODES, help="for paths of unequal length")
    pln.add_argument("-o", "--output", required=True, help="output WAV")
    _add_audio_options(pln)

    pth = actions.add_parser(
        "path",
        help="edit a sound's latent with operators, in order",
        description="Operators (repeat --op; the first acts first): reverse, scale=F, "
        "scale:mean=F, bias=B or bias=B0,B1,…, noise=STD, randomize=A, randomize:replace=A, "
        "stretch=F, smooth=W, smooth:gauss=W, curve:DIM=T:V,… (sets dimension DIM over "
        "time), curve:DIM+=T:V,… (adds to it).",
    )
    pth.add_argument("bundle", help="bundle folder (or run folder)")
    pth.add_argument("input", help="audio file")
    pth.add_argument("--op", action="append", required=True, help="operator (repeatable)")
    pth.add_argument("--seed", type=seed, default=0, help="seed of noise and randomize")
    pth.add_argument("-o", "--output", required=True, help="output WAV")
    _add_audio_options(pth)

    enc = actions.add_parser(
        "encode",
        help="save a sound's latent path (.safetensors) to mix or edit later",
        description="Encode IN and write its latent path with the model's family and weights "
        "digest. interpolate, plane and path take such files in place of audio (only with the "
        "same model), and path writes one when -o ends in .safetensors.",
    )
    enc.add_argument("bundle", help="bundle folder (or run folder)")
    enc.add_argument("input", help="audio file")
    enc.add_argument("-o", "--output", required=True, help="output .safetensors file")

    trf = actions.add_parser(
        "transfer",
        help="render any sound through the model (timbre / style transfer)",
        description="Encode IN (e.g. a voice or a drum loop through a model trained on strings) "
        "and decode it. A path model renders the whole file frame by frame; a one-shot model "
        "renders each training-length clip of it, end to end.",
    )
    trf.add_argument("bundle", help="bundle folder (or run folder)")
    trf.add_argument("input", help="audio file (any format, rate and channel count)")
    trf.add_argument("-o", "--output", required=True, help="output WAV")
    _add_audio_options(trf)
    _add_crop_option(trf)
    trf.add_argument(
        "--block",
        type=positive_int,
        default=None,
        metavar="SAMPLES",
        help="render block by block as live, SAMPLES at a time (a streaming model; a multiple "
        "of its hop), instead of the whole file at once",
    )
    add_performance_options(trf, fitted=True)
    add_midi_parser(actions)
    for action in actions.choices.values():
        add_threads_option(action, "render")


def _add_crop_option(parser: argparse.ArgumentParser) -> None:
    add_bool(
        parser,
        "crop",
        True,
        "render only what the model takes of a longer file (one training clip for a one-shot "
        "model), with a notice (default); --no-crop refuses such a file",
    )


def _add_audio_options(parser: argparse.ArgumentParser) -> None:
    """`--gla-iters` and `--normalize` of the actions that write rendered audio."""
    parser.add_argument(
        "--gla-iters",
        type=gla_iterations,
        help="Griffin-Lim iterations of a spectral model (default: the model's, 32)",
    )
    add_bool(parser, "normalize", False, "peak-normalise the output to -1 dBFS")
