"""`generate transfer` and `generate midi` on an instrument model, as a user meets them: the
fitted octave, the notices for input that does not track, and one-line errors."""

from __future__ import annotations

import math
from pathlib import Path

import lightning.pytorch  # noqa: F401 - binds its log handler before capsys (see test_cli_bad_input)
import mido
import numpy as np
import pytest
import soundfile as sf

from timbrespace.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundle(ddsp_run) -> Path:
    return ddsp_run[0] / "bundle"


def _sine(path: Path, f0: float, seconds: float = 1.0, rate: int = 16000) -> Path:
    t = np.arange(int(rate * seconds)) / rate
    sf.write(path, (0.3 * np.sin(2 * np.pi * f0 * t)).astype(np.float32), rate)
    return path


def _song(path: Path, notes: list[tuple[int, float, float]]) -> Path:
    """Notes (pitch, start s, end s) as a MIDI file at 120 bpm, 500 ticks per beat (1 ms)."""
    song = mido.MidiFile(ticks_per_beat=500)
    track = mido.MidiTrack()
    song.tracks.append(track)
    events = sorted(
        [(start, "note_on", p) for p, start, _ in notes]
        + [(end, "note_off", p) for p, _, end in notes]
    )
    now = 0
    for at, kind, pitch in events:
        ticks = round(at * 1000)
        track.append(mido.Message(kind, note=pitch, velocity=100, time=ticks - now))
        now = ticks
    song.save(path)
    return path


def _f0(path: Path) -> float:
    import librosa

    audio, rate = sf.read(path, dtype="float32")
    f0, voiced, _ = librosa.pyin(audio, sr=rate, fmin=60, fmax=2000, resolution=0.05)
    return float(np.nanmedian(f0[voiced]))


def test_transfer_fits_the_octave_and_says_so(bundle: Path, tmp_path: Path, capsys):
    low = _sine(tmp_path / "low.wav", 110.0)
    out = tmp_path / "out.wav"
    assert main(["generate", "transfer", str(bundle), str(low), "-o", str(out)]) == 0
    said = capsys.readouterr().out
    octaves = int(said.split("played ")[1].split(" octave")[0])
    assert octaves >= 1  # the melodies were trained two or more octaves above 110 Hz
    assert abs(1200 * math.log2(_f0(out) / (110.0 * 2**octaves))) < 25
    manual = tmp_path / "manual.wav"
    args = ["generate", "transfer", str(bundle), str(low), "-o", str(manual), "--octave", "0"]
    assert main([*args, "--reverb", "0"]) == 0
    assert abs(1200 * math.log2(_f0(manual) / 110.0)) < 25


def test_silent_and_polyphonic_input_render_with_a_notice(bundle: Path, tmp_path: Path, capsys):
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, dtype=np.float32), 16000)
    assert (
        main(["generate", "transfer", str(bundle), str(silent), "-o", str(tmp_path / "a.wav")]) == 0
    )
    said = capsys.readouterr()
    assert "0% of frames are voiced" in said.err and "loudness +0.0 dB" in said.out
    t = np.arange(16000) / 16000
    chord = sum(np.sin(2 * np.pi * f * t) for f in (261.6, 311.1, 370.0, 466.2)) * 0.1
    noisy = np.random.default_rng(0).normal(0, 0.1, 16000) + chord
    sf.write(tmp_path / "chord.wav", noisy.astype(np.float32), 16000)
    out = tmp_path / "b.wav"
    assert (
        main(["generate", "transfer", str(bundle), str(tmp_path / "chord.wav"), "-o", str(out)])
        == 0
    )
    assert "% voiced" in capsys.readouterr().out
    assert np.isfinite(sf.read(out)[0]).all()


def test_midi_renders_notes_in_tune(bundle: Path, tmp_path: Path):
    song = _song(tmp_path / "a.mid", [(72, 0.1, 0.6)])
    out = tmp_path / "song.wav"
    assert main(["generate", "midi", str(bundle), str(song), "-o", str(out)]) == 0
    assert abs(1200 * math.log2(_f0(out) / 523.25)) < 10
    chord = _song(tmp_path / "chord.mid", [(67, 0.1, 0.6), (71, 0.1, 0.6), (74, 0.1, 0.6)])
    assert main(["generate", "midi", str(bundle), str(chord), "-o", str(tmp_path / "c.wav")]) == 0


@pytest.mark.parametrize(
    "case, expected",
    [
        ("octave9", "at most 4 octaves"),
        ("octave_word", "expected a whole number of octaves or auto"),
        ("no_notes", "no notes"),
        ("corrupt", "not a MIDI file"),
        ("midi_range", "playable range"),
        ("oneshot_octave", "not played from pitch and loudness"),
        ("oneshot_midi", "not played from pitch and loudness"),
    ],
)
def test_bad_input_gets_one_line(
    case: str, expected: str, bundle: Path, tmp_path: Path, capsys, request: pytest.FixtureRequest
):
    tone = str(_sine(tmp_path / "tone.wav", 220.0))
    out = str(tmp_path / "out.wav")
    empty = tmp_path / "empty.mid"
    song = mido.MidiFile()
    song.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000)]))
    song.save(empty)
    (tmp_path / "text.mid").write_text("hello")
    high = _song(tmp_path / "high.mid", [(120, 0.0, 0.5)])
    commands = {
        "octave9": ["transfer", str(bundle), tone, "-o", out, "--octave", "9"],
        "octave_word": ["transfer", str(bundle), tone, "-o", out, "--octave", "up"],
        "no_notes": ["midi", str(bundle), str(empty), "-o", out],
        "corrupt": ["midi", str(bundle), str(tmp_path / "text.mid"), "-o", out],
        "midi_range": ["midi", str(bundle), str(high), "-o", out],
    }
    if case.startswith("oneshot"):
        other = str(request.getfixturevalue("trained")[0] / "bundle")
        capsys.readouterr()  # the fixture's training notes, when it trains here
        commands[case] = (
            ["transfer", other, tone, "-o", out, "--octave", "1"]
            if case == "oneshot_octave"
            else ["midi", other, str(high), "-o", out]
        )
    try:
        code = main(["generate", *commands[case]])
    except SystemExit as exit_:  # argparse refuses a malformed command line
        code = exit_.code
    err = capsys.readouterr().err.strip()
    assert code in (1, 2)
    last = err.splitlines()[-1]  # argparse prints its usage first
    assert expected in last and (code == 2 or len(err.splitlines()) == 1), err
    assert not Path(out).exists()
