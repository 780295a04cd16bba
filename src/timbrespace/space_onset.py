"""The attack set by search over the model's fade-in, not by secant corrections.

A decoder that multiplies its render by a fade-in whose length is a readout of the latent (the
one-shot synth's `envelope` "attack": `attack_fade`) renders the same sound at every attack
but for that gain, and a move along the readout's weights changes nothing else. So one decode
at an attack of ~0 (the unfaded sound) gives the render at any attack T as
`clip(unfaded · fade(T), −1, 1)`, and the attack descriptor is measured on `ATTACK_GRID` such
fades without decoding. The fade whose measurement is closest to the request is kept, refined
by bisection where the measurement crosses it, and the sound is rendered once at it.

The secant loop moved the attack along the control's fitted direction with the other controls
held, so the decoder's content moved too, and its four renders chased a measurement that jumps
between neighbouring latents: 44 % of a demo bundle's sweep steps within 5 % (0.5–9.9 ms). The
envelope cannot resolve every attack on every sound (a 110 Hz tone's envelope rises over its
period, whatever the fade), so a request this sound cannot measure keeps the closest fade, and
says so. Times in s; latents `[batch, dim, frames]`.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from timbrespace.latent.control import Control
from timbrespace.latent.settings import Setting, setting_target
from timbrespace.space_loop import Move, loop_warnings, tolerance

ATTACK_DESCRIPTOR = "attack_time"
ATTACK_GRID = 28
"""Fades measured on a log grid from `GRID_LOW_S` to `GRID_HIGH_S` (37 % apart; the bisection
does the rest)."""
GRID_LOW_S, GRID_HIGH_S = 1e-4, 0.5
REFINE_STEPS = 8
MEMORY = 8
"""Sounds whose attack curves a search keeps (a studio drag moves one sound's attack)."""
UNFADED_LOG_S = math.log(1e-6)
"""A fade this short (ln s) is a gain of 1 from the first sample at any rate up to 800 kHz: the
unfaded render (not shorter: a far move along the readout leaves float32 rounding in the rest
of the latent)."""

Gains = Callable[[int, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Fade:
    """A model's fade-in: its readout `weights` `[dim]` and `bias` (ln s of the 10–90 % rise
    as `w·z + b`), and `gains` (samples, attack s `[n]`) → `[n, samples]`."""

    weights: torch.Tensor
    bias: float
    gains: Gains

    def value(self, z: torch.Tensor) -> torch.Tensor:
        """The readout (ln s) of latents `[batch, dim, 1]` `[batch]`."""
        return z[:, :, 0].double() @ self.weights + self.bias

    def at(self, z: torch.Tensor, log_s: torch.Tensor) -> torch.Tensor:
        """Latents `[batch, dim, 1]` moved along the readout's weights (only) so that it reads
        `log_s` `[batch]` (ln s)."""
        step = (log_s.double() - self.value(z)) / float(self.weights @ self.weights)
        return z.double() + (step[:, None] * self.weights[None, :])[..., None]


def fade_of(model: object) -> Fade | None:
    """The model's fade-in (`attack_fade` and its "attack_time" readout), or None."""
    readouts: dict[str, tuple[torch.Tensor, float]] = getattr(model, "descriptor_readouts", dict)()
    gains = getattr(model, "attack_fade", None)
    if ATTACK_DESCRIPTOR not in readouts or gains is None or gains(1, torch.ones(1)) is None:
        return None
    weights, bias = readouts[ATTACK_DESCRIPTOR]
    return Fade(weights.double(), float(bias), gains)


def attack_curve(
    unfaded: np.ndarray, attacks: np.ndarray, gains: Gains, measure: Callable[[np.ndarray], float]
) -> np.ndarray:
    """The measured attack (s) `[n]` of `unfaded` `[channels, samples]` faded in over each of
    `attacks` (s) `[n]` and clipped to ±1, as the model renders it (NaN where undefined)."""
    ramps = gains(unfaded.shape[-1], torch.as_tensor(attacks, dtype=torch.float64)).numpy()
    return np.array(
        [measure(np.clip(unfaded * ramp[None, :], -1.0, 1.0).astype(np.float32)) for ramp in ramps]
    )


def closest_attack(
    request_s: float,
    grid_s: np.ndarray,
    measured_s: np.ndarray,
    measure_at: Callable[[float], float],
    steps: int = REFINE_STEPS,
) -> tuple[float, float]:
    """The fade (s) among `grid_s` `[n]` (ascending, measuring `measured_s`) whose measured
    attack is closest to `request_s` in ratio, refined by bisection in log time (`measure_at`:
    fade s → measured s) between it and a neighbour on the other side of the request:
    (fade s, measured s). A request nothing measures near keeps the closest grid point."""
    error = np.log(np.where(measured_s > 0, measured_s, np.nan)) - math.log(request_s)
    if not np.isfinite(error).any():
        return float(grid_s[0]), float(measured_s[0])
    best = int(np.nanargmin(np.abs(error)))
    found = (float(grid_s[best]), float(measured_s[best]), abs(float(error[best])))
    for side in (best - 1, best + 1):
        if not 0 <= side < grid_s.size or not error[side] * error[best] < 0:
            continue
        low, high = sorted((math.log(grid_s[best]), math.log(grid_s[side])))
        sign_low = float(np.sign(error[best] if grid_s[best] < grid_s[side] else error[side]))
        for _ in range(steps):
            middle = 0.5 * (low + high)
            got = measure_at(math.exp(middle))
            if not got > 0:
                break
            miss = math.log(got) - math.log(request_s)
            if abs(miss) < found[2]:
                found = (math.exp(middle), got, abs(miss))
            if np.sign(miss) == sign_low:
                low = middle
            else:
                high = middle
        break
    return found[0], found[1]


def attack_grid(low_s: float = GRID_LOW_S, high_s: float = GRID_HIGH_S) -> np.ndarray:
    """`ATTACK_GRID` fade lengths (s), log-spaced from `low_s` to `high_s`."""
    return np.geomspace(low_s, high_s, ATTACK_GRID)


@dataclass
class OnsetSearch:
    """Attack moves of one model: `render` latents → audio `[batch, channels, samples]`;
    `measure` one sound → its attack (s); `clip_s`: the clip length (the grid's top).
    Remembers the unfaded renders and their attack curves of the last `MEMORY` sounds (a
    latent moved along the readout is the same sound), and counts its `decodes`."""

    fade: Fade
    render: Callable[[torch.Tensor], np.ndarray]
    measure: Callable[[np.ndarray], float]
    clip_s: float
    memory: dict[bytes, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    decodes: int = 0

    @property
    def grid(self) -> np.ndarray:
        """The fades (s) every curve is measured at `[ATTACK_GRID]`."""
        return attack_grid(high_s=min(GRID_HIGH_S, self.clip_s))

    def curves(self, z: torch.Tensor) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per item of latents `[batch, dim, 1]`: its unfaded render `[channels, samples]` and
        the attack (s) it measures at each `grid` fade; one decode of the sounds not met."""
        bare = self.fade.at(z, torch.full((z.shape[0],), UNFADED_LOG_S)).float()
        # to 1e-4: a latent moved along the readout and back is the same sound
        keys = [np.round(bare[b].numpy().astype(np.float64), 4).tobytes() for b in range(len(bare))]
        found = {key: self.memory[key] for key in keys if key in self.memory}
        new = [b for b, key in enumerate(keys) if key not in found and keys.index(key) == b]
        if new:
            self.decodes += 1
            for b, sound in zip(new, self.render(bare[new]), strict=True):
                curve = attack_curve(sound, self.grid, self.fade.gains, self.measure)
                found[keys[b]] = self.memory[keys[b]] = (sound, curve)
            for stale in list(self.memory)[: max(0, len(self.memory) - MEMORY)]:
                self.memory.pop(stale, None)
        return [found[key] for key in keys]

    def start_attacks(self, z: torch.Tensor) -> np.ndarray:
        """The attack (s) the renders of latents `[batch, dim, 1]` measure `[batch]`."""
        now = self.fade.value(z).exp().tolist()
        return np.array(
            [
                partial_curve(sound, self.fade.gains, self.measure)(fade)
                for (sound, _), fade in zip(self.curves(z), now, strict=True)
            ]
        )

    def settle(self, z: torch.Tensor, requests: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
        """Latents `[batch, dim, 1]` moved along the fade's readout so that each render
        measures `requests` `[batch]` (ln s; the closest this sound renders when it cannot),
        and their renders (`curves`, then one decode)."""
        chosen = []
        for (sound, curve), request in zip(self.curves(z), requests.tolist(), strict=True):
            measure_at = partial_curve(sound, self.fade.gains, self.measure)
            fade_s, _ = closest_attack(math.exp(request), self.grid, curve, measure_at)
            chosen.append(math.log(fade_s))
        z_new = self.fade.at(z, torch.tensor(chosen, dtype=torch.float64))
        self.decodes += 1
        return z_new, self.render(z_new.float())


_SEARCHES: weakref.WeakKeyDictionary[Any, OnsetSearch | None] = weakref.WeakKeyDictionary()


def onset_search(space: Any, chosen: Sequence[Control]) -> OnsetSearch | None:
    """The search of a `LatentSpace` (made once per space) when the one control set is measured
    by the attack and the model has a fade-in (`fade_of`), else None (the secant loop)."""
    if len(chosen) != 1 or space.descriptor_of(chosen[0].name) != ATTACK_DESCRIPTOR:
        return None
    if space not in _SEARCHES:
        fade = fade_of(space.model) if space.model.latent_kind == "point" else None

        def attack(audio: np.ndarray) -> float:
            return space.measure(audio, [ATTACK_DESCRIPTOR]).value(ATTACK_DESCRIPTOR)

        made = (
            None if fade is None else OnsetSearch(fade, space.render, attack, space.clip_seconds())
        )
        _SEARCHES[space] = made
    return _SEARCHES[space]


def partial_curve(
    unfaded: np.ndarray, gains: Gains, measure: Callable[[np.ndarray], float]
) -> Callable[[float], float]:
    """Fade s → the measured attack (s) of `unfaded` faded in over it (`attack_curve`)."""
    return lambda attack_s: float(attack_curve(unfaded, np.array([attack_s]), gains, measure)[0])


def attack_requests(
    setting: Setting, control: Control, opened: torch.Tensor, start_s: np.ndarray | None
) -> torch.Tensor:
    """Requests `[batch]` (ln s) of an attack `setting`: relative to the start sounds' measured
    attacks `start_s` `[batch]` (s) when it is relative, else the open-loop move's targets
    `opened` `[batch, frames]` (after the control's limits)."""
    if setting.relative and start_s is not None:
        return setting_target(setting, control, torch.from_numpy(np.log(start_s)))
    return opened.double().mean(dim=-1)


def onset_move(
    search: OnsetSearch,
    z: torch.Tensor,
    setting: Setting,
    control: Control,
    opened: torch.Tensor,
) -> Move:
    """The attack move of latents `z` `[batch, dim, 1]` to `setting` (`OnsetSearch.settle`),
    with a warning when item 0 measures outside its tolerance; `opened`: the open-loop targets
    `[batch, frames]` (ln s). `measured` is left for the caller."""
    decodes = search.decodes
    start_s = search.start_attacks(z) if setting.relative else None
    requests = attack_requests(setting, control, opened, start_s)
    z_new, audio = search.settle(z, requests)
    measured = torch.tensor([[math.log(max(search.measure(audio[0]), 1e-9))]])
    unreached, notes = loop_warnings([control], requests[:1, None], measured)
    return Move(
        z_new.float(),
        notes,
        {control.name: control.to_user(float(requests[0]))},
        audio=audio,
        renders=search.decodes - decodes,
        unreached=unreached,
    )


def onset_sweep(
    search: OnsetSearch, z: torch.Tensor, control: Control, targets: Sequence[float]
) -> tuple[torch.Tensor, np.ndarray, list[bool], list[str]]:
    """A sweep of the attack from one latent `[1, dim, 1]` over `targets` (ln s), as
    `space_loop.settle_sweep` returns it: latents, renders, per step whether it measures
    outside its tolerance, and a warning counting those steps."""
    wanted = torch.tensor(list(targets), dtype=torch.float64)
    z_new, audio = search.settle(z.double().expand(wanted.shape[0], -1, -1), wanted)
    unreached = []
    for wish, sound in zip(wanted.tolist(), audio, strict=True):
        got = search.measure(sound)
        close = got > 0 and abs(math.log(got) - wish) <= tolerance(control, wish)
        unreached.append(not close)
    notes = []
    if any(unreached):
        notes.append(
            f"{control.name}: {sum(unreached)} of {len(unreached)} steps render outside the "
            "tolerance of their request (the closest fade this sound measures is kept)"
        )
    return z_new, audio, unreached, notes
