"""`generate control` and `generate controls` on the tiny model trained on real drums: the
printed requested → measured values are those of the written sound, the closed loop can be
turned off, and weak controls are listed with their reason."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from timbrespace.cli import main
from timbrespace.space import LatentSpace

pytestmark = pytest.mark.slow

NUMBER = r"(-?\d+(?:\.\d+)?)"


@pytest.fixture(scope="module")
def space(analysed_run: Path) -> LatentSpace:
    return LatentSpace.open(analysed_run / "bundle")


def pitched(space: LatentSpace) -> str:
    """A dataset sound whose render has a clear pitch."""
    for index in np.argsort(-np.nan_to_num(space.analysis.descriptor("f0"), nan=-1.0)):
        sound = space.analysis.sounds[int(index)]
        if math.isfinite(
            space.measure_controls(space.render(space.sound_latent(sound))[0])["pitch"]
        ):
            return sound
    raise AssertionError("no pitched render")


def line_of(text: str, name: str) -> str:
    return next(line for line in text.splitlines() if line.strip().startswith(f"{name}"))


def test_control_prints_requested_and_measured_of_the_written_sound(
    analysed_run: Path, space: LatentSpace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sound = pitched(space)
    out = tmp_path / "up.wav"
    args = ["generate", "control", str(analysed_run), "--nearest", sound, "-o", str(out)]
    assert main([*args, "--set", "pitch=+2st", "--lock", "attack"]) == 0
    text = capsys.readouterr().out
    written, _ = sf.read(out, always_2d=True, dtype="float32")
    measured = space.measure_controls(written.T)
    start = space.measure_controls(space.render(space.sound_latent(sound))[0])
    assert "closed loop" in text

    line = line_of(text, "pitch")
    pitch = re.search(
        rf"requested {NUMBER} Hz \(.+\) → measured (?:{NUMBER} Hz \(|undefined)", line
    )
    assert pitch, text
    top = space.controls["pitch"].to_user(space.controls["pitch"].range[1])
    asked = min(start["pitch"] * 2 ** (2 / 12), top)  # from the measured start, within range
    assert float(pitch[1]) == pytest.approx(asked, rel=2e-3)
    if pitch[2] is None:  # no clear pitch in the written sound: said, not made up
        assert math.isnan(measured["pitch"]) and "not measurable" in line
    else:
        assert float(pitch[2]) == pytest.approx(measured["pitch"], rel=5e-3)
        cents = 1200 * abs(math.log2(measured["pitch"] / float(pitch[1])))
        assert ("not reached" in line) == (cents > 15) or abs(cents - 15) < 1, (cents, line)

    attack = re.search(rf"held at {NUMBER} ms → measured {NUMBER} ms", line_of(text, "attack"))
    assert attack, text
    assert float(attack[1]) == pytest.approx(start["attack"] * 1000, rel=5e-3, abs=0.01)
    assert float(attack[2]) == pytest.approx(measured["attack"] * 1000, rel=0.02, abs=0.05)


def test_open_loop_move_and_pca_readout(
    analysed_run: Path, space: LatentSpace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sound = space.analysis.sounds[1]
    out = tmp_path / "open.wav"
    args = ["generate", "control", str(analysed_run), "--nearest", sound, "-o", str(out)]
    assert main([*args, "--set", "pca1=0.5", "brightness=+20%", "--no-closed-loop"]) == 0
    text = capsys.readouterr().out
    assert "(open loop, 0 renders)" in text
    assert "pca1 (pca1=0.5): requested 0.50 → latent reads 0.50 (nothing to measure)" in text
    written, _ = sf.read(out, always_2d=True, dtype="float32")
    bright = re.search(rf"→ measured {NUMBER} Hz", line_of(text, "brightness"))
    assert bright and float(bright[1]) == pytest.approx(
        space.measure_controls(written.T)["brightness"], rel=2e-3
    )


def test_a_weak_control_is_flagged_and_limited_sweep_steps_are_marked(
    analysed_run: Path,
    space: LatentSpace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    reason = "explains 3 % of what the decoder renders"
    opened = LatentSpace.open

    def open_with_a_weak_release(*args, **kwargs) -> LatentSpace:  # noqa: ANN002, ANN003
        space = opened(*args, **kwargs)
        space.controls["release"] = replace(space.controls["release"], weak=reason)
        return space

    monkeypatch.setattr(LatentSpace, "open", staticmethod(open_with_a_weak_release))
    sound = space.analysis.sounds[2]
    base = ["generate", "control", str(analysed_run), "--nearest", sound, "--no-closed-loop"]
    assert main([*base, "--set", "release=+10%", "-o", str(tmp_path / "r.wav")]) == 0
    assert f"notice: release is a weak control: {reason}" in capsys.readouterr().err

    # a sweep past the top of the data range: the clamped steps (and only they) are flagged
    high = space.controls["brightness"].to_user(space.controls["brightness"].range[1])
    sweep = f"brightness={high / 2:.0f}Hz:{high * 4:.0f}Hz:4"
    assert main([*base, "--sweep", sweep, "-o", str(tmp_path / "sweep")]) == 0
    record = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    expected = [r >= high * (1 - 1e-6) for r in record["requested"]]
    assert record["limited"] == expected and expected[-1] and not expected[0]
    text = capsys.readouterr().out
    assert text.count("← limit") == sum(expected)
