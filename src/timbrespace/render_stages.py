"""The render stages of the one-shot synth that a search sets.

The one-shot synth ends its render with stages each set by one latent readout, and the rest of
the decoder sees the latent without them (`models.oneshot_tilt`, `models.oneshot_envelope`,
`models.oneshot_gain`): a spectral tilt, then a fade-in, then a gain. A move along a stage's
readout changes that stage and nothing else, so one decode of the sound with this stage and the
later ones neutral (`Stage.bare`) gives the render at every readout value without decoding
(`Stage.candidates`: this stage at those values, the later ones at the latent's own). The
search over one stage is `stage_search.ReadoutSearch`. Latents `[batch, dim, frames]`;
descriptor values in their unit (s, Hz, dB).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from timbrespace.audio.io import within_full_scale
from timbrespace.models.oneshot_gain import GAIN_LIMIT_DB, gain_db
from timbrespace.models.oneshot_tilt import TILT_LIMIT

ATTACK_DESCRIPTOR, BRIGHTNESS_DESCRIPTOR, LOUDNESS_DESCRIPTOR = (
    "attack_time",
    "centroid",
    "loudness",
)
FADE_GRID, TILT_GRID = 28, 14
"""Readout values each sound's curve is measured at: an attack's fades 37 % apart (its
measurement jumps), the tilt's slopes 0.6 apart (its centroid is smooth in the slope); the
refinement does the rest."""
GAIN_GRID_DB = np.linspace(-48.0, 48.0, 13)
"""The gain's readout values (dB before its soft limit): the loudness follows the gain dB for
dB, so the refinement lands at once."""
GAIN_REST_DB = -30.0
"""The gain (dB before its limit) a bare render is decoded at: low enough that no render of a
trained model reaches full scale there (a scaled-down bare render would misplace every level)."""
GRID_LOW_S, GRID_HIGH_S = 1e-4, 0.5
TILT_REACH = 0.97 * TILT_LIMIT
"""The steepest tilt searched (the readout's tanh saturates beyond)."""
UNFADED_LOG_S = math.log(1e-6)
"""A fade this short (ln s) is a gain of 1 from the first sample at any rate up to 800 kHz: the
unfaded render (not shorter: a far move along the readout leaves float32 rounding in the rest
of the latent)."""
FULL_SCALE_MARGIN = 0.999
"""A render peaking at least this high may have been scaled down to full scale."""
DB_TO_LN = math.log(10.0) / 20.0
"""ln of the amplitude ratio of 1 dB: a loudness miss on the scale of the others' ln ratios."""

Candidates = Callable[[np.ndarray, np.ndarray, torch.Tensor], np.ndarray]
Miss = Callable[[np.ndarray, float], np.ndarray]
"""(measurements `[n]`, a request) → how far each is from it as an ln ratio (NaN: no measure)."""


def ratio_miss(measured: np.ndarray, request: float) -> np.ndarray:
    """ln(measured / request) `[n]` of positive values (s, Hz); NaN where nothing measures."""
    measured = np.asarray(measured, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.where(measured > 0, measured, np.nan)) - math.log(request)


def level_miss(measured: np.ndarray, request: float) -> np.ndarray:
    """Levels (dB) `[n]` minus the request, as ln amplitude ratios (`DB_TO_LN`)."""
    return (np.asarray(measured, dtype=np.float64) - request) * DB_TO_LN


@dataclass(frozen=True)
class Readout:
    """A linear readout `w·z + b` of latents: `weights` `[dim]`, `bias`."""

    weights: torch.Tensor
    bias: float

    def value(self, z: torch.Tensor) -> torch.Tensor:
        """The readout of latents `[batch, dim, 1]` `[batch]`."""
        return z[:, :, 0].double() @ self.weights + self.bias

    def at(self, z: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """Latents `[batch, dim, 1]` moved along the readout's weights (only) so that it reads
        `values` `[batch]`."""
        step = (values.double() - self.value(z)) / float(self.weights @ self.weights)
        return z.double() + (step[:, None] * self.weights[None, :])[..., None]


@dataclass(frozen=True)
class Stage:
    """A render stage a search sets: its `readout`, the `descriptor` it moves, the readout
    `grid` `[n]` (ascending; the measurement grows with the value) every sound's curve is
    measured at; `neutral`: latents → the latents identifying the sound for this stage (its
    readout neutral); `bare`: latents → the latents to decode (this stage and every later one
    neutral); `candidates`: (a bare render `[channels, samples]`, readout values `[n]`, its
    latent `[1, dim, 1]`) → the renders at those values `[n, channels, samples]`, as the model
    renders them; `miss`: how far measurements are from a request (`Miss`); `from_render`:
    (a render `[channels, samples]`, its latent `[1, dim, 1]`) → its bare render, or None when
    the render does not give it; None for a stage that is not a scale of the whole sound (the
    gain is); `exact`: the candidates are the decoder's renders, so a search need not decode its
    result (every stage of the chain: on a demo model they differ from its decodes by at most
    8e-4 of the peak for the tilt, 5e-4 for the fade-in, 1.5e-4 for the gain, float32 rounding
    of the latent moved along the readout); `ceiling`: see below."""

    readout: Readout
    descriptor: str
    grid: np.ndarray
    neutral: Callable[[torch.Tensor], torch.Tensor]
    bare: Callable[[torch.Tensor], torch.Tensor]
    candidates: Candidates
    miss: Miss = ratio_miss
    from_render: Callable[[np.ndarray, torch.Tensor], np.ndarray | None] | None = None
    exact: bool = False
    ceiling: Callable[[np.ndarray], float] | None = None
    """A bare render `[channels, samples]` → the highest readout value worth setting (beyond it
    the render passes full scale and is scaled back to the same sound), or None."""
    passed: Callable[[np.ndarray, torch.Tensor], np.ndarray] | None = None
    """(a bare render `[channels, samples]`, its latent `[1, dim, 1]`) → the next stage's bare
    render of that latent (this stage at the latent's value, the later ones neutral), or None
    for the last stage."""

    @property
    def free(self) -> bool:
        """Its bare render comes from any render of the sound (`from_render`), so a search of it
        decodes nothing at all: putting it back after another move is free."""
        return self.from_render is not None


@dataclass(frozen=True)
class _Step:
    """One stage of the synth's chain: `apply` (audio `[channels, samples]` or `[n, channels,
    samples]` rendered with this stage at `rest_value`, readout values `[n]`) → audio `[n,
    channels, samples]`; `level_only`: it scales the sound and nothing else by `factor`
    (readout values `[n]` → amplitude ratios to its rest `[n]`), so an earlier stage's curve,
    read relative to the sound's own level, does not depend on it."""

    readout: Readout
    descriptor: str
    grid: np.ndarray
    rest_value: float
    apply: Callable[[np.ndarray, np.ndarray], np.ndarray]
    miss: Miss = ratio_miss
    factor: Callable[[np.ndarray], np.ndarray] | None = None
    ceiling: Callable[[np.ndarray], float] | None = None

    @property
    def level_only(self) -> bool:
        return self.factor is not None

    def rest(self, z: torch.Tensor) -> torch.Tensor:
        return self.readout.at(z, torch.full((z.shape[0],), self.rest_value))


def _paired(
    sound: np.ndarray, values: np.ndarray, dtype: type
) -> tuple[torch.Tensor, torch.Tensor]:
    """A sound `[channels, samples]` or sounds `[n, channels, samples]` and readout values `[n]`
    or `[1]`, as tensors of one batch `[n, channels, samples]`, `[n]`."""
    audio: np.ndarray = np.asarray(sound, dtype=dtype)
    audio = audio[None] if audio.ndim == 2 else audio
    n = max(audio.shape[0], np.size(values))
    many = np.broadcast_to(audio, (n, *audio.shape[1:]))
    each: np.ndarray = np.broadcast_to(np.asarray(values, dtype=dtype).reshape(-1), (n,))
    return torch.from_numpy(many.copy()), torch.from_numpy(each.copy())


def _fade(model: Any, clip_s: float) -> _Step | None:
    """The model's fade-in (`attack_fade` and its "attack_time" readout, ln s)."""
    readouts: dict[str, tuple[torch.Tensor, float]] = getattr(model, "descriptor_readouts", dict)()
    gains = getattr(model, "attack_fade", None)
    if ATTACK_DESCRIPTOR not in readouts or gains is None or gains(1, torch.ones(1)) is None:
        return None
    weights, bias = readouts[ATTACK_DESCRIPTOR]

    def faded(sound: np.ndarray, values: np.ndarray) -> np.ndarray:
        ramps = gains(sound.shape[-1], torch.as_tensor(np.exp(values), dtype=torch.float64))
        return sound * ramps.numpy()[:, None, :]

    grid = np.log(np.geomspace(GRID_LOW_S, min(GRID_HIGH_S, clip_s), FADE_GRID))
    return _Step(
        Readout(weights.double(), float(bias)), ATTACK_DESCRIPTOR, grid, UNFADED_LOG_S, faded
    )


def _tilt(model: Any) -> _Step | None:
    """The model's spectral tilt (`tilt_stage`, `models.oneshot_tilt`)."""
    found = getattr(model, "tilt_stage", lambda: None)()
    if found is None:
        return None

    def tilted(sound: np.ndarray, values: np.ndarray) -> np.ndarray:
        many, each = _paired(sound, values, np.float32)
        return found.apply(many, each).numpy()

    slopes = np.linspace(-TILT_REACH, TILT_REACH, TILT_GRID)
    grid = TILT_LIMIT * np.arctanh(slopes / TILT_LIMIT)
    readout = Readout(found.weights.double(), float(found.bias))
    return _Step(readout, BRIGHTNESS_DESCRIPTOR, grid, 0.0, tilted)


def _gain(model: Any) -> _Step | None:
    """The model's gain (`gain_stage`, `models.oneshot_gain`; readout in dB)."""
    found = getattr(model, "gain_stage", lambda: None)()
    if found is None:
        return None

    def factor(values: np.ndarray) -> np.ndarray:
        """Amplitude ratios `[n]` of readout values `[n]` to the rest's."""
        db = gain_db(torch.from_numpy(np.asarray(values, dtype=np.float64).reshape(-1)))
        return np.power(10.0, (db.numpy() - float(gain_db(torch.tensor(GAIN_REST_DB)))) / 20.0)

    def scaled(sound: np.ndarray, values: np.ndarray) -> np.ndarray:
        audio = np.asarray(sound, dtype=np.float64)
        audio = audio[None] if audio.ndim == 2 else audio
        return audio * factor(values)[:, None, None]

    def ceiling(sound: np.ndarray) -> float:
        """The readout value (dB before the limit) at which bare render `sound` peaks at full
        scale."""
        peak = float(np.max(np.abs(sound), initial=0.0))
        if not 0.0 < peak < math.inf:
            return math.inf
        wanted = float(gain_db(torch.tensor(GAIN_REST_DB))) - 20.0 * math.log10(peak)
        if abs(wanted) >= GAIN_LIMIT_DB:
            return math.inf if wanted > 0 else -math.inf
        return GAIN_LIMIT_DB * math.atanh(wanted / GAIN_LIMIT_DB)

    readout = Readout(found.weights.double(), float(found.bias))
    return _Step(
        readout,
        LOUDNESS_DESCRIPTOR,
        GAIN_GRID_DB,
        GAIN_REST_DB,
        scaled,
        level_miss,
        factor,
        ceiling,
    )


def chain(model: Any, clip_s: float) -> list[_Step]:
    """The stages of `model` a search sets, in the order its synth renders them."""
    steps = (_tilt(model), _fade(model, clip_s), _gain(model))
    return [step for step in steps if step is not None]


def _stage(steps: Sequence[_Step], i: int) -> Stage:
    """Stage `i` of the chain `steps`, its candidates rendered through the later ones."""
    own, later = steps[i], steps[i + 1 :]

    def neutral(z: torch.Tensor) -> torch.Tensor:
        z = own.rest(z)
        for step in later:
            z = step.rest(z) if step.level_only else z
        return z

    def bare(z: torch.Tensor) -> torch.Tensor:
        for step in steps[i:]:
            z = step.rest(z)
        return z

    def candidates(sound: np.ndarray, values: np.ndarray, z: torch.Tensor) -> np.ndarray:
        audio = own.apply(sound, values)
        for step in later:
            audio = step.apply(audio, step.readout.value(z).numpy())
        return within_full_scale(audio)

    def from_render(sound: np.ndarray, z: torch.Tensor) -> np.ndarray | None:
        if np.max(np.abs(sound), initial=0.0) >= FULL_SCALE_MARGIN:
            return None  # perhaps scaled down to full scale: the level is not known
        assert own.factor is not None
        return (sound / own.factor(own.readout.value(z).numpy())[0]).astype(np.float32)

    def passed(sound: np.ndarray, z: torch.Tensor) -> np.ndarray:
        return np.asarray(own.apply(sound, own.readout.value(z).numpy())[0], dtype=np.float32)

    only = own.level_only and not later
    return Stage(
        own.readout,
        own.descriptor,
        own.grid,
        neutral,
        bare,
        candidates,
        own.miss,
        from_render if only else None,
        exact=True,
        ceiling=own.ceiling if only else None,
        passed=passed if later else None,
    )


def stage_of(model: Any, clip_s: float, descriptor: str) -> Stage | None:
    """The stage of `model` that sets `descriptor` (`clip_s`: the clip's length, s), or None."""
    steps = chain(model, clip_s)
    found = [i for i, step in enumerate(steps) if step.descriptor == descriptor]
    return _stage(steps, found[0]) if found else None


def fade_stage(model: Any, clip_s: float) -> Stage | None:
    """The model's fade-in as a `Stage`, or None."""
    return stage_of(model, clip_s, ATTACK_DESCRIPTOR)


def tilt_stage(model: Any, clip_s: float) -> Stage | None:
    """The model's spectral tilt as a `Stage`, or None."""
    return stage_of(model, clip_s, BRIGHTNESS_DESCRIPTOR)


def gain_stage(model: Any, clip_s: float) -> Stage | None:
    """The model's gain as a `Stage`, or None."""
    return stage_of(model, clip_s, LOUDNESS_DESCRIPTOR)
