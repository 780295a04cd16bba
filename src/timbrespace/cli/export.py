"""The `export` verb: a bundle as a file for nn~ (Max / Pure Data), Neutone or ONNX Runtime,
loaded back and compared with the bundle before it is kept."""

from __future__ import annotations

import argparse

from timbrespace.cli.common import add_verb

FORMATS = ("nn_tilde", "neutone", "onnx")


def run_export(args: argparse.Namespace) -> int:
    from timbrespace.export import export_bundle

    controls = None
    if args.controls is not None:
        controls = [name.strip() for name in args.controls.split(",") if name.strip()]
    report = export_bundle(
        args.bundle, args.format, args.output, controls=controls, block=args.block
    )
    info = report.description
    if "griffin_lim" in info:
        gla = info["griffin_lim"]
        print(
            f"wrote {report.path} (onnx, the {info['family']} decoder: latent path → linear "
            f"magnitudes at {info['sample_rate']} Hz; Griffin-Lim in the host: n_fft "
            f"{gla['n_fft']}, hop {gla['hop']}, Hann, {gla['iterations']} iterations)"
        )
        print(
            "loaded back: matches the bundle's decoder within "
            f"{info['max_difference']['relative']:.1e} of its largest output"
        )
        print(f"described in {report.description_path}")
        return 0
    worst = max(info["max_difference"].values(), default=None)
    fixed = info["fixed_block"]
    if fixed and args.format == "onnx":
        blocks = f"blocks of exactly {fixed} samples at batch 1 (feed longer buffers in pieces)"
    else:
        blocks = f"blocks of any multiple of {fixed or info['hop']} samples"
    print(
        f"wrote {report.path} ({args.format}, {info['family']}, {info['sample_rate']} Hz, "
        f"{blocks}, delay {info['delay_samples']} samples = {info['delay_ms']:g} ms)"
    )
    if worst is not None:
        checked = ", ".join(str(b) for b in info["block_sizes"]["verified"])
        print(f"loaded back: blocks of {checked} samples match the bundle within {worst:.1e}")
    names = ", ".join(f"{c['attribute']} ({c['unit'] or 'no unit'})" for c in info["controls"])
    if names:
        print(f"controls: {names}; 0 releases a control")
    print(f"described in {report.description_path}")
    return 0


def add_parsers(verbs: argparse._SubParsersAction) -> None:
    sub = add_verb(
        verbs,
        "export",
        run_export,
        "Export a streaming bundle (stream, ddsp) for nn~ (Max / Pure Data), Neutone or ONNX "
        "Runtime, or a spectral model's decoder for ONNX Runtime; the file is loaded back and "
        "compared with the bundle before it is kept, and described in a JSON beside it.",
        "  timbrespace export runs/voice --format nn_tilde -o voice.ts\n"
        "  timbrespace export runs/voice --format onnx -o voice.onnx\n"
        "  timbrespace export runs/voice --format nn_tilde -o voice.ts --controls pitch,brightness\n"
        "  timbrespace export runs/violin --format onnx -o violin.onnx --block 512\n",
        job="render",
    )
    sub.add_argument("bundle", help="bundle folder (or run folder)")
    sub.add_argument("--format", required=True, choices=FORMATS, help="the host's format")
    sub.add_argument("-o", "--output", required=True, help="file to write (e.g. model.ts)")
    sub.add_argument(
        "--block",
        type=int,
        default=0,
        help="ddsp: samples per recorded block (a multiple of the hop; default: 128 rounded up "
        "to the hop); nn~ runs any host buffer that is a multiple of it",
    )
    sub.add_argument(
        "--controls",
        default=None,
        help="named controls to carry, comma-separated (default: pitch, brightness, loudness… "
        "those the analysis has and does not mark weak; '' for none)",
    )
