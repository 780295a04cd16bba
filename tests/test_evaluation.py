from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from timbrespace.errors import TimbrespaceError
from timbrespace.evaluation import (
    METRICS,
    PCABaseline,
    attack_time_error_ms,
    compute_metrics,
    evaluate,
    log_spectral_distance,
    mrstft_distance,
    si_sdr,
)

from .conftest import decaying_tone

SR = 16000


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Iterator[None]:
    """These tests run many small tensor ops; on a busy 2-core machine a second intra-op thread
    spin-waits and makes them several times slower (measured 9 s vs 26 s for this file)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def batch(*signals: np.ndarray) -> torch.Tensor:
    """Mono signals `[samples]` -> `[batch, 1, samples]` float32."""
    return torch.from_numpy(np.stack(signals)[:, None, :].astype(np.float32))


def tone(
    freq: float = 220.0, seconds: float = 0.5, noise: float = 0.0, seed: int = 0
) -> np.ndarray:
    return decaying_tone(freq, seconds, SR, noise=noise, seed=seed)


def with_attack(ramp_seconds: float, seconds: float = 0.5) -> np.ndarray:
    """A 330 Hz tone with a linear fade-in of `ramp_seconds`, then a slow decay."""
    t = np.arange(int(seconds * SR)) / SR
    ramp = np.clip(t / ramp_seconds, 0.0, 1.0)
    return (0.8 * ramp * np.exp(-t / 0.3) * np.sin(2 * np.pi * 330.0 * t)).astype(np.float32)


def test_identical_signals_give_perfect_scores() -> None:
    reference = batch(tone(220.0), tone(440.0, noise=0.3, seed=1))
    metrics = compute_metrics(reference.clone(), reference, SR)
    assert set(metrics) == set(METRICS)
    assert all(values.shape == (2,) and values.dtype == np.float64 for values in metrics.values())
    np.testing.assert_allclose(metrics["mrstft_distance"], 0.0, atol=1e-6)
    np.testing.assert_allclose(metrics["log_spectral_distance_db"], 0.0, atol=1e-9)
    assert (metrics["si_sdr_db"] > 60.0).all()
    np.testing.assert_array_equal(metrics["attack_time_error_ms"], 0.0)


def test_metrics_of_a_batch_equal_metrics_of_each_item() -> None:
    reference = batch(tone(220.0), tone(550.0, noise=0.5, seed=2), with_attack(0.02))
    estimate = batch(tone(230.0), tone(550.0, seed=3), with_attack(0.05))
    together = compute_metrics(estimate, reference, SR)
    for i in range(3):
        alone = compute_metrics(estimate[i : i + 1], reference[i : i + 1], SR)
        for name in METRICS:
            np.testing.assert_allclose(alone[name], together[name][i : i + 1], rtol=1e-5)


def test_si_sdr_of_reference_plus_noise_at_known_snr() -> None:
    rng = np.random.default_rng(0)
    reference = tone(220.0, seconds=1.0)
    reference = reference - reference.mean()
    noise = rng.standard_normal(reference.size)
    noise -= noise.mean()
    noise *= math.sqrt(np.sum(reference**2.0) / np.sum(noise**2) / 10 ** (20.0 / 10))
    value = si_sdr(batch(reference + noise), batch(reference))
    assert value[0] == pytest.approx(20.0, abs=0.5)


def test_si_sdr_is_scale_invariant() -> None:
    reference = batch(tone(220.0))
    estimate = batch(tone(220.0, noise=0.2, seed=4))
    base = si_sdr(estimate, reference)
    for gain in (0.05, 3.0):
        np.testing.assert_allclose(si_sdr(estimate * gain, reference), base, atol=1e-6)
    assert 0.0 < base[0] < 60.0


def test_si_sdr_of_silent_reference_is_nan_and_silent_estimate_is_worst() -> None:
    reference = batch(tone(220.0), np.zeros(8000, np.float32))
    estimate = batch(np.zeros(8000, np.float32), tone(220.0))
    values = si_sdr(estimate, reference)
    assert values[0] == -120.0
    assert math.isnan(values[1])


def test_log_spectral_distance_of_minus_6_db_gain_ignores_padding_silence() -> None:
    rng = np.random.default_rng(1)
    noise = np.clip(0.3 * rng.standard_normal(SR), -1.0, 1.0).astype(np.float32)
    padded = np.concatenate([noise[: SR // 2], np.zeros(SR // 2, np.float32)])
    reference = batch(noise, padded)
    values = log_spectral_distance(reference * 10 ** (-6.0 / 20), reference)
    np.testing.assert_allclose(values, 6.0, atol=0.1)


def test_log_spectral_distance_of_silent_reference_is_nan() -> None:
    silent = batch(np.zeros(8000, np.float32))
    assert math.isnan(log_spectral_distance(batch(tone()), silent)[0])


def test_mrstft_distance_grows_with_difference() -> None:
    reference = batch(tone(220.0, noise=0.3))
    near, far = mrstft_distance(
        torch.cat([0.9 * reference, 0.3 * reference]), reference.repeat(2, 1, 1), SR
    )
    other = mrstft_distance(batch(tone(660.0, noise=0.3)), reference, SR)[0]
    assert 0.0 < near < far
    assert other > near


def test_slower_onset_gives_larger_attack_error() -> None:
    reference = batch(with_attack(0.002))
    exact = attack_time_error_ms(reference.clone(), reference, SR)[0]
    late = attack_time_error_ms(batch(with_attack(0.080)), reference, SR)[0]
    assert exact == 0.0
    assert late > 40.0


def test_metrics_reject_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="batch, channels, samples"):
        si_sdr(torch.zeros(1, 1, 100), torch.zeros(1, 1, 99))


def relative_error(estimate: torch.Tensor, reference: torch.Tensor) -> float:
    return float((estimate - reference).norm() / reference.norm())


def test_pca_with_dim_n_train_reconstructs_training_items() -> None:
    rng = np.random.default_rng(2)
    train = rng.uniform(-0.5, 0.5, (12, 2, 500)).astype(np.float32)
    full = PCABaseline.fit(train, 12)
    one = PCABaseline.fit(train, 1)
    audio = torch.from_numpy(train)
    assert full.encode(audio).shape == (12, 12, 1)
    assert full.reconstruct(audio).shape == (12, 2, 500)
    assert relative_error(full.reconstruct(audio), audio) < 1e-4
    assert relative_error(one.reconstruct(audio), audio) > 0.5


def test_pca_on_rank_k_data_reconstructs_unseen_items_exactly() -> None:
    rng = np.random.default_rng(3)
    k, samples = 4, 3000
    basis = rng.standard_normal((k, samples))
    offset = 0.1 * rng.standard_normal(samples)

    def draw(n: int) -> np.ndarray:
        items = rng.standard_normal((n, k)) @ basis / 20.0 + offset
        return items[:, None, :].astype(np.float32)

    pca = PCABaseline.fit(draw(50), k)
    unseen = torch.from_numpy(draw(10))
    assert unseen.abs().max() < 1.0
    assert relative_error(pca.reconstruct(unseen), unseen) < 1e-4
    assert relative_error(PCABaseline.fit(draw(50), k - 1).reconstruct(unseen), unseen) > 0.05


def test_pca_with_more_axes_than_items_pads_with_zero_axes() -> None:
    train = np.random.default_rng(4).uniform(-0.5, 0.5, (3, 1, 200)).astype(np.float32)
    pca = PCABaseline.fit(train, 8)
    z = pca.encode(torch.from_numpy(train))
    assert z.shape == (3, 8, 1)
    assert torch.count_nonzero(z[:, 3:]) == 0
    assert relative_error(pca.reconstruct(torch.from_numpy(train)), torch.from_numpy(train)) < 1e-4
    assert pca.decode(torch.full((1, 8, 1), 100.0)).abs().max() <= 1.0
    with pytest.raises(ValueError, match="expected audio"):
        pca.encode(torch.zeros(1, 1, 199))


# --------------------------------------------------------------------------------------------
# evaluate(): a tiny untrained bundle on a tiny prepared cache


@pytest.fixture(scope="module")
def eval_setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from timbrespace.bundle import save_bundle
    from timbrespace.data.prepare import PrepareConfig, prepare_dataset
    from timbrespace.models.base import build_model, resolve_config

    root = tmp_path_factory.mktemp("evaluation")
    pack = root / "pack"
    for i in range(8):
        folder = pack / ("low" if i < 4 else "high")
        folder.mkdir(parents=True, exist_ok=True)
        sf.write(
            folder / f"tone_{i}.wav", decaying_tone(110.0 * (i + 1), 0.6, 22050, seed=i), 22050
        )
    prepare_dataset(pack, root / "cache", PrepareConfig(sample_rate=16000, length=0.5), workers=1)
    prepare_dataset(pack, root / "cache22", PrepareConfig(sample_rate=22050, length=0.5), workers=1)
    torch.manual_seed(0)
    model = build_model("oneshot", resolve_config("oneshot", "tiny"))
    run = root / "run"
    save_bundle(
        run / "bundle", model, "oneshot", training={"split": {"val_fraction": 0.25, "seed": 0}}
    )
    (run / "run.json").write_text("{}")
    return {
        "run": run,
        "bundle": run / "bundle",
        "cache": root / "cache",
        "cache22": root / "cache22",
    }


def test_evaluate_reports_json_ready_metrics(eval_setup: dict[str, Path]) -> None:
    result = evaluate(eval_setup["bundle"], eval_setup["cache"], split="val", batch_size=1)
    json.dumps(result, allow_nan=False)
    assert result["split"] == "val"
    assert result["clips"] == 2
    assert (result["sample_rate"], result["latent_dim"]) == (16000, 16)
    assert result["baseline_fit_clips"] == 6
    assert result["bundle"] == str(eval_setup["bundle"])
    for metrics in (
        result["model"],
        result["baseline_pca"],
        result["improvement"],
        *result["undefined"].values(),
    ):
        assert set(metrics) == set(METRICS)
    assert set(result["undefined"]) == {"model", "baseline_pca"}
    baseline = result["baseline_pca"]
    assert all(isinstance(value, float) for value in result["model"].values())
    assert baseline["mrstft_distance"] > 0.0
    assert result["improvement"]["mrstft_distance"] == pytest.approx(
        1.0 - result["model"]["mrstft_distance"] / baseline["mrstft_distance"]
    )
    assert result["improvement"]["si_sdr_db"] == pytest.approx(
        result["model"]["si_sdr_db"] - baseline["si_sdr_db"]
    )


def test_evaluate_train_split_limit_and_all(eval_setup: dict[str, Path]) -> None:
    from timbrespace.data.cache import SoundCache

    train = evaluate(eval_setup["run"], eval_setup["cache"], split="train", limit=2)
    assert (train["clips"], train["baseline_fit_clips"]) == (2, 6)
    assert train["baseline_pca"]["si_sdr_db"] > 60.0
    every = evaluate(eval_setup["run"], eval_setup["cache"], split="all")
    assert every["clips"] == len(SoundCache(eval_setup["cache"])) == 8


def test_evaluate_rejects_a_cache_at_another_sample_rate(eval_setup: dict[str, Path]) -> None:
    with pytest.raises(TimbrespaceError) as info:
        evaluate(eval_setup["run"], eval_setup["cache22"])
    message = str(info.value)
    assert "22050" in message and "16000" in message and str(eval_setup["cache22"]) in message
    assert "\n" not in message


def test_evaluate_rejects_unknown_and_empty_splits(
    eval_setup: dict[str, Path], tmp_path: Path
) -> None:
    from timbrespace.bundle import load_bundle, save_bundle

    with pytest.raises(TimbrespaceError, match="unknown split 'test'"):
        evaluate(eval_setup["run"], eval_setup["cache"], split="test")
    no_val = tmp_path / "no_val"
    save_bundle(
        no_val,
        load_bundle(eval_setup["bundle"]).model,
        "oneshot",
        training={"split": {"val_fraction": 0.0, "seed": 0}},
    )
    with pytest.raises(TimbrespaceError, match="'val' split is empty"):
        evaluate(no_val, eval_setup["cache"])
    shutil.rmtree(no_val)


def test_evaluate_scores_reconstructions_played_at_the_cached_pitch(demo_run) -> None:
    """`evaluate` scores `reconstruct_in_tune`, the faces' reconstruction: a voiced pluck plays
    at its cached f0 (pyin agrees within 25 cents), nearer than the encoder's own pitch."""
    import librosa

    from timbrespace.inference import reconstruct, reconstruct_in_tune
    from timbrespace.space import LatentSpace

    space = LatentSpace.open(demo_run / "bundle")
    cache = space.training_clips()
    assert cache is not None
    plucks = [i for i, s in enumerate(cache.clip_source) if "pluck" in str(cache.sources[s].path)]
    rows = np.array(plucks[:4])
    audio = torch.from_numpy(np.asarray(cache.audio[rows]))
    f0 = np.asarray(cache.descriptor("f0")[rows], dtype=np.float64)
    assert np.isfinite(f0).all()

    def cents_off(rendered: torch.Tensor) -> float:
        found = []
        for sound, wanted in zip(rendered.numpy(), f0, strict=True):
            track, voiced, _ = librosa.pyin(
                sound[0, : cache.sample_rate // 3], fmin=60, fmax=1500, sr=cache.sample_rate
            )
            found.append(abs(1200 * np.log2(np.nanmedian(track[voiced]) / wanted)))
        return float(np.median(found))

    tuned = cents_off(reconstruct_in_tune(space.bundle, audio, f0_hz=f0))
    assert tuned < 25.0
    assert tuned < cents_off(reconstruct(space.model, audio))
