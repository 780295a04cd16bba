"""Sample packs: N variations of one sound, rendered to a folder with descriptive names, at a
chosen rate and bit depth, with `pack.csv` of their control values. The CLI's
`generate pack` and (later) the studio call this; it holds the pack's math and naming.

    request = PackRequest(sound="kick_0001.wav", vary=("pitch=-3st:+3st:4",))
    items = render_pack(space, request)       # planned, moved, rendered, measured
    write_pack(space, items, "packs/kick", request)

Two kinds of pack:
- **vary**: a grid along named controls, each `NAME=START:STOP:STEPS` with START and STOP in
  the syntax of `generate control --set` (`pitch=-3st:+3st:4`, `brightness=-20%:+20%:3`,
  `attack=5ms:50ms:4`, `pca1+=-1:+1:3`). Offsets (st, %, `+=`) step evenly in the unit typed;
  absolute values evenly on the control's scale (as `--sweep`). Every point is reached by
  `LatentSpace.move` (the closed loop where the model has one), so a relative offset is taken
  from the measured start sound and the sound measures what is asked.
- **around**: `n` random directions at one distance from the start (`random_around`).

Files are named after the start sound's stem and what moved it:
`kick_pitch+3st_brightness+20pct.wav`, `kick_pitch=440Hz.wav` (an absolute value),
`kick_around03.wav`. Every sound is measured (it needs the bundle's analysis).
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from timbrespace.atomic import write_bytes_atomic
from timbrespace.audio.io import resample, save_audio
from timbrespace.errors import NonFiniteError, TimbrespaceError
from timbrespace.latent.control import Control
from timbrespace.latent.settings import RATIO_UNITS, Setting, parse_setting
from timbrespace.limits import LIMITS, PACK_BITS, PACK_RATES, check_count
from timbrespace.models.base import CapabilityError
from timbrespace.space import LatentSpace

SUBTYPES: dict[int, str] = {bits: f"PCM_{bits}" for bits in PACK_BITS}
"""Bit depths of the WAV files (`limits.PACK_BITS`) → their libsndfile subtype."""
PACK_INPUTS = ("clip", "continuous")
"""Model input kinds whose latent is a space of sounds to vary (not ddsp's pitch and loudness
curves, not a note model's labels)."""
CSV_NAME = "pack.csv"
STEM_MAX = 60
"""Characters of the start sound's stem kept in file names."""
VARY_EXAMPLES = "e.g. pitch=-3st:+3st:4, brightness=-20%:+20%:3, attack=5ms:50ms:4"
RENDER_CHUNK = 16
"""Latents rendered at once for an `around` pack."""

Progress = Callable[[int, int, "PackItem"], None]
"""Called after each rendered item with (done, total, item)."""


@dataclass(frozen=True)
class PackRequest:
    """What to render. The start: one of `sound` (a dataset sound of the analysis: index, path
    or unique end of its path), `source` (an audio file, or a latent saved by `generate
    encode`) or `z` (a latent `[1, dim, frames]`, e.g. the studio's current sound); `stem`
    names the files (default: the start's file stem). The variations: `vary` (a grid, one
    `NAME=START:STOP:STEPS` per control) or `around` (a radius in per-axis standard deviations,
    `n` directions drawn with `seed`). `rate` (Hz, one of `PACK_RATES`) and `bits` (16 or 24)
    of the WAV files; `lock`, `extrapolate`, `closed_loop` and `gla_iters` as in
    `LatentSpace.move` and `render`."""

    sound: str | int | None = None
    source: str | os.PathLike[str] | None = None
    z: torch.Tensor | None = None
    stem: str | None = None
    vary: tuple[str, ...] = ()
    around: float | None = None
    n: int = 16
    seed: int = 0
    rate: int = 44100
    bits: int = 24
    lock: tuple[str, ...] = ()
    extrapolate: bool = False
    closed_loop: bool | None = None
    gla_iters: int | None = None

    def __post_init__(self) -> None:
        starts = [self.sound is not None, self.source is not None, self.z is not None]
        if sum(starts) != 1:
            raise TimbrespaceError(
                "a pack starts from one sound: a dataset sound, a file or a latent"
            )
        if bool(self.vary) == (self.around is not None):
            raise TimbrespaceError(
                f"a pack varies either along controls (vary, {VARY_EXAMPLES}) or around the "
                "start (around RADIUS), one of the two"
            )
        if self.rate not in PACK_RATES:
            rates = " or ".join(str(r) for r in PACK_RATES)
            raise TimbrespaceError(f"rate {self.rate} Hz: a pack is written at {rates} Hz")
        if self.bits not in PACK_BITS:
            raise TimbrespaceError(f"bits {self.bits}: a pack is written as 16- or 24-bit WAV")
        if self.around is not None:
            if not math.isfinite(self.around) or self.around <= 0:
                raise TimbrespaceError(f"around {self.around:g}: the radius must be above 0")
            check_count("sounds", self.n, "number of variations")


@dataclass(frozen=True)
class Step:
    """One step of a `vary` axis: the setting asked and its offset as text (`+3st`, `=5ms`)."""

    setting: Setting
    label: str


@dataclass
class Variation:
    """One planned sound: its file name, the settings that move the start there (vary) or its
    latent (around), and the typed offset of each varied control."""

    file: str
    settings: list[Setting] = field(default_factory=list)
    offsets: dict[str, str] = field(default_factory=dict)
    z: torch.Tensor | None = None


@dataclass
class PackPlan:
    """A checked request: the start latent `[1, dim, frames]`, what it is (`origin`), the stem
    of the names, the variations in order, and notices (weak controls)."""

    start: torch.Tensor
    origin: str
    stem: str
    variations: list[Variation]
    warnings: list[str] = field(default_factory=list)


@dataclass
class PackItem:
    """One rendered sound of a pack. audio: float32 `[channels, samples]` at the request's
    rate; z `[1, dim, frames]`; offsets: per varied control, the offset asked as typed
    (`+3st`); requested: per varied control, the value asked after limits, in its unit;
    values: every control's value in its unit, measured on the rendered sound for the
    controls in `measured` (those with a descriptor), else read from the latent; warnings:
    what the move could not do (a clamp, a control out of reach)."""

    file: str
    audio: np.ndarray
    z: torch.Tensor
    offsets: dict[str, str]
    requested: dict[str, float]
    values: dict[str, float]
    measured: frozenset[str]
    warnings: list[str] = field(default_factory=list)


def check_pack_model(space: LatentSpace) -> None:
    """Refuse a model whose latent is not a space of sounds to vary (`PACK_INPUTS`)."""
    model = space.model
    if model.input_kind not in PACK_INPUTS:
        played = {"f0_loudness": "pitch and loudness curves", "notes": "note and style labels"}
        raise CapabilityError(
            f"pack: a {model.label} model is played from "
            f"{played.get(model.input_kind, model.input_kind)}, not from points of a space of "
            "sounds; packs need a one-shot, spectral, stream or vq model"
        )


def plan_pack(space: LatentSpace, request: PackRequest) -> PackPlan:
    """Check everything a pack asks (the model, the start, control names, units, counts) and
    list its variations, before anything is rendered."""
    check_pack_model(space)
    space.controls  # noqa: B018  (refuses a bundle without analysis: pack.csv needs its controls)
    start, origin, stem = _start(space, request)
    stem = safe_name(request.stem or stem)
    warnings = []
    if request.vary:
        axes = [vary_axis(text, space.controls) for text in request.vary]
        names = [axis[0].setting.name for axis in axes]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise TimbrespaceError(f"vary: {', '.join(twice)} is varied twice; vary it once")
        for name in request.lock:
            space.control(name)
            if name in names:
                raise TimbrespaceError(f"lock: {name} is varied; a control is locked or varied")
        total = math.prod(len(axis) for axis in axes)
        check_count("sounds", total, f"pack ({' × '.join(str(len(a)) for a in axes)} grid)")
        for name in [*names, *request.lock]:
            weak = space.controls[name].weak
            if weak:
                warnings.append(f"{name} is a weak control: {weak}")
        variations = []
        for steps in itertools.product(*axes):
            parts = [f"{_file_word(step.setting.name)}{_file_word(step.label)}" for step in steps]
            variations.append(
                Variation(
                    file="_".join([stem, *parts]),
                    settings=[step.setting for step in steps],
                    offsets={step.setting.name: step.label for step in steps},
                )
            )
    else:
        assert request.around is not None
        latents = random_around(space, start, request.n, request.around, seed=request.seed)
        width = max(2, len(str(request.n)))
        variations = [
            Variation(file=f"{stem}_around{i + 1:0{width}d}", z=latents[i : i + 1])
            for i in range(request.n)
        ]
    for variation, file in zip(variations, unique_names(v.file for v in variations), strict=True):
        variation.file = file + ".wav"
    return PackPlan(start, origin, stem, variations, warnings)


def render_pack(
    space: LatentSpace,
    request: PackRequest,
    *,
    plan: PackPlan | None = None,
    progress: Progress | None = None,
) -> list[PackItem]:
    """Plan (`plan_pack`, unless given), move, render, measure and resample every variation:
    a vary pack moves the start by `LatentSpace.move` per grid point; an around pack renders
    its latents in chunks. Nothing is written; a render that is not finite is refused."""
    plan = plan or plan_pack(space, request)
    items: list[PackItem] = []
    total = len(plan.variations)
    if request.vary:
        for variation in plan.variations:
            moved = space.move(
                plan.start,
                variation.settings,
                lock=list(request.lock),
                extrapolate=request.extrapolate,
                closed_loop=request.closed_loop,
                gla_iters=request.gla_iters,
            )
            audio = moved.audio if moved.audio is not None else _render(space, moved.z_new, request)
            item = _item(space, request, variation, moved.z_new, audio[0], moved.measured)
            item.requested, item.warnings = dict(moved.requested), list(moved.warnings)
            items.append(item)
            if progress:
                progress(len(items), total, item)
        return items
    for first in range(0, total, RENDER_CHUNK):
        chunk = plan.variations[first : first + RENDER_CHUNK]
        latents = torch.cat([v.z for v in chunk if v.z is not None])
        for variation, audio in zip(chunk, _render(space, latents, request), strict=True):
            assert variation.z is not None
            items.append(_item(space, request, variation, variation.z, audio, {}))
            if progress:
                progress(len(items), total, items[-1])
    return items


def random_around(
    space: LatentSpace, z: torch.Tensor, n: int, radius: float, *, seed: int = 0
) -> torch.Tensor:
    """`n` latents `[n, dim, frames]` around `z` `[1, dim, frames]`: `z + radius·σ·√dim·u`, u a
    random unit direction (uniform on the sphere, seeded), σ the training latents' per-axis
    standard deviation (the diagonal of the covariance fitted at training, as `random`
    draws from), so each move has an RMS of `radius` σ per axis and all lie at one distance.
    A path latent moves by the same offset at every frame."""
    check_count("sounds", n, "number of variations")
    extra = space.bundle.extra
    if "latent_cholesky" not in extra:
        raise TimbrespaceError(f"{space.bundle.path}: no latent statistics (extra.safetensors)")
    start = torch.as_tensor(z).double()
    dim = int(space.model.latent_dim)
    if start.dim() != 3 or start.shape[:2] != (1, dim):
        raise ValueError(f"start latent: expected [1, {dim}, frames], got {list(start.shape)}")
    std = extra["latent_cholesky"].double().pow(2).sum(dim=1).sqrt()  # diag(L·Lᵀ)^½
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, dim, generator=generator, dtype=torch.float64)
    offsets = radius * math.sqrt(dim) * std * noise / noise.norm(dim=1, keepdim=True)
    return (start + offsets[:, :, None]).float()


def vary_axis(text: str, controls: dict[str, Control]) -> list[Step]:
    """The steps of `NAME=START:STOP:STEPS` (or `NAME+=START:STOP:STEPS`): START and STOP in
    the syntax of `--set`, in one unit. Offsets step evenly in the typed unit, absolute values
    evenly on the control's scale."""
    label = f"vary {text!r}"
    name, op, rest = text.partition("+=") if "+=" in text else text.partition("=")
    parts = rest.split(":")
    if not op or len(parts) != 3 or not name.strip():
        raise TimbrespaceError(f"{label}: expected NAME=START:STOP:STEPS, {VARY_EXAMPLES}")
    try:
        count = int(parts[2])
    except ValueError:
        raise TimbrespaceError(f"{label}: STEPS {parts[2]!r} is not a whole number") from None
    low, high = (int(v) for v in (LIMITS["sweep_steps"].low, LIMITS["sweep_steps"].high))
    if not low <= count <= high:
        raise TimbrespaceError(f"{label}: STEPS must be between {low} and {high}")
    try:
        ends = [parse_setting(f"{name}{op}{value}", controls) for value in parts[:2]]
    except TimbrespaceError as error:
        raise TimbrespaceError(f"{label}: {error}") from None
    first, last = ends
    if (first.unit, first.relative) != (last.unit, last.relative):
        raise TimbrespaceError(f"{label}: START and STOP must be given the same way (unit, +=)")
    control = controls[first.name]
    if first.unit == "st" and control.unit != "Hz":
        raise TimbrespaceError(f"{label}: semitones need a control in Hz")
    if first.unit not in ("", control.unit, *RATIO_UNITS):
        raise TimbrespaceError(f"{label}: {first.name} is set in {control.unit or 'no unit'}")
    if first.relative:
        values = np.linspace(first.value, last.value, count)
    else:  # evenly on the control's scale (semitones for a pitch, log for times), as --sweep
        try:
            ends_scaled = [control.from_user(end.value) for end in ends]
        except TimbrespaceError as error:
            raise TimbrespaceError(f"{label}: {error}") from None
        if not all(math.isfinite(v) for v in ends_scaled):
            raise TimbrespaceError(f"{label}: not a value {first.name} can take")
        scaled = np.linspace(ends_scaled[0], ends_scaled[1], count)
        values = np.array([control.to_user(float(v)) for v in scaled])
    return [
        Step(Setting(first.name, float(v), first.relative, first.unit), offset_text(first, v))
        for v in values
    ]


def offset_text(setting: Setting, value: float) -> str:
    """A step's value as people type it: `+3st`, `-20%`, `+6dB`, `=440Hz`, `=5ms`, `=1.5`."""
    value = float(value) + 0.0  # no -0
    unit = setting.unit
    if unit == "s" and abs(value) < 1.0:
        value, unit = value * 1000.0, "ms"
    number = f"{value:+.3g}" if setting.relative else f"={value:.4g}"
    return number + unit


def safe_name(text: str) -> str:
    """`text` as a portable file name part: ASCII letters, digits and `+-=._` (anything else
    becomes `-`), no leading dot or dash, at most `STEM_MAX` characters; "sound" if empty."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9+=._-]+", "-", ascii_text).strip(".-")[:STEM_MAX]
    return cleaned.strip(".-") or "sound"


def _file_word(text: str) -> str:
    """A control name or offset inside a file name (`pack:kicks` → `pack-kicks`, `%` → `pct`)."""
    return re.sub(r"[^A-Za-z0-9+=._-]+", "-", text.replace("%", "pct"))


def unique_names(names: Iterable[str]) -> list[str]:
    """`names` made unique without regard to case (`a`, `a_2`, `a_3`, …), in order."""
    seen: set[str] = set()
    out = []
    for name in names:
        candidate, k = name, 2
        while candidate.lower() in seen:
            candidate, k = f"{name}_{k}", k + 1
        seen.add(candidate.lower())
        out.append(candidate)
    return out


def check_pack_folder(folder: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Refuse to write a pack into a folder that holds anything, unless `force` (then files of
    the same names are replaced, the others left)."""
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise TimbrespaceError(f"{path}: is a file, not a folder")
    if not force and path.is_dir() and any(path.iterdir()):
        raise TimbrespaceError(
            f"{path}: the folder is not empty; choose a new or empty one (or --force to write "
            "into it)"
        )
    return path


def write_pack(
    space: LatentSpace,
    items: Sequence[PackItem],
    folder: str | os.PathLike[str],
    request: PackRequest,
) -> Path:
    """Write every item as a WAV of the request's bit depth and `pack.csv` (last) into
    `folder`, each file atomically; returns the CSV's path."""
    out = Path(folder)
    for item in items:
        save_audio(out / item.file, item.audio, request.rate, subtype=SUBTYPES[request.bits])
    target = out / CSV_NAME
    write_bytes_atomic(target, pack_csv(space, items, request).encode("utf-8"))
    return target


def pack_csv(space: LatentSpace, items: Sequence[PackItem], request: PackRequest) -> str:
    """`file`; per varied control its typed `offset` and the value `requested` (after limits);
    for an around pack the `radius` and `seed`; then one column per control of the analysis,
    in its unit: `NAME (UNIT) measured` on the rendered sound, or `NAME latent` read from the
    latent where no descriptor measures it; then `notes` (what a move could not do)."""
    controls = space.controls
    units = {name: f" ({c.unit})" if c.unit else "" for name, c in controls.items()}
    varied = list(items[0].offsets) if items else []
    header = ["file"]
    for name in varied:
        header += [f"{name} offset", f"{name}{units[name]} requested"]
    if request.around is not None:
        header += ["radius", "seed"]
    measured = items[0].measured if items else frozenset()
    for name in controls:
        header.append(f"{name}{units[name]} measured" if name in measured else f"{name} latent")
    header.append("notes")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for item in items:
        row: list[str] = [item.file]
        for name in varied:
            row += [item.offsets[name], _number(item.requested.get(name, math.nan))]
        if request.around is not None:
            row += [f"{request.around:g}", str(request.seed)]
        row += [_number(item.values.get(name, math.nan)) for name in controls]
        row.append("; ".join(item.warnings))
        writer.writerow(row)
    return out.getvalue()


def _number(value: float) -> str:
    return f"{value:.6g}" if math.isfinite(value) else ""


def _start(space: LatentSpace, request: PackRequest) -> tuple[torch.Tensor, str, str]:
    """(latent `[1, dim, frames]`, what it is, its file stem) of the request's start."""
    if request.sound is not None:
        index = space.sound_index(request.sound)
        path = space.analysis.sounds[index]
        return space.sound_latent(index), path, Path(path).stem
    if request.source is not None:
        name = Path(request.source).name
        stem = name.split(".")[0] if name.lower().endswith(".safetensors") else Path(name).stem
        return space.load_input(request.source), str(request.source), stem
    assert request.z is not None
    z = torch.as_tensor(request.z).float()
    dim = int(space.model.latent_dim)
    if z.dim() != 3 or z.shape[:2] != (1, dim):
        raise TimbrespaceError(f"start latent: expected [1, {dim}, frames], got {list(z.shape)}")
    return z, "a latent", "sound"


def _render(space: LatentSpace, z: torch.Tensor, request: PackRequest) -> np.ndarray:
    if not bool(torch.isfinite(z).all()):
        raise NonFiniteError(
            "pack: a variation's latent is not finite; ask for values nearer the data"
        )
    audio = space.render(z, gla_iters=request.gla_iters)
    if not np.isfinite(audio).all():
        raise NonFiniteError("pack: a variation renders NaN/inf; ask for values nearer the data")
    return audio


def _item(
    space: LatentSpace,
    request: PackRequest,
    variation: Variation,
    z: torch.Tensor,
    audio: np.ndarray,
    measured: dict[str, float],
) -> PackItem:
    """A rendered variation measured at the model's rate and resampled to the request's."""
    if not np.isfinite(audio).all():
        raise NonFiniteError(
            f"pack: {variation.file} renders NaN/inf; ask for values nearer the data"
        )
    measured = measured or space.measure_controls(audio)
    values = {**space.control_values(z), **measured}
    return PackItem(
        file=variation.file,
        audio=resample(np.asarray(audio, dtype=np.float32), space.sample_rate, request.rate),
        z=torch.as_tensor(z).float(),
        offsets=dict(variation.offsets),
        requested={},
        values=values,
        measured=frozenset(measured),
    )


__all__ = ["CSV_NAME", "PackItem", "PackPlan", "PackRequest", "check_pack_model"]
__all__ += ["check_pack_folder", "plan_pack", "render_pack", "write_pack"]
