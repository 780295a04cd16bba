"""`generate pack` on the tiny one-shot demo model (`demo_run`): N variations of one sound as
WAVs at the requested rate and bit depth with pack.csv; a pitch grid whose f0, measured here
with librosa's pyin (not the project's code), rises step by step over the 6 semitones asked;
bad input refused in one line with nothing written; and the pack palette shared by `plot` and
the studio's map."""

from __future__ import annotations

import csv
import itertools
import re
import types
from pathlib import Path

import librosa

# Lightning binds its log handler to sys.stderr when first imported: imported here, not inside
# a test's capsys (closed after that test), so later tests' stderr holds no "Logging error".
import lightning.pytorch  # noqa: F401
import numpy as np
import pytest
import soundfile as sf

from timbrespace.cli import main
from timbrespace.models.base import CapabilityError
from timbrespace.pack import (
    PackRequest,
    check_pack_model,
    offset_text,
    render_pack,
    safe_name,
    unique_names,
)
from timbrespace.plots import PACK_PALETTE, latent_map_by_pack
from timbrespace.space import LatentSpace

MAP_JS = Path(__file__).resolve().parents[1] / "src/timbrespace/studio/static/js/map.js"


def _rows(folder: Path) -> list[dict[str, str]]:
    with open(folder / "pack.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _pyin_semitones(path: Path) -> tuple[float, int]:
    """Median f0 of the first 0.25 s (semitones re 440 Hz) by librosa's pyin, and the rate."""
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)[: rate // 4]
    f0, voiced, _ = librosa.pyin(mono, fmin=60, fmax=2000, sr=rate, frame_length=2048)
    assert voiced.mean() > 0.8, (path.name, voiced.mean())
    return float(12 * np.log2(np.nanmedian(f0[voiced]) / 440.0)), rate


def test_an_around_pack_is_16_distinct_sounds_with_their_csv(demo_run, tmp_path, capsys) -> None:
    out = tmp_path / "pack"
    argv = ["generate", "pack", str(demo_run), "--sound", "kick_0000.wav", "--around", "0.5"]
    assert main([*argv, "-n", "16", "--seed", "0", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.strip().splitlines()[-1] == str(out)
    assert "16/16  kick_0000_around16.wav" in printed
    files = sorted(out.glob("*.wav"))
    assert [f.name for f in files] == [f"kick_0000_around{i:02d}.wav" for i in range(1, 17)]
    sounds = []
    for path in files:
        info = sf.info(path)
        assert (info.samplerate, info.subtype, info.frames) == (44100, "PCM_24", 22050)
        audio = sf.read(path, dtype="float32")[0]
        assert 20 * np.log10(np.sqrt(np.mean(audio**2))) > -40, path.name  # measured ≥ -10 dBFS
        sounds.append(audio)
    differences = [
        np.sqrt(np.mean((a - b) ** 2) / np.mean(a**2)) for a, b in itertools.combinations(sounds, 2)
    ]
    assert min(differences) > 0.05, min(differences)  # measured: 0.30 at least
    rows = _rows(out)
    assert [row["file"] for row in rows] == [f.name for f in files]
    assert {row["radius"] for row in rows} == {"0.5"}
    loudness = [float(row["loudness (dB) measured"]) for row in rows]
    assert np.isfinite(loudness).all() and len(set(loudness)) == 16
    assert "pca1 latent" in rows[0] and "pack:kicks latent" in rows[0]


def test_a_pitch_grid_moves_what_pyin_measures(demo_run, tmp_path, capsys) -> None:
    """Measured on the tiny demo model: pyin reads -2.99, -0.99, +1.01, +3.06 st re 440 Hz
    for pluck_0004 moved -3, -1, +1, +3 st (it sounds at 440 Hz): steps of 2 st, a 6.05 st span."""
    out = tmp_path / "pitch"
    argv = ["generate", "pack", str(demo_run), "--sound", "pluck_0004.wav"]
    argv += ["--vary", "pitch=-3st:+3st:4", "--rate", "48000", "--bits", "16", "-o", str(out)]
    assert main(argv) == 0
    capsys.readouterr()
    names = [f"pluck_0004_pitch{step}.wav" for step in ("-3st", "-1st", "+1st", "+3st")]
    assert sorted(p.name for p in out.glob("*.wav")) == sorted(names)
    pitches = []
    for name in names:
        semitones, rate = _pyin_semitones(out / name)
        assert rate == 48000 and sf.info(out / name).subtype == "PCM_16"
        pitches.append(semitones)
    steps = np.diff(pitches)
    assert (steps > 1.5).all() and (steps < 2.5).all(), pitches
    assert 5.5 < pitches[-1] - pitches[0] < 6.5, pitches
    rows = _rows(out)
    assert [row["pitch offset"] for row in rows] == ["-3st", "-1st", "+1st", "+3st"]
    listed = [12 * np.log2(float(row["pitch (Hz) measured"]) / 440.0) for row in rows]
    assert np.allclose(listed, pitches, atol=0.3), (listed, pitches)  # the CSV holds measurements


@pytest.mark.parametrize(
    ("case", "extra", "expected"),
    [
        ("unknown control", ["--vary", "pich=-3st:+3st:4"], "known controls: attack"),
        ("too many", ["--around", "0.5", "-n", "1000"], "above its limit 256"),
        ("grid too big", ["--vary", "pitch=-3st:+3st:20", "--vary", "pca1=-1:1:20"], "20 × 20"),
        ("not empty", ["--around", "0.5"], "not empty"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    demo_run, tmp_path, capsys, case, extra, expected
) -> None:
    out = tmp_path / "out"
    if case == "not empty":
        out.mkdir()
        (out / "mine.wav").write_bytes(b"keep")
    argv = ["generate", "pack", str(demo_run), "--sound", "pluck_0004.wav", *extra]
    assert main([*argv, "-o", str(out)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines
    if case == "not empty":
        assert [p.name for p in out.iterdir()] == ["mine.wav"]
        assert (out / "mine.wav").read_bytes() == b"keep"
    else:
        assert not out.exists()


def test_the_same_seed_renders_the_same_pack(demo_run) -> None:
    space = LatentSpace.open(demo_run / "bundle")
    first, again, other = (
        render_pack(space, PackRequest(sound=3, around=0.5, n=4, seed=seed)) for seed in (0, 0, 1)
    )
    assert all(np.array_equal(a.audio, b.audio) for a, b in zip(first, again, strict=True))
    assert not any(np.array_equal(a.audio, b.audio) for a, b in zip(first, other, strict=True))


def test_names_are_portable_and_unique() -> None:
    assert safe_name("Kick Ö/808:hard") == "Kick-O-808-hard"
    assert safe_name("..") == "sound" and safe_name("-x") == "x"
    assert unique_names(["a", "A", "a", "b"]) == ["a", "A_2", "a_3", "b"]
    from timbrespace.latent.settings import Setting

    assert offset_text(Setting("pitch", 0.0, True, "st"), -0.0) == "+0st"
    assert offset_text(Setting("attack", 0.0, False, "s"), 0.005) == "=5ms"
    assert offset_text(Setting("brightness", 0.0, True, "%"), 20.0) == "+20%"


def test_a_family_without_a_space_of_sounds_is_refused() -> None:
    model = types.SimpleNamespace(input_kind="f0_loudness", label="ddsp")
    with pytest.raises(CapabilityError, match="ddsp model is played from pitch and loudness"):
        check_pack_model(types.SimpleNamespace(model=model))  # type: ignore[arg-type]


def test_plot_colours_packs_as_the_studio_map(demo_run) -> None:
    found = re.search(r"const PALETTE = \[(.*?)\];", MAP_JS.read_text("utf-8"), re.DOTALL)
    assert found, "PALETTE not found in map.js"
    assert tuple(re.findall(r'"(#[0-9a-fA-F]{6})"', found[1])) == PACK_PALETTE
    import matplotlib.colors
    import matplotlib.pyplot as plt

    analysis = LatentSpace.open(demo_run / "bundle").analysis
    figure = latent_map_by_pack(analysis)
    try:
        collections = figure.axes[0].collections
        assert len(collections) == len(analysis.packs) == 8
        for i, points in enumerate(collections):
            colour = matplotlib.colors.to_hex(points.get_facecolor()[0], keep_alpha=False)
            assert colour == PACK_PALETTE[i]
    finally:
        plt.close(figure)
