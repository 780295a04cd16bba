"""Statistics of calibration moves and the serialised calibration, with known answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from timbrespace.latent.calibration import (
    Calibration,
    move_deltas,
    move_statistics,
    rendered_range,
    weak_reason,
)


def test_moves_set_the_probe_exactly_and_go_along_its_direction() -> None:
    generator = torch.Generator().manual_seed(0)
    weights = torch.randn(6, generator=generator, dtype=torch.float64)
    points = torch.randn(3, 6, generator=generator, dtype=torch.float64)
    targets = torch.tensor([-1.0, 0.5, 2.0], dtype=torch.float64)
    deltas = move_deltas(points, weights, 0.25, targets)
    moved = points.repeat_interleave(3, dim=0) + deltas
    np.testing.assert_allclose(moved @ weights + 0.25, targets.repeat(3), atol=1e-12)
    cosine = (deltas @ weights).abs() / (deltas.norm(dim=1) * weights.norm())
    np.testing.assert_allclose(cosine, 1.0, atol=1e-12)
    per_start = torch.tensor([[1.0], [2.0], [3.0]], dtype=torch.float64)
    one_each = points + move_deltas(points, weights, 0.25, per_start)
    np.testing.assert_allclose(one_each @ weights + 0.25, [1.0, 2.0, 3.0], atol=1e-12)


def test_move_statistics_known_answers() -> None:
    targets = np.tile(np.linspace(0.0, 3.0, 4), (5, 1))
    offsets = np.arange(5.0)[:, None]  # each start renders from its own level
    half = move_statistics(targets, 0.5 * targets + offsets)
    assert half.gain == pytest.approx(0.5) and half.spearman == pytest.approx(1.0)
    assert half.fidelity == pytest.approx(0.75) and half.starts == 5  # 1 − (1 − 0.5)²
    flat = move_statistics(targets, np.zeros_like(targets) + offsets)
    assert flat.gain == 0.0 and flat.fidelity == pytest.approx(0.0) and flat.spearman == 0.0
    backwards = move_statistics(targets, -targets)
    assert backwards.gain == pytest.approx(-1.0) and backwards.spearman == pytest.approx(-1.0)
    undefined = move_statistics(targets, np.full_like(targets, np.nan))
    assert undefined.starts == 0 and math.isnan(undefined.gain) and undefined.score == -math.inf
    gappy = targets.copy()
    measured = targets.copy()
    measured[:, 1] = np.nan  # a step without a defined value is left out
    assert move_statistics(gappy, measured).gain == pytest.approx(1.0)


def test_weak_reasons_name_what_is_missing() -> None:
    assert weak_reason(0.12, 1.0, 0.08) == "renders only 12 % of what it predicts (decoded R² 0.08)"
    assert weak_reason(-0.3, -1.0, 0.5).startswith("renders only 0 % of what it predicts")
    assert "does not follow it reliably (ρ 0.20" in str(weak_reason(0.9, 0.2, 0.6))
    assert "could not be measured" in str(weak_reason(math.nan, math.nan, math.nan))
    assert weak_reason(0.9, 1.0, 0.6) is None
    assert "explains too little" in str(weak_reason(0.72, 1.0, -0.21))
    assert weak_reason(0.72, 1.0, -0.21, by_moves=True) is None  # a readout: judged by its moves
    assert "renders only 30 %" in str(weak_reason(0.3, 1.0, 0.9, by_moves=True))


def test_rendered_range_ignores_a_stray_render() -> None:
    values = np.concatenate([np.linspace(100.0, 200.0, 199), [5000.0], [np.nan]])
    low, high = rendered_range(values) or (0.0, 0.0)
    assert low == pytest.approx(101.0, abs=0.6) and 198.0 < high < 200.0
    assert rendered_range(np.array([np.nan, 1.0])) is None


def test_calibration_round_trips_through_json_with_nulls() -> None:
    calibration = Calibration(
        r2_original=0.82,
        r2_decoded=math.nan,
        ridge=0.3,
        gain=0.9,
        spearman=1.0,
        fidelity=0.8,
        moves=56,
        rendered_range=(5.5, 8.7),
        weak=None,
    )
    text = json.dumps(calibration.to_dict(), allow_nan=False)
    restored = Calibration.from_dict(json.loads(text))
    assert json.loads(text)["r2_decoded"] is None and math.isnan(restored.r2_decoded)
    assert restored.rendered_range == (5.5, 8.7) and restored.ridge == 0.3
    assert restored.to_dict() == calibration.to_dict()
    readout = Calibration.from_dict({"gain": 1.0, "weak": "x"})
    assert readout.ridge is None and readout.rendered_range is None and readout.weak == "x"


def test_a_probe_explaining_nothing_of_the_decoded_sound_is_weak_even_if_moves_look_fine() -> None:
    assert (
        weak_reason(0.9, 1.0, 0.03) == "explains too little of what the decoder renders "
        "(decoded R² 0.03)"
    )
    assert weak_reason(0.9, 1.0, math.nan) is not None
