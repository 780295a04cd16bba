"""The `demo` verb: the embedded default end to end, by the same library calls as the verbs
(each step prints the equivalent command line first)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from timbrespace.cli.analysis import print_analysis, print_plots
from timbrespace.cli.common import add_bool, add_verb, check_output, print_json, save_sounds
from timbrespace.cli.control import write_sweep
from timbrespace.cli.data import print_demo_pack, print_prepare_report
from timbrespace.cli.generate import write_random
from timbrespace.cli.options import port, positive_float, positive_int, sample_rate
from timbrespace.cli.studio import STUDIO_PORT
from timbrespace.cli.train import PRESETS, print_train_result
from timbrespace.errors import TimbrespaceError

if TYPE_CHECKING:
    from timbrespace.space import LatentSpace

RANDOM_SOUNDS = 8
PITCH_SWEEP = "pitch=-7st:+7st:5"


def _has_bundle(run: Path) -> bool:
    """Whether an earlier demo's run folder already holds its trained bundle."""
    from timbrespace.bundle import bundle_dir

    try:
        bundle_dir(run)
    except TimbrespaceError:
        return False
    return True


def _announce(*words: object) -> None:
    print(f"$ timbrespace {' '.join(str(word) for word in words)}", flush=True)


def run_demo(args: argparse.Namespace) -> int:
    """Demo pack → prepare → short training → random sounds → eval → analyze → figures →
    reconstructions and a pitch sweep → the studio (on a terminal)."""
    from timbrespace.analyze import analyze_bundle
    from timbrespace.data.demo_pack import write_demo_pack
    from timbrespace.data.prepare import PrepareConfig, prepare_dataset
    from timbrespace.evaluation import evaluate
    from timbrespace.plots import plot_analysis
    from timbrespace.progress import progress_bar
    from timbrespace.space import LatentSpace
    from timbrespace.train.run import train

    out = check_output(args.out, "--out", "folder")
    pack, cache, run = out / "pack", out / "cache", out / "run"
    sounds, figures = out / "sounds", out / "figures"
    resume = (run / "run.json").exists()
    retrain = args.retrain or not _has_bundle(run)
    if not (pack / "parameters.csv").exists():
        _announce("demo-pack", pack, "--n", args.n, "--sr", args.sr)
        csv_path = write_demo_pack(
            pack, n=args.n, seed=0, sample_rate=args.sr, progress=sys.stderr.isatty()
        )
        print_demo_pack(pack, args.n, csv_path)

    _announce("prepare", pack, "-o", cache, "--sr", args.sr, "--length", args.length)
    config = PrepareConfig(sample_rate=args.sr, length=args.length)
    with progress_bar("prepare", enabled=None) as update:
        report = prepare_dataset(pack, cache, config, progress=update)
    code = print_prepare_report(report, pack)
    if code:
        return code

    if retrain:
        _announce("train", "--data", cache, "--out", run, "--preset", args.preset,
                  "--max-minutes", args.minutes, *(["--resume"] if resume else []))  # fmt: skip
        result = train(
            cache,
            run,
            preset=args.preset,
            train_overrides={"max_minutes": args.minutes},
            resume=resume,
        )
        print_train_result(result)

    _announce("generate", "random", run, "-n", RANDOM_SOUNDS, "-o", sounds / "random")
    write_random(LatentSpace.open(run, analysis=False), sounds / "random", RANDOM_SOUNDS)

    _announce("eval", run, "--data", cache, "--split", "val")
    print_json(evaluate(run, cache, split="val"))

    _announce("analyze", run)
    print_analysis(analyze_bundle(run))

    _announce("plot", run, "-o", figures)
    space = LatentSpace.open(run)
    print_plots(plot_analysis(space.analysis, figures), figures)

    _reconstruct_each_family(space, pack, sounds / "reconstructed")
    _pitch_sweep(space, pack, sounds / "pitch_sweep")
    print(f"demo done: bundle {run / 'bundle'}, sounds in {sounds}, figures in {figures}")
    studio = ["studio", run / "bundle", "--data", cache, "--port", args.port]
    print(
        f"play with it: timbrespace {' '.join(map(str, studio))}  → http://127.0.0.1:{args.port}/"
    )
    wanted = sys.stdout.isatty() if args.studio is None else args.studio
    if wanted:
        from timbrespace.studio.app import run as serve

        serve(run, data=cache, port=args.port)
    return 0


def _reconstruct_each_family(space: LatentSpace, pack: Path, out: Path) -> None:
    """The first sound of each family of the pack through the model (a failure is reported
    and the demo goes on)."""
    for family in sorted(path for path in pack.iterdir() if path.is_dir()):
        source = min(family.rglob("*.wav"), default=None)
        if source is None:
            continue
        try:
            save_sounds(
                space, [space.transfer(source)], str(out / f"{family.name}_{source.name}"), []
            )
        except TimbrespaceError as error:
            print(f"error: {error}", file=sys.stderr)


def _pitch_sweep(space: LatentSpace, pack: Path, out: Path) -> None:
    """A pitch sweep from the first pluck (a failure is reported and the demo goes on)."""
    start = next((p for p in sorted((pack / "plucks").rglob("*.wav"))), None)
    if start is None:
        return
    sound = start.relative_to(pack).as_posix()
    try:
        write_sweep(space, space.sound_latent(sound), sound, PITCH_SWEEP, out)
    except TimbrespaceError as error:
        print(f"error: {error}", file=sys.stderr)


def add_parsers(verbs: argparse._SubParsersAction) -> None:
    sub = add_verb(
        verbs,
        "demo",
        run_demo,
        "The embedded default end to end: demo pack → prepare → short training → sounds → eval → "
        "analyze → figures and a pitch sweep → the studio (on a terminal).",
        "  timbrespace demo\n  timbrespace demo --out /tmp/demo --minutes 1\n",
        job="train",
    )
    sub.add_argument("--out", default="demo", help="demo folder (default ./demo)")
    sub.add_argument(
        "--n", type=positive_int, default=600, help="sounds in the demo pack (default 600)"
    )
    sub.add_argument(
        "--sr", type=sample_rate, default=22050, help="sample rate, Hz (default 22050)"
    )
    sub.add_argument(
        "--length", type=positive_float, default=1.0, help="clip length, s (default 1)"
    )
    sub.add_argument("--preset", default="small", choices=PRESETS)
    sub.add_argument(
        "--minutes", type=positive_float, default=4.0, help="training time (default 4 min)"
    )
    add_bool(sub, "retrain", False, "train again even if the demo already has a bundle")
    add_bool(sub, "studio", None, "start the studio at the end (default: on a terminal)")
    sub.add_argument(
        "--port", type=port, default=STUDIO_PORT, help=f"studio port (default {STUDIO_PORT})"
    )
