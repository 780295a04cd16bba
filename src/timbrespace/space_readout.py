"""The attack, brightness and loudness set by search over a render stage, not by secant steps.

A `LatentSpace` move of a control measured by a render stage's descriptor (the attack by the
fade-in, the brightness by the spectral tilt, the loudness by the gain) searches that stage
(`render_stages`, `stage_search`), with locked controls held. The secant loop moved the
attack along the control's fitted direction with the other controls held, so the decoder's
content moved too, and its four renders chased a measurement that jumps between neighbouring
latents (44 % of a demo bundle's attack sweep steps within 5 %); its brightness stopped where
the decoded content did (a kick's centroid at 1.4 kHz; 73 % within 5 %). A request the sound cannot measure keeps the closest value, and says so.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from timbrespace.audio.descriptors import to_scale
from timbrespace.latent.control import Control
from timbrespace.latent.settings import Setting, setting_target
from timbrespace.render_stages import (
    ATTACK_DESCRIPTOR,
    BRIGHTNESS_DESCRIPTOR,
    LOUDNESS_DESCRIPTOR,
    stage_of,
)
from timbrespace.space_loop import (
    LOCK_WEIGHT,
    Move,
    loop_tolerance,
    loop_warnings,
    reach_span,
)
from timbrespace.stage_search import Locks, ReadoutSearch

_SEARCHES: weakref.WeakKeyDictionary[Any, dict[str, ReadoutSearch | None]] = (
    weakref.WeakKeyDictionary()
)
STAGE_ORDER = (BRIGHTNESS_DESCRIPTOR, ATTACK_DESCRIPTOR, LOUDNESS_DESCRIPTOR)
"""The stages in the order the synth renders them: the tilt, the fade-in, the gain. A locked
control a later stage sets is set back by that stage's search (`Locks.follower`)."""
LOCK_ROUNDS = 2
"""Searches of the stage and of its locked followers in turn: the fade-in that puts an attack
back changes the centroid too (a demo chord asked 2.85 kHz measured 3.19 kHz after it)."""
CLOSE_AFTER_LOCKS = math.log1p(0.025)
"""No second round when every sound measures within this of its request (half the loop's
tolerance)."""


def readout_search(space: Any, chosen: Sequence[Control]) -> ReadoutSearch | None:
    """The search of a `LatentSpace` (made once per space and descriptor) when the one control
    set is measured by a stage's descriptor and the model has that stage (`STAGE_ORDER`), else
    None (the secant loop)."""
    if len(chosen) != 1 or (descriptor := space.descriptor_of(chosen[0].name)) not in STAGE_ORDER:
        return None
    return _search_for(space, descriptor)


def _search_for(space: Any, descriptor: str) -> ReadoutSearch | None:
    """The search of the stage setting `descriptor` (one of `STAGE_ORDER`) of a `LatentSpace`,
    made once, taking its bare renders from the previous stage's search where it can
    (`ReadoutSearch.upstream`), or None when the model lacks that stage."""
    made = _SEARCHES.setdefault(space, {})
    if descriptor not in made:
        stage = None
        if space.model.latent_kind == "point":
            stage = stage_of(space.model, space.clip_seconds(), descriptor)

        def measure(audio: np.ndarray) -> float:
            return space.measure(audio, [descriptor]).value(descriptor)

        def follower(control: Control) -> ReadoutSearch | None:
            later = STAGE_ORDER[STAGE_ORDER.index(descriptor) + 1 :]
            found = space.descriptor_of(control.name) in later
            return readout_search(space, [control]) if found else None

        def upstream(z: torch.Tensor) -> np.ndarray | None:
            for earlier in reversed(STAGE_ORDER[: STAGE_ORDER.index(descriptor)]):
                if (search := _search_for(space, earlier)) is not None:
                    return search.known_next(z)
            return None

        locks = Locks(space.descriptor_of, space.measure, follower)
        made[descriptor] = (
            None
            if stage is None
            else ReadoutSearch(stage, space.render, measure, locks, upstream=upstream)
        )
    return made[descriptor]


def _scaled(control: Control, values: np.ndarray) -> np.ndarray:
    return to_scale(np.asarray(values, dtype=np.float64), control.scale)


def readout_requests(
    setting: Setting, control: Control, opened: torch.Tensor, start: np.ndarray | None
) -> np.ndarray:
    """Requests `[batch]` (the descriptor's unit) of a `setting`: relative to the start sounds'
    measurements `start` `[batch]` when it is relative, else the open-loop move's targets
    `opened` `[batch, frames]` (the control's scale, after its limits)."""
    if setting.relative and start is not None:
        scaled = setting_target(setting, control, torch.from_numpy(_scaled(control, start)))
    else:
        scaled = opened.double().mean(dim=-1)
    return np.array([control.to_user(float(v)) for v in scaled])


def _measured(search: ReadoutSearch, sound: np.ndarray, locked: Sequence[Control]) -> np.ndarray:
    """The stage's descriptor and each locked control's on one sound, in their units `[1 + m]`
    (NaN where a control is not measured)."""
    values = [search.measure(sound)] + [math.nan] * len(locked)
    names = [None if search.locks is None else search.locks.descriptor_of(c.name) for c in locked]
    wanted = [name for name in names if name is not None]
    if search.locks is not None and wanted:
        found = search.locks.measure(sound, wanted)
        values[1:] = [math.nan if name is None else found.value(name) for name in names]
    return np.array(values, dtype=np.float64)


def _followers(search: ReadoutSearch, locked: Sequence[Control]) -> list[ReadoutSearch | None]:
    """Per locked control, the search of a later stage that sets it, or None."""
    return [None if search.locks is None else search.locks.follower(lock) for lock in locked]


def decodes(search: ReadoutSearch, locked: Sequence[Control]) -> int:
    """The decodes `search` and the followers of `locked` controls have spent so far."""
    return search.decodes + sum(f.decodes for f in _followers(search, locked) if f is not None)


def settle_locked(
    search: ReadoutSearch,
    z: torch.Tensor,
    control: Control,
    requests: np.ndarray,
    locked: Sequence[Control],
    near: bool = False,
) -> tuple[torch.Tensor, np.ndarray, torch.Tensor, torch.Tensor]:
    """`ReadoutSearch.settle` (`near`: walking from each latent's value where its curve is not
    known) of latents `z` `[batch, dim, 1]` to `requests` `[batch]` (the
    descriptor's unit) with `locked` controls measured on the start and on the result, and a
    locked control a later stage sets (`Locks.follower`) put back to its start value. Returns
    the latents, renders, requests and measurements `[batch, 1 + m]` on each control's scale
    (locked ones: their start values)."""
    everything = [control, *locked]
    held = np.full((z.shape[0], len(everything)), math.nan)
    if locked:
        starts = z[:1] if bool((z == z[:1]).all()) else z  # a sweep's steps share their start
        held = np.stack(
            [_measured(search, sound, locked) for sound in search.start_renders(starts)]
        )
        held = np.broadcast_to(held, (z.shape[0], len(everything))).copy()
    held[:, 0] = requests
    following = sorted(
        (
            (i, f)
            for i, f in enumerate(_followers(search, locked), start=1)
            if f is not None and bool(np.isfinite(held[:, i]).all())
        ),
        key=lambda pair: STAGE_ORDER.index(pair[1].stage.descriptor),
    )
    z_new = z
    for _ in range(LOCK_ROUNDS):
        z_new, audio = search.settle(z_new, requests, near)
        if not following:
            break
        for i, follower in following:
            lock = locked[i - 1]
            now = _scaled(lock, np.array([follower.measure(sound) for sound in audio]))
            wanted = _scaled(lock, held[:, i])
            weight = 1.0 if follower.stage.free else LOCK_WEIGHT  # a free one costs no decode
            slack = [loop_tolerance(lock, w, True) / weight for w in wanted.tolist()]
            moved = np.flatnonzero(~(np.abs(now - wanted) <= np.array(slack)))
            if moved.size:  # only where the lock let go: a fade changed needlessly moves the rest
                index = torch.from_numpy(moved)
                z_new, audio = z_new.clone(), audio.copy()
                follower.remember(z_new[index], audio[moved])
                z_new[index], audio[moved] = follower.settle(
                    z_new[index], held[moved, i], near=True
                )
        now = np.array([search.measure(sound) for sound in audio])
        misses = [search.stage.miss(now[b : b + 1], r)[0] for b, r in enumerate(requests)]
        if bool((np.abs(misses) <= CLOSE_AFTER_LOCKS).all()):
            break
    got = np.stack([_measured(search, sound, locked) for sound in audio])
    scaled = [
        torch.from_numpy(np.stack([_scaled(c, v[:, i]) for i, c in enumerate(everything)], 1))
        for v in (held, got)
    ]
    return z_new, audio, scaled[0], scaled[1]


def readout_move(
    search: ReadoutSearch,
    z: torch.Tensor,
    setting: Setting,
    control: Control,
    opened: torch.Tensor,
    locked: Sequence[Control] = (),
) -> Move:
    """The move of latents `z` `[batch, dim, 1]` to `setting` (`settle_locked`), with a
    warning when item 0 measures outside its tolerance, or a `locked` control outside
    1/LOCK_WEIGHT of its; `opened`: the open-loop targets `[batch, frames]` (the control's
    scale). `measured` is left for the caller."""
    before = decodes(search, locked)
    start = search.start_values(z) if setting.relative else None
    requests = readout_requests(setting, control, opened, start)
    z_new, audio, wanted, got = settle_locked(search, z, control, requests, locked)
    unreached, notes = loop_warnings([control, *locked], wanted[:1], got[:1], len(locked))
    if control.name in unreached:  # name what this sound renders (no lookup on a move that lands)
        reach = _scaled(control, search.reach(z[:1])[0])
        notes = loop_warnings([control, *locked], wanted[:1], got[:1], len(locked), reach)[1]
    return Move(
        z_new.float(),
        notes,
        {control.name: float(requests[0])},
        audio=audio,
        renders=decodes(search, locked) - before,
        unreached=unreached,
    )


def readout_sweep(
    search: ReadoutSearch,
    z: torch.Tensor,
    control: Control,
    targets: Sequence[float],
    locked: Sequence[Control] = (),
) -> tuple[torch.Tensor, np.ndarray, list[bool], list[str]]:
    """A sweep from one latent `[1, dim, 1]` over `targets` (the control's scale), `locked`
    controls held as `settle_locked` holds them, returned as `space_loop.settle_sweep` returns
    it: latents, renders, per step whether it or a lock measures outside its tolerance, and a
    warning counting those steps."""
    wanted = np.array([control.to_user(float(t)) for t in targets])
    many = z.double().expand(wanted.size, -1, -1)
    z_new, audio, asked, got = settle_locked(search, many, control, wanted, locked)
    everything = [control, *locked]
    unreached = [
        bool(loop_warnings(everything, asked[i : i + 1], got[i : i + 1], len(locked))[0])
        for i in range(wanted.size)
    ]
    notes = []
    if any(unreached):
        low, high = search.reach(z)[0]
        beyond = int(np.sum((wanted < low) | (wanted > high)))
        notes.append(
            f"{control.name}: {sum(unreached)} of {len(unreached)} steps render outside the "
            "tolerance of their request (the closest this sound measures is kept)"
            + (
                f"; {beyond} ask beyond what it renders, {reach_span(control, low, high)}"
                if beyond
                else ""
            )
        )
    return z_new, audio, unreached, notes
