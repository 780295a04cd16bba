"""Every face gives the sounds and numbers it gave before the inference refactor (issue 11):
the scenario of `golden_scenario.py` (CLI verbs and studio HTTP on tiny trained one-shot and
spectral bundles, fixed seeds) against its recording in `tests/golden/`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.golden_scenario import GOLDEN_DIR, GOLDEN_THREADS, SCENARIOS, flatten

VOLATILE = {"bundle", "cache", "seconds", "data"}
"""Keys that name temporary folders or depend on the clock."""


def assert_same(actual: Any, expected: Any, where: str = "") -> None:
    """Recorded keys must be there with equal values (floats to 1e-5 relative or 1e-6 absolute,
    float32 rounding); new keys may be added."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        for key, value in expected.items():
            if key in VOLATILE:
                continue
            assert key in actual, f"{where}/{key} missing"
            assert_same(actual[key], value, f"{where}/{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same(a, e, f"{where}[{i}]")
    elif isinstance(expected, float) and not isinstance(actual, str):
        assert actual is not None and math.isclose(actual, expected, rel_tol=1e-5, abs_tol=1e-6), (
            f"{where}: {actual} != {expected}"
        )
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_faces_render_as_recorded(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    monkeypatch.setenv("TIMBRESPACE_THREADS", GOLDEN_THREADS)
    previous = torch.get_num_threads()
    torch.set_num_threads(int(GOLDEN_THREADS))
    if name == "spectral":
        from tests.conftest import require_path
        from timbrespace.data.melodies import SOUNDFONTS

        require_path(SOUNDFONTS[0], "timgm6mb-soundfont")
    try:
        arrays, other = flatten(SCENARIOS[name](tmp_path, lambda: capsys.readouterr().out))
    finally:
        torch.set_num_threads(previous)
    recorded = np.load(GOLDEN_DIR / f"{name}.npz", allow_pickle=False)
    assert sorted(arrays) == sorted(recorded.files)
    for key in recorded.files:
        expected = recorded[key]
        assert arrays[key].shape == expected.shape, key
        error = float(np.abs(arrays[key] - expected).max(initial=0.0))
        assert error <= 1e-4, f"{key}: max difference {error:.2e}"
        assert float(np.abs(expected).max()) > 0, f"{key}: the recording is all zeros"
    assert_same(other, json.loads((GOLDEN_DIR / f"{name}.json").read_text()))
