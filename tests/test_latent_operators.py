"""Latent path operators (`latent.operators`): shapes, dtypes, composition, known answers."""

from __future__ import annotations

import pytest
import torch

from timbrespace.errors import TimbrespaceError
from timbrespace.latent.operators import (
    AddNoise,
    Bias,
    DimensionCurve,
    Randomize,
    Reverse,
    Scale,
    Smooth,
    TimeStretch,
    apply_ops,
)
from timbrespace.latent.syntax import parse_curve

from .test_latent_paths import DIM, DTYPES, SHAPES, path, ramp

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
