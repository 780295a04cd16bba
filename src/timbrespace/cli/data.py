"""Data verbs: `demo-pack`, `melodies`, `notes`, `prepare`, `info`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from timbrespace.cli.common import (
    EXIT_BAD_FILES,
    EXIT_USER_ERROR,
    add_bool,
    add_verb,
    check_output,
    print_json,
    print_notices,
    writing,
)
from timbrespace.cli.options import positive_float, positive_int, sample_rate, seed

if TYPE_CHECKING:
    from timbrespace.data.prepare import PrepareReport


def run_demo_pack(args: argparse.Namespace) -> int:
    from timbrespace.data.demo_pack import write_demo_pack

    check_output(args.out, "OUT", "folder")
    with writing(args.out):
        csv_path = write_demo_pack(
            args.out, n=args.n, seed=args.seed, sample_rate=args.sr, progress=sys.stderr.isatty()
        )
    print_demo_pack(args.out, args.n, csv_path)
    return 0


def print_demo_pack(out: str | Path, n: int, csv_path: Path) -> None:
    print(f"wrote {n} sounds to {Path(out)}; ground truth in {csv_path}")


def run_melodies(args: argparse.Namespace) -> int:
    from timbrespace.data.melodies import write_melodies

    instruments = tuple(name.strip() for name in args.instruments.split(",") if name.strip())
    check_output(args.out, "OUT", "folder")
    with writing(args.out):
        paths = write_melodies(
            args.out,
            instruments=instruments,
            seconds=args.seconds,
            sample_rate=args.sr,
            seed=args.seed,
        )
    print(f"wrote {len(paths)} melodies ({len(instruments)} instruments) to {Path(args.out)}")
    return 0


def run_notes(args: argparse.Namespace) -> int:
    from timbrespace.data.notes import (
        parse_pitch_range,
        parse_velocities,
        plan_notes,
        rendered_notes,
        write_notes,
    )

    instruments = tuple(name.strip() for name in args.instruments.split(",") if name.strip())
    pitches = parse_pitch_range(args.pitches)
    velocities = parse_velocities(args.velocities)
    plan = plan_notes(
        instruments=instruments,
        pitches=pitches,
        velocities=velocities,
        clip_range=args.clip_range,
    )
    check_output(args.out, "OUT", "folder")
    kept = rendered_notes(args.out, plan.notes, seconds=args.seconds, sample_rate=args.sr)
    with writing(args.out):
        paths = write_notes(
            args.out,
            instruments=instruments,
            pitches=pitches,
            velocities=velocities,
            seconds=args.seconds,
            sample_rate=args.sr,
            clip_range=args.clip_range,
        )
    skipped = (
        f", skipped {len(plan.skipped)} outside their instrument's range (--no-clip-range "
        "renders them)"
        if plan.skipped
        else ""
    )
    print(
        f"wrote {len(paths) - len(kept)} notes, kept {len(kept)} already there{skipped}; "
        f"{len(paths)} notes ({', '.join(instruments)}) in {Path(args.out)}, "
        f"labels in {Path(args.out) / 'notes.csv'}"
    )
    print_notices(unlisted_sounds(Path(args.out), paths))
    return 0


def unlisted_sounds(out: Path, paths: list[Path]) -> list[str]:
    """A notice when `out` holds sounds `notes.csv` does not list (an earlier run with other
    instruments, pitches or velocities): prepare keeps them without a label."""
    from timbrespace.data.scan import scan_dataset

    listed = {path.relative_to(out).as_posix() for path in paths}
    unlisted = [
        source.relpath for source in scan_dataset(out).audio if source.relpath not in listed
    ]
    if not unlisted:
        return []
    return [
        f"{len(unlisted)} sounds in {out} are not in notes.csv (e.g. {unlisted[0]}): prepare "
        "would keep them without a note label, which a note model refuses; remove them or "
        "render into a new folder"
    ]


def run_prepare(args: argparse.Namespace) -> int:
    from timbrespace.data.prepare import PrepareConfig, prepare_dataset
    from timbrespace.progress import progress_bar

    check_output(args.output, "-o", "folder")
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
    return print_prepare_report(report, args.dataset, as_json=args.json, strict=args.strict)


def print_prepare_report(
    report: PrepareReport, dataset: str | Path, *, as_json: bool = False, strict: bool = False
) -> int:
    """Print what `prepare_dataset` did; returns the exit code (1: no usable file; 3: bad files
    and `strict`)."""
    if as_json:
        print_json(report.to_dict())
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
        print(f"error: no usable audio file in {dataset}", file=sys.stderr)
        return EXIT_USER_ERROR
    return EXIT_BAD_FILES if strict and report.bad else 0


def run_info(args: argparse.Namespace) -> int:
    from timbrespace.data.prepare import cache_summary

    summary = cache_summary(args.cache)
    if args.json:
        print_json(summary)
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


def add_parsers(verbs: argparse._SubParsersAction) -> None:
    sub = add_verb(
        verbs,
        "demo-pack",
        run_demo_pack,
        "Write the built-in procedural pack (kicks, snares, hats, toms, plucks, chords, bells, "
        "cymbals) with ground truth.",
        "  timbrespace demo-pack demo/pack\n  timbrespace demo-pack pack --n 100 --seed 3 --sr 16000\n",
    )
    sub.add_argument("out", help="output folder")
    sub.add_argument("--n", type=positive_int, default=600, help="number of sounds (default 600)")
    sub.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    sub.add_argument(
        "--sr", type=sample_rate, default=44100, help="sample rate, Hz (default 44100)"
    )

    sub = add_verb(
        verbs,
        "melodies",
        run_melodies,
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
        help="comma-separated: piano, vibraphone, organ, reed_organ, nylon_guitar, bass, violin, "
        "cello, trumpet, alto_sax, flute, square_lead",
    )
    sub.add_argument(
        "--seconds", type=positive_float, default=120.0, help="audio per instrument, s"
    )
    sub.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    sub.add_argument(
        "--sr", type=sample_rate, default=22050, help="sample rate, Hz (default 22050)"
    )

    sub = add_verb(
        verbs,
        "notes",
        run_notes,
        "Render a labelled note set with fluidsynth (Debian timgm6mb-soundfont): one GM note "
        "per file, listed with its instrument, pitch and velocity in OUT/notes.csv, for "
        "note-conditioned models.",
        "  timbrespace notes data/notes --instruments flute,cello,trumpet --pitches C2:C6\n"
        "  timbrespace notes data/notes --pitches 48:72 --velocities 40,80,120 --seconds 1.5\n"
        "  timbrespace prepare data/notes -o cache/notes --mode oneshot --length 1.5 --sr 22050\n",
    )
    sub.add_argument("out", help="output folder")
    sub.add_argument(
        "--instruments",
        default="piano,reed_organ,violin,cello,trumpet,flute",
        help="comma-separated: piano, vibraphone, organ, reed_organ, nylon_guitar, bass, violin, "
        "cello, trumpet, alto_sax, flute, square_lead",
    )
    sub.add_argument(
        "--pitches",
        default="C2:C6",
        help="MIDI pitch range LOW:HIGH, inclusive: numbers (36:84) or note names with C4 = 60 "
        "(C2:C6, C#3:Bb5) (default C2:C6)",
    )
    sub.add_argument(
        "--velocities", default="40,80,120", help="comma-separated, 1…127 (default 40,80,120)"
    )
    sub.add_argument(
        "--seconds", type=positive_float, default=1.5, help="length of each file, s (default 1.5)"
    )
    sub.add_argument(
        "--sr", type=sample_rate, default=22050, help="sample rate, Hz (default 22050)"
    )
    add_bool(
        sub,
        "clip-range",
        True,
        "skip the pitches outside each instrument's playable range (default: on)",
    )

    sub = add_verb(
        verbs,
        "prepare",
        run_prepare,
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
    sub.add_argument(
        "--sr", type=sample_rate, default=44100, help="sample rate, Hz (default 44100)"
    )
    sub.add_argument(
        "--length", type=positive_float, default=1.0, help="clip/chunk length, s (default 1)"
    )
    sub.add_argument(
        "--hop",
        type=positive_float,
        default=None,
        help="continuous mode: chunk hop, s (default length/2)",
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
        type=positive_float,
        default=1200.0,
        help="decode at most this much of each file, s (default 1200)",
    )
    sub.add_argument(
        "--workers", type=positive_int, default=None, help="processes (default: all cores)"
    )
    add_bool(sub, "rebuild", False, "discard the existing cache and start over")
    add_bool(sub, "strict", False, "exit with code 3 if any file was bad")
    add_bool(sub, "json", False, "print the report as JSON")
    add_bool(sub, "progress", None, "progress bar (default: on a terminal)")

    sub = add_verb(
        verbs,
        "info",
        run_info,
        "Summarise a prepared cache: packs, counts, durations, descriptor ranges, bad files.",
        "  timbrespace info cache/samples\n  timbrespace info cache/samples --json\n",
    )
    sub.add_argument("cache", help="cache folder written by `timbrespace prepare`")
    add_bool(sub, "json", False, "print JSON instead of tables")
