"""The `serve` verb: the realtime engine with OSC control (device, file or null backend)."""

from __future__ import annotations

import argparse

from timbrespace.cli import options
from timbrespace.cli.common import add_verb, check_output
from timbrespace.runtime import ENGINE_RUNTIMES

EXAMPLES = (
    "examples/osc/timbrespace.pd (Pure Data), examples/osc/timbrespace.maxpat (Max), "
    "examples/osc/client.py (Python)"
)


def run_serve(args: argparse.Namespace) -> int:
    if args.osc_help:
        from timbrespace.engine.addresses import osc_help

        print(osc_help())
        return 0
    if args.list_midi:
        from timbrespace.engine.midi_in import list_midi_inputs

        print(list_midi_inputs())
        return 0
    if args.list_devices:
        from timbrespace.engine.backends import list_devices

        print(list_devices())
        return 0
    if args.bundle is None:
        from timbrespace.errors import TimbrespaceError

        raise TimbrespaceError("serve: give a BUNDLE (or --list-devices / --osc-help)")
    if args.backend == "file":
        if args.output is None:
            from timbrespace.errors import TimbrespaceError

            raise TimbrespaceError("--backend file needs -o OUTPUT.wav")
        check_output(args.output, "-o", "audio")
    from timbrespace.engine.serve import serve

    serve(
        args.bundle,
        backend=args.backend,
        block=args.block,
        host=args.host,
        port=None if args.no_osc else args.port,
        input_path=args.input,
        output=args.output,
        seconds=args.seconds,
        commands=args.commands,
        gla_iters=args.gla_iters,
        device=args.device,
        pace=args.pace,
        midi=args.midi,
        runtime="python" if args.eager else args.runtime,
    )
    return 0


def add_parsers(verbs: argparse._SubParsersAction) -> None:
    sub = add_verb(
        verbs,
        "serve",
        run_serve,
        "Realtime engine: plays a bundle block by block (live input through a streaming "
        "model, looped latent paths, triggered one-shots), controlled over OSC on 127.0.0.1 "
        f"(`--osc-help` lists the addresses). Example patches: {EXAMPLES}.",
        "  timbrespace serve runs/voice --block 512\n"
        "  timbrespace serve runs/voice --backend file -i take.wav -o out.wav --commands cues.txt\n"
        "  timbrespace serve runs/kit --backend null --seconds 10\n"
        "  timbrespace serve runs/violin --block 128 --midi keyboard\n"
        "  timbrespace serve --list-devices\n",
        job="realtime",
    )
    sub.add_argument("bundle", nargs="?", help="bundle folder (or run folder)")
    sub.add_argument(
        "--backend",
        choices=("device", "file", "null"),
        default="device",
        help="device: the sound card; file: render -i/--seconds to -o (deterministic); "
        "null: the audio clock without sound (default: device)",
    )
    sub.add_argument("--block", type=options.positive_int, default=512, help="samples per block")
    sub.add_argument("-i", "--input", default=None, help="input audio file (file backend)")
    sub.add_argument("-o", "--output", default=None, help="output audio file (file backend)")
    sub.add_argument("--seconds", type=options.positive_float, default=None, help="length (s)")
    sub.add_argument(
        "--commands",
        default=None,
        help="timed OSC messages, one `SECONDS /address args` per line (file backend)",
    )
    sub.add_argument(
        "--pace",
        type=options.positive_float,
        default=None,
        help="file backend speed (1 = real time, so live OSC lands); default: max",
    )
    sub.add_argument(
        "--gla-iters",
        type=options.positive_int,
        default=None,
        help="Griffin-Lim iterations per block (spectral models)",
    )
    sub.add_argument("--device", default=None, help="audio device name or number")
    sub.add_argument("--port", type=options.port, default=9000, help="OSC port (default 9000)")
    sub.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on for OSC (default 127.0.0.1: this machine only)",
    )
    sub.add_argument("--no-osc", action="store_true", help="do not listen for OSC")
    sub.add_argument(
        "--runtime",
        choices=ENGINE_RUNTIMES,
        default="auto",
        help="what runs a streaming model: its exported graphs in onnxruntime or torchscript "
        "(auto: times both at this block and plays the faster), or python, the model's own "
        "code (the same sound, two to three times slower per small block); default auto",
    )
    sub.add_argument("--eager", action="store_true", help="the same as --runtime python")
    sub.add_argument(
        "--midi",
        default=None,
        metavar="PORT",
        help="play notes from this MIDI input (part of its name; an instrument or one-shot model)",
    )
    sub.add_argument("--list-midi", action="store_true", help="list MIDI inputs and exit")
    sub.add_argument("--list-devices", action="store_true", help="list audio devices and exit")
    sub.add_argument("--osc-help", action="store_true", help="print the OSC addresses and exit")
