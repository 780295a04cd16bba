"""Exports to the hosts musicians run: nn~ (Max / Pure Data), Neutone, ONNX.

`export_bundle` writes one file, loads it back and compares it with the bundle's own stream
before renaming it into place (`verify`), then writes a description beside it (`<file>.json`):
family, sample rate, block sizes, delay, controls, the torch / opset it was made with, the
weights' hash and the differences measured. The exporters add the host's wrapping only; the
model's block functions and controls come from `timbrespace.exportable`.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from timbrespace import __version__
from timbrespace.atomic import atomic_path
from timbrespace.errors import TimbrespaceError
from timbrespace.exportable import Exportable, exportable, exportable_decoder
from timbrespace.space import LatentSpace

FORMATS = ("nn_tilde", "neutone", "onnx")
SUFFIXES = {"nn_tilde": ".ts", "neutone": ".nm", "onnx": ".onnx"}


class ExportError(TimbrespaceError):
    """An export that cannot be made (family, format, path or package)."""


@dataclass
class ExportReport:
    """What `export_bundle` wrote and measured."""

    path: Path
    description_path: Path
    description: dict[str, Any]


def check_output(out: str | os.PathLike[str]) -> Path:
    """The export path, refused in one line when a parent is a file, the folder cannot be
    written, or it names a folder."""
    path = Path(out)
    if path.is_dir():
        raise ExportError(f"{path}: is a folder; give a file name (e.g. {path / 'model.ts'})")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise ExportError(f"{path}: {parent} is a file, not a folder")
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ExportError(f"{path}: cannot create {folder} ({error.strerror})") from error
    if not os.access(folder, os.W_OK):
        raise ExportError(f"{path}: the folder {folder} is not writable")
    return path


def _model_for(
    space: LatentSpace, fmt: str, controls: Sequence[str] | None, block: int
) -> Exportable:
    if not space.model.streaming:
        raise ExportError(
            f"{fmt} export: a {space.model.label} model ({space.bundle.family} family) does not "
            "stream block by block; nn~ and Neutone exports take streaming models (the stream "
            "and ddsp families); --format onnx exports a spectral model's decoder"
        )
    return exportable(space, controls, block=block)


def _export_decoder(space: LatentSpace, path: Path) -> dict[str, Any]:
    """A model that does not stream: its stateless decoder to ONNX, or a refusal saying why."""
    from timbrespace.export.onnx import OPSET, write_onnx_decoder
    from timbrespace.export.verify import check_decoder

    try:
        decoder = exportable_decoder(space)
    except TimbrespaceError as error:  # the family's own reason (a CapabilityError)
        raise ExportError(f"onnx export ({space.bundle.family} family): {error}") from error
    measured: dict[str, float] = {}

    def verify(tmp: Path) -> None:
        measured.update(check_decoder(space, decoder, tmp))

    write_onnx_decoder(decoder, path, verify=verify)
    return {
        **decoder.describe(),
        "inputs": [{"name": "latent", "shape": ["batch", decoder.latent_dim, "frames"]}],
        "outputs": [{"name": "magnitude", "shape": ["batch", decoder.channels, "bins", "frames"]}],
        "opset": OPSET,
        "max_difference": measured,
    }


def export_bundle(
    bundle: str | os.PathLike[str] | LatentSpace,
    fmt: str,
    out: str | os.PathLike[str],
    *,
    controls: Sequence[str] | None = None,
    block: int = 0,
) -> ExportReport:
    """Export `bundle` (a path or an opened space) as `fmt` to `out`, verified, with its
    description at `<out>.json`. `controls`: named controls to carry (None: the main ones);
    `block`: samples per recorded block of a fixed-block family (ddsp; 0: its default)."""
    space = bundle if isinstance(bundle, LatentSpace) else LatentSpace.open(bundle)
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "onnx" and not space.model.streaming:
        path = check_output(out)
        return _write_description(path, fmt, _export_decoder(space, path))
    model = _model_for(space, fmt, controls, block)
    path = check_output(out)
    measured: dict[str, float] = {}
    extra: dict[str, Any] = {}
    if fmt == "nn_tilde":
        from timbrespace.export.nn_tilde import NN_TILDE_TORCH, write_nn_tilde
        from timbrespace.export.verify import check_blocks, check_codec, torchscript_runner

        def verify(tmp: Path) -> None:
            measured.update(check_blocks(space, model, lambda: torchscript_runner(tmp)))
            measured.update(check_codec(space, model, tmp))

        write_nn_tilde(model, path, verify=verify)
        extra = {"methods": ["encode", "decode", "forward"], "host_torch": NN_TILDE_TORCH}
    elif fmt == "onnx":
        from timbrespace.export.onnx import signature, write_onnx
        from timbrespace.export.verify import check_steps, onnx_step

        def verify(tmp: Path) -> None:
            errors, parted = check_steps(space, model, lambda: onnx_step(tmp))
            measured.update(errors)
            if parted:
                extra["parted_blocks"] = parted

        write_onnx(model, path, verify=verify)
        extra.update(signature(model))
    else:
        from timbrespace.export.neutone import neutone_runner, write_neutone
        from timbrespace.export.verify import check_blocks

        def verify(tmp: Path) -> None:
            measured.update(
                check_blocks(
                    space, model, lambda: neutone_runner(tmp, model.sample_rate), batch=False
                )
            )

        extra = write_neutone(space, model, path, verify)
    description = {
        **model.describe(),
        "block_sizes": {
            "multiple_of": model.hop,
            "verified": [int(key) for key in measured if key.isdigit()],
        },
        "max_difference": measured,
        **extra,
    }
    if fmt == "onnx":
        description["controls"] = []
    return _write_description(path, fmt, description)


def _write_description(path: Path, fmt: str, description: dict[str, Any]) -> ExportReport:
    """`<file>.json` beside the export (atomically), with the versions it was made with."""
    description = {
        "format": fmt,
        "file": path.name,
        **description,
        "made_with": {
            "timbrespace": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
    }
    description_path = path.with_name(path.name + ".json")
    with atomic_path(description_path) as tmp:
        tmp.write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")
    return ExportReport(path, description_path, description)
