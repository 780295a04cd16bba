"""The embedded default end to end, at toy size: demo pack → prepare → train → sounds → eval."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from timbrespace.cli import main


@pytest.mark.slow
def test_demo_runs_end_to_end_and_reruns_without_retraining(tmp_path: Path, capsys) -> None:
    args = [
        "demo",
        "--out",
        str(tmp_path / "demo"),
        "--n",
        "20",
        "--sr",
        "16000",
        "--length",
        "0.5",
        "--preset",
        "tiny",
        "--minutes",
        "0.25",
    ]
    assert main(args) == 0
    output = capsys.readouterr().out
    report = json.loads(output[output.index("{") : output.rindex("}") + 1])
    assert set(report["model"]) >= {"mrstft_distance", "si_sdr_db"}
    sounds = sorted((tmp_path / "demo" / "sounds").rglob("*.wav"))
    assert len(sounds) >= 8
    assert max(np.abs(sf.read(path)[0]).max() for path in sounds) > 0.01
    bundle = tmp_path / "demo" / "run" / "bundle" / "weights.safetensors"
    stamp = bundle.stat().st_mtime_ns
    assert main(args) == 0
    assert bundle.stat().st_mtime_ns == stamp, "a second demo must reuse the trained bundle"
