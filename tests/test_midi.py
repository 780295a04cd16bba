"""MIDI files to DDSP control curves, with known answers: note times under tempo changes, f0 of
every note to 0.01 cents, bends, vibrato depth, the ADSR levels, legato and voice allocation,
and one-line errors naming the file. Files are written with mido at 500 ticks per beat, so at
the default 120 bpm one tick is exactly 1 ms."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import mido
import numpy as np
import pytest

from timbrespace.audio.midi import (
    Envelope,
    MidiError,
    Note,
    Score,
    Vibrato,
    check_pitch_range,
    frame_times,
    read_midi,
    render_seconds,
    split_voices,
    transpose,
    voice_curves,
)

TICKS_PER_BEAT = 500
Event = tuple[int, mido.Message | mido.MetaMessage]


def hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


def cents(f0: np.ndarray, reference: float | np.ndarray) -> np.ndarray:
    return 1200.0 * np.log2(np.asarray(f0, dtype=np.float64) / reference)


def peak(velocity: int, low: float = -40.0, high: float = -6.0) -> float:
    return low + (high - low) * (velocity - 1) / 126


def notes(*spec: tuple[int, int, int], velocity: int = 100, channel: int = 0) -> list[Event]:
    """Note-on/off events for `(start_ms, end_ms, pitch)` at 120 bpm (1 tick = 1 ms)."""
    events: list[Event] = []
    for start, end, pitch in spec:
        events.append(
            (start, mido.Message("note_on", note=pitch, velocity=velocity, channel=channel))
        )
        events.append((end, mido.Message("note_off", note=pitch, channel=channel)))
    return events


def write(path: Path, *tracks: list[Event]) -> Path:
    """A type-1 MIDI file with one track per list of `(tick, message)`; at equal ticks note-offs
    come first, otherwise the listed order is kept."""
    song = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    for events in tracks:
        track, now = mido.MidiTrack(), 0
        for tick, message in sorted(events, key=lambda e: (e[0], e[1].type != "note_off")):
            track.append(message.copy(time=tick - now))
            now = tick
        song.tracks.append(track)
    song.save(path)
    return path


SCALE = (60, 62, 64, 65, 67, 69, 71, 72)


def test_scale_times_and_f0_of_every_note(tmp_path: Path) -> None:
    path = write(
        tmp_path / "scale.mid", notes(*((500 * k, 500 * k + 500, p) for k, p in enumerate(SCALE)))
    )
    score = read_midi(path)
    assert [n.pitch for n in score.notes] == list(SCALE)
    np.testing.assert_allclose([n.start for n in score.notes], 0.5 * np.arange(8), atol=1e-3)
    np.testing.assert_allclose([n.end for n in score.notes], 0.5 * np.arange(1, 9), atol=1e-3)
    assert score.seconds == pytest.approx(4.0, abs=1e-3)
    voices = split_voices(score.notes)
    assert len(voices) == 1  # touching notes are one legato line
    middles = 0.5 * np.arange(8) + 0.25
    f0, loudness, voicing = voice_curves(voices[0], score.bends, middles)
    assert f0.dtype == loudness.dtype == voicing.dtype == np.float32
    assert np.abs(cents(f0, np.array([hz(p) for p in SCALE]))).max() < 0.01
    np.testing.assert_allclose(loudness, peak(100) - 6.0, atol=1e-4)  # sustain, no re-attack
    assert voicing.tolist() == [1.0] * 8


def test_tempo_change_is_honoured_across_tracks(tmp_path: Path) -> None:
    conductor: list[Event] = [
        (0, mido.MetaMessage("set_tempo", tempo=500_000)),
        (500, mido.MetaMessage("set_tempo", tempo=1_000_000)),  # 120 → 60 bpm after one beat
    ]
    path = write(
        tmp_path / "tempo.mid", conductor, notes((0, 500, 60), (500, 1000, 62), (1000, 1250, 64))
    )
    score = read_midi(path)
    starts_ends = [(n.start, n.end) for n in score.notes]
    np.testing.assert_allclose(starts_ends, [(0.0, 0.5), (0.5, 1.5), (1.5, 2.0)], atol=1e-3)


def test_velocity_zero_is_note_off_and_held_notes_end_at_last_event(tmp_path: Path) -> None:
    events: list[Event] = [
        (0, mido.Message("note_on", note=60, velocity=90)),
        (300, mido.Message("note_on", note=60, velocity=0)),
        (400, mido.Message("note_on", note=67, velocity=80)),  # never released
        (900, mido.Message("control_change", control=7, value=100)),
    ]
    score = read_midi(write(tmp_path / "zero.mid", events))
    assert [(n.pitch, n.velocity) for n in score.notes] == [(60, 90), (67, 80)]
    np.testing.assert_allclose(
        [(n.start, n.end) for n in score.notes], [(0, 0.3), (0.4, 0.9)], atol=1e-3
    )


def test_restruck_key_ends_the_held_note(tmp_path: Path) -> None:
    events: list[Event] = [
        (0, mido.Message("note_on", note=60, velocity=100)),
        (400, mido.Message("note_on", note=60, velocity=70)),
        (800, mido.Message("note_off", note=60)),
        (900, mido.Message("note_off", note=60)),  # stray: nothing held
    ]
    score = read_midi(write(tmp_path / "restrike.mid", events))
    got = [(n.start, n.end, n.velocity) for n in score.notes]
    np.testing.assert_allclose(got, [(0.0, 0.4, 100), (0.4, 0.8, 70)], atol=1e-3)
    assert len(split_voices(score.notes)) == 1


def test_chord_gives_three_voices_and_drums_are_dropped(tmp_path: Path) -> None:
    chord = notes((0, 1000, 60), (0, 1000, 64)) + notes((0, 1000, 67), channel=1)
    melody = notes((1000, 1500, 72), (1500, 2000, 71))
    drums = notes((0, 100, 36), (500, 600, 38), channel=9)
    score = read_midi(write(tmp_path / "chord.mid", chord + melody, drums))
    assert sorted(n.pitch for n in score.notes) == [60, 64, 67, 71, 72]
    voices = split_voices(score.notes)
    assert len(voices) == 3
    assert sorted(v[0].pitch for v in voices) == [60, 64, 67]
    top = next(v for v in voices if v[0].pitch == 67)
    assert [n.pitch for n in top] == [67, 72, 71]  # the melody continues the nearest voice
    assert all(a.end <= b.start for v in voices for a, b in zip(v, v[1:], strict=False))


def test_split_voices_legato_rule() -> None:
    def line(overlap: float) -> list[Note]:
        return [Note(0.5 * k, 0.5 * k + 0.5 + overlap, 60 + k, 100, 0) for k in range(6)]

    assert len(split_voices(line(0.02))) == 1
    assert len(split_voices(line(0.05))) == 1
    assert len(split_voices(line(0.1))) == 2  # overlaps longer than `legato` are polyphony
    assert len(split_voices(line(0.1), legato=0.2)) == 1
    # greedy by start, reusing the voice free first: C goes where A ended, 2 voices in all
    a, b, c = Note(0, 1, 60, 100, 0), Note(0, 2, 64, 100, 0), Note(1.5, 3, 67, 100, 0)
    assert split_voices([c, b, a]) == [(a, c), (b,)]
    assert split_voices([]) == []


def test_legato_line_has_no_dip_and_glides(tmp_path: Path) -> None:
    spec = ((0, 520, 60), (500, 1020, 64), (1000, 1520, 67), (1500, 2000, 72))  # 20 ms overlaps
    score = read_midi(write(tmp_path / "legato.mid", notes(*spec)))
    voices = split_voices(score.notes)
    assert len(voices) == 1 and len(voices[0]) == 4
    times = np.arange(1, 2400) / 1000.0
    f0, loudness, voicing = voice_curves(voices[0], score.bends, times, glide=0.03)
    sustain = peak(100) - 6.0
    held = (times >= 0.17) & (times < 2.0)
    assert loudness[held].min() == pytest.approx(sustain, abs=1e-3)  # no dip, no re-attack
    assert loudness[held].max() == pytest.approx(sustain, abs=1e-3)
    assert voicing[times < 2.149].min() == 1.0 and voicing[times > 2.151].max() == 0.0
    at = {round(t * 1000): float(c) for t, c in zip(times, cents(f0, hz(60)), strict=True)}
    assert at[500] == pytest.approx(0.0, abs=0.01)  # the glide starts at the note-on…
    assert at[515] == pytest.approx(200.0, abs=0.01)  # …moves in log frequency…
    assert at[530] == pytest.approx(400.0, abs=0.01)  # …and lands after `glide`
    # the same line detached (gaps of 60 ms) re-attacks every note
    detached = [Note(0.5 * k, 0.5 * k + 0.44, p, 100, 0) for k, p in enumerate((60, 64, 67, 72))]
    onsets = 0.5 * np.arange(4) + 0.01
    _, level, _ = voice_curves(detached, [], onsets)
    np.testing.assert_allclose(level, peak(100), atol=0.5)


def test_bends_move_f0_on_their_channel(tmp_path: Path) -> None:
    events = notes((0, 2000, 60)) + notes((0, 2000, 67), channel=1)
    events.append((1000, mido.Message("pitchwheel", pitch=8191, channel=0)))
    events.append((500, mido.Message("pitchwheel", pitch=-8192, channel=1)))
    path = write(tmp_path / "bend.mid", events)
    score = read_midi(path)
    assert [(b.time, b.channel, b.semitones) for b in score.bends] == [
        (0.5, 1, -2.0),
        (1.0, 0, 2.0),
    ]
    by_channel = {v[0].channel: v for v in split_voices(score.notes)}
    times = np.array([0.75, 1.5])
    f0, _, _ = voice_curves(by_channel[0], score.bends, times)
    assert cents(f0[1], f0[0]) == pytest.approx(200.0, abs=0.01)
    assert cents(f0[0], hz(60)) == pytest.approx(0.0, abs=0.01)
    f0, _, _ = voice_curves(by_channel[1], score.bends, times)
    np.testing.assert_allclose(cents(f0, hz(67)), -200.0, atol=0.01)
    wide = read_midi(path, bend_range=12.0)
    f0, _, _ = voice_curves([n for n in wide.notes if n.channel == 0], wide.bends, times)
    assert cents(f0[1], f0[0]) == pytest.approx(1200.0, abs=0.01)


def test_vibrato_depth_and_rate_measured_from_the_curve() -> None:
    note = Note(0.0, 3.0, 69, 100, 0)
    times = np.arange(1, 3000) / 1000.0
    vibrato = Vibrato(rate=5.5, depth_cents=30.0, delay=0.2)
    f0, _, _ = voice_curves([note], [], times, vibrato=vibrato)
    deviation = cents(f0, 440.0)
    assert np.abs(deviation[times < 0.2]).max() < 1e-3  # nothing before the delay
    steady = deviation[(times >= 0.5) & (times < 2.9)]
    assert steady.max() == pytest.approx(30.0, abs=0.1)
    assert steady.min() == pytest.approx(-30.0, abs=0.1)
    rising = np.flatnonzero((steady[:-1] < 0) & (steady[1:] >= 0))  # upward zero crossings
    assert 1000.0 / np.diff(rising).mean() == pytest.approx(5.5, abs=0.05)


def test_envelope_levels_and_voicing() -> None:
    envelope = Envelope(attack=0.01, decay=0.15, sustain_db=-6.0, release=0.15)
    note = Note(0.1, 1.1, 60, 100, 0)
    times = np.array([0.05, 0.1, 0.102, 0.105, 0.11, 0.185, 0.26, 0.8, 1.1, 1.175, 1.26, 1.5])
    _, level, voicing = voice_curves([note], [], times, envelope=envelope)
    top, sustain = peak(100), peak(100) - 6.0
    expected = [
        -80,
        -80,
        None,
        None,
        top,
        top - 3,
        sustain,
        sustain,
        sustain,
        (sustain - 80) / 2,
        -80,
        -80,
    ]
    for got, want in zip(level, expected, strict=True):
        if want is not None:
            assert got == pytest.approx(want, abs=0.01)
    assert level[4] == pytest.approx(top, abs=0.5)  # note-on + attack reaches the peak
    assert level[2] > top - 15 and level[3] > top - 7  # audible 2 ms after note-on
    assert voicing.tolist() == [0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]
    dense = np.arange(1, 1500) / 1000.0
    _, level, _ = voice_curves([note], [], dense, envelope=envelope)
    assert level.max() == pytest.approx(top, abs=0.01)
    loud = voice_curves([Note(0, 1, 60, 127, 0)], [], np.array([0.01]))[1]
    soft = voice_curves([Note(0, 1, 60, 1, 0)], [], np.array([0.01]), loudness_range=(-50, -10))[1]
    assert (loud[0], soft[0]) == (pytest.approx(-6.0, abs=1e-4), pytest.approx(-50.0, abs=1e-4))


def test_release_starts_from_the_current_level() -> None:
    short = Note(0.0, 0.004, 60, 100, 0)  # ends during the attack
    times = np.arange(1, 3000) / 10_000.0  # 0.1 ms grid
    _, level, _ = voice_curves([short], [], times)
    at_end = level[np.argmin(np.abs(times - 0.004))]
    assert at_end < peak(100) - 3
    assert np.abs(np.diff(level[times >= 0.004])).max() < 0.1  # no jump, falls from there
    assert level[np.argmin(np.abs(times - 0.004 - 0.075))] == pytest.approx(
        (at_end - 80) / 2, abs=0.1
    )


def test_reattack_starts_from_what_is_left_of_the_release() -> None:
    voice = [Note(0.0, 0.5, 60, 100, 0), Note(0.55, 1.0, 62, 60, 0)]  # 50 ms gap < release
    times = np.array([0.5, 0.5499, 0.55, 0.5501, 0.56])
    _, level, voicing = voice_curves(voice, [], times)
    left = (peak(100) - 6.0) + (-80.0 - (peak(100) - 6.0)) * 0.05 / 0.15
    assert level[1] == pytest.approx(left, abs=0.05)  # 0.1 ms before the note-on…
    assert level[2] == pytest.approx(left, abs=0.01)  # …and at it: no drop to the floor
    assert level[3] > left and level[4] == pytest.approx(peak(60), abs=0.01)
    assert voicing.tolist() == [1.0] * 5


def test_f0_holds_through_silence() -> None:
    voice = [Note(0.5, 1.0, 60, 100, 0), Note(2.0, 2.5, 67, 100, 0)]
    times = np.array([0.1, 0.75, 1.1, 1.5, 1.99, 2.25, 3.0])
    f0, _, voicing = voice_curves(voice, [], times)
    want = [hz(60)] * 5 + [hz(67)] * 2
    assert np.abs(cents(f0, np.array(want))).max() < 0.01
    assert voicing.tolist() == [0, 1, 1, 0, 0, 1, 0]


def test_transpose_and_pitch_range() -> None:
    score = Score((Note(0, 1, 62, 100, 0), Note(1, 2, 86, 100, 0)), (), 2.0)
    up = transpose(score, 24)
    assert [n.pitch for n in up.notes] == [86, 110] and up.seconds == 2.0
    check_pitch_range(score, 26, 107, "song.mid")
    with pytest.raises(MidiError) as caught:
        check_pitch_range(up, 26, 107, "song.mid after --octave 2")
    message = str(caught.value)
    assert message == (
        "song.mid after --octave 2: notes reach MIDI 110 (D8); "
        "the playable range is MIDI 26–107 (D1–B7)"
    )
    down = transpose(score, -48)
    with pytest.raises(MidiError, match=r": notes reach MIDI 14 \(D0\);.* MIDI 26\.5–107 "):
        check_pitch_range(down, 26.5, 107, "x.mid")
    wide = Score((Note(0, 1, 20, 100, 0), Note(1, 2, 110, 100, 0)), (), 2.0)
    with pytest.raises(MidiError, match=r"reach MIDI 20 \(G#0\) and 110 \(D8\);"):
        check_pitch_range(wide, 26, 107, "x.mid")


def test_frame_times_cover_the_render(tmp_path: Path) -> None:
    times = frame_times(2.0, 16000, 64)
    assert times[0] == pytest.approx(64 / 16000)
    assert len(times) == 500 and times[-1] == pytest.approx(2.0)
    np.testing.assert_allclose(np.diff(times), 0.004)
    assert len(frame_times(2.001, 16000, 64)) == 501
    score = read_midi(write(tmp_path / "one.mid", notes((0, 1000, 60))))
    seconds = render_seconds(score)
    assert seconds == pytest.approx(1.25)
    times = frame_times(seconds, 22050, 256)
    curves = voice_curves(score.notes, score.bends, times)
    assert all(c.shape == times.shape and np.isfinite(c).all() for c in curves)
    assert curves[2][-1] == 0.0 and curves[1][-1] == pytest.approx(-80.0)
    with pytest.raises(ValueError):
        frame_times(1.0, 16000, 0)
    with pytest.raises(ValueError, match="increasing"):
        voice_curves(score.notes, score.bends, times[::-1])


def midi_bytes(tmp_path: Path) -> bytes:
    return write(tmp_path / "whole.mid", notes((0, 500, 60), (500, 1000, 62))).read_bytes()


@pytest.mark.parametrize(
    ("name", "make", "words"),
    [
        ("missing.mid", None, "no such file"),
        ("text.mid", lambda tmp: b"this is not MIDI\nat all\n", "not a MIDI file"),
        ("truncated.mid", lambda tmp: midi_bytes(tmp)[:30], "corrupt MIDI file (truncated)"),
        ("garbled.mid", lambda tmp: midi_bytes(tmp)[:23] + b"\xff\xf4" * 8, "corrupt MIDI file"),
        ("tempo.mid", None, "no notes"),
        ("drums.mid", None, "no notes (only drums"),
    ],
)
def test_errors_are_one_line_naming_the_file(
    tmp_path: Path, name: str, make: Callable[[Path], bytes] | None, words: str
) -> None:
    path = tmp_path / name
    if make is not None:
        path.write_bytes(make(tmp_path))
    elif name == "tempo.mid":
        write(path, [(0, mido.MetaMessage("set_tempo", tempo=400_000))])
    elif name == "drums.mid":
        write(path, notes((0, 100, 36), channel=9))
    with pytest.raises(MidiError) as caught:
        read_midi(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and words in message and "\n" not in message


def test_a_folder_is_not_a_midi_file(tmp_path: Path) -> None:
    with pytest.raises(MidiError, match=f"^{tmp_path}: cannot read \\(is a folder\\)$"):
        read_midi(tmp_path)
