"""The closed-loop move of `LatentSpace.move`: controls set on the rendered sound's measurement.

`closed_loop_move` wraps `latent.closed_loop.settle` around the minimum-norm move: requests are
the user's settings (a relative one, `pitch=+3st`, is taken from the *measured* start sound),
locked controls are held at their measured start values, and each control is measured on the
render with the descriptor code that fills the readouts. Tolerances: 15 cents for pitch, 5 % of
the request for the others (the issue's acceptance); a control without a descriptor (PCA, packs,
custom) is set open-loop. Where the decoder gives the gradient of a set control's descriptor
(`slopes_of`: a differentiable one-shot decoder, a descriptor with a twin in
`audio.descriptor_torch`), the controls are re-aimed along those gradients at the start sound
and again at the best render so far (`localized`, `aimed_item`), instead of following the
directions fitted over the whole collection.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple

import numpy as np
import torch

from timbrespace.audio.descriptors import DescriptorValues, to_scale
from timbrespace.latent.closed_loop import LoopResult, settle
from timbrespace.latent.control import Control, apply_controls
from timbrespace.latent.settings import Setting, setting_target
from timbrespace.numbers import format_reading
from timbrespace.space_aim import AIMED_RENDERS, Slope, aimed_item, localized
from timbrespace.space_history import LoopHistory, Warm

PITCH_TOLERANCE_ST = 0.15
RELATIVE_TOLERANCE = 0.05
LEVEL_TOLERANCE_DB = 20.0 * math.log10(1.0 + RELATIVE_TOLERANCE)
"""A level (dB) is within tolerance 5 % in amplitude (0.42 dB) from its request: 5 % of a dB
value held −44 dB within 2.2 dB and −11 dB within 0.55."""
TIME_RESOLUTION_S = 0.001
"""The fine envelope's resolution (`DescriptorSettings.envelope_resolution`): a time measured
on it is not known better than this."""
MAX_RENDERS = 4
"""Renders of the loop (the first is the open-loop move), so a slider move costs at most this
many decodes plus one of the start sound when a control is locked or set relatively."""

PITCH_CORRECTION_ST = 2.0
"""The loop corrects a pitch by at most this many semitones in all: a decoder with an explicit
pitch is off by cents, so a larger error is the tracker's (an octave slip), not the sound's."""
LOCK_WEIGHT = 0.2
"""How much a locked control's miss counts against a set one's when the loop keeps its best
render, and 1/LOCK_WEIGHT the tolerances within which a lock counts as held (25 % for a time,
75 cents for a pitch): what the user moved comes first, and the loop stops sooner."""
STEP_FRACTION = 0.25
"""A loop step moves a latent target by at most this fraction of the control's range (a
tracker's octave error must not throw the sound across the space)."""

Measure = Callable[[torch.Tensor, Sequence[Control]], torch.Tensor]
"""Latents `[batch, dim, frames]` → each control's measured value on its scale
`[batch, controls]`, NaN where a control has no descriptor (then it is set open-loop) or the
measurement is undefined (an unvoiced pitch)."""


class Settled(NamedTuple):
    """A closed-loop move: z_new `[batch, dim, frames]`; requests and measured `[batch,
    controls]` (scale units); renders: decodes used; tried: every render's (latent targets,
    measurements) `[batch, controls]` each, when the secant loop ran from the start latent
    alone (empty after re-aims, whose targets are relative to other latents)."""

    z_new: torch.Tensor
    requests: torch.Tensor
    measured: torch.Tensor
    renders: int
    tried: list[tuple[torch.Tensor, torch.Tensor]] = []


@dataclass
class Move:
    """A move of controls. z_new `[batch, dim, frames]`; requested: per set control, the value
    asked in its unit after limits (item 0); measured: every measurable control's value on item
    0's final render, in its unit (empty for an open-loop move); audio: the final renders
    `[batch, channels, samples]` when the loop ran, else None; renders: decodes the loop used;
    unreached: set or locked controls the loop left outside their tolerance."""

    z_new: torch.Tensor
    warnings: list[str] = field(default_factory=list)
    requested: dict[str, float] = field(default_factory=dict)
    measured: dict[str, float] = field(default_factory=dict)
    audio: np.ndarray | None = None
    renders: int = 0
    unreached: list[str] = field(default_factory=list)
    asked: torch.Tensor | None = None
    got: torch.Tensor | None = None


def tolerance(control: Control, request: float) -> float:
    """How close (on the control's scale) a measurement must come to `request` (scale units):
    PITCH_TOLERANCE_ST on a semitone scale, LEVEL_TOLERANCE_DB for a level in dB, else
    RELATIVE_TOLERANCE of the value in its unit."""
    if control.scale == "semitones":
        return PITCH_TOLERANCE_ST
    if control.unit == "dB":
        return LEVEL_TOLERANCE_DB
    if not math.isfinite(request):
        return math.inf
    if control.scale == "log":
        return math.log1p(RELATIVE_TOLERANCE)
    return max(RELATIVE_TOLERANCE * abs(request), 1e-6)


def loop_tolerance(control: Control, request: float, locked: bool) -> float:
    """The loop's tolerance: `tolerance`, and for a locked time (s) at least the envelope's
    resolution (`TIME_RESOLUTION_S`): a lock is "leave it as it is", and chasing a 2 ms attack
    to within 0.1 ms, below what the measurement resolves, spent every render of a pitch move
    (measured on a tom of the demo bundle: 4 of 25 moves)."""
    base = tolerance(control, request)
    if locked and control.unit == "s" and control.scale == "log" and math.isfinite(request):
        return max(base, math.log1p(TIME_RESOLUTION_S / math.exp(request)))
    return base


def closed_loop_move(
    z: torch.Tensor,
    settings: Sequence[Setting],
    chosen: Sequence[Control],
    locked: Sequence[Control],
    open_targets: torch.Tensor,
    measure: Measure,
    *,
    start: torch.Tensor | None,
    measurable: Sequence[bool],
    max_renders: int = MAX_RENDERS,
    aim: Callable[[torch.Tensor, Sequence[Control]], list[Control]] | None = None,
    warm: Callable[[torch.Tensor, torch.Tensor], Warm | None] | None = None,
    shared_start: bool = False,
) -> Settled:
    """Settle `chosen` (set by `settings`) and `locked` controls on measurements.

    z `[batch, dim, frames]` float64; open_targets `[batch, len(chosen), frames]` (the open-loop
    move's targets after limits, scale units); start: the measured start values
    `[batch, len(chosen) + len(locked)]` (None when nothing is relative or locked);
    measurable: per control (chosen then locked), whether it has a descriptor (else it is set
    open-loop); aim: re-aims controls at a latent `[1, dim, frames]` (`localized`), so the
    loop follows the decoder's gradients (`aimed_item`), or None; warm: requests and how far
    from each the loop counts it reached `[batch, controls]` → where earlier moves from this
    start put the secant loop's first render and its first slope, and whether one render is
    all it needs (`LoopHistory.predict`), or None.
    shared_start: every item starts from the same latent (a sweep): the secant loop gives each
    the best render made for any (`closed_loop.pooled_best`)."""
    everything = [*chosen, *locked]
    current = torch.stack([c.value(z) for c in everything], dim=1)  # [batch, m, frames]
    frame_targets = torch.cat([open_targets.double(), current[:, len(chosen) :]], dim=1)
    base = frame_targets.mean(dim=2)
    requests = base.clone()
    for i, (setting, control) in enumerate(zip(settings, chosen, strict=True)):
        if setting.relative and start is not None:
            requests[:, i] = setting_target(setting, control, start[:, i])
    if start is not None:
        requests[:, len(chosen) :] = start[:, len(chosen) :]
    requests[:, ~torch.tensor(list(measurable), dtype=torch.bool)] = math.nan
    held = [False] * len(chosen) + [True] * len(locked)
    tolerances = torch.tensor(
        [
            [
                loop_tolerance(c, float(r), lock)
                for c, r, lock in zip(everything, row, held, strict=True)
            ]
            for row in requests
        ]
    )
    spans = torch.tensor(
        [STEP_FRACTION * (c.range[1] - c.range[0]) if c.range else math.inf for c in everything]
    ).clamp_min(1e-6)

    weights = torch.tensor([1.0] * len(chosen) + [LOCK_WEIGHT] * len(locked))
    max_offset = torch.tensor(
        [PITCH_CORRECTION_ST if c.scale == "semitones" else math.inf for c in everything]
    )

    def run(
        anchor: torch.Tensor,
        controls: Sequence[Control],
        item: slice,
        renders: int,
        known: torch.Tensor | None,
        first: torch.Tensor | None = None,
        warmed: Warm | None = None,
    ) -> LoopResult:
        """`settle` from latents `anchor` with `controls` (aimed there) for batch items `item`,
        starting with latent targets `first` (default: the open-loop move's, or where `warm`
        put them, within `max_offset` of it, with the slope from its nearest render); known:
        the measurements at `anchor`, if made."""
        values = torch.stack([c.value(anchor) for c in controls], dim=1)  # [batch, m, frames]
        now = values.mean(dim=2)
        if first is None:
            values = torch.cat([open_targets.double(), values[:, len(chosen) :]], dim=1)[item]
        at = values.mean(dim=2)

        def place(targets: torch.Tensor) -> torch.Tensor:
            shifted = values + (targets - at)[..., None]
            return torch.as_tensor(apply_controls(anchor, controls, shifted, clamp=False).z_new)

        origin = None if known is None else (now, known)
        if first is None and warmed is not None:
            shift = (warmed.targets[item] - at).nan_to_num(0.0).clamp(-max_offset, max_offset)
            first, origin = at + shift, warmed.neighbour
        return settle(
            place,
            lambda latents: measure(latents, everything),
            requests[item],
            at if first is None else first,
            tolerances[item],
            max_renders=renders,
            max_step=spans,
            weights=weights,
            max_offset=max_offset,
            origin=origin,
            shared_start=shared_start,
            locked=torch.tensor(held),
            octaves=torch.tensor([c.scale == "semitones" for c in everything]),
        )

    aimed = everything if aim is None else aim(z, everything)
    if all(a is c for a, c in zip(aimed[: len(chosen)], chosen, strict=True)):
        # no set control has a gradient: the secant loop, with locks held where the sound is
        controls = [*chosen, *aimed[len(chosen) :]]
        warmed = None if warm is None else warm(requests, tolerances / weights)
        renders = 1 if warmed is not None and warmed.repeat else max_renders
        whole = run(z, controls, slice(None), renders, start, warmed=warmed)
        return Settled(whole.z, requests, whole.measured, whole.renders, whole.tried)
    assert aim is not None  # a set control changed, so there is an aim
    items = [
        aimed_item(
            run,
            z[b : b + 1],
            b,
            everything,
            aim,
            start,
            requests,
            tolerances,
            weights,
            AIMED_RENDERS,
        )
        for b in range(z.shape[0])
    ]
    return Settled(
        torch.cat([r.z for r in items]),
        requests,
        torch.cat([r.measured for r in items]),
        sum(r.renders for r in items),
    )


def reach_span(control: Control, low: float, high: float) -> str:
    """What a sound renders along `control`, in its unit (`3.8 ms – 8.3 ms`)."""
    return " – ".join(format_reading(v, control.unit) for v in (low, high))


def _beyond(reach: np.ndarray, asked: float) -> bool:
    return bool(np.isfinite(reach).all()) and not reach[0] <= asked <= reach[1]


def loop_warnings(
    controls: Sequence[Control],
    requests: torch.Tensor,
    measured: torch.Tensor,
    locked: int = 0,
    reach: np.ndarray | None = None,
) -> tuple[list[str], list[str]]:
    """For item 0: the requested controls left outside their tolerance (the last `locked`
    ones: 1/LOCK_WEIGHT tolerances) or not measurable on the render, and one line each in their
    unit (`brightness: asked 9000 Hz, renders 6120 Hz (the closest this model came)`); `reach`:
    the lowest and highest value the sound renders for control 0 (its scale), named when the
    request lies beyond it (`attack: asked 0.8 ms, renders 3.8 ms (this sound renders 3.8 ms –
    8.3 ms)`)."""
    names, notes = [], []
    for i, control in enumerate(controls):
        asked, got = float(requests[0, i]), float(measured[0, i])
        held = i >= len(controls) - locked
        slack = 1.0 / LOCK_WEIGHT if held else 1.0
        if not math.isfinite(asked) or abs(asked - got) <= slack * loop_tolerance(
            control, asked, held
        ):
            continue
        names.append(control.name)
        pitch = control.scale == "semitones"
        wanted = format_reading(control.to_user(asked), control.unit, pitch=pitch)
        if not math.isfinite(got):
            notes.append(f"{control.name}: asked {wanted}, the render has none to measure")
            continue
        rendered = format_reading(control.to_user(got), control.unit, pitch=pitch)
        why = "the closest this model came"
        if i == 0 and reach is not None and _beyond(reach, asked):
            why = f"this sound renders {reach_span(control, *map(control.to_user, reach))}"
        notes.append(f"{control.name}: asked {wanted}, renders {rendered} ({why})")
    return names, notes


def steerable(control: Control, descriptor_of: Callable[[str], str | None]) -> bool:
    """Whether the loop steers `control` by its measurement: it has a descriptor and is not
    weak (a weak control's measurement does not follow its direction, so chasing it would only
    pull the others off their targets; it is set open-loop)."""
    return control.weak is None and descriptor_of(control.name) is not None


class RenderMemo:
    """Renders latents for the loop, measures controls on them, and keeps every render so the
    chosen iterate is not decoded twice.

    render: latents `[batch, dim, frames]` → audio `[batch, channels, samples]`; measure: one
    sound and descriptor names → their values; descriptor_of: a control's descriptor or None."""

    def __init__(
        self,
        render: Callable[[torch.Tensor], np.ndarray],
        measure: Callable[[np.ndarray, Sequence[str]], DescriptorValues],
        descriptor_of: Callable[[str], str | None],
        slope: Slope | None = None,
    ) -> None:
        self._render, self._measure, self._descriptor_of = render, measure, descriptor_of
        self.slope = slope
        self._done: list[tuple[torch.Tensor, np.ndarray]] = []

    def measurable(self, controls: Sequence[Control]) -> list[bool]:
        """Whether the loop steers each control by its measurement (`steerable`)."""
        return [steerable(c, self._descriptor_of) for c in controls]

    def measure(self, latents: torch.Tensor, controls: Sequence[Control]) -> torch.Tensor:
        """Each control's measured value on its scale `[batch, controls]` (NaN: see `Measure`)."""
        latents = latents.detach()
        audio = self._render(latents.float())
        self._done.append((latents.clone(), audio))
        descriptors = [self._descriptor_of(c.name) for c in controls]
        wanted = sorted({d for d in descriptors if d is not None})
        values = torch.full((latents.shape[0], len(controls)), math.nan, dtype=torch.float64)
        if not wanted:
            return values
        for b, sound in enumerate(audio):
            measured = self._measure(sound, wanted)
            for i, (control, name) in enumerate(zip(controls, descriptors, strict=True)):
                if name is not None:
                    value = np.array([measured.value(name)], dtype=np.float64)
                    values[b, i] = float(to_scale(value, control.scale)[0])
        return values

    def audio_of(self, latents: torch.Tensor) -> np.ndarray:
        """The renders of `latents` `[batch, dim, frames]`, reusing the loop's where it made them."""
        found: list[np.ndarray | None] = [None] * latents.shape[0]
        for done, audio in self._done:
            for b in range(latents.shape[0]):
                if (
                    found[b] is None
                    and done.shape == latents.shape
                    and torch.equal(done[b], latents[b])
                ):
                    found[b] = audio[b]
        if any(item is None for item in found):
            return self._render(latents.float())
        return np.stack([item for item in found if item is not None])


SweepSettled = tuple[torch.Tensor, np.ndarray, list[bool], list[str]]
"""A settled sweep: latents `[steps, dim, frames]`, their renders `[steps, channels, samples]`,
per step whether a control stayed outside its tolerance, and the warnings."""


def settle_sweep(
    memo: RenderMemo,
    repeated: torch.Tensor,
    control: Control,
    locked: Sequence[Control],
    targets: torch.Tensor,
) -> SweepSettled:
    """The closed loop for every step of a sweep at once: `repeated` start latents
    `[steps, dim, frames]` float64, the open-loop `targets` `[steps, 1, frames]` of the swept
    control. Returns the settled latents, their renders, per step whether the swept or a locked
    control stayed outside its tolerance, and a warning counting those steps."""
    everything = [control, *locked]
    start = None
    if locked:
        start = memo.measure(repeated[:1], everything).expand(repeated.shape[0], -1)
    setting = Setting(control.name, 0.0, False, "")
    z_new, requests, measured, _, _ = closed_loop_move(
        repeated,
        [setting],
        [control],
        locked,
        targets[:, :1].double(),
        memo.measure,
        start=start,
        measurable=memo.measurable(everything),
        aim=None if memo.slope is None else partial(localized, memo.slope),
        shared_start=True,
    )
    unreached = [
        bool(loop_warnings(everything, requests[i : i + 1], measured[i : i + 1], len(locked))[0])
        for i in range(requests.shape[0])
    ]
    notes = []
    if any(unreached):
        notes.append(
            f"{control.name}: {sum(unreached)} of {len(unreached)} steps render outside the "
            "tolerance of their request (the closest this model came is kept)"
        )
    return z_new, memo.audio_of(z_new), unreached, notes


def settled_move(
    memo: RenderMemo,
    z: torch.Tensor,
    settings: Sequence[Setting],
    chosen: Sequence[Control],
    locked: Sequence[Control],
    open_targets: torch.Tensor,
    history: LoopHistory,
) -> Move:
    """The closed-loop move of latents `z` `[batch, dim, frames]` float64 from the open-loop
    `open_targets` `[batch, len(chosen), frames]`; the start sound is rendered and measured
    first when a control is locked or set relatively, once per start: the `history` remembers
    it, and what earlier moves from `z` measured, so the loop starts where they predict; this
    move's renders are remembered in turn. `measured` is left for the caller."""
    everything = [*chosen, *locked]
    key = LoopHistory.key(z, chosen, locked)
    start, start_renders = None, 0
    if locked or any(s.relative for s in settings):
        start = history.start(key)
        if start is None:
            start, start_renders = memo.measure(z, everything), 1
            history.remember_start(key, start)
    settled = closed_loop_move(
        z,
        settings,
        chosen,
        locked,
        open_targets,
        memo.measure,
        start=start,
        measurable=memo.measurable(everything),
        aim=None if memo.slope is None else partial(localized, memo.slope),
        warm=partial(history.predict, key),
    )
    z_new, requests, measured, renders = settled[:4]
    history.record(key, settled.tried)
    requested = {
        c.name: c.to_user(float(requests[0, i] if math.isfinite(requests[0, i]) else base))
        for i, (c, base) in enumerate(zip(chosen, open_targets[0].mean(dim=-1), strict=True))
    }
    unreached, notes = loop_warnings(everything, requests, measured, len(locked))
    return Move(
        z_new.float(),
        notes,
        requested,
        audio=memo.audio_of(z_new),
        renders=renders + start_renders,
        unreached=unreached,
        asked=requests,
        got=measured,
    )
