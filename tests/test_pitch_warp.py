"""The pitch-relative log-frequency axis of the vq family's pitch-shape codes: known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from timbrespace.models.pitch_warp import (
    axis_for,
    from_pitch_axis,
    hertz_of,
    octaves_of,
    pitch_axis,
    to_pitch_axis,
)

SR, N_FFT = 22050, 1024
BINS = N_FFT // 2 + 1


def comb(f0: float, partials: int = 12, width_hz: float = 30.0) -> torch.Tensor:
    """A harmonic spectrum `[1, bins, 1]`: Gaussian peaks of `width_hz` at k·f0, falling 1/k."""
    hz = torch.arange(BINS, dtype=torch.float64) * SR / N_FFT
    peaks = sum(
        math.exp(-math.log(k)) * torch.exp(-0.5 * ((hz - k * f0) / width_hz) ** 2)
        for k in range(1, partials + 1)
    )
    return peaks.float()[None, :, None]


def test_the_axis_has_the_asked_points_per_octave() -> None:
    axis = pitch_axis(-1.0, 2.0, 4)
    assert axis.tolist() == pytest.approx([-1 + i / 4 for i in range(13)])
    top = axis_for(22050, 50.0, 64)
    assert float(top[0]) == -1.0
    assert float(top[-1]) >= math.log2(11025 / 50) > float(top[-2])
    with pytest.raises(ValueError):
        pitch_axis(1.0, 1.0, 4)


def test_pitch_channel_is_octaves_re_a4() -> None:
    assert octaves_of(torch.tensor([440.0, 880.0, 220.0])).tolist() == [0.0, 1.0, -1.0]
    assert hertz_of(torch.tensor([0.0, -2.0])).tolist() == pytest.approx([440.0, 110.0])


def test_a_note_shape_is_the_same_at_two_pitches() -> None:
    axis = axis_for(SR, 50.0, 64)
    low = to_pitch_axis(comb(200.0, width_hz=50.0), torch.tensor([[200.0]]), axis, SR, N_FFT)
    high = to_pitch_axis(comb(400.0, width_hz=100.0), torch.tensor([[400.0]]), axis, SR, N_FFT)
    low = low[0, :, 0]
    inside = (axis >= -0.5) & (axis <= math.log2(12))  # the partials of both, under Nyquist
    # what is left is the linear bins' sampling of the peaks (21.5 Hz apart)
    assert float((low[inside] - high[0, inside, 0]).abs().max()) < 0.03
    # the partials sit at log2(k) octaves above f0 (to a linear bin: 21.5 Hz)
    low = to_pitch_axis(comb(200.0, width_hz=15.0), torch.tensor([[200.0]]), axis, SR, N_FFT)
    low = low[0, :, 0]
    for k in (1, 2, 3, 5, 8):
        near = (axis - math.log2(k)).abs() < 0.07
        peak = float(axis[near][int(torch.argmax(low[near]))])
        assert 200 * 2**peak == pytest.approx(200 * k, abs=SR / N_FFT)
    between = int(torch.argmin((axis - math.log2(1.5)).abs()))
    assert float(low[between]) < 0.01


def test_a_shape_moves_with_the_pitch_it_is_played_at() -> None:
    axis = axis_for(SR, 50.0, 64)
    grid = to_pitch_axis(comb(200.0), torch.tensor([[200.0]]), axis, SR, N_FFT)
    moved = from_pitch_axis(grid, torch.tensor([[300.0]]), axis, SR, N_FFT)[0, :, 0]
    hz = np.arange(BINS) * SR / N_FFT
    peaks = [hz[i] for i in range(1, BINS - 1) if moved[i] > max(moved[i - 1], moved[i + 1], 0.05)]
    assert peaks[:4] == pytest.approx([300, 600, 900, 1200], abs=SR / N_FFT)


def test_there_and_back_keeps_a_smooth_spectrum() -> None:
    axis = axis_for(SR, 50.0, 64)
    hz = torch.arange(BINS, dtype=torch.float32) * SR / N_FFT
    smooth = (-hz / 3000.0)[None, :, None].expand(2, -1, 3).contiguous()
    f0 = torch.tensor([[100.0, 220.0, 440.0], [60.0, 800.0, 1500.0]])
    back = from_pitch_axis(to_pitch_axis(smooth, f0, axis, SR, N_FFT), f0, axis, SR, N_FFT)
    above = hz[None, :, None] >= f0[:, None, :] / 2  # the axis starts an octave under f0
    assert float((back - smooth).abs()[above].max()) < 0.01
    assert float((back - smooth).abs()[~above].max()) > 0.01  # held at the axis' lowest point


def test_values_are_differentiable_and_edges_are_held() -> None:
    axis = pitch_axis(0.0, 3.0, 8)
    grid = torch.linspace(1.0, 2.0, axis.numel())[None, :, None].requires_grad_(True)
    linear = from_pitch_axis(grid, torch.tensor([[1000.0]]), axis, SR, N_FFT)
    assert float(linear[0, 0, 0].detach()) == 1.0  # DC, under f0: the lowest point
    assert float(linear[0, -1, 0].detach()) == 2.0  # Nyquist, above 8·f0: the highest point
    linear.sum().backward()
    assert grid.grad is not None and float(grid.grad.sum()) == pytest.approx(BINS, rel=1e-5)
