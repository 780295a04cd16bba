"""The engine's parts with known answers: the OSC address table, parameter glides, the ring
buffer, looped paths, plane weights, curves and the random walk."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from timbrespace.engine.addresses import ADDRESSES, AddressError, osc_help, parse_message
from timbrespace.engine.params import Glide
from timbrespace.engine.runner import BlockRing, RecentLongest, clock_time
from timbrespace.engine.voices import midi_to_hz, velocity_gain
from timbrespace.live import (
    Curve,
    LoopedCurve,
    LoopPlayhead,
    RandomWalk,
    ab_weights,
    curve_offsets,
    plane_weights,
)


def test_messages_are_parsed_into_checked_commands() -> None:
    command = parse_message("/bias", [3, 1.5])
    assert command.address == "/bias" and command.args == (3, 1.5)
    assert parse_message("/bias", [3.0, 2]).args == (3, 2.0)  # an integral float is an int
    assert parse_message("/feedback", [1]).args == (True,)
    assert parse_message("/play", ["kick_0001.wav"]).args == ("kick_0001.wav",)
    assert parse_message("/curve", [2, 4.0, 0.0, 1.0, 1.0, -1.0]).args == (
        2,
        4.0,
        0.0,
        1.0,
        1.0,
        -1.0,
    )


@pytest.mark.parametrize(
    ("address", "params", "reason"),
    [
        ("/nope", [], "unknown address"),
        ("/biass", [1, 2.0], "unknown address"),
        ("/bias", [1], "expected `/bias dim:i value:f"),
        ("/bias", [1, 2.0, 3.0], "got 3 arguments"),
        ("/bias", ["x", 1.0], "dim: expected a number"),
        ("/bias", [1.5, 1.0], "dim: expected an integer"),
        ("/bias", [1, math.nan], "value: expected a finite number"),
        ("/bias", [1, math.inf], "value: expected a finite number"),
        ("/bias", [1, 21.0], "value: 21 is outside -20…20"),
        ("/gain", [True], "db: expected a number"),
        ("/feedback", [0.5], "on: expected 0 or 1"),
        ("/play", [3], "sound: expected a string"),
        ("/gla", [0], "iterations: 0 is outside"),
        ("/curve", [0, 1.0] + [0.5] * 5000, "at most 4096 numbers"),
    ],
)
def test_bad_messages_name_the_address_and_the_argument(address, params, reason) -> None:
    with pytest.raises(AddressError, match=rf"^{address.split()[0]}.*{reason}"):
        parse_message(address, params)


def test_the_help_lists_every_address_once() -> None:
    text = osc_help()
    for address in ADDRESSES:
        assert f"\n{address} " in f"\n{text}" or f"\n{address}\n" in f"\n{text}\n"


def test_a_glide_reaches_its_target_linearly_in_its_time() -> None:
    glide = Glide(0.0, seconds=0.01)
    glide.set(1.0)
    values = glide.advance(20, 0.001)  # 20 ms at 1 ms steps
    assert np.allclose(values[:10], np.arange(1, 11) / 10)
    assert np.all(values[10:] == 1.0) and not glide.moving
    vector = Glide(np.zeros(3), seconds=0.004)
    vector.set(2.0, index=1)
    steps = vector.advance(4, 0.001)
    assert steps.shape == (3, 4) and np.allclose(steps[1], [0.5, 1.0, 1.5, 2.0])
    assert np.all(steps[[0, 2]] == 0.0)


def test_the_ring_buffer_is_first_in_first_out_and_never_blocks() -> None:
    ring = BlockRing(2, 1, 4)
    out = np.empty((1, 4), np.float32)
    assert ring.pop(out) is None and np.all(out == 0)
    assert ring.push(np.full((1, 4), 1.0), 0) and ring.push(np.full((1, 4), 2.0), 1)
    assert not ring.push(np.full((1, 4), 3.0), 2)  # full: dropped, not waited for
    assert ring.pop(out) == 0 and np.all(out == 1.0)
    assert ring.pop(out) == 1 and np.all(out == 2.0)
    assert len(ring) == 0


def test_the_lead_remembers_the_third_longest_render_of_the_last_seconds() -> None:
    recent = RecentLongest(10.0)
    assert recent.longest(3) == 0.0
    for i, duration in enumerate([0.001] * 50 + [0.009, 0.008, 0.007, 0.006, 0.005]):
        recent.add(duration, 100.0 + i * 0.05)  # 55 renders over 2.7 s
    assert recent.longest(1) == 0.009 and recent.longest(3) == 0.007
    recent.add(0.002, 109.9)  # the slow second (102) is still inside the window
    assert recent.longest(3) == 0.007
    recent.add(0.002, 112.5)  # 10 s after it: forgotten
    assert recent.longest(1) == 0.002 and recent.longest(3) == 0.0


def test_a_loop_plays_forward_and_backward_and_wraps() -> None:
    path = torch.arange(5, dtype=torch.float32).reshape(1, 1, 5)
    loop = LoopPlayhead(path)
    assert loop.next(3).flatten().tolist() == [0, 1, 2]
    assert loop.next(3).flatten().tolist() == [3, 4, 0]
    assert loop.next(3, reverse=True).flatten().tolist() == [1, 0, 4]


def test_plane_and_morph_weights() -> None:
    weights = plane_weights(np.array([0.0, 1.0, 0.25]), np.array([0.0, 1.0, 0.5]))
    assert np.allclose(weights[:, 0], [1, 0, 0, 0]) and np.allclose(weights[:, 1], [0, 0, 0, 1])
    assert np.allclose(weights[:, 2], [0.375, 0.125, 0.375, 0.125])
    assert np.allclose(weights.sum(axis=0), 1.0)
    assert np.allclose(plane_weights(np.array([1.5]), np.array([0.0]))[:, 0], [-0.5, 1.5, 0, 0])
    assert np.allclose(ab_weights(np.array([0.25]))[:, 0], [0.75, 0.25, 0, 0])


def test_looped_curves_repeat_every_period() -> None:
    curve = LoopedCurve(Curve((0.0, 0.5, 1.0), (0.0, 2.0, 0.0)), start=1.0, period=2.0)
    offsets = curve_offsets({1: curve}, 3, np.array([1.0, 1.5, 2.0, 3.0, 3.5]))
    assert np.allclose(offsets[1], [0.0, 1.0, 2.0, 0.0, 1.0])
    assert np.all(offsets[[0, 2]] == 0.0)


def test_the_random_walk_is_smooth_seeded_and_scaled() -> None:
    spread = np.array([1.0, 3.0])
    ones = np.ones(400)
    a = RandomWalk(spread, seed=4).next(400, 100.0, ones, 2.0 * ones)
    b = RandomWalk(spread, seed=4).next(400, 100.0, ones, 2.0 * ones)
    assert np.array_equal(a, b)
    assert np.abs(np.diff(a, axis=1)).max() < 0.2 * np.abs(a).max()  # no jumps
    assert 1.5 < a[1].std() / a[0].std() < 6.0  # dimension 1 moves about 3× more
    assert not RandomWalk(spread).next(10, 100.0, 0 * ones[:10], ones[:10]).any()


def test_midi_and_velocity_mapping() -> None:
    assert midi_to_hz(69) == 440.0 and abs(midi_to_hz(60) - 261.6256) < 1e-3
    assert abs(midi_to_hz(60.5) / midi_to_hz(60) - 2 ** (1 / 24)) < 1e-12
    assert velocity_gain(127) == 1.0 and velocity_gain(0) == 0.0
    assert abs(20 * math.log10(velocity_gain(64)) + 11.9) < 0.1


def test_a_late_callback_keeps_the_clock_schedule() -> None:
    """A sound card's callbacks come on an absolute schedule (period 10): one 7 late is still
    due at its slot, so the next block is due 3 after it, not 10; a pull more than a period
    late, or one early, restarts the schedule from itself."""
    assert clock_time(None, 100.0, 10.0) == 100.0
    assert clock_time(100.0, 110.5, 10.0) == 110.0
    assert clock_time(100.0, 117.0, 10.0) == 110.0
    assert clock_time(110.0, 120.0, 10.0) == 120.0
    assert clock_time(100.0, 121.0, 10.0) == 121.0  # a stall: the device restarted
    assert clock_time(100.0, 108.0, 10.0) == 108.0  # early: the device's clock runs faster
