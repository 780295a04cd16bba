"""Latent analysis: PCA, linear probes, class / custom directions, nearest neighbours, serialisation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load, save

from timbrespace.errors import TimbrespaceError
from timbrespace.latent.analysis import (
    PCA,
    LinearProbe,
    class_directions,
    custom_direction,
    fit_pca,
    fit_probe,
    nearest,
    path_points,
)


def random_rotation(dim: int, seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, dim)))
    return q * np.sign(np.diag(r))


def test_pca_recovers_known_axes_and_variances() -> None:
    rng = np.random.default_rng(0)
    stds = np.array([4.0, 2.0, 1.0, 0.5, 0.3, 0.1])
    axes = random_rotation(6, seed=1)
    mean = np.arange(6.0)
    z = (rng.standard_normal((20000, 6)) * stds) @ axes.T + mean

    pca = fit_pca(z)

    assert pca.n_components == 6
    np.testing.assert_allclose(pca.mean.numpy(), mean, atol=0.1)
    np.testing.assert_allclose(pca.explained_variance.numpy(), stds**2, rtol=0.05)
    alignment = np.abs(pca.components.numpy()[:3] @ axes[:, :3])
    np.testing.assert_allclose(np.diag(alignment), 1.0, atol=1e-3)
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(6), atol=1e-12)
    np.testing.assert_allclose(pca.explained_variance_ratio.sum(), 1.0, rtol=1e-12)
    total = (stds**2).sum()
    np.testing.assert_allclose(pca.explained_variance_ratio.numpy(), stds**2 / total, rtol=0.05)
    assert fit_pca(z[:4]).n_components == 3


def test_pca_signs_are_deterministic_and_transform_inverts() -> None:
    z = torch.randn(200, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    pca = fit_pca(z, n_components=8)
    flipped = fit_pca(-z, n_components=8)

    largest = pca.components.abs().argmax(dim=1)
    assert bool((pca.components.gather(1, largest[:, None]) > 0).all())
    torch.testing.assert_close(flipped.components, pca.components, rtol=0, atol=1e-10)
    scores = pca.transform(z)
    assert scores.shape == (200, 8)
    torch.testing.assert_close(pca.inverse_transform(scores), z, rtol=0, atol=1e-12)
    torch.testing.assert_close(scores.var(dim=0), pca.explained_variance, rtol=1e-10, atol=0)


def test_probe_recovers_direction_with_heldout_r2_near_one() -> None:
    rng = np.random.default_rng(2)
    z = rng.standard_normal((1000, 16))
    w = rng.standard_normal(16)
    y = z @ w + 3.0 + 0.01 * rng.standard_normal(1000)

    probe = fit_probe(z, y, name="brightness", unit="Hz", scale="log")

    cos = float(
        probe.weights.numpy() @ w / np.linalg.norm(probe.weights.numpy()) / np.linalg.norm(w)
    )
    assert cos > 0.9999
    assert probe.bias == pytest.approx(3.0, abs=0.01)
    assert probe.r2_heldout > 0.999 and probe.r2_train > 0.999
    assert (probe.n, probe.name, probe.unit, probe.scale) == (1000, "brightness", "Hz", "log")
    np.testing.assert_allclose(probe.predict(z[:5]), z[:5] @ w + 3.0, atol=0.05)


def test_probe_of_pure_noise_has_heldout_r2_near_zero() -> None:
    rng = np.random.default_rng(3)
    probe = fit_probe(rng.standard_normal((1000, 16)), rng.standard_normal(1000))
    assert abs(probe.r2_heldout) < 0.1
    assert probe.r2_train < 0.1


def test_probe_drops_nan_targets_and_split_is_seeded() -> None:
    rng = np.random.default_rng(4)
    z = rng.standard_normal((300, 8))
    y = z[:, 0] * 2.0 + 0.1 * rng.standard_normal(300)
    y_nan = y.copy()
    y_nan[::3] = np.nan

    probe = fit_probe(z, y_nan, seed=7)
    clean = fit_probe(z[np.isfinite(y_nan)], y[np.isfinite(y_nan)], seed=7)

    assert probe.n == 200
    torch.testing.assert_close(probe.weights, clean.weights, rtol=1e-12, atol=1e-15)
    assert probe.r2_heldout == pytest.approx(clean.r2_heldout, rel=1e-12)
    assert fit_probe(z, y_nan, seed=8).r2_heldout != probe.r2_heldout
    with pytest.raises(TimbrespaceError, match="only 2 sounds"):
        fit_probe(z[:5], np.array([1.0, np.nan, 2.0, np.nan, np.nan]), name="f0")


def test_nearest_finds_exact_point_with_zero_distance() -> None:
    z_all = torch.randn(50, 6, generator=torch.Generator().manual_seed(5))
    indices, distances = nearest(z_all[17], z_all, k=3)

    assert int(indices[0]) == 17 and float(distances[0]) == 0.0
    assert bool((distances[1:] >= distances[:-1]).all())
    assert distances.dtype == torch.float32 and indices.dtype == torch.int64
    expected = torch.cdist(z_all[17:18].double(), z_all.double())[0].sort().values[:3]
    torch.testing.assert_close(distances, expected.float(), rtol=1e-6, atol=1e-6)
    one_shot_latent = z_all[17][None, :, None]
    assert int(nearest(one_shot_latent, z_all)[0][0]) == 17


def test_nearest_keeps_data_order_on_ties_and_clips_k() -> None:
    z_all = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [5.0, 5.0]])
    indices, distances = nearest(np.zeros(2), z_all, k=10)
    assert indices.tolist() == [0, 1, 2, 3] and indices.dtype == np.int64
    np.testing.assert_array_equal(distances[:3], [1.0, 1.0, 1.0])


def test_class_directions_point_from_one_cluster_to_the_other() -> None:
    rng = np.random.default_rng(6)
    centre_a, centre_b = np.full(8, -2.0), np.full(8, 3.0)
    z = np.concatenate(
        [
            centre_a + 0.1 * rng.standard_normal((30, 8)),
            centre_b + 0.1 * rng.standard_normal((10, 8)),
        ]
    )
    labels = ["kick"] * 30 + ["snare"] * 10

    directions = class_directions(z, labels)
    custom = custom_direction(z[:30], z[30:])

    assert list(directions) == ["kick", "snare"]
    gap = centre_b - centre_a
    cos = directions["snare"] @ gap / np.linalg.norm(directions["snare"]) / np.linalg.norm(gap)
    assert cos > 0.999
    np.testing.assert_allclose(directions["kick"] * 30 + directions["snare"] * 10, 0.0, atol=1e-9)
    np.testing.assert_allclose(custom, z[30:].mean(0) - z[:30].mean(0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(custom, directions["snare"] - directions["kick"], atol=1e-12)


def test_results_come_back_in_the_input_type_and_dtype() -> None:
    z32 = torch.randn(40, 5, generator=torch.Generator().manual_seed(8))
    pca = fit_pca(z32)
    assert pca.transform(z32).dtype == torch.float32
    assert pca.transform(z32.numpy()).dtype == np.float32
    assert isinstance(class_directions(z32.numpy(), [0, 1] * 20)[1], np.ndarray)
    paths = torch.arange(24.0).reshape(2, 3, 4)
    points = path_points(paths)
    assert points.shape == (8, 3)
    torch.testing.assert_close(points[5], paths[1, :, 1])


def test_serialisation_round_trips_exactly() -> None:
    rng = np.random.default_rng(9)
    z = rng.standard_normal((100, 12))
    pca = fit_pca(z)
    probe = fit_probe(
        z, z[:, 0] + 0.1 * rng.standard_normal(100), name="f0", unit="Hz", scale="semitones"
    )

    from_tensors = PCA.from_tensors(load(save(pca.to_tensors("analysis.pca."))), "analysis.pca.")
    from_json = PCA.from_dict(json.loads(json.dumps(pca.to_dict())))
    probe_back = LinearProbe.from_dict(json.loads(json.dumps(probe.to_dict())))

    for restored in (from_tensors, from_json):
        for key in ("mean", "components", "explained_variance", "explained_variance_ratio"):
            assert torch.equal(getattr(restored, key), getattr(pca, key))
    assert torch.equal(probe_back.weights, probe.weights)
    assert probe_back.to_dict() == probe.to_dict()
    with pytest.raises(TimbrespaceError, match="missing 'pca.mean'"):
        PCA.from_tensors({})
