"""The `timbrespace` command: one entry point, one verb per workflow.

Verbs are thin functions over the library; heavy imports happen inside them so `--help` is instant.
Exit codes: 0 success; 1 a user error (message on stderr, one line); 2 bad command-line usage;
3 `prepare --strict` found bad files (the rest was still prepared).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from timbrespace.errors import TimbrespaceError

EXIT_USER_ERROR = 1
EXIT_BAD_FILES = 3


def _print_json(data: object) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False))


def cmd_demo_pack(args: argparse.Namespace) -> int:
    from timbrespace.data.demo_pack import write_demo_pack

    csv_path = write_demo_pack(
        args.out, n=args.n, seed=args.seed, sample_rate=args.sr, progress=sys.stderr.isatty()
    )
    print(f"wrote {args.n} sounds to {Path(args.out)}; ground truth in {csv_path}")
    return 0


def cmd_melodies(args: argparse.Namespace) -> int:
    from timbrespace.data.melodies import write_melodies

    instruments = tuple(name.strip() for name in args.instruments.split(",") if name.strip())
    paths = write_melodies(
        args.out, instruments=instruments, seconds=args.seconds, sample_rate=args.sr, seed=args.seed
    )
    print(f"wrote {len(paths)} melodies ({len(instruments)} instruments) to {Path(args.out)}")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from timbrespace.data.prepare import PrepareConfig, prepare_dataset
    from timbrespace.progress import progress_bar

    config = PrepareConfig(
        mode=args.mode,
        sample_rate=args.sr,
        channels=args.channels,
        length=args.length,
        hop=args.hop,
        max_seconds=args.max_seconds,
    )
    with progress_bar("prepare", enabled=args.progress) as update:
        report = prepare_dataset(
            args.dataset,
            args.output,
            config,
            workers=args.workers,
            rebuild=args.rebuild,
            progress=update,
        )
    if args.json:
        _print_json(report.to_dict())
    else:
        print(
            f"prepared {report.sources} files → {report.clips} clips in {report.seconds:.1f} s "
            f"({report.processed} processed, {report.skipped_unchanged} unchanged, "
            f"{report.removed} removed)"
        )
        if report.bad:
            print(f"{len(report.bad)} bad files (skipped):", file=sys.stderr)
            for path, reason in report.bad:
                print(f"  {path}: {reason}", file=sys.stderr)
        print(f"cache: {report.cache}")
    if report.sources == 0:
        print(f"error: no usable audio file in {args.dataset}", file=sys.stderr)
        return EXIT_USER_ERROR
    return EXIT_BAD_FILES if args.strict and report.bad else 0


def cmd_info(args: argparse.Namespace) -> int:
    from timbrespace.data.cache import SoundCache

    summary = SoundCache(args.cache).summary()
    if args.json:
        _print_json(summary)
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(
        f"[bold]{summary['cache']}[/bold]: {summary['sounds']} sounds from "
        f"{summary['source_files']} files, {summary['mode']}, {summary['sample_rate']} Hz, "
        f"{summary['channels']} ch, {summary['clip_seconds']} s clips, "
        f"{summary['source_duration_s']:.1f} s of source audio"
    )
    packs = Table("pack", "files", "clips", "duration (s)", title="packs")
    for name, entry in sorted(summary["packs"].items()):
        packs.add_row(name, str(entry["files"]), str(entry["clips"]), f"{entry['duration_s']:.1f}")
    console.print(packs)
    ranges = Table("descriptor", "unit", "min", "median", "max", "defined", title="descriptors")
    for name, entry in summary["descriptors"].items():
        cells = [
            "—" if entry[key] is None else f"{entry[key]:.4g}" for key in ("min", "median", "max")
        ]
        ranges.add_row(name, entry["unit"], *cells, str(entry["defined"]))
    console.print(ranges)
    if summary["bad_files"]:
        console.print(f"[yellow]{len(summary['bad_files'])} bad files:[/yellow]")
        for bad in summary["bad_files"]:
            console.print(f"  {bad['path']}: {bad['reason']}", markup=False)
    return 0


def parse_overrides(items: Sequence[str] | None) -> dict[str, object]:
    overrides: dict[str, object] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise TimbrespaceError(f"--set {item!r}: expected KEY=VALUE")
        try:
            overrides[key] = json.loads(text)
        except ValueError:
            overrides[key] = text
    return overrides


def cmd_train(args: argparse.Namespace) -> int:
    from timbrespace.train.run import train

    result = train(
        args.data,
        args.out,
        family=args.model,
        preset=args.preset,
        model_overrides=parse_overrides(args.set),
        train_overrides={
            "max_steps": args.max_steps,
            "max_minutes": args.max_minutes,
            "batch_size": args.batch_size,
            "learning_rate": args.lr,
            "seed": args.seed,
        },
        resume=args.resume,
        accelerator=args.accelerator,
        devices=args.devices if args.devices == "auto" else int(args.devices),
        strategy=args.strategy,
        logger=args.logger,
        progress=args.progress,
    )
    if result.bundle is not None:
        print(f"trained {result.steps} steps; run: {result.run_dir}; bundle: {result.bundle}")
    return 0


def _bundle_path(path: str) -> Path:
    folder = Path(path)
    return folder / "bundle" if (folder / "run.json").is_file() else folder


def _write_sounds(bundle, z, args: argparse.Namespace, names: list[str]) -> None:  # noqa: ANN001
    """Decode latents `[n, dim, frames]` with `--gla-iters` and `--normalize`; one sound → the
    file `-o`, several → a folder of WAVs named after `names`."""
    from timbrespace.generate import decode, is_latent_file, save_latent

    if is_latent_file(args.output) and len(z) == 1:
        save_latent(bundle, z, args.output)
        print(f"wrote the latent path {args.output} ({z.shape[-1]} frames)")
        return
    sounds = decode(bundle, z, gla_iters=args.gla_iters)
    _save_sounds(bundle, list(sounds), args, names)


def _save_sounds(bundle, sounds: list, args: argparse.Namespace, names: list[str]) -> None:  # noqa: ANN001
    from timbrespace.audio.io import save_audio
    from timbrespace.generate import peak_normalize

    if args.normalize:
        sounds = [peak_normalize(sound) for sound in sounds]
    if len(sounds) == 1:
        save_audio(args.output, sounds[0], bundle.sample_rate)
        print(f"wrote {args.output}")
        return
    for sound, name in zip(sounds, names, strict=True):
        save_audio(Path(args.output) / f"{name}.wav", sound, bundle.sample_rate)
    print(f"wrote {len(sounds)} sounds to {args.output}")


def _generate_mix(args: argparse.Namespace) -> int:
    """`interpolate` and `plane`: parse every option, then encode the sounds and mix them."""
    import torch

    from timbrespace.bundle import load_bundle
    from timbrespace.generate import encode_input, is_latent_file, is_one_shot
    from timbrespace.latent import paths

    if args.action == "interpolate":
        amounts = paths.parse_numbers(args.amount, "--amount") if args.amount else None
        curve = paths.parse_curve(args.curve) if args.curve else None
        files = [args.a, args.b]
    else:
        xy = paths.parse_numbers(args.xy, "--xy", 2) if args.xy else None
        trajectory = paths.parse_trajectory(args.trajectory) if args.trajectory else None
        files = [args.a, args.b, args.c, args.d]
    bundle = load_bundle(_bundle_path(args.bundle))
    if is_one_shot(bundle) and (getattr(args, "curve", None) or getattr(args, "trajectory", None)):
        raise TimbrespaceError(
            f"{args.bundle}: a one-shot model mixes whole sounds, one latent point each; a curve "
            "or trajectory over time needs a path model (use --amount or --xy)"
        )
    saved = {path: encode_input(bundle, path) for path in files if is_latent_file(path)}
    latents = [saved[path] if path in saved else encode_input(bundle, path) for path in files]
    if args.action == "interpolate":
        if curve is not None:
            mixed = paths.interpolate(*latents, curve, mode=args.align)
            names = ["interpolate"]
        else:
            values = amounts or [0.5]
            mixed = torch.cat(
                [paths.interpolate(*latents, value, mode=args.align) for value in values]
            )
            names = [f"interpolate_{i:02d}_{value:+.2f}" for i, value in enumerate(values)]
    else:
        x, y = (trajectory.x, trajectory.y) if trajectory is not None else (xy or [0.5, 0.5])
        mixed = paths.plane(latents, x, y, mode=args.align)
        names = ["plane"]
    _write_sounds(bundle, mixed, args, names)
    return 0


def _generate_path(args: argparse.Namespace) -> int:
    """`path`: parse the operators, encode the input, apply them in order, decode."""
    from timbrespace.bundle import load_bundle
    from timbrespace.generate import encode_input
    from timbrespace.latent import paths

    ops = [paths.parse_op(text, seed=args.seed) for text in args.op]
    bundle = load_bundle(_bundle_path(args.bundle))
    z = paths.apply_ops(encode_input(bundle, args.input), ops)
    _write_sounds(bundle, z, args, ["path"])
    return 0


def _generate_encode(args: argparse.Namespace) -> int:
    """`encode`: save a sound's latent path, to edit or mix later (`.safetensors`)."""
    from timbrespace.bundle import load_bundle
    from timbrespace.generate import LATENT_SUFFIX, encode_sound, save_latent

    if not args.output.lower().endswith(LATENT_SUFFIX):
        raise TimbrespaceError(f"-o {args.output}: a latent file ends in {LATENT_SUFFIX}")
    bundle = load_bundle(_bundle_path(args.bundle))
    z = encode_sound(bundle, args.input)
    save_latent(bundle, z, args.output)
    print(f"wrote the latent path {args.output} ({z.shape[-1]} frames × {z.shape[1]} dims)")
    return 0


def _generate_transfer(args: argparse.Namespace) -> int:
    """`transfer`: render any sound through the model's latent space (style transfer)."""
    from timbrespace.bundle import load_bundle
    from timbrespace.generate import transfer

    bundle = load_bundle(_bundle_path(args.bundle))
    _save_sounds(bundle, [transfer(bundle, args.input, gla_iters=args.gla_iters)], args, [])
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    if args.action == "control":
        return _generate_control(args)
    if args.action in ("interpolate", "plane"):
        return _generate_mix(args)
    if args.action == "path":
        return _generate_path(args)
    if args.action in ("reconstruct", "transfer"):  # the same for an in-domain sound
        return _generate_transfer(args)
    if args.action == "encode":
        return _generate_encode(args)
    from timbrespace.audio.io import save_audio
    from timbrespace.bundle import load_bundle
    from timbrespace.generate import (
        decode,
        is_one_shot,
        random_latents,
    )

    bundle = load_bundle(_bundle_path(args.bundle))
    out_dir = Path(args.output)
    z = random_latents(bundle, args.n, seed=args.seed, temperature=args.temperature)
    if not is_one_shot(bundle):  # a path model holds each drawn point for 1 s
        z = z.expand(-1, -1, 1 + bundle.sample_rate // int(bundle.model.hop_length))
    sounds = decode(bundle, z)
    for i, sound in enumerate(sounds):
        save_audio(out_dir / f"random_{args.seed}_{i:03d}.wav", sound, bundle.sample_rate)
    print(f"wrote {len(sounds)} sounds to {out_dir}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The embedded default end to end: demo pack → prepare → short training → sounds."""
    out = Path(args.out)
    pack, cache, run = out / "pack", out / "cache", out / "run"
    steps = [
        ["demo-pack", str(pack), "--n", str(args.n), "--sr", str(args.sr)],
        [
            "prepare",
            str(pack),
            "-o",
            str(cache),
            "--sr",
            str(args.sr),
            "--length",
            str(args.length),
        ],
        [
            "train",
            "--data",
            str(cache),
            "--out",
            str(run),
            "--preset",
            args.preset,
            "--max-minutes",
            str(args.minutes),
            *(["--resume"] if (run / "run.json").exists() else []),
        ],
        ["generate", "random", str(run), "-n", "8", "-o", str(out / "sounds" / "random")],
        ["eval", str(run), "--data", str(cache), "--split", "val"],
        ["analyze", str(run)],
        ["plot", str(run), "-o", str(out / "figures")],
    ]
    if (pack / "parameters.csv").exists():
        steps = steps[1:]
    if (run / "bundle" / "bundle.json").exists() and not args.retrain:
        steps = [step for step in steps if step[0] != "train"]
    for step in steps:
        print(f"$ timbrespace {' '.join(step)}", flush=True)
        code = main(step)
        if code:
            return code
    for family in sorted(path for path in pack.iterdir() if path.is_dir()):
        source = min(family.rglob("*.wav"), default=None)
        if source is not None:
            target = out / "sounds" / "reconstructed" / f"{family.name}_{source.name}"
            main(["generate", "reconstruct", str(run), str(source), "-o", str(target)])
    start = next((p for p in sorted((pack / "plucks").rglob("*.wav"))), None)
    if start is not None:
        sound = start.relative_to(pack).as_posix()
        sweep = ["generate", "control", str(run), "--nearest", sound]
        main([*sweep, "--sweep", "pitch=-7st:+7st:5", "-o", str(out / "sounds" / "pitch_sweep")])
    print(
        f"demo done: bundle {run / 'bundle'}, sounds in {out / 'sounds'}, "
        f"figures in {out / 'figures'}"
    )
    studio = ["studio", str(run / "bundle"), "--data", str(cache), "--port", str(args.port)]
    print(f"play with it: timbrespace {' '.join(studio)}  → http://127.0.0.1:{args.port}/")
    wanted = sys.stdout.isatty() if args.studio is None else args.studio
    return main(studio) if wanted else 0


def cmd_studio(args: argparse.Namespace) -> int:
    from timbrespace.studio.app import run

    run(
        _bundle_path(args.bundle),
        data=args.data,
        host=args.host,
        port=args.port,
        open_browser=args.browser,
        dataset=args.dataset,
    )
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from timbrespace.analyze import CustomControlSpec, analyze_bundle

    specs = [CustomControlSpec.parse(text) for text in args.control or []]
    report = analyze_bundle(_bundle_path(args.run), args.data, custom=specs)
    summary = {
        "bundle": str(report.bundle),
        "sounds": report.sounds,
        "pca_explained_variance_ratio": [round(r, 4) for r in report.explained_variance_ratio[:8]],
        "probes": {
            probe.name: {
                "unit": probe.unit,
                "scale": probe.scale,
                "r2_heldout": None
                if probe.r2_heldout != probe.r2_heldout
                else round(probe.r2_heldout, 3),
            }
            for probe in report.probes
        },
        "packs": report.packs,
        "custom_controls": report.custom_controls,
        "model_pitch_r2": None
        if report.model_pitch is None
        or report.model_pitch.r2_heldout != report.model_pitch.r2_heldout
        else round(report.model_pitch.r2_heldout, 3),
    }
    if args.json:
        _print_json(summary)
    else:
        print(f"analysed {report.sounds} sounds → {report.bundle}/analysis.*")
        for name, probe in summary["probes"].items():
            print(f"  probe {name:<15} R² held-out {probe['r2_heldout']}")
        if report.model_pitch is not None:
            print(f"  model pitch readout R² vs measured f0 {summary['model_pitch_r2']}")
    return 0


def _open_space(path: str):  # noqa: ANN202
    from timbrespace.space import LatentSpace

    return LatentSpace.open(_bundle_path(path))


def _start_point(args: argparse.Namespace, space) -> tuple[object, str]:  # noqa: ANN001
    """The latent to start from (--from FILE, --nearest SOUND or --random) and its description."""
    if args.source_file:
        return space.encode_file(args.source_file), args.source_file
    if args.nearest:
        return space.sound_latent(args.nearest), args.nearest
    return space.random_latent(args.seed), f"random point (seed {args.seed})"


def _moved_start(args: argparse.Namespace):  # noqa: ANN202
    """Open the space, pick the start point and apply --set/--lock; notices go to stderr.
    Returns (space, moved latent, description of the start)."""
    space = _open_space(args.bundle)
    z, origin = _start_point(args, space)
    result = space.move(z, args.set or [], lock=args.lock or [], extrapolate=args.extrapolate)
    for warning in result.warnings:
        print(f"notice: {warning}", file=sys.stderr)
    return space, result.z_new, origin


def _print_neighbours(space, z, k: int) -> None:  # noqa: ANN001
    print("closest dataset sounds:")
    for item in space.nearest(z, k):
        print(f"  {item.distance:8.4f}  {item.sound}  ({item.pack})")


def _generate_control(args: argparse.Namespace) -> int:
    from timbrespace.audio.io import save_audio
    from timbrespace.latent.control import parse_setting

    space, z, origin = _moved_start(args)
    if args.sweep:
        return _generate_sweep(args, space, z, origin)
    audio = space.render(z)[0]
    save_audio(args.output, audio, space.sample_rate)
    measured = space.measure(audio)
    print(f"from {origin}:")
    for setting in args.set or []:
        name = parse_setting(setting, space.controls).name
        control = space.controls[name]
        target = control.to_user(float(control.value(z.double())[0, 0]))
        line = f"  {name}: requested {setting}, latent reads {target:.4g}{control.unit}"
        descriptor = space.descriptor_of(name)
        if descriptor is not None:
            line += f", rendered audio measures {measured.value(descriptor):.4g}{control.unit}"
        print(line)
    _print_neighbours(space, z, 3)
    print(f"wrote {args.output}")
    return 0


def _generate_sweep(args: argparse.Namespace, space, z, origin: str) -> int:  # noqa: ANN001
    from timbrespace.atomic import write_json_atomic
    from timbrespace.audio.io import save_audio
    from timbrespace.plots import contact_sheet, save_figure

    out = Path(args.output)
    sweep = space.sweep(z, args.sweep, lock=args.lock or [], extrapolate=args.extrapolate)
    for warning in sweep.warnings:
        print(f"notice: {warning}", file=sys.stderr)
    files = []
    print(f"sweep of {sweep.name} from {origin}:")
    for i, (audio, requested, measured) in enumerate(
        zip(sweep.audio, sweep.requested, sweep.measured, strict=True)
    ):
        path = save_audio(
            out / f"{sweep.name.replace(':', '_')}_{i + 1:02d}.wav", audio, space.sample_rate
        )
        files.append(path.name)
        line = f"  {i + 1:2d}  requested {requested:.4g}{sweep.unit}"
        if sweep.descriptor:
            line += f"  measured {sweep.descriptor} {measured:.4g}{sweep.unit}"
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
    return 0


def cmd_nearest(args: argparse.Namespace) -> int:
    space, z, origin = _moved_start(args)
    neighbours = space.nearest(z, args.k)
    if args.json:
        _print_json([item.__dict__ for item in neighbours])
        return 0
    print(f"nearest to {origin}" + (f" after {' '.join(args.set)}" if args.set else "") + ":")
    for item in neighbours:
        print(f"  {item.distance:8.4f}  {item.sound}  ({item.pack})")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from timbrespace.analyze import load_analysis
    from timbrespace.plots import plot_analysis

    written = plot_analysis(load_analysis(_bundle_path(args.bundle)), args.output)
    print(f"wrote {len(written)} figures to {args.output}: {', '.join(p.name for p in written)}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from timbrespace.evaluation import evaluate

    result = evaluate(_bundle_path(args.run), args.data, split=args.split, limit=args.limit)
    _print_json(result)
    return 0


def _add_bool(parser: argparse.ArgumentParser, name: str, default: bool | None, help: str) -> None:
    parser.add_argument(
        f"--{name}", action=argparse.BooleanOptionalAction, default=default, help=help
    )


def _add_start_and_settings(parser: argparse.ArgumentParser) -> None:
    start = parser.add_mutually_exclusive_group(required=True)
    start.add_argument("--from", dest="source_file", help="start from this audio file")
    start.add_argument("--nearest", help="start from this dataset sound (PACK/.../NAME.wav)")
    start.add_argument("--random", action="store_true", help="start from a random point")
    parser.add_argument("--seed", type=int, default=0, help="seed for --random")
    parser.add_argument(
        "--set", nargs="+", metavar="NAME=VALUE", help="e.g. pitch=+3st attack=0.01s"
    )
    parser.add_argument("--lock", nargs="+", metavar="NAME", help="controls to keep where they are")
    _add_bool(parser, "extrapolate", False, "allow values outside the data's range (else clamp)")


def _gla_iterations(text: str) -> int:
    """`--gla-iters`: an int in 0…1000."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 0 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"{value} is outside 0…1000")
    return value


ALIGN_MODES = ("crop", "loop", "stretch")
"""`latent.paths.ALIGN_MODES`, repeated so that `--help` needs no torch import (a test checks)."""


def _align_modes() -> tuple[str, ...]:
    return ALIGN_MODES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="timbrespace",
        description="Train a neural synthesizer on your own sounds and play with its latent space.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "examples:\n"
            "  timbrespace demo-pack demo/pack\n"
            "  timbrespace prepare demo/pack -o demo/cache\n"
            "  timbrespace info demo/cache\n"
        ),
    )
    from timbrespace import __version__

    parser.add_argument("--version", action="version", version=f"timbrespace {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    def verb(name: str, func: Callable[[argparse.Namespace], int], help: str, examples: str):
        sub = verbs.add_parser(
            name,
            help=help,
            description=help,
            epilog="examples:\n" + examples,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(func=func)
        return sub

    sub = verb(
        "demo-pack",
        cmd_demo_pack,
        "Write the built-in procedural pack (kicks, snares, hats, toms, plucks) with ground truth.",
        "  timbrespace demo-pack demo/pack\n  timbrespace demo-pack pack --n 100 --seed 3 --sr 16000\n",
    )
    sub.add_argument("out", help="output folder")
    sub.add_argument("--n", type=int, default=600, help="number of sounds (default 600)")
    sub.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sub.add_argument("--sr", type=int, default=44100, help="sample rate, Hz (default 44100)")

    sub = verb(
        "melodies",
        cmd_melodies,
        "Render monophonic melodies of real GM instruments with fluidsynth (Debian "
        "timgm6mb-soundfont): continuous audio for the spectral model.",
        "  timbrespace melodies data/melodies --seconds 120\n"
        "  timbrespace prepare data/melodies -o cache/melodies --mode continuous --sr 22050\n"
        "  timbrespace train --model spectral --data cache/melodies --out runs/melodies\n",
    )
    sub.add_argument("out", help="output folder")
    sub.add_argument(
        "--instruments",
        default="flute,violin,cello,trumpet,alto_sax,organ",
        help="comma-separated: piano, vibraphone, organ, nylon_guitar, bass, violin, cello, "
        "trumpet, alto_sax, flute, square_lead",
    )
    sub.add_argument("--seconds", type=float, default=120.0, help="audio per instrument, s")
    sub.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sub.add_argument("--sr", type=int, default=22050, help="sample rate, Hz (default 22050)")

    sub = verb(
        "prepare",
        cmd_prepare,
        "Scan a folder of sample packs and build (or update) a cache of clips with descriptors.",
        "  timbrespace prepare ~/Samples -o cache/samples\n"
        "  timbrespace prepare recordings -o cache/cello --mode continuous --length 2 --hop 1\n"
        "  timbrespace prepare /usr/share/hydrogen/data/drumkits -o cache/hydrogen --json\n",
    )
    sub.add_argument("dataset", help="folder of sounds; sub-folders become pack/sub-pack labels")
    sub.add_argument("-o", "--output", required=True, help="cache folder (created or updated)")
    sub.add_argument(
        "--mode",
        choices=["oneshot", "continuous"],
        default="oneshot",
        help="oneshot: one clip per file; continuous: overlapping chunks",
    )
    sub.add_argument("--sr", type=int, default=44100, help="sample rate, Hz (default 44100)")
    sub.add_argument("--length", type=float, default=1.0, help="clip/chunk length, s (default 1)")
    sub.add_argument(
        "--hop", type=float, default=None, help="continuous mode: chunk hop, s (default length/2)"
    )
    sub.add_argument(
        "--channels",
        type=int,
        choices=[1, 2],
        default=1,
        help="1 = mono mix-down (default), 2 = stereo",
    )
    sub.add_argument(
        "--max-seconds",
        type=float,
        default=1200.0,
        help="decode at most this much of each file, s (default 1200)",
    )
    sub.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    _add_bool(sub, "rebuild", False, "discard the existing cache and start over")
    _add_bool(sub, "strict", False, "exit with code 3 if any file was bad")
    _add_bool(sub, "json", False, "print the report as JSON")
    _add_bool(sub, "progress", None, "progress bar (default: on a terminal)")

    sub = verb(
        "info",
        cmd_info,
        "Summarise a prepared cache: packs, counts, durations, descriptor ranges, bad files.",
        "  timbrespace info cache/samples\n  timbrespace info cache/samples --json\n",
    )
    sub.add_argument("cache", help="cache folder written by `timbrespace prepare`")
    _add_bool(sub, "json", False, "print JSON instead of tables")

    sub = verb(
        "train",
        cmd_train,
        "Train a model family on a prepared cache (Lightning; checkpoints, logs, previews, bundle).",
        "  timbrespace train --model oneshot --data cache/samples --out runs/kit --preset small\n"
        "  timbrespace train --data cache/samples --out runs/kit --resume\n"
        "  timbrespace train --data cache/samples --out runs/kit --devices 2 --strategy ddp\n"
        "  timbrespace train --data cache/samples --out runs/vae --set bottleneck=vae --set beta=0.01\n",
    )
    sub.add_argument("--model", default="oneshot", help="model family (default oneshot)")
    sub.add_argument("--data", required=True, help="cache folder from `timbrespace prepare`")
    sub.add_argument("--out", required=True, help="run folder (checkpoints, logs, bundle)")
    sub.add_argument(
        "--preset",
        default="small",
        choices=["tiny", "small", "full"],
        help="tiny = tests, small = CPU (default), full = GPU",
    )
    sub.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    sub.add_argument("--max-minutes", type=float, default=None, help="stop after this long")
    sub.add_argument("--batch-size", type=int, default=None)
    sub.add_argument("--lr", type=float, default=None, help="learning rate")
    sub.add_argument("--seed", type=int, default=None)
    sub.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a model config field (repeatable; unknown keys are errors)",
    )
    _add_bool(sub, "resume", False, "continue the run in --out from its last checkpoint")
    sub.add_argument("--accelerator", default="auto", help="auto, cpu, gpu, mps (Lightning)")
    sub.add_argument("--devices", default="auto", help="number of devices or auto")
    sub.add_argument("--strategy", default="auto", help="auto, ddp, ... (Lightning)")
    sub.add_argument("--logger", default="tensorboard", choices=["tensorboard", "wandb", "none"])
    _add_bool(sub, "progress", None, "progress bar (default: on a terminal)")

    sub = verb(
        "generate",
        cmd_generate,
        "Render sounds from a bundle: reconstruct a file, draw random sounds, move along named "
        "controls, interpolate or extrapolate, mix four corners, edit a latent with operators.",
        "  timbrespace generate reconstruct runs/kit/bundle kick.wav -o kick_ae.wav\n"
        "  timbrespace generate random runs/kit/bundle -n 8 -o out/random\n"
        "  timbrespace generate interpolate runs/kit a.wav b.wav --amount 0,0.5,1,1.2 -o mix/\n"
        "  timbrespace generate plane runs/kit a.wav b.wav c.wav d.wav --xy 0.3,0.7 -o p.wav\n"
        "  timbrespace generate path runs/kit a.wav --op scale=1.5 --op 'curve:3+=0:0,1:2' -o e.wav\n",
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
    rnd = actions.add_parser(
        "random",
        help="draw sounds from the data's latent distribution",
        description="Draw latents from a Gaussian fitted to the training latents and decode them.",
    )
    rnd.add_argument("bundle", help="bundle folder (or run folder)")
    rnd.add_argument("-n", type=int, default=8, help="number of sounds (default 8)")
    rnd.add_argument("--seed", type=int, default=0)
    rnd.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        help="spread relative to the data (1 = as in the data)",
    )
    rnd.add_argument("-o", "--output", required=True, help="output folder")

    sub = verb(
        "analyze",
        cmd_analyze,
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
    _add_bool(sub, "json", False, "print the summary as JSON")

    sub = verb(
        "plot",
        cmd_plot,
        "PNG figures of an analysed bundle: latent maps by pack and by each descriptor, "
        "explained variance, probe R².",
        "  timbrespace plot runs/kit -o figures/kit\n",
    )
    sub.add_argument("bundle", help="bundle folder (or run folder), analysed")
    sub.add_argument("-o", "--output", required=True, help="folder for the PNG files")

    sub = verb(
        "nearest",
        cmd_nearest,
        "The dataset sounds closest to a latent point: pick a point, load that sample.",
        "  timbrespace nearest runs/kit --from my_kick.wav -k 5\n"
        "  timbrespace nearest runs/kit --nearest kicks/808/kick_0000.wav --set pitch=+7st\n",
    )
    sub.add_argument("bundle", help="bundle folder (or run folder), analysed")
    _add_start_and_settings(sub)
    sub.add_argument("-k", type=int, default=5, help="how many sounds (default 5)")
    _add_bool(sub, "json", False, "print JSON")

    sub = verb(
        "demo",
        cmd_demo,
        "The embedded default end to end: demo pack → prepare → short training → sounds → eval → "
        "analyze → figures and a pitch sweep → the studio (on a terminal).",
        "  timbrespace demo\n  timbrespace demo --out /tmp/demo --minutes 1\n",
    )
    sub.add_argument("--out", default="demo", help="demo folder (default ./demo)")
    sub.add_argument("--n", type=int, default=600, help="sounds in the demo pack (default 600)")
    sub.add_argument("--sr", type=int, default=22050, help="sample rate, Hz (default 22050)")
    sub.add_argument("--length", type=float, default=1.0, help="clip length, s (default 1)")
    sub.add_argument("--preset", default="small", choices=["tiny", "small", "full"])
    sub.add_argument("--minutes", type=float, default=4.0, help="training time (default 4 min)")
    _add_bool(sub, "retrain", False, "train again even if the demo already has a bundle")
    _add_bool(sub, "studio", None, "start the studio at the end (default: on a terminal)")
    sub.add_argument("--port", type=int, default=8765, help="studio port (default 8765)")

    ctl = actions.add_parser(
        "control",
        help="move a sound along named controls (PCA axes, descriptors, packs, custom)",
        description="Start from a file, a dataset sound or a random point, set controls by the "
        "minimum-norm constrained move, decode. Needs `timbrespace analyze` first. Examples: "
        "--set pitch=+3st attack=0.005s pca1=1.5 'pack:kicks=1'; "
        "--sweep pitch=-12st:+12st:9 -o sweep_dir (WAVs, contact_sheet.png, sweep.json)",
    )
    ctl.add_argument("bundle", help="bundle folder (or run folder)")
    _add_start_and_settings(ctl)
    ctl.add_argument(
        "--sweep",
        metavar="NAME=START:STOP:STEPS",
        help="render STEPS sounds from START to STOP (e.g. pitch=-12st:+12st:9); -o is a folder",
    )
    ctl.add_argument("-o", "--output", required=True, help="output WAV (a folder with --sweep)")

    mix = actions.add_parser(
        "interpolate",
        help="mix two sounds' latents; amounts beyond 0..1 extrapolate",
        description="Encode A and B and decode a + amount·(b − a). One-shot models mix whole "
        "sounds: --amount 0,0.5,1,1.2 writes one sound per amount (a folder when several; 1.2 "
        "goes 20 %% beyond B). Path models take --curve TIME:AMOUNT,… over the output length.",
    )
    mix.add_argument("bundle", help="bundle folder (or run folder)")
    mix.add_argument("a", help="audio file A (amount 0)")
    mix.add_argument("b", help="audio file B (amount 1)")
    how = mix.add_mutually_exclusive_group()
    how.add_argument("--amount", help="comma-separated amounts (default 0.5)")
    how.add_argument("--curve", help="amount over time for path models, e.g. 0:0,0.5:1,1:1.3")
    mix.add_argument("--align", choices=_align_modes(), help="for paths of unequal length")
    mix.add_argument("-o", "--output", required=True, help="output WAV (a folder for several)")

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
    pln.add_argument("--align", choices=_align_modes(), help="for paths of unequal length")
    pln.add_argument("-o", "--output", required=True, help="output WAV")

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
    pth.add_argument("--seed", type=int, default=0, help="seed of noise and randomize")
    pth.add_argument("-o", "--output", required=True, help="output WAV")

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
    for writer in (rec, mix, pln, pth, trf):
        writer.add_argument(
            "--gla-iters",
            type=_gla_iterations,
            help="Griffin-Lim iterations of a spectral model (default: the model's, 32)",
        )
        _add_bool(writer, "normalize", False, "peak-normalise the output to -1 dBFS")

    sub = verb(
        "studio",
        cmd_studio,
        "Local web studio: the latent map, sliders, interpolation, the 4-way plane, path "
        "operators and export, served on 127.0.0.1.",
        "  timbrespace studio runs/kit\n"
        "  timbrespace studio runs/kit/bundle --data cache/kit --port 9000 --no-browser\n",
    )
    sub.add_argument("bundle", help="bundle folder (or run folder), analysed")
    sub.add_argument(
        "--data", default=None, help="cache whose dataset holds the originals (default: training's)"
    )
    sub.add_argument(
        "--dataset", default=None, help="dataset folder directly (default: the one --data records)"
    )
    sub.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    sub.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only)",
    )
    _add_bool(sub, "browser", True, "open the studio in a web browser")

    sub = verb(
        "eval",
        cmd_eval,
        "Quality metrics of a model and a linear (PCA) baseline on a cache split, as JSON.",
        "  timbrespace eval runs/kit --data cache/samples --split val\n",
    )
    sub.add_argument("run", help="run or bundle folder")
    sub.add_argument("--data", required=True, help="cache folder (same sample rate as the model)")
    sub.add_argument("--split", default="val", choices=["val", "train", "all"])
    sub.add_argument("--limit", type=int, default=None, help="evaluate at most N clips")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except TimbrespaceError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted; finished work is kept, re-run to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
