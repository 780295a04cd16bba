"""A sample pack made from the studio: N variations of a rendered sound (`timbrespace.pack`, the
library `generate pack` uses) written into the export folder as `packs/NAME/` with `pack.csv`,
as plain Python (the HTTP route is `play_routes`).

    made = export_pack(studio, exports, PackOrder(state=current, around=0.5, n=16))
    made["files"][0]["url"]     # /api/exports/packs/kick_around0.5/kick_around01.wav
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from timbrespace import runtime
from timbrespace.errors import TimbrespaceError
from timbrespace.pack import CSV_NAME, PackItem, PackRequest, pack_csv, plan_pack, render_pack
from timbrespace.space import CapabilityError
from timbrespace.studio.errors import StudioError, Unprocessable
from timbrespace.studio.export_folder import ExportFolder
from timbrespace.studio.pads import fit_peak, wav_at
from timbrespace.studio.service import Studio, value_refused


@dataclass(frozen=True)
class PackOrder:
    """What the page asks: the state to vary, the stem of the file names, the variations
    (`vary`: `NAME=START:STOP:STEPS` per control, or `around` a radius with `n` and `seed`),
    the WAV files' `rate` and `bits`, the folder `name` (default: the stem and what varies) and
    whether to write into a folder that holds files."""

    state: str
    stem: str = "sound"
    vary: tuple[str, ...] = ()
    around: float | None = None
    n: int = 16
    seed: int = 0
    rate: int = 44100
    bits: int = 24
    name: str | None = None
    overwrite: bool = False


def default_name(stem: str, order: PackOrder) -> str:
    """`kick_around0.5`, `kick_pitch+brightness`: the stem and what the pack varies."""
    if order.around is not None:
        return f"{stem}_around{order.around:g}"
    names = [text.partition("=")[0].rstrip("+").strip() for text in order.vary]
    return f"{stem}_{'+'.join(names)}"


def _library_error(error: TimbrespaceError) -> StudioError:
    """A refusal of `timbrespace.pack` as the HTTP error it is: 422 for a value over its limit
    or a render that is not finite, 400 otherwise (both naming what the library names)."""
    message = f"pack: {error}" if not str(error).startswith("pack") else str(error)
    return Unprocessable(message) if value_refused(error) else StudioError(message)


def file_entry(item: PackItem, written: dict[str, str], rate: int) -> dict[str, object]:
    """One file of the answer: name, path, url, seconds, peak (dBFS), offsets and notices."""
    peak = float(np.max(np.abs(item.audio), initial=0.0))
    return {
        **written,
        "seconds": round(item.audio.shape[-1] / rate, 4),
        "peak_db": round(20 * np.log10(peak), 2) if peak > 0 else None,
        "offsets": dict(item.offsets),
        "warnings": list(item.warnings),
    }


def export_pack(studio: Studio, exports: ExportFolder, order: PackOrder) -> dict[str, object]:
    """Render the pack `order` asks and write it (WAVs, then `pack.csv`) into a new folder of
    `exports` (a sound peaking over full scale is scaled to it, with a notice); returns `{"folder", "files", "csv", "warnings", "render_ms"}`. Everything is
    checked before anything is rendered (a bad control name, a pack over 256 sounds: 400/422)
    and the folder before anything is written (409 if it holds files, unless `overwrite`)."""
    z = studio.state(order.state).z.clone()
    try:
        request = PackRequest(
            z=torch.as_tensor(z),
            stem=order.stem,
            vary=order.vary,
            around=order.around,
            n=order.n,
            seed=order.seed,
            rate=order.rate,
            bits=order.bits,
        )
        plan = plan_pack(studio.space, request)
    except CapabilityError as error:
        raise StudioError(str(error)) from None
    except TimbrespaceError as error:
        raise _library_error(error) from None
    folder = exports.folder(
        "packs", order.name or default_name(plan.stem, order), overwrite=order.overwrite
    )
    started = time.perf_counter()
    try:
        with studio.model_lock, runtime.threads("render"):
            items = render_pack(studio.space, request, plan=plan)
    except TimbrespaceError as error:
        raise _library_error(error) from None
    render_ms = 1000.0 * (time.perf_counter() - started)
    files, scaled = [], []
    for item in items:
        item.audio, notices = fit_peak(item.audio, item.file)
        scaled += notices
        written = exports.write(folder, item.file, wav_at(item.audio, order.rate, order.bits))
        files.append(file_entry(item, written.as_dict(), order.rate))
    table = pack_csv(studio.space, items, request).encode("utf-8")
    csv = exports.write(folder, CSV_NAME, table).as_dict()
    notices = list(plan.warnings) + [f"{i.file}: {w}" for i in items for w in i.warnings] + scaled
    return {
        "folder": folder,
        "files": files,
        "csv": csv,
        "warnings": notices,
        "render_ms": round(render_ms, 1),
    }
