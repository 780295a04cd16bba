"""Closed-loop control: set controls so that the *rendered* sound measures what was asked.

A control's direction is a linear prediction; a decoder renders something near it, not on it.
After the minimum-norm move to the requested values `r` (open loop), render, measure each
control's descriptor `m`, and move the latent targets `b` by the error, per control, with a
secant estimate of how much the measurement moves per unit of latent value:

    b₀ = r (locked controls: their latent value at the start);  z_k = move(z, b_k)
    m_k = measure(render(z_k));  e_k = r − m_k
    s_k = (m_k − m_{k−1}) / (b_k − b_{k−1}), its size clipped to [SLOPE_MIN, SLOPE_MAX]
    (at k = 0: from the start sound's measurement when there is one, else 1)
    b_{k+1} = b_k + e_k / s_k, each step at most `max_step`

until every measured error is within its tolerance, the render budget ends or no target moves
(the corrections are spent at their limits, or the errors unmeasurable: the decoder is
deterministic, so the render would repeat), every error left is larger than the corrections
may reach in all (`max_offset`: `beyond`), or, from the second render on, no measurement left
outside its tolerance changed since the last render; the best iterate
(the smallest worst weighted error in tolerances; a failed measurement counts as the worst) is
kept.
Controls without a request (NaN: PCA axes, packs, custom) keep their open-loop latent target,
and so does an item whose measurement is undefined (NaN: an unvoiced pitch) at that step. Values are on each control's scale (semitones, log Hz, …); latents
`[batch, dim, frames]`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

SLOPE_MIN = 0.25
SLOPE_MAX = 4.0
REVERSAL_TOLERANCES = 2.0
"""A measurement that moved the wrong way by at least this many tolerances is believed."""


@dataclass
class LoopResult:
    """z `[batch, dim, frames]` of the best iterate; latent_targets and measured
    `[batch, controls]` at it (scale units; NaN where unmeasured); reached `[batch, controls]`
    bool (unmeasured controls count as reached); renders: how many batches were rendered;
    tried: every render's (latent targets, measurements) `[batch, controls]` each, in order."""

    z: torch.Tensor
    latent_targets: torch.Tensor
    measured: torch.Tensor
    reached: torch.Tensor
    renders: int
    tried: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)


def secant_slopes(
    b_now: torch.Tensor,
    b_before: torch.Tensor,
    m_now: torch.Tensor,
    m_before: torch.Tensor,
    tolerance: torch.Tensor | None = None,
) -> torch.Tensor:
    """Measured change per latent change, element-wise, its size clipped to [SLOPE_MIN,
    SLOPE_MAX]; 1 where the latent target did not move or a measurement is undefined.

    A measurement moving the wrong way is believed (the slope keeps its sign, so the next step
    turns back) when it moved by at least `REVERSAL_TOLERANCES` × `tolerance` at a believable
    rate (at most SLOPE_MAX): a direction fitted over the whole collection can darken the very
    sounds it brightens on average (measured on hydrogen's kicks). Otherwise, or without a
    tolerance, it gives SLOPE_MAX: small, careful steps (a pitch tracker's octave slip moves
    the measurement a lot for a small move)."""
    moved = b_now - b_before
    change = m_now - m_before
    slope = change / torch.where(moved.abs() > 1e-9, moved, torch.ones_like(moved))
    usable = (moved.abs() > 1e-9) & torch.isfinite(slope)
    reversed_ = torch.zeros_like(usable)
    if tolerance is not None:
        large = change.abs() >= REVERSAL_TOLERANCES * tolerance.expand_as(change)
        reversed_ = (slope < 0) & large & (slope.abs() <= SLOPE_MAX)
    slope = torch.where(
        slope > 0,
        slope.clamp(SLOPE_MIN, SLOPE_MAX),
        torch.where(
            reversed_, slope.clamp(-SLOPE_MAX, -SLOPE_MIN), torch.full_like(slope, SLOPE_MAX)
        ),
    )
    return torch.where(usable, slope, torch.ones_like(slope))


JUMP_WIDTH = 0.25
"""Renders measured more than two tolerances apart, on either side of a request, whose latent
targets lie within this many tolerances of each other, straddle a jump of the measurement
(`jumped`): a hydrogen ride's release measured 89 ms and 197 ms 0.0013 apart on its log
scale (its envelope's tail crossing −40 dB), and no render measures in between."""


@dataclass
class Bracket:
    """Per element `[batch, controls]`: the latent targets and measurements of the renders
    measured nearest below and nearest above the request so far (NaN: none yet)."""

    below: tuple[torch.Tensor, torch.Tensor]
    above: tuple[torch.Tensor, torch.Tensor]

    @classmethod
    def empty(cls, like: torch.Tensor) -> Bracket:
        nan = torch.full_like(like, math.nan, dtype=torch.float64)
        return cls((nan, nan.clone()), (nan.clone(), nan.clone()))

    def add(
        self,
        requests: torch.Tensor,
        targets: torch.Tensor,
        measured: torch.Tensor,
        offset_limit: torch.Tensor,
        tolerance: torch.Tensor,
    ) -> None:
        """Take a render's targets and measurements `[batch, controls]` where they are nearer
        the request than the side's render so far, and not further than every correction
        reaches (`beyond`: a tracker's octave slip says nothing of where the request lies)."""
        measured = torch.where(
            beyond(requests - measured, offset_limit, tolerance), math.nan, measured.double()
        )
        for side, on_side, nearer in (
            (self.below, measured <= requests, lambda old: measured > old),
            (self.above, measured >= requests, lambda old: measured < old),
        ):
            take = torch.isfinite(measured) & on_side & (side[1].isnan() | nearer(side[1]))
            side[0][take], side[1][take] = targets[take].double(), measured[take].double()

    def safeguard(self, proposed: torch.Tensor) -> torch.Tensor:
        """Proposed latent targets `[batch, controls]`, replaced by the midpoint of the bracket
        where both sides are known and the proposal is not strictly between them (a secant
        across a jump or a kink leaps past the request)."""
        low = torch.minimum(self.below[0], self.above[0])
        high = torch.maximum(self.below[0], self.above[0])
        outside = (
            torch.isfinite(low) & torch.isfinite(high) & ~((proposed > low) & (proposed < high))
        )
        return torch.where(outside, (low + high) / 2, proposed)

    def jumped(self, tolerance: torch.Tensor) -> torch.Tensor:
        """Elements `[batch, controls]` whose request lies in a jump of the measurement
        (`JUMP_WIDTH`)."""
        width = (self.above[0] - self.below[0]).abs()
        gap = self.above[1] - self.below[1]
        return (width <= JUMP_WIDTH * tolerance) & (gap > 2.0 * tolerance)


def judge(
    requests: torch.Tensor,
    measured: torch.Tensor,
    tolerance: torch.Tensor,
    weights: torch.Tensor,
    slip_limit: torch.Tensor | None = None,
    octave_limit: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Which controls a render reached `[batch, controls]` (a NaN request counts as reached) and
    its score `[batch]`: the worst weighted error in tolerances; a request whose measurement
    failed (an unvoiced render) scores worse than any measured one (inf). An error beyond
    `slip_limit` (`beyond`), or beyond `octave_limit` by whole octaves (`octave_slip`), is the
    tracker's slip, not the sound's: it neither scores nor holds the loop."""
    error = requests - measured
    asked = torch.isfinite(requests)
    judged = torch.isfinite(error)
    if slip_limit is not None:
        judged = judged & ~beyond(error, slip_limit, tolerance)
    if octave_limit is not None:
        judged = judged & ~octave_slip(error, octave_limit, tolerance)
    slipped = asked & torch.isfinite(error) & ~judged
    reached = ~asked | slipped | (judged & (weights * error.abs() <= tolerance))
    score = torch.where(judged, weights * error.abs() / tolerance, torch.zeros_like(error))
    failed = asked & ~judged & ~slipped
    return reached, torch.where(failed, torch.full_like(score, math.inf), score).amax(1)


def beyond(
    error: torch.Tensor, offset_limit: torch.Tensor, tolerance: torch.Tensor
) -> torch.Tensor:
    """Errors `[batch, controls]` larger than every correction the loop may make in all
    (`offset_limit`, scale units) plus their tolerance, and unmeasured ones (NaN): no render
    reachable from here moves the measurement there by following the request (a pitch tracker
    two octaves off hears another partial, not a detuned one)."""
    return ~torch.isfinite(error) | (error.abs() > offset_limit + tolerance)


OCTAVE_SLIP_ST = 1.0
"""How near a whole number of octaves (semitones) an error beyond every correction is read as
the tracker's slip."""


def octave_slip(
    error: torch.Tensor, offset_limit: torch.Tensor, tolerance: torch.Tensor
) -> torch.Tensor:
    """Errors `[batch, controls]` (semitones) beyond every correction (`beyond`) and within
    `OCTAVE_SLIP_ST` of a whole number of octaves, not zero: the tracker heard another partial
    (a demo kick rendered at 220 Hz read 55 Hz), and a correction, at most `offset_limit`,
    would only detune the sound."""
    octaves = torch.round(error / 12.0)
    near = (error - 12.0 * octaves).abs() <= OCTAVE_SLIP_ST
    return torch.isfinite(error) & beyond(error, offset_limit, tolerance) & near & (octaves != 0)


def settle(
    place: Callable[[torch.Tensor], torch.Tensor],
    measure: Callable[[torch.Tensor], torch.Tensor],
    requests: torch.Tensor,
    start_targets: torch.Tensor,
    tolerances: torch.Tensor,
    *,
    max_renders: int = 4,
    max_step: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
    max_offset: torch.Tensor | None = None,
    origin: tuple[torch.Tensor, torch.Tensor] | None = None,
    shared_start: bool = False,
    locked: torch.Tensor | None = None,
    octaves: torch.Tensor | None = None,
) -> LoopResult:
    """Run the loop of the module docstring.

    place: latent targets `[batch, controls]` → latents `[batch, dim, frames]` (the minimum-norm
    move from the start point); measure: latents → measurements `[batch, controls]` on the
    controls' scales, NaN where a control has no measurement. requests and start_targets
    `[batch, controls]` (a NaN request: keep that control's start target, unmeasured);
    tolerances `[controls]` or `[batch, controls]`, > 0; max_step `[controls]`: the largest
    correction of a latent target per iteration (default unbounded); weights `[controls]`: how
    much each control's error (in tolerances) counts when choosing the best iterate and when
    judging it reached (default 1; a lock weighted 0.2 is held within 5 tolerances); max_offset `[controls]`: how
    far in all a latent target may move from its start (default unbounded); origin: the latent
    targets and measurements `[batch, controls]` of the sound the move starts from, when it was
    measured: the first correction then uses a measured slope, not 1. shared_start: every
    batch item places its targets from the same start (a sweep's steps), so every render is a
    candidate for every item: each keeps the best of all (`pooled_best`). locked `[controls]`
    (bool): the controls held where they were; a locked measurement beyond every correction
    (`beyond`) is the tracker's slip, not the sound's, and does not count (a demo cymbal's
    held pitch read an octave and a fifth down at some releases, and the loop kept renders 40 %
    off the asked release instead). octaves `[controls]` (bool): the controls (a pitch) whose
    measurement beyond every correction by whole octaves is the tracker's slip (`octave_slip`).
    """
    if max_renders < 1:
        raise ValueError(f"max_renders must be >= 1, got {max_renders}")
    requests = requests.double()
    start = start_targets.double()
    targets = start.clone()
    tolerance = tolerances.double().expand_as(requests)
    step_limit = (
        torch.full_like(requests, float("inf"))
        if max_step is None
        else max_step.double().expand_as(requests)
    )
    offset_limit = (
        torch.full_like(requests, math.inf)
        if max_offset is None
        else max_offset.double().expand_as(requests)
    )
    importance = (
        torch.ones_like(requests) if weights is None else weights.double().expand_as(requests)
    )
    slip_limit = None
    if locked is not None:
        slip_limit = torch.where(locked.expand_as(requests), offset_limit, math.inf)
    octave_limit = None
    if octaves is not None:
        octave_limit = torch.where(octaves.expand_as(requests), offset_limit, math.inf)
    best: LoopResult | None = None
    best_score = torch.full((requests.shape[0],), float("inf"), dtype=torch.float64)
    previous = None if origin is None else (origin[0].double(), origin[1].double())
    pool: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    tried: list[tuple[torch.Tensor, torch.Tensor]] = []
    bracket = Bracket.empty(requests)
    if previous is not None:
        bracket.add(requests, *previous, offset_limit, tolerance)
    for renders in range(1, max_renders + 1):
        z = place(targets)
        measured = measure(z).double()
        tried.append((targets.clone(), measured.clone()))
        bracket.add(requests, targets, measured, offset_limit, tolerance)
        if shared_start:
            pool.append((z, targets.clone(), measured))
        error = requests - measured
        judged = torch.isfinite(error)
        reached, score = judge(requests, measured, tolerance, importance, slip_limit, octave_limit)
        if best is None:
            best = LoopResult(
                z.clone(), targets.clone(), measured.clone(), reached.clone(), renders
            )
        better = (score < best_score) | (renders == 1)
        if bool(better.any()):
            best.z[better] = z[better]
            best.latent_targets[better] = targets[better]
            best.measured[better] = measured[better]
            best.reached[better] = reached[better]
            best_score = torch.where(better, score, best_score)
        best.renders = renders
        if bool(reached.all()) or renders == max_renders:
            break
        if bool((reached | beyond(error, offset_limit, tolerance)).all()):
            break  # what is left is further than any correction reaches: a tracker's octave
        if bool((reached | bracket.jumped(tolerance)).all()):
            break  # what is left lies in a jump of the measurement: no render measures it
        unchanged = previous is not None and bool((reached | (measured == previous[1])).all())
        if renders >= 2 and unchanged:
            break  # the measurement no longer answers the move (a limit of the tracker)
        slope = torch.ones_like(targets)
        if previous is not None:
            slope = secant_slopes(targets, previous[0], measured, previous[1], tolerance)
        previous = (targets.clone(), measured)
        correction = torch.where(judged & ~reached, error / slope, torch.zeros_like(error))
        stepped = targets + torch.maximum(torch.minimum(correction, step_limit), -step_limit)
        stepped = torch.where(judged & ~reached, bracket.safeguard(stepped), stepped)
        stepped = start + torch.maximum(torch.minimum(stepped - start, offset_limit), -offset_limit)
        if bool(((stepped - targets).abs() <= 1e-9).all()):
            break  # every correction is spent (limits) or unmeasurable: a render would repeat
        targets = stepped
    assert best is not None
    best.tried = tried
    if shared_start and requests.shape[0] > 1:
        pooled_best(best, best_score, pool, requests, tolerance, importance)
    return best


def pooled_best(
    best: LoopResult,
    best_score: torch.Tensor,
    pool: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    requests: torch.Tensor,
    tolerance: torch.Tensor,
    importance: torch.Tensor,
) -> None:
    """Give each item of `best` (in place) the best of every render in `pool` (z, latent
    targets, measurements per render, each `[batch, …]`), judged against its own request: the
    items of a sweep share their start, so a render made for one step may suit another
    better (a step beyond what the decoder renders then gets the closest render, and the
    sweep keeps its order). An item none of whose own renders measured keeps them unless a
    render reaches its request."""
    z = torch.cat([item[0] for item in pool])
    targets = torch.cat([item[1] for item in pool])
    measured = torch.cat([item[2] for item in pool])
    for row in range(requests.shape[0]):
        asked, near, weights = (
            values[row : row + 1].expand_as(measured)
            for values in (requests, tolerance, importance)
        )
        reached, score = judge(asked, measured, near, weights)
        chosen = int(torch.argmin(score))
        # an item its own renders could not measure (an unvoiced pitch) takes only a render
        # that reaches its request, not another step's sound far from it
        trusted = bool(torch.isfinite(best_score[row])) or bool(reached[chosen].all())
        if trusted and bool(score[chosen] < best_score[row]):
            best.z[row] = z[chosen]
            best.latent_targets[row] = targets[chosen]
            best.measured[row] = measured[chosen]
            best.reached[row] = reached[chosen]
            best_score[row] = score[chosen]
