"""The attack set by search over a model's fade-in (`timbrespace.space_onset`)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from timbrespace.audio.descriptors import DescriptorSettings, compute_descriptors
from timbrespace.latent.control import Control
from timbrespace.latent.settings import Setting
from timbrespace.models.base import build_model
from timbrespace.models.oneshot import ONESHOT_PRESETS, OneShotConfig
from timbrespace.models.oneshot_envelope import fade_in
from timbrespace.space_onset import (
    MEMORY,
    UNFADED_LOG_S,
    Fade,
    OnsetSearch,
    attack_grid,
    closest_attack,
    fade_of,
    onset_move,
    onset_sweep,
)

RATE = 16000


def test_closest_attack_bisects_where_the_measurement_crosses_the_request() -> None:
    """A measurement of 0.9 × the fade reaches 3 ms at a fade of 3.33 ms, between grid points
    2 and 4 ms; in a gap (nothing measures between 5.4 and 9 ms) 7 ms gets the edge closest
    in ratio, 9 ms."""

    def measure(fade_s: float) -> float:
        return 0.9 * fade_s if fade_s < 0.006 else 1.5 * fade_s

    grid = np.array([0.001, 0.002, 0.004, 0.008, 0.016])
    measured = np.array([measure(t) for t in grid])
    fade, got = closest_attack(0.003, grid, measured, measure)
    assert got == pytest.approx(0.003, rel=0.01)
    assert fade == pytest.approx(0.003 / 0.9, rel=0.01)
    fade, got = closest_attack(0.007, grid, measured, measure)
    assert (fade, got) == pytest.approx((0.006, 0.009), rel=0.01)
    nothing = np.full(grid.size, math.nan)
    assert closest_attack(0.003, grid, nothing, measure)[0] == 0.001


def test_a_fade_move_changes_only_the_readout() -> None:
    weights = torch.tensor([0.0, 2.0, 0.0], dtype=torch.float64)
    fade = Fade(weights, -6.0, lambda n, a: fade_in(n, a, RATE))
    z = torch.tensor([[[1.0], [0.5], [3.0]]], dtype=torch.float64)
    moved = fade.at(z, torch.tensor([math.log(0.004)]))
    assert float(fade.value(moved)[0]) == pytest.approx(math.log(0.004))
    assert moved[0, [0, 2], 0].tolist() == [1.0, 3.0]


def _synthetic_search() -> tuple[OnsetSearch, list[int]]:
    """A 'model' rendering a 440 Hz tone faded in by its readout (`w·z + b` ln s), and a
    counter of its renders; the attack is measured by the descriptor."""
    fade = Fade(
        torch.tensor([1.0, 0.0], dtype=torch.float64), 0.0, lambda n, a: fade_in(n, a, RATE)
    )
    t = np.arange(RATE // 2) / RATE
    tone = (0.5 * np.sin(2 * np.pi * 440 * t) * np.exp(-t / 0.2)).astype(np.float32)
    renders = [0]

    def render(z: torch.Tensor) -> np.ndarray:
        renders[0] += 1
        gains = fade.gains(tone.size, fade.value(z.double()).exp()).numpy()
        return (tone[None, None, :] * gains[:, None, :]).astype(np.float32)

    def attack(audio: np.ndarray) -> float:
        settings = DescriptorSettings(sample_rate=RATE)
        return compute_descriptors(audio, settings, ["attack_time"]).value("attack_time")

    return OnsetSearch(fade, render, attack, 0.5), renders


def test_an_attack_move_measures_the_request_in_two_renders() -> None:
    """The descriptor reads a 440 Hz tone's 3 ms fade as 2.8 ms (its 1 ms envelope); the search
    sets the fade so that the render measures 3 ms, in two decodes; a relative request is taken
    from the start's measured attack; 0.45 s is more than a tone decaying in 0.2 s can measure, and is said."""
    search, renders = _synthetic_search()
    control = Control("attack", torch.tensor([1.0, 0.0]), unit="s", scale="log")
    z = torch.tensor([[[math.log(0.001)], [0.0]]], dtype=torch.float64)
    assert (
        search.measure(search.render(search.fade.at(z, torch.tensor([math.log(0.003)])))[0])
        < 0.00285
    )
    renders[0] = 0
    moved = onset_move(
        search,
        z,
        Setting("attack", 0.003, False, "s"),
        control,
        torch.full((1, 1), math.log(0.003)),
    )
    assert search.measure(moved.audio[0]) == pytest.approx(0.003, rel=0.05)
    assert (renders[0], moved.renders, moved.unreached) == (2, 2, [])
    start_s = search.measure(search.render(z)[0])
    double = onset_move(search, z, Setting("attack", 100.0, True, "%"), control, torch.zeros(1, 1))
    assert search.measure(double.audio[0]) == pytest.approx(2 * start_s, rel=0.05)
    low = onset_move(
        search, z, Setting("attack", 0.45, False, "s"), control, torch.full((1, 1), math.log(0.45))
    )
    assert low.unreached == ["attack"] and "attack: asked 450 ms" in low.warnings[0]


def test_an_attack_sweep_shares_one_unfaded_render() -> None:
    search, renders = _synthetic_search()
    control = Control("attack", torch.tensor([1.0, 0.0]), unit="s", scale="log")
    z = torch.tensor([[[math.log(0.001)], [0.0]]], dtype=torch.float64)
    targets = np.log([0.002, 0.004, 0.008, 0.016]).tolist()
    _, audio, unreached, notes = onset_sweep(search, z, control, targets)
    measured = [search.measure(a) for a in audio]
    np.testing.assert_allclose(measured, np.exp(targets), rtol=0.05)
    assert (renders[0], unreached, notes) == (2, [False] * 4, [])


def test_the_synths_render_at_an_attack_is_its_unfaded_render_faded_in() -> None:
    """The contract `space_onset` relies on: moving along the attack readout changes the
    render by the fade-in gain alone."""
    torch.manual_seed(0)
    config = OneShotConfig(**{**ONESHOT_PRESETS["tiny"], "envelope": "both"})  # type: ignore[arg-type]
    model = build_model("oneshot", config).eval().double()  # float32 adds 1e-3 of rounding
    fade = fade_of(model)
    assert fade is not None
    assert fade_of(build_model("oneshot", OneShotConfig(**ONESHOT_PRESETS["tiny"]))) is None  # type: ignore[arg-type]
    z = torch.randn(3, config.latent_dim, 1, dtype=torch.float64)
    attacks = torch.tensor([0.0005, 0.004, 0.03], dtype=torch.float64)
    with torch.no_grad():
        unfaded = model.decode(fade.at(z, torch.full((3,), UNFADED_LOG_S)))
        faded = model.decode(fade.at(z, attacks.log()))
    gains = fade.gains(unfaded.shape[-1], attacks)
    peak = float(unfaded.abs().max())
    torch.testing.assert_close(faded, unfaded * gains[:, None, :], atol=1e-9 * peak, rtol=0.0)
    assert float((faded - unfaded)[2, :, :300].abs().max()) > 0.1 * peak  # the 30 ms fade
    assert attack_grid()[0] == pytest.approx(1e-4) and attack_grid()[-1] == pytest.approx(0.5)


def test_a_search_remembers_its_last_sounds_and_takes_a_batch_of_more() -> None:
    search, renders = _synthetic_search()
    count = MEMORY + 2
    z = torch.zeros(count, 2, 1, dtype=torch.float64)
    z[:, 1, 0] = torch.arange(count)  # distinct latents (the synthetic render ignores this)
    z_new, audio = search.settle(z, torch.full((count,), math.log(0.004)))
    assert renders[0] == 2 and len(search.memory) == MEMORY
    np.testing.assert_allclose([search.measure(a) for a in audio], 0.004, rtol=0.05)
    search.settle(z_new[-1:], torch.tensor([math.log(0.008)]))
    assert renders[0] == 3  # moved along the readout, the last sound is met again: one decode
