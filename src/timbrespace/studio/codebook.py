"""The studio's codebook panel as plain Python (the HTTP routes are `studio.codebook_routes`):
for a codebook model (the vq family, whose every frame is one code), the codebook as the page
draws it — each code's place on a 2-D map and its measured descriptors — and target curves drawn
on the page turned into codes and sound. The work is `timbrespace.codebook_play`'s (the inference
layer), one render at a time under the studio's model lock.

    panel = CodebookPanel(studio)
    panel.describe()["descriptors"][0]        # {"name": "f0", "unit": "Hz", "values": [...], ...}
    result = panel.follow({"centroid": [(0.0, 500.0), (1.0, 3000.0)]}, seconds=4.0)
    result.wav, result.report["tracking"]["centroid"]["r"], result.notices

Another model is refused (400, with the message every face gives); a codebook model whose
codebook analysis is missing or made for other weights is a 409 saying to run `timbrespace
analyze`; an unknown descriptor is a 400 listing the known ones.
"""

from __future__ import annotations

import base64
import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from timbrespace import runtime
from timbrespace.audio.descriptors import descriptor_scale
from timbrespace.codebook_play import (
    MAX_SMOOTHNESS,
    MAX_TARGET_SECONDS,
    METHODS,
    TargetRender,
    bundle_codebook,
    error_unit,
    follow_targets,
    target_frames,
)
from timbrespace.errors import TimbrespaceError
from timbrespace.space import CapabilityError
from timbrespace.studio.errors import Conflict, StudioError, Unprocessable
from timbrespace.studio.instrument import finished_wav

if TYPE_CHECKING:
    from timbrespace.space import LatentSpace
    from timbrespace.studio.service import Studio

WHAT = "the codebook panel"
"""How a refusal names what was asked (`... a spectral model has no codebook; train --model vq`)."""
MAX_CURVES = 4
"""Most target curves a request gives (one per descriptor)."""
CURVE_POINTS = (2, 2000)
"""Fewest and most points of one curve."""
MAX_VALUE = 1e9
"""Largest magnitude of a curve value (any unit); the codebook's range clamps it further."""
SMOOTHNESS = (0.0, MAX_SMOOTHNESS)
"""Range of `smoothness`, the weight of the transition cost (dp only; 0: the targets only)."""
DEFAULT_SMOOTHNESS = 1.0
"""`codebook_play.follow_targets`' default."""
MAX_WEIGHT = 100.0
"""Largest weight of one curve (default 1)."""
TARGET_BODY_BYTES = 512 * 1024
"""Largest `POST /api/target` body: 4 curves of 2000 points at full precision fit."""
DIGITS = 5
"""Significant digits of the numbers the panel sends (curves of up to 7501 frames)."""


def is_codebook_model(space: LatentSpace) -> bool:
    """Whether the model's frames are codes of a codebook (the vq family)."""
    return getattr(space.model, "codebook", False) is True


def _number(value: float) -> float | None:
    """A finite number to `DIGITS` significant digits; NaN and infinities → None (JSON null)."""
    if not math.isfinite(value):
        return None
    return float(f"{value:.{DIGITS}g}")


def inward(low: float, high: float) -> list[float | None]:
    """A range `[low, high]` to `DIGITS` significant digits, rounded inwards: targets the page
    takes from its ends are inside what the codebook renders (rounding outwards would clamp
    them, with a notice). NaN → null."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [None, None]

    def rounded(value: float, up: bool) -> float:
        if value == 0:
            return 0.0
        step = 10.0 ** (math.floor(math.log10(abs(value))) - DIGITS + 1)
        return float(f"{(math.ceil if up else math.floor)(value / step) * step:.{DIGITS}g}")

    ends = rounded(low, up=True), rounded(high, up=False)
    return [low, high] if ends[0] > ends[1] else list(ends)


def numbers(values: Sequence[float] | np.ndarray) -> list[float | None]:
    """An array `[n]` as a JSON list: `DIGITS` significant digits, NaN → null."""
    return [_number(float(v)) for v in np.asarray(values, np.float64).ravel()]


def curve_frames(points: Sequence[Sequence[float]], frames: int) -> np.ndarray:
    """Points `[[t, value], ...]` (t: fraction 0…1 of the duration, increasing) → `[frames]`
    values, linear between points, held before the first and after the last."""
    array = np.asarray(points, np.float64)
    return np.interp(np.linspace(0.0, 1.0, frames), array[:, 0], array[:, 1])


@dataclass(frozen=True)
class TargetResult:
    """A followed target: 16-bit WAV bytes, the `report` the page draws (codes, curves,
    tracking; see API.md "Codebook"), notices for the user and the times taken (ms)."""

    wav: bytes
    report: dict[str, Any]
    notices: list[str] = field(default_factory=list)
    select_ms: float = 0.0
    render_ms: float = 0.0


class CodebookPanel:
    """The codebook of `studio`'s model, read once (a failed read is tried again next time)."""

    def __init__(self, studio: Studio) -> None:
        self.studio = studio
        self._codebook: Any = None
        self._lock = threading.Lock()

    def codebook(self) -> Any:
        """The model's `CodebookAnalysis`: 400 for a model without a codebook, 409 when its
        analysis is missing, stale or unreadable (run analyze)."""
        with self._lock:
            if self._codebook is None:
                bundle = self.studio.space.bundle
                try:
                    self._codebook = bundle_codebook(bundle, WHAT)
                except CapabilityError as error:
                    raise StudioError(str(error)) from None
                except TimbrespaceError as error:
                    raise Conflict(str(error)) from None
                except (OSError, ValueError, KeyError) as error:
                    raise Conflict(
                        f"{bundle.path}: the codebook analysis is unreadable ({error}); run "
                        f"`timbrespace analyze {bundle.path}` again"
                    ) from None
            return self._codebook

    @property
    def hop_seconds(self) -> float:
        model = self.studio.space.model
        return float(model.hop_length) / float(model.sample_rate)

    def describe(self) -> dict[str, Any]:
        """The codebook as the page draws it (`GET /api/codebook`, see API.md "Codebook")."""
        codebook = self.codebook()
        descriptors = []
        for name in codebook.names:
            low, high = codebook.value_range(name, codebook.selectable(name == "loudness"))
            descriptors.append(
                {
                    "name": name,
                    "unit": codebook.units[name],
                    "scale": descriptor_scale(name),
                    "error_unit": error_unit(name),
                    "values": numbers(codebook.column(name)),
                    "range": inward(low, high),
                }
            )
        return {
            "codes": int(codebook.size),
            "map": [numbers(row) for row in codebook.map],
            "used": [bool(v) for v in codebook.used()],
            "choosable": [bool(v) for v in codebook.selectable()],
            "usage": [int(v) for v in codebook.usage],
            "descriptors": descriptors,
            "hop_seconds": self.hop_seconds,
            "min_seconds": self.hop_seconds,
            "max_seconds": MAX_TARGET_SECONDS,
            "methods": list(METHODS),
            "limits": {
                "curves": MAX_CURVES,
                "points": list(CURVE_POINTS),
                "smoothness": list(SMOOTHNESS),
                "weight": [0.0, MAX_WEIGHT],
                "default_smoothness": DEFAULT_SMOOTHNESS,
            },
        }

    def follow(
        self,
        curves: Mapping[str, Sequence[Sequence[float]]],
        *,
        seconds: float,
        method: str = "dp",
        smoothness: float = DEFAULT_SMOOTHNESS,
        weights: Mapping[str, float] | None = None,
        gla_iters: int | None = None,
    ) -> TargetResult:
        """Codes following `curves` (descriptor → points `[[t, value], ...]`, t a fraction of
        `seconds`, values in the descriptor's unit), rendered and measured. An unknown
        descriptor is a 400 listing the known ones; targets beyond what the codebook renders
        are clamped, with a notice."""
        codebook = self.codebook()
        model = self.studio.space.model
        try:
            frames = target_frames(model, seconds)
        except TimbrespaceError as error:
            raise Unprocessable(f"seconds: {error}") from None
        if frames < 2:
            raise Unprocessable(
                f"seconds: {seconds:g} s is shorter than one frame of this model "
                f"({1000 * self.hop_seconds:g} ms); give at least {self.hop_seconds:g} s"
            )
        spelling = self._spelling(codebook.names, curves)
        targets = {spelling[name]: curve_frames(points, frames) for name, points in curves.items()}
        unmatched = sorted(set(weights or {}) - set(spelling))
        if unmatched:
            raise StudioError(f"weights.{unmatched[0]}: no curve for it in curves")
        weights = {spelling[name]: float(w) for name, w in (weights or {}).items()}
        started = time.perf_counter()
        try:
            with self.studio.model_lock, runtime.threads("render"):
                followed = follow_targets(
                    self.studio.space.bundle,
                    targets,
                    weights=weights,
                    method=method,
                    smoothness=smoothness,
                    gla_iters=gla_iters,
                    codebook=codebook,
                )
        except CapabilityError as error:
            raise StudioError(str(error)) from None
        except ValueError as error:  # e.g. a render too short to measure: refused, not a 500
            raise Unprocessable(f"target: this model could not render it ({error})") from None
        total_ms = 1000 * (time.perf_counter() - started)
        select_ms = 1000 * followed.selection.seconds
        notices = list(followed.selection.notices)
        wav = finished_wav(followed.audio.numpy(), "target", self.studio.sample_rate, notices)
        report = self._report(followed, seconds, notices)
        report["audio_wav_base64"] = base64.b64encode(wav).decode("ascii")
        report["select_ms"], report["render_ms"] = round(select_ms, 1), round(total_ms, 1)
        return TargetResult(wav, report, notices, select_ms, total_ms)

    @staticmethod
    def _spelling(known: Sequence[str], curves: Mapping[str, object]) -> dict[str, str]:
        """Each curve's name as the codebook spells it (`Centroid` → `centroid`): weights are
        then matched to their curves whatever the case; an unknown name is a 400."""
        names = {name.casefold(): name for name in known}
        spelling = {}
        for name in curves:
            if name.strip().casefold() not in names:
                raise StudioError(f"curves: unknown descriptor {name!r}; known: {', '.join(known)}")
            spelling[name] = names[name.strip().casefold()]
        return spelling

    def _report(self, followed: TargetRender, seconds: float, notices: list[str]) -> dict:
        """What the page draws of a followed target (the WAV is added by `follow`)."""
        selection = followed.selection
        codes = [int(code) for code in selection.codes]
        tracking = {
            name: {
                "r": _number(numbers_of["r"]),
                "median_error": _number(numbers_of["median_error"]),
                "unit": error_unit(name),
                "frames": int(numbers_of["frames"]),
            }
            for name, numbers_of in followed.tracking.items()
        }
        return {
            "sample_rate": int(self.studio.sample_rate),
            "channels": int(followed.audio.shape[0]),
            "samples": int(followed.audio.shape[-1]),
            "seconds": seconds,
            "frames": len(codes),
            "hop_seconds": self.hop_seconds,
            "method": selection.method,
            "codes": codes,
            "distinct_codes": len(set(codes)),
            "changes": sum(1 for a, b in zip(codes, codes[1:], strict=False) if a != b),
            "targets": {name: numbers(v) for name, v in selection.targets.items()},
            "predicted": {name: numbers(v) for name, v in selection.predicted.items()},
            "measured": {name: numbers(v) for name, v in followed.measured.items()},
            "tracking": tracking,
            "notices": notices,
        }
