"""`evaluate`'s per-pack report: each pack's clips, means and improvement over the PCA baseline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from timbrespace.evaluation import METRICS, _per_pack, evaluate

from .conftest import decaying_tone


def test_per_pack_means_and_improvement_known_answer() -> None:
    packs = np.array(["kicks", "bells", "kicks", "bells", "bells"])
    model = {name: np.array([1.0, 2.0, 3.0, 4.0, np.nan]) for name in METRICS}
    baseline = {name: np.array([4.0, 4.0, 4.0, 4.0, 4.0]) for name in METRICS}
    report = _per_pack({"model": model, "baseline_pca": baseline}, packs)
    assert list(report) == ["bells", "kicks"]
    assert report["bells"]["clips"] == 3 and report["kicks"]["clips"] == 2
    assert report["kicks"]["model"]["mrstft_distance"] == 2.0
    assert report["bells"]["model"]["mrstft_distance"] == 3.0  # the NaN item is skipped
    assert report["bells"]["improvement"]["mrstft_distance"] == pytest.approx(0.25)
    assert report["kicks"]["improvement"]["mrstft_distance"] == pytest.approx(0.5)
    assert report["kicks"]["improvement"]["si_sdr_db"] == pytest.approx(-2.0)


@pytest.fixture(scope="module")
def two_packs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from timbrespace.bundle import save_bundle
    from timbrespace.data.prepare import PrepareConfig, prepare_dataset
    from timbrespace.models.base import build_model, resolve_config

    root = tmp_path_factory.mktemp("packs")
    for i in range(9):
        folder = root / "pack" / ("low" if i < 6 else "high") / "a"
        folder.mkdir(parents=True, exist_ok=True)
        tone = decaying_tone(110.0 * (i + 1), 0.6, 16000, seed=i)
        sf.write(folder / f"tone_{i}.wav", tone, 16000)
    prepare_dataset(root / "pack", root / "cache", PrepareConfig(sample_rate=16000, length=0.5))
    torch.manual_seed(0)
    model = build_model("oneshot", resolve_config("oneshot", "tiny"))
    save_bundle(root / "bundle", model, "oneshot", training={"split": {"val_fraction": 0.25}})
    return {"bundle": root / "bundle", "cache": root / "cache"}


def test_evaluate_reports_each_pack_and_they_add_up(two_packs: dict[str, Path]) -> None:
    result = evaluate(two_packs["bundle"], two_packs["cache"], split="all")
    json.dumps(result, allow_nan=False)
    per_pack = result["per_pack"]
    assert {name: entry["clips"] for name, entry in per_pack.items()} == {"high": 3, "low": 6}
    for system in ("model", "baseline_pca"):
        for name in ("mrstft_distance", "log_spectral_distance_db"):
            weighted = sum(e["clips"] * e[system][name] for e in per_pack.values()) / 9
            assert weighted == pytest.approx(result[system][name])
    for entry in per_pack.values():
        ours, theirs = entry["model"]["mrstft_distance"], entry["baseline_pca"]["mrstft_distance"]
        assert entry["improvement"]["mrstft_distance"] == pytest.approx(1 - ours / theirs)
