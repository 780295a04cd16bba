"""Latent path math: curves, alignment, interpolation and the 4-way plane, known answers."""

from __future__ import annotations

import pytest
import torch

from timbrespace.errors import TimbrespaceError
from timbrespace.latent.paths import (
    Curve,
    align,
    interpolate,
    morph,
    plane,
    resample_frames,
)
from timbrespace.latent.syntax import parse_curve, parse_trajectory

DIM = 6
DTYPES = (torch.float32, torch.float64)
SHAPES = ((1, 1), (3, 1), (1, 9), (3, 9))  # (batch, frames): one-shots and paths


def path(batch: int = 2, frames: int = 5, dtype: torch.dtype = torch.float64, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, DIM, frames, generator=generator, dtype=torch.float64).to(dtype)


def ramp(frames: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """[1, 2, frames]: dimension 0 counts frames 0, 1, 2, …; dimension 1 is 10 × that."""
    counts = torch.arange(frames, dtype=dtype)
    return torch.stack([counts, 10 * counts])[None]


# --- curves ---------------------------------------------------------------------------------------


def test_parse_curve_and_sample_known_values() -> None:
    curve = parse_curve("0:0, 0.5:1, 1:1.3")
    assert curve == Curve((0.0, 0.5, 1.0), (0.0, 1.0, 1.3))
    expected = torch.tensor([0.0, 0.5, 1.0, 1.15, 1.3], dtype=torch.float64)
    torch.testing.assert_close(curve.sample(5), expected, rtol=0, atol=1e-15)


def test_curve_is_constant_outside_its_points() -> None:
    curve = parse_curve("0.25:1,0.75:3")
    assert curve.sample(5).tolist() == [1.0, 1.0, 2.0, 3.0, 3.0]
    assert curve.sample(1).tolist() == [1.0]  # a one-shot is at time 0
    assert parse_curve("0.5:2").sample(4).tolist() == [2.0] * 4


def test_curve_sample_dtype() -> None:
    assert parse_curve("0:0,1:1").sample(3, dtype=torch.float32).dtype == torch.float32


def test_curve_constructor_checks_too() -> None:
    with pytest.raises(TimbrespaceError, match="given twice"):
        Curve((0.0, 0.0), (1.0, 2.0))
    with pytest.raises(TimbrespaceError, match="2 times but 1 values"):
        Curve((0.0, 1.0), (1.0,))


# --- alignment ----------------------------------------------------------------------------------


def test_align_crop_keeps_the_first_frames_of_the_shortest() -> None:
    a, b = ramp(4), 100 + ramp(7)
    a2, b2 = align(a, b, "crop")
    assert a2.shape[-1] == b2.shape[-1] == 4
    assert torch.equal(a2, a) and torch.equal(b2, b[..., :4])


def test_align_loop_repeats_the_shorter() -> None:
    a, b = ramp(4), 100 + ramp(7)
    a2, b2 = align(a, b, "loop")
    assert torch.equal(b2, b)
    assert a2[0, 0].tolist() == [0, 1, 2, 3, 0, 1, 2]


def test_align_stretch_resamples_the_shorter_linearly() -> None:
    a, b = ramp(4), 100 + ramp(7)
    b2, a2 = align(b, a, "stretch")  # either argument may be the shorter
    assert torch.equal(b2, b)
    assert a2[0, 0].tolist() == [0, 0.5, 1, 1.5, 2, 2.5, 3]
    assert a2[0, 1].tolist() == [0, 5, 10, 15, 20, 25, 30]


def test_align_one_frame_and_equal_lengths() -> None:
    one, long = path(2, 1), path(2, 5, seed=1)
    for mode in ("loop", "stretch"):
        stretched, _ = align(one, long, mode)
        assert torch.equal(stretched, one.expand(2, DIM, 5))
    a, b = align(long, long, "crop")
    assert torch.equal(a, long) and torch.equal(b, long)


def test_align_errors() -> None:
    with pytest.raises(TimbrespaceError, match="unknown alignment 'pad'; known: crop, loop"):
        align(ramp(3), ramp(4), "pad")
    with pytest.raises(TimbrespaceError, match="different latent sizes"):
        align(path(1, 3), ramp(3), "crop")
    with pytest.raises(TimbrespaceError, match="batch sizes don't match"):
        align(path(2, 3), path(3, 3), "crop")


def test_resample_keeps_endpoints() -> None:
    z = path(2, 7, torch.float32)
    out = resample_frames(z, 11)
    assert out.shape == (2, DIM, 11) and out.dtype == torch.float32
    assert torch.equal(out[..., 0], z[..., 0]) and torch.equal(out[..., -1], z[..., -1])


# --- interpolation ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("batch", "frames"), SHAPES)
def test_interpolate_endpoints_exact_and_extrapolation(dtype, batch, frames) -> None:
    a, b = path(batch, frames, dtype, seed=1), path(batch, frames, dtype, seed=2)
    assert torch.equal(interpolate(a, b, 0.0), a)
    assert torch.equal(interpolate(a, b, 1.0), b)
    beyond = interpolate(a, b, 1.2)
    assert beyond.dtype == dtype and beyond.shape == a.shape
    tolerance = 1e-6 if dtype == torch.float32 else 1e-14
    torch.testing.assert_close(beyond, a + 1.2 * (b - a), rtol=0, atol=tolerance)
    # on the line beyond B: B − A and the step past B point the same way, 0.2 as long
    torch.testing.assert_close(beyond - b, 0.2 * (b - a), rtol=0, atol=tolerance)


def test_interpolate_per_frame_amounts() -> None:
    a, b = path(2, 4, seed=1), path(2, 4, seed=2)
    mixed = interpolate(a, b, torch.tensor([0.0, 1.0, 0.5, -1.0]))
    assert torch.equal(mixed[..., 0], a[..., 0]) and torch.equal(mixed[..., 1], b[..., 1])
    torch.testing.assert_close(mixed[..., 2], (a[..., 2] + b[..., 2]) / 2)
    torch.testing.assert_close(mixed[..., 3], 2 * a[..., 3] - b[..., 3])
    curve = interpolate(a, b, parse_curve("0:1,1:0"))  # frames at t = 0, 1/3, 2/3, 1
    assert torch.equal(curve[..., 0], b[..., 0]) and torch.equal(curve[..., -1], a[..., -1])
    torch.testing.assert_close(curve[..., 1], a[..., 1] + 2 / 3 * (b[..., 1] - a[..., 1]))


def test_interpolate_broadcasts_a_single_item() -> None:
    a, b = path(1, 3, seed=1), path(4, 3, seed=2)
    assert torch.equal(interpolate(a, b, 0.0), a.expand(4, DIM, 3))


def test_interpolate_lengths_need_an_alignment() -> None:
    a, b = ramp(4), 100 + ramp(7)
    with pytest.raises(TimbrespaceError, match="different lengths.*crop, loop, stretch"):
        interpolate(a, b, 0.5)
    assert interpolate(a, b, 1.0, mode="crop").shape[-1] == 4
    assert torch.equal(interpolate(a, b, 1.0, mode="stretch"), b)


def test_interpolate_amount_errors() -> None:
    a, b = path(1, 4), path(1, 4, seed=1)
    with pytest.raises(TimbrespaceError, match="4 values .one per frame., got shape .3,."):
        interpolate(a, b, torch.zeros(3))
    with pytest.raises(TimbrespaceError, match="finite"):
        interpolate(a, b, float("inf"))


@pytest.mark.parametrize("dtype", DTYPES)
def test_morph_ramps_from_a_to_b(dtype) -> None:
    a, b = path(2, 5, dtype, seed=1), path(2, 5, dtype, seed=2)
    mixed = morph(a, b)
    assert torch.equal(mixed[..., 0], a[..., 0]) and torch.equal(mixed[..., -1], b[..., -1])
    torch.testing.assert_close(mixed[..., 2], (a[..., 2] + b[..., 2]) / 2)
    torch.testing.assert_close(mixed[..., 1], a[..., 1] + 0.25 * (b[..., 1] - a[..., 1]))
    assert torch.equal(morph(a[..., :1], b[..., :1]), a[..., :1])  # a one-shot gives A


# --- 4-way plane --------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("batch", "frames"), SHAPES)
def test_plane_corners_are_exact(dtype, batch, frames) -> None:
    corners = [path(batch, frames, dtype, seed=s) for s in range(4)]
    a, b, c, d = corners
    for (x, y), corner in zip([(0, 0), (1, 0), (0, 1), (1, 1)], corners, strict=True):
        mixed = plane(corners, x, y)
        assert mixed.dtype == dtype
        assert torch.equal(mixed, corner)
    torch.testing.assert_close(plane(corners, 0.5, 0.5), (a + b + c + d) / 4)
    torch.testing.assert_close(plane(corners, 0.25, 0.5), (0.75 * (a + c) + 0.25 * (b + d)) / 2)


def test_plane_follows_a_trajectory() -> None:
    corners = [path(2, 5, seed=s) for s in range(4)]
    a, b, c, d = corners
    trajectory = parse_trajectory("t,x,y\n0,0,0\n0.5,1,0\n1,1,1  # ends at d\n")
    x, y = trajectory.sample(5)
    assert x.tolist() == [0, 0.5, 1, 1, 1] and y.tolist() == [0, 0, 0, 0.5, 1]
    mixed = plane(corners, trajectory.x, trajectory.y)
    assert torch.equal(mixed[..., 0], a[..., 0]) and torch.equal(mixed[..., 2], b[..., 2])
    assert torch.equal(mixed[..., 4], d[..., 4])
    torch.testing.assert_close(mixed[..., 3], (b[..., 3] + d[..., 3]) / 2)


def test_plane_errors() -> None:
    corners = [path(1, 3, seed=s) for s in range(4)]
    with pytest.raises(TimbrespaceError, match="4 corner paths"):
        plane(corners[:3], 0, 0)
    with pytest.raises(TimbrespaceError, match="y: expected"):
        plane(corners, 0, torch.zeros(2))


def test_check_finite_passes_the_largest_floats_and_refuses_inf_nan_and_float32_overflow() -> None:
    from timbrespace.errors import NonFiniteError
    from timbrespace.latent.paths import check_finite

    largest = torch.full((1, 16, 4096), torch.finfo(torch.float32).max)  # sums past float32
    assert check_finite(largest, "x") is largest
    assert check_finite(-largest, "x") is not None
    for bad in (float("inf"), float("-inf"), float("nan")):
        z = torch.zeros(1, 8, 3)
        z[0, 5, 1] = bad
        with pytest.raises(NonFiniteError, match="cause: the latent becomes infinite"):
            check_finite(z, "cause")
    with pytest.raises(NonFiniteError):  # finite in float64, not in the float32 a model decodes
        check_finite(torch.full((2, 2), 1e300, dtype=torch.float64), "cause")
    assert check_finite(torch.full((2, 2), 1e30, dtype=torch.float64), "x") is not None
