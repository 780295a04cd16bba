"""Moves that mix the secant loop with render-stage searches, and locks a stage puts back.

A move of several controls (`staged_move`): the secant loop (`space_loop.settled_move`) sets
the controls no render stage sets, then each stage control is set by its stage's search
(`space_readout`), in render order. A locked control a stage sets (the brightness by the
tilt, the attack by the fade-in, the loudness by the gain) is not held by the secant loop but
put back by its search once the loop is done (`restore_locks`): the loop holds a lock only within
1/LOCK_WEIGHT tolerances, and a pitch sweep of a hydrogen kick moved its locked A-weighted
loudness by up to 8 dB (a lower kick is quieter through the A-weighting), so the sweep moved the
other descriptors more than a random latent direction does. Latents `[batch, dim, 1]`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from timbrespace.audio.descriptors import to_scale
from timbrespace.latent.control import Control
from timbrespace.latent.settings import Setting
from timbrespace.space_history import LoopHistory
from timbrespace.space_loop import (
    LOCK_WEIGHT,
    Move,
    RenderMemo,
    SweepSettled,
    loop_tolerance,
    loop_warnings,
    settle_sweep,
    settled_move,
)
from timbrespace.space_readout import (
    STAGE_ORDER,
    decodes,
    readout_requests,
    readout_search,
    settle_locked,
)
from timbrespace.stage_search import ReadoutSearch

STAGE_ROUNDS = 2
"""Rounds of the stage searches of a move of several controls: a 20 ms fade-in after the tilt
takes a demo sound's brightness 10–20 % below its request, and the tilt's search a second
time moves the attack less than the first."""


def _scaled(control: Control, values: np.ndarray) -> np.ndarray:
    return to_scale(np.asarray(values, dtype=np.float64), control.scale)


def _missed(control: Control, asked: torch.Tensor, got: torch.Tensor) -> bool:
    """Whether an item measures outside the loop's tolerance of a measurable request `[batch]`
    (each control's scale), or not at all."""
    return any(
        math.isfinite(a) and not abs(a - g) <= loop_tolerance(control, a, False)
        for a, g in zip(asked.tolist(), got.tolist(), strict=True)
    )


def stage_locks(space: Any, locked: Sequence[Control]) -> dict[int, ReadoutSearch]:
    """Per locked control a render stage sets (its index in `locked`), that stage's search."""
    found = {j: readout_search(space, [control]) for j, control in enumerate(locked)}
    return {j: search for j, search in found.items() if search is not None}


def restore_locks(
    z: torch.Tensor,
    audio: np.ndarray,
    locked: Sequence[Control],
    searches: dict[int, ReadoutSearch],
    wanted: np.ndarray,
) -> tuple[torch.Tensor, np.ndarray, int, np.ndarray | None]:
    """Latents `z` `[batch, dim, 1]` float64 and their renders `audio` `[batch, channels,
    samples]`, with each locked control a stage sets (`searches`: index in `locked` → its
    search) put back to `wanted` `[batch, len(locked)]` (each control's scale) by its search
    from where it is, in render order, where its render measures outside the tolerance of a
    lock: the loop's tolerance for a stage that costs no decode (the gain), 1/LOCK_WEIGHT of it
    for the others (put back within 5 %, a brightness or attack lock costs two decodes: a pitch
    move of a hydrogen bell with its attack locked took p95 71–76 ms instead of 23–36 ms), in
    at most `STAGE_ROUNDS` rounds (a fade-in put back moves the centroid a little; a control
    is searched again only where a later stage moved it from where its search left it, not
    where it is as close as its sound renders). Returns the latents, renders, decodes spent and,
    when nothing moved, what the renders measure `[batch, len(locked)]` (NaN but where a
    stage sets the lock), else None."""
    order = sorted(searches, key=lambda j: STAGE_ORDER.index(searches[j].stage.descriptor))
    spent, moved = 0, False
    measured = np.full(wanted.shape, math.nan)
    settled: dict[int, np.ndarray] = {}  # what each search left, NaN where it did not move
    for _ in range(STAGE_ROUNDS):
        again = False
        for j in order:
            control, search = locked[j], searches[j]
            now = _scaled(control, np.array([search.measure(sound) for sound in audio]))
            measured[:, j] = now
            left = settled.get(j, np.full(now.size, math.nan))
            weight = 1.0 if search.stage.free else LOCK_WEIGHT
            rows = [
                b
                for b, want in enumerate(wanted[:, j])
                if math.isfinite(want)
                and not abs(now[b] - want)
                <= (slack := loop_tolerance(control, want, True) / weight)
                and not abs(now[b] - left[b]) <= slack  # as its search left it: all it can do
            ]
            if not rows:
                continue
            again = moved = True
            index = torch.tensor(rows)
            z, audio = z.clone(), audio.copy()
            search.remember(z[index], audio[rows])
            before = search.decodes
            requests = np.array([control.to_user(float(wanted[b, j])) for b in rows])
            z[index], audio[rows] = search.settle(z[index], requests, near=True)
            spent += search.decodes - before
            left = left.copy()
            left[rows] = _scaled(control, np.array([search.measure(audio[b]) for b in rows]))
            settled[j] = left
        if not again:
            break
    return z, audio, spent, None if moved else measured


def measure_controls(space: Any, audio: np.ndarray, controls: Sequence[Control]) -> torch.Tensor:
    """Each control's value on each render `[batch, len(controls)]` (its scale; NaN without a
    descriptor)."""
    names = [space.descriptor_of(c.name) for c in controls]
    wanted = sorted({n for n in names if n is not None})
    values = torch.full((len(audio), len(controls)), math.nan, dtype=torch.float64)
    for b, sound in enumerate(audio):
        found = space.measure(sound, wanted) if wanted else None
        for i, (control, name) in enumerate(zip(controls, names, strict=True)):
            if found is not None and name is not None:
                values[b, i] = float(_scaled(control, np.array([found.value(name)]))[0])
    return values


def staged_sweep(
    space: Any,
    memo: RenderMemo,
    repeated: torch.Tensor,
    control: Control,
    locked: Sequence[Control],
    targets: torch.Tensor,
) -> SweepSettled:
    """`space_loop.settle_sweep` of a control the secant loop sets, the locks a stage sets put
    back after it (`restore_locks`) instead of held by it; returned as `settle_sweep` returns
    it, a step counted outside when a lock a stage put back stays beyond 1/LOCK_WEIGHT of its
    tolerance."""
    searches = stage_locks(space, locked)
    looped = [c for j, c in enumerate(locked) if j not in searches]
    z_new, audio, unreached, notes = settle_sweep(memo, repeated, control, looped, targets)
    if not searches:
        return z_new, audio, unreached, notes
    wanted = np.full((repeated.shape[0], len(locked)), math.nan)
    for j, search in searches.items():
        wanted[:, j] = _scaled(locked[j], search.start_values(repeated[:1].double()))[0]
    z_new, audio, _, restored = restore_locks(z_new.double(), audio, locked, searches, wanted)
    if restored is None:  # something moved: measure the locks again
        held = measure_controls(space, audio, [locked[j] for j in searches]).numpy()
    else:
        held = restored[:, list(searches)]
    for column, j in enumerate(searches):
        for b in range(len(unreached)):
            slack = loop_tolerance(locked[j], wanted[b, j], True) / LOCK_WEIGHT
            if not abs(float(held[b, column]) - wanted[b, j]) <= slack:
                unreached[b] = True
    if any(unreached) and not notes:
        notes.append(
            f"{control.name}: {sum(unreached)} of {len(unreached)} steps render outside the "
            "tolerance of their request or a lock (the closest this model came is kept)"
        )
    return z_new.float(), audio, unreached, notes


def staged_move(
    space: Any,
    memo: RenderMemo,
    history: LoopHistory,
    z: torch.Tensor,
    settings: Sequence[Setting],
    chosen: Sequence[Control],
    locked: Sequence[Control],
    targets: torch.Tensor,
) -> Move:
    """The closed-loop move of latents `z` `[batch, dim, 1]` float64 for `chosen` controls
    (`settings`; open-loop targets `[batch, len(chosen), frames]`) when a stage sets one of them
    or of the `locked` ones: the secant loop (`space_loop.settled_move`) sets those no render
    stage sets, holding the locks no stage sets, then each stage control is set by its search
    (`readout_search`), in render order (`STAGE_ORDER`), holding every control set before it and
    every lock as `settle_locked` holds a lock, and again (`STAGE_ROUNDS`), holding all the
    others, where a later stage moved it; last, the locks a stage sets are put back
    (`restore_locks`). Left to the secant loop, a brightness moved along its fitted direction
    stopped where the decoded content did (a demo kick asked 3 kHz with its attack, release and
    pitch also set measured 2.43 kHz; 73 % of such brightness requests within 5 %, 50 % of the
    attacks). The warnings and `unreached` are those of the final renders."""
    if not chosen:  # locks alone: nothing moves, so each is held where it is
        return Move(z.float(), audio=memo.audio_of(z), renders=1)
    staged = {i: s for i, c in enumerate(chosen) if (s := readout_search(space, [c])) is not None}
    restorable = stage_locks(space, locked)
    if not staged and not restorable:
        return settled_move(memo, z, settings, chosen, locked, targets, history)
    everything, rest = [*chosen, *locked], [i for i in range(len(chosen)) if i not in staged]
    asked = torch.full((z.shape[0], len(everything)), math.nan, dtype=torch.float64)
    got = torch.full_like(asked, math.nan)
    z_now, renders, requested, audio = z, 0, {}, None
    for j, search in restorable.items():  # as the sound is before anything moves
        before = search.decodes
        asked[:, len(chosen) + j] = torch.from_numpy(_scaled(locked[j], search.start_values(z)))
        renders += search.decodes - before
    if rest:
        looped = [j for j in range(len(locked)) if j not in restorable]
        moved = settled_move(
            memo,
            z,
            [settings[i] for i in rest],
            [chosen[i] for i in rest],
            [locked[j] for j in looped],
            targets[:, rest],
            history,
        )
        assert moved.asked is not None and moved.got is not None and moved.audio is not None
        columns = rest + [len(chosen) + j for j in looped]
        asked[:, columns], got[:, columns] = moved.asked, moved.got
        z_now, audio, requested = moved.z_new.double(), moved.audio, moved.requested
        renders += moved.renders
    order = sorted(staged, key=lambda i: STAGE_ORDER.index(space.descriptor_of(chosen[i].name)))
    for turn in range(STAGE_ROUNDS if order else 0):
        for k, i in enumerate(order):
            control, search = chosen[i], staged[i]
            if turn and not _missed(control, asked[:, i], got[:, i]):
                continue
            later = order[k + 1 :] if turn == 0 else []
            held = [j for j in range(len(everything)) if j != i and j not in later]
            others = [everything[j] for j in held]
            before = decodes(search, others)
            if turn == 0:
                start = search.start_values(z) if settings[i].relative else None
                requests = readout_requests(settings[i], control, targets[:, i], start)
                asked[:, i] = torch.from_numpy(_scaled(control, requests))
                requested[control.name] = float(requests[0])
            wanted = np.array([control.to_user(float(v)) for v in asked[:, i]])
            z_now, audio, kept, measured = settle_locked(
                search, z_now, control, wanted, others, near=True
            )
            renders += decodes(search, others) - before
            for column, j in enumerate(held, start=1):
                if j >= len(chosen) and bool(asked[:, j].isnan().all()):  # a lock: as it was
                    asked[:, j] = kept[:, column]
            got[:, [i, *held]] = measured
        if not any(_missed(chosen[i], asked[:, i], got[:, i]) for i in order):
            break
    assert audio is not None  # a control was set
    if restorable:
        z_now, audio, spent, restored = restore_locks(
            z_now, audio, locked, restorable, asked[:, len(chosen) :].numpy()
        )
        renders += spent
        if restored is None:  # something moved: measure everything again
            got = measure_controls(space, audio, everything)
            got[asked.isnan()] = math.nan
        else:
            for j in restorable:
                got[:, len(chosen) + j] = torch.from_numpy(restored[:, j])
    unreached, notes = loop_warnings(everything, asked, got, len(locked))
    return Move(
        z_now.float(),
        notes,
        {c.name: requested[c.name] for c in chosen if c.name in requested},
        audio=audio,
        renders=renders,
        unreached=unreached,
        asked=asked,
        got=got,
    )
