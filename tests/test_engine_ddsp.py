"""The realtime engine playing an instrument model: live transfer from audio input, notes from
/note and MIDI, and the MIDI message mapping."""

from __future__ import annotations

import math

import numpy as np
import pytest

from timbrespace.engine import Engine
from timbrespace.engine.addresses import AddressError, parse_message
from timbrespace.engine.midi_in import midi_command
from timbrespace.space import LatentSpace

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def instrument(ddsp_run) -> LatentSpace:
    run, _ = ddsp_run
    return LatentSpace.open(run / "bundle")


def _pyin(audio: np.ndarray, sample_rate: int):
    import librosa

    f0, voiced, _ = librosa.pyin(
        audio, sr=sample_rate, fmin=100, fmax=1500, hop_length=256, resolution=0.05
    )
    return f0, voiced, librosa.times_like(f0, sr=sample_rate, hop_length=256)


def _play(engine: Engine, cues: list[tuple[float, str, list[float]]], seconds: float):
    for at, address, args in cues:
        command = engine.check(parse_message(address, list(args)))
        engine.schedule(int(at * engine.sample_rate) // engine.block, command)
    blocks = int(seconds * engine.sample_rate) // engine.block
    return np.concatenate([engine.render_block() for _ in range(blocks)], axis=1)[0]


def test_notes_play_in_tune_with_legato_and_release(instrument: LatentSpace):
    engine = Engine(instrument, 64, synchronous=True)
    assert engine.sources == ("input", "mix", "notes")
    cues = [
        (0.1, "/note", [69.0, 100.0]),
        (0.6, "/note", [72.0, 100.0]),  # pressed while A4 is held: legato
        (0.7, "/note", [69.0, 0.0]),
        (1.1, "/note", [72.0, 0.0]),
    ]
    out = _play(engine, cues, 1.6)
    sample_rate = engine.sample_rate
    f0, _, times = _pyin(out, sample_rate)
    for start, end, pitch in ((0.3, 0.55, 69), (0.8, 1.05, 72)):
        steady = np.nanmedian(f0[(times > start) & (times < end)])
        assert abs(1200 * math.log2(steady / (440 * 2 ** ((pitch - 69) / 12)))) < 10
    before = np.abs(out[: int(0.09 * sample_rate)]).max()
    after = np.abs(out[int(1.45 * sample_rate) :]).max()
    sounding = np.abs(out[int(0.2 * sample_rate) : int(1.0 * sample_rate)]).max()
    assert sounding > 0.02 and before < 1e-3 and after < 0.02 * sounding
    envelope = np.abs(out[: int(0.2 * sample_rate)]).reshape(-1, 32).max(axis=1)
    onset = np.argmax(envelope > 0.1 * envelope.max()) * 32 / sample_rate
    assert 0.1 <= onset < 0.1 + 0.01  # within 10 ms of the note-on


def test_live_input_is_played_by_the_instrument(instrument: LatentSpace, melody_cache):
    from timbrespace.data.cache import SoundCache

    engine = Engine(instrument, 128)
    cache = SoundCache(melody_cache)
    take = np.asarray(cache.audio[2, 0], dtype=np.float32)
    blocks = take.size // 128
    out = np.concatenate(
        [engine.render_block(take[None, i * 128 : (i + 1) * 128]) for i in range(blocks)], axis=1
    )[0]
    f0_in, voiced, _ = _pyin(take[: out.size], engine.sample_rate)
    f0_out, _, _ = _pyin(out, engine.sample_rate)
    both = voiced & np.isfinite(f0_out)
    assert both.mean() > 0.5
    cents = np.abs(1200 * np.log2(f0_out[both] / f0_in[both]))
    assert np.mean(cents < 50) > 0.8


def test_a_source_the_model_lacks_is_refused(instrument: LatentSpace):
    engine = Engine(instrument, 64, synchronous=True)
    with pytest.raises(AddressError, match="expected input, mix, notes"):
        engine.check(parse_message("/source", ["voices"]))


def test_midi_messages_become_note_commands():
    import mido

    on = midi_command(mido.Message("note_on", note=64, velocity=90))
    off = midi_command(mido.Message("note_off", note=64, velocity=30))
    silent_on = midi_command(mido.Message("note_on", note=64, velocity=0))
    assert on is not None and on.address == "/note" and on.args == (64.0, 90.0)
    assert off is not None and off.args == (64.0, 0.0)
    assert silent_on is not None and silent_on.args == (64.0, 0.0)
    reset = midi_command(mido.Message("control_change", control=123, value=0))
    assert reset is not None and reset.address == "/reset"
    assert midi_command(mido.Message("program_change", program=3)) is None
