"""Latent paths: curves, alignment, interpolation, the 4-way plane and operators, known answers."""

from __future__ import annotations

import pytest
import torch

from timbrespace.errors import TimbrespaceError
from timbrespace.latent.paths import (
    AddNoise,
    Bias,
    Curve,
    DimensionCurve,
    Randomize,
    Reverse,
    Scale,
    Smooth,
    TimeStretch,
    align,
    apply_ops,
    interpolate,
    morph,
    parse_curve,
    parse_numbers,
    parse_op,
    parse_trajectory,
    plane,
    resample_frames,
)

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


# --- curves -------------------------------------------------------------------------------------


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


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0.5:1,0.2:0", "times must increase"),
        ("0:0,0.5:1,0.5:2", "time 0.5 is given twice"),
        ("a:1", "time 'a' is not a number"),
        ("0:x", "amount 'x' is not a number"),
        ("0:nan", "not a finite number"),
        ("0:0,0.5", "point 2 '0.5' is not TIME:AMOUNT"),
        ("0:0:1", "is not TIME:AMOUNT"),
        ("0:0,,1:1", "point 2 '' is not TIME:AMOUNT"),
        ("0:0,1.5:1", "time 1.5 is beyond the end"),
        ("-0.1:0,1:1", "time -0.1 is before the start"),
        ("", "empty"),
        ("   ", "empty"),
    ],
)
def test_parse_curve_errors(text: str, message: str) -> None:
    with pytest.raises(TimbrespaceError, match=message):
        parse_curve(text)


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


def test_parse_trajectory_file_and_inline(tmp_path) -> None:
    file = tmp_path / "trajectory.csv"
    file.write_text("# a square walk\nt,x,y\n0, 0, 0\n\n1, 1, 1\n")
    assert parse_trajectory(file) == parse_trajectory(str(file)) == parse_trajectory("0,0,0;1,1,1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0,0,0\n0.5,1\n", "line 2: expected t,x,y, got '0.5,1'"),
        ("0,0,0\n1,a,0\n", "line 2: x 'a' is not a number"),
        ("0,0,0;0,1,1", "time 0 is given twice"),
        ("1,0,0\n0.5,1,1\n", "times must increase"),
        ("0,0,0\n2,1,1\n", "beyond the end"),
        ("# nothing\n", "no points"),
        ("no-such-file.csv", "trajectory file 'no-such-file.csv' not found"),
    ],
)
def test_parse_trajectory_errors(text: str, message: str) -> None:
    with pytest.raises(TimbrespaceError, match=message):
        parse_trajectory(text)


def test_plane_errors() -> None:
    corners = [path(1, 3, seed=s) for s in range(4)]
    with pytest.raises(TimbrespaceError, match="4 corner paths"):
        plane(corners[:3], 0, 0)
    with pytest.raises(TimbrespaceError, match="y: expected"):
        plane(corners, 0, torch.zeros(2))


# --- operators ----------------------------------------------------------------------------------


ALL_OPS = [
    Scale(1.5),
    Scale(1.5, "mean"),
    Bias(0.2),
    Bias(tuple(float(i) for i in range(DIM))),
    AddNoise(0.1, seed=3),
    Randomize(0.5),
    Randomize(0.5, "replace"),
    Reverse(),
    TimeStretch(2.0),
    Smooth(3),
    Smooth(4, "gauss"),
    DimensionCurve(3, parse_curve("0:0,1:2")),
    DimensionCurve(3, parse_curve("0:0,1:2"), add=True),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("batch", "frames"), SHAPES)
def test_every_op_keeps_dtype_batch_and_dim(dtype, batch, frames) -> None:
    z = path(batch, frames, dtype)
    for op in ALL_OPS:
        out = op(z)
        assert out.dtype == dtype and out.device == z.device, op
        assert out.shape[:2] == (batch, DIM), op
        assert bool(torch.isfinite(out).all()), op
    assert apply_ops(z, ALL_OPS).shape[:2] == (batch, DIM)


def test_reverse_twice_is_identity() -> None:
    z = path(3, 7)
    assert Reverse()(z)[..., 0].equal(z[..., -1])
    assert torch.equal(apply_ops(z, [Reverse(), Reverse()]), z)


def test_ops_compose_in_order() -> None:
    z = ramp(3)  # dimension 0: 0, 1, 2
    assert apply_ops(z, [Scale(2.0), Bias(1.0)])[0, 0].tolist() == [1, 3, 5]
    assert apply_ops(z, [Bias(1.0), Scale(2.0)])[0, 0].tolist() == [2, 4, 6]
    assert apply_ops(z, [Reverse(), Bias(1.0)])[0, 0].tolist() == [3, 2, 1]
    assert torch.equal(apply_ops(z, []), z)


def test_scale_about_zero_or_mean() -> None:
    z = ramp(3)  # dimension 1: 0, 10, 20 (mean 10)
    assert Scale(2.0)(z)[0, 1].tolist() == [0, 20, 40]
    assert Scale(2.0, "mean")(z)[0, 1].tolist() == [-10, 10, 30]
    one_shot = path(2, 1)
    assert torch.equal(Scale(3.0, "mean")(one_shot), one_shot)
    assert torch.equal(Scale(3.0)(one_shot), 3 * one_shot)


def test_bias_vector_and_length_check() -> None:
    z = torch.zeros(2, 3, 4)
    assert Bias((1.0, 2.0, 3.0))(z)[1, :, 2].tolist() == [1, 2, 3]
    with pytest.raises(TimbrespaceError, match="2 values for a latent of 3 dimensions"):
        Bias((1.0, 2.0))(z)


def test_stretch_doubles_frames_and_keeps_endpoints() -> None:
    z = path(2, 6)
    out = TimeStretch(2.0)(z)
    assert out.shape == (2, DIM, 12)
    assert torch.equal(out[..., 0], z[..., 0]) and torch.equal(out[..., -1], z[..., -1])
    expected = torch.tensor([0, 0.4, 0.8, 1.2, 1.6, 2], dtype=torch.float64)
    torch.testing.assert_close(TimeStretch(2.0)(ramp(3))[0, 0], expected)
    assert TimeStretch(0.5)(z).shape[-1] == 3
    one_shot = path(2, 1)
    assert torch.equal(TimeStretch(2.0)(one_shot), one_shot)  # no time axis to stretch


def test_noise_is_reproducible_per_seed_and_per_item() -> None:
    z = path(3, 5)
    first, again, other = AddNoise(0.1, seed=7)(z), AddNoise(0.1, seed=7)(z), AddNoise(0.1, 8)(z)
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert torch.equal(AddNoise(0.1, seed=7)(z[:1]), first[:1])  # item 0 whatever the batch
    torch.testing.assert_close(
        (first - z).std(), torch.tensor(0.1, dtype=z.dtype), atol=0.03, rtol=0
    )
    noise32 = AddNoise(0.1, seed=7)(z.float()) - z.float()
    torch.testing.assert_close(noise32, (first - z).float(), atol=1e-6, rtol=0)
    assert torch.equal(AddNoise(0.0)(z), z)


def test_randomize_blend_and_replace() -> None:
    z = path(2, 5)
    assert torch.equal(Randomize(0.0)(z), z)
    target = Randomize(1.0, seed=4)(z)
    assert torch.equal(target, target[..., :1].expand_as(z))  # one random point, constant in time
    half = Randomize(0.5, seed=4)(z)
    torch.testing.assert_close(half, (z + target) / 2)
    replaced = Randomize(0.5, "replace", seed=4)(z)
    changed = (replaced != z).all(dim=-1)
    assert changed.sum(dim=1).tolist() == [3, 3]  # round(0.5 · 6) dimensions per item
    assert torch.equal(replaced[changed], target[changed])  # set to the same random point
    assert torch.equal(replaced[~changed], z[~changed])
    assert torch.equal(Randomize(0.5, "replace", seed=4)(z), replaced)


def test_smooth_known_answers() -> None:
    impulse = torch.zeros(1, 1, 21, dtype=torch.float64)
    impulse[..., 10] = 1.0
    box = Smooth(3)(impulse)[0, 0, 7:14]
    torch.testing.assert_close(box, torch.tensor([0, 0, 1, 1, 1, 0, 0.0], dtype=box.dtype) / 3)
    gauss = Smooth(4, "gauss")(impulse)[0, 0]
    assert int(gauss.argmax()) == 10 and torch.allclose(gauss, gauss.flip(0))
    torch.testing.assert_close(gauss.sum(), torch.tensor(1.0, dtype=gauss.dtype))
    torch.testing.assert_close(gauss[8] / gauss[10], torch.tensor(0.5, dtype=gauss.dtype))  # FWHM
    constant = torch.full((2, 3, 6), 0.25)
    for op in (Smooth(3), Smooth(4), Smooth(9, "gauss")):
        assert op(constant).shape == constant.shape
        torch.testing.assert_close(op(constant), constant)
    z = path(2, 6)
    assert torch.equal(Smooth(1)(z), z)
    assert float(Smooth(3)(z).diff(dim=-1).abs().mean()) < float(z.diff(dim=-1).abs().mean())


def test_dimension_curve_sets_or_adds() -> None:
    z = torch.ones(2, 4, 5, dtype=torch.float32)
    curve = parse_curve("0:0,1:2")
    set_ = DimensionCurve(3, curve)(z)
    added = DimensionCurve(3, curve, add=True)(z)
    assert set_[1, 3].tolist() == [0, 0.5, 1, 1.5, 2]
    assert added[0, 3].tolist() == [1, 1.5, 2, 2.5, 3]
    assert torch.equal(set_[:, :3], z[:, :3]) and torch.equal(z, torch.ones_like(z))
    with pytest.raises(TimbrespaceError, match="dimension 4 is out of range.*4 dimensions"):
        DimensionCurve(4, curve)(z)


# --- parsing operators --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("reverse", Reverse()),
        ("scale=1.5", Scale(1.5)),
        ("scale:mean=1.5", Scale(1.5, "mean")),
        ("bias=0.2", Bias(0.2)),
        ("bias=0.1,0,-0.3", Bias((0.1, 0.0, -0.3))),
        ("noise=0.1", AddNoise(0.1, seed=5)),
        ("randomize=0.5", Randomize(0.5, seed=5)),
        ("randomize:replace=0.5", Randomize(0.5, "replace", seed=5)),
        ("stretch=2", TimeStretch(2.0)),
        ("smooth=5", Smooth(5)),
        ("smooth:gauss=5", Smooth(5, "gauss")),
        ("curve:3=0:0,1:2", DimensionCurve(3, Curve((0.0, 1.0), (0.0, 2.0)))),
        ("curve:3+=0:0,1:2", DimensionCurve(3, Curve((0.0, 1.0), (0.0, 2.0)), add=True)),
    ],
)
def test_parse_op(text: str, expected) -> None:
    assert parse_op(text, seed=5) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("flip", "unknown operator 'flip'; known operators: bias, curve, noise, randomize, "),
        ("scale", "needs a scale factor"),
        ("scale=big", "scale factor 'big' is not a number"),
        ("scale:median=2", "scale about must be one of zero, mean, got 'median'"),
        ("reverse=1", "reverse takes no value"),
        ("stretch=0", "stretch factor must be positive"),
        ("noise=-1", "noise std must be at least 0"),
        ("randomize=2", "randomize amount must be at most 1"),
        ("smooth=2.5", "smooth width must be a whole number"),
        ("bias=0.1,x", "bias 'x' is not a number"),
        ("bias+=1", "only curve takes \\+="),
        ("noise:2=0.1", "noise takes no :option"),
        ("curve=0:0,1:2", "curve needs a dimension"),
        ("curve:x=0:0,1:2", "curve dimension 'x' is not a whole number"),
        ("curve:3=0:0,2:1", "time 2 is beyond the end"),
        ("curve:3", "needs a curve"),
        ("=3", "expected NAME"),
    ],
)
def test_parse_op_errors(text: str, message: str) -> None:
    with pytest.raises(TimbrespaceError, match=f"operator '.*': .*{message}"):
        parse_op(text)


def test_parsed_dimension_is_checked_when_applied() -> None:
    op = parse_op("curve:6=0:0,1:2")
    with pytest.raises(TimbrespaceError, match="curve:6: dimension 6 is out of range"):
        apply_ops(path(1, 3), [Reverse(), op])


def test_parse_numbers_known_answers_and_errors() -> None:
    assert parse_numbers("0, 0.5,1.2", "--amount") == [0.0, 0.5, 1.2]
    assert parse_numbers("-1e-1,2", "--xy", 2) == [-0.1, 2.0]
    with pytest.raises(TimbrespaceError, match="--xy: expected 2 comma-separated numbers"):
        parse_numbers("0.5", "--xy", 2)
    with pytest.raises(TimbrespaceError, match="--amount: value 'inf' is not a finite number"):
        parse_numbers("0,inf", "--amount")
    with pytest.raises(TimbrespaceError, match="'a' is not a number"):
        parse_numbers("a", "--amount")
