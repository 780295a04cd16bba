"""The `studio` verb: the local web UI for an analysed bundle."""

from __future__ import annotations

import argparse

from timbrespace.cli import options
from timbrespace.cli.common import add_bool, add_verb

STUDIO_PORT = 8765


def run_studio(args: argparse.Namespace) -> int:
    from timbrespace.studio.app import run

    run(
        args.bundle,
        data=args.data,
        host=args.host,
        port=args.port,
        open_browser=args.browser,
        dataset=args.dataset,
        exports=args.exports,
    )
    return 0


def add_parsers(verbs: argparse._SubParsersAction) -> None:
    sub = add_verb(
        verbs,
        "studio",
        run_studio,
        "Local web studio: the latent map, sliders, interpolation, the 4-way plane, path "
        "operators and export, served on 127.0.0.1.",
        "  timbrespace studio runs/kit\n"
        "  timbrespace studio runs/kit/bundle --data cache/kit --port 9000 --no-browser\n",
        job="render",
    )
    sub.add_argument("bundle", help="bundle folder (or run folder), analysed")
    sub.add_argument(
        "--data", default=None, help="cache whose dataset holds the originals (default: training's)"
    )
    sub.add_argument(
        "--dataset", default=None, help="dataset folder directly (default: the one --data records)"
    )
    sub.add_argument(
        "--exports",
        default=None,
        help="folder the studio writes kits and packs into (default: BUNDLE/exports)",
    )
    sub.add_argument("--port", type=options.port, default=STUDIO_PORT, help="port (default 8765)")
    sub.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only)",
    )
    add_bool(sub, "browser", True, "open the studio in a web browser")
