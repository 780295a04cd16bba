"""The `timbrespace` command: one entry point, one verb per workflow.

Verbs are thin functions over the library, one module per group (`data`, `train`, `generate`,
`analysis`, `demo`, `studio`; shared helpers in `common`); heavy imports happen inside the run
functions so `--help` is instant. Exit codes: 0 success; 1 a user error (message on stderr, one
line); 2 bad command-line usage; 3 `prepare --strict` found bad files (the rest was still
prepared).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from timbrespace import runtime
from timbrespace.cli import analysis, data, demo, export, generate, serve, studio, train
from timbrespace.cli.common import EXIT_USER_ERROR
from timbrespace.cli.train import parse_overrides
from timbrespace.errors import TimbrespaceError

__all__ = ["build_parser", "main", "parse_overrides"]


def build_parser() -> argparse.ArgumentParser:
    from timbrespace import __version__

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
    parser.add_argument("--version", action="version", version=f"timbrespace {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    data.add_parsers(verbs)
    train.add_parsers(verbs)
    generate.add_parsers(verbs)
    analysis.add_parsers(verbs)
    demo.add_parsers(verbs)
    studio.add_parsers(verbs)
    serve.add_parsers(verbs)
    export.add_parsers(verbs)
    analysis.add_eval_parser(verbs)
    return parser


def use_job_threads(args: argparse.Namespace) -> None:
    """`--threads N` pins every job of the run (through `TIMBRESPACE_THREADS`, so worker threads
    see it too); a verb that runs torch then starts under its job's thread count."""
    if getattr(args, "threads", None):
        os.environ[runtime.ENV_THREADS] = str(args.threads)
    if getattr(args, "job", None) is not None:
        runtime.use_threads(args.job)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        use_job_threads(args)
        return int(args.func(args))
    except TimbrespaceError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted; finished work is kept, re-run to resume", file=sys.stderr)
        return 130
