"""Loudness by construction: the one-shot synth's final gain (`models.oneshot_gain`), its stage
(`render_stages.gain_stage`), and a locked loudness put back by it after the secant loop
(`space_staged`)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from timbrespace.audio.io import within_full_scale
from timbrespace.latent.control import Control
from timbrespace.latent.settings import Setting
from timbrespace.models.oneshot_gain import (
    GAIN_DB_PER_UNIT,
    GAIN_LIMIT_DB,
    GAIN_REFERENCE_DB,
    gain_db,
    gain_target,
)
from timbrespace.render_stages import (
    LOUDNESS_DESCRIPTOR,
    fade_stage,
    gain_stage,
    level_miss,
    tilt_stage,
)
from timbrespace.space_history import LoopHistory
from timbrespace.space_loop import LEVEL_TOLERANCE_DB, RenderMemo, tolerance
from timbrespace.space_staged import staged_move
from timbrespace.stage_search import ReadoutSearch

from .test_space_readout import SynthSpace, measurer, tiny_synth


def test_the_gain_is_soft_limited_and_its_target_is_the_loudness_above_the_reference() -> None:
    assert float(gain_db(torch.tensor(6.0))) == pytest.approx(6.0, abs=0.03)
    assert float(gain_db(torch.tensor(1e4))) == pytest.approx(GAIN_LIMIT_DB)
    t = torch.arange(16000) / 16000
    sine = (0.1 * torch.sin(2 * math.pi * 1000 * t)).reshape(1, 1, -1)  # 1 kHz: A-weight 0 dB
    wanted = float(gain_target(sine, 16000)[0])
    assert GAIN_DB_PER_UNIT * wanted + GAIN_REFERENCE_DB == pytest.approx(-20.0, abs=0.2)
    assert level_miss(np.array([-20.0, -19.0]), -20.0) == pytest.approx([0.0, math.log(10) / 20])
    assert tolerance(Control("loudness", torch.ones(2), unit="dB"), -44.0) == LEVEL_TOLERANCE_DB


def test_a_move_along_the_gain_readout_scales_the_render_and_nothing_else() -> None:
    """+9 dB along the gain's readout: the render is the same sound 9 dB louder (the loudness
    measures the gain's change to 0.02 dB, the centroid does not move), and the stage's candidates from one bare
    decode are the model's renders (so a search needs no decode)."""
    model = tiny_synth(envelope="both", tilt=True, gain=True)
    stage = gain_stage(model, 0.5)
    assert stage is not None and stage.exact and gain_stage(tiny_synth(), 0.5) is None
    assert stage.free and not tilt_stage(model, 0.5).free  # type: ignore[union-attr]
    rate = model.config.sample_rate
    z = torch.randn(2, model.latent_dim, 1, dtype=torch.float64)
    with torch.no_grad():
        before = model.decode(z).numpy()
        louder = model.decode(stage.readout.at(z, stage.readout.value(z) + 9.0)).numpy()
        bare = model.decode(stage.bare(z)).numpy()
    loudness, centroid = measurer("loudness", rate), measurer("centroid", rate)
    now = stage.readout.value(z)
    gained = (gain_db(now + 9.0) - gain_db(now)).numpy()  # 9 dB, less the soft limit's bend
    assert gained == pytest.approx(9.0, abs=0.2)
    for b in range(2):
        assert loudness(louder[b]) - loudness(before[b]) == pytest.approx(gained[b], abs=0.02)
        assert centroid(louder[b]) == pytest.approx(centroid(before[b]), rel=1e-3)
        value = float(stage.readout.value(z[b : b + 1])[0])
        expected = stage.candidates(bare[b], np.array([value]), z[b : b + 1])[0]
        peak = float(np.abs(before[b]).max())
        np.testing.assert_allclose(np.clip(before[b], -1, 1), expected, atol=1e-6 * peak)


class LevelSpace(SynthSpace):
    """`SynthSpace` with a pitch the secant loop sets and a loudness the gain sets."""

    def __init__(self, model) -> None:  # noqa: ANN001
        super().__init__(model)
        pitch_w, pitch_b = model.pitch_readout()
        level_w, level_b = model.descriptor_readouts()[LOUDNESS_DESCRIPTOR]
        self.controls["pitch"] = Control("pitch", pitch_w, pitch_b, "Hz", "semitones")
        self.controls["loudness"] = Control("loudness", level_w, level_b, "dB", "linear")

    def descriptor_of(self, name: str) -> str | None:
        names = {"pitch": "f0", "loudness": LOUDNESS_DESCRIPTOR}
        return names.get(name) or super().descriptor_of(name)


def test_a_locked_loudness_is_put_back_by_the_gain_after_the_secant_loop() -> None:
    """The tiny synth's 203 Hz sound an octave down with the loudness free is 17 dB louder;
    locked, the secant loop moves the pitch alone and the gain puts the loudness back within
    0.42 dB without a decode of its own."""
    space = LevelSpace(tiny_synth(envelope="both", tilt=True, gain=True))
    pitch, loudness = space.controls["pitch"], space.controls["loudness"]
    torch.manual_seed(3)
    z = torch.randn(1, space.model.latent_dim, 1, dtype=torch.float64)
    level, f0 = measurer("loudness", space.rate), measurer("f0", space.rate)
    start_db, start_hz = level(space.render(z)[0]), f0(space.render(z)[0])
    setting = [Setting("pitch", -12.0, True, "st")]
    targets = pitch.value(z).reshape(1, 1, 1) - 12.0

    def move(locked: list[Control]):  # noqa: ANN202
        memo = RenderMemo(space.render, space.measure, space.descriptor_of)
        return staged_move(space, memo, LoopHistory(), z, setting, [pitch], locked, targets)

    free, held = move([]), move([loudness])
    assert level(free.audio[0]) - start_db > 10.0
    assert level(held.audio[0]) == pytest.approx(start_db, abs=LEVEL_TOLERANCE_DB)
    assert f0(held.audio[0]) == pytest.approx(start_hz / 2, rel=0.01)
    assert held.renders - free.renders <= 1  # the gain's start sound; its own search decodes none
    assert "loudness" not in held.unreached
    assert held.got is not None and float(held.got[0, 1]) == pytest.approx(
        level(held.audio[0]), abs=1e-6
    )


def test_locks_alone_leave_the_sound_as_it_is() -> None:
    """A move that sets nothing and locks stage controls (`generate control --sweep … --lock
    attack loudness`: the sweep's start) keeps the start latent and renders it once; it failed
    an assertion before."""
    space = LevelSpace(tiny_synth(envelope="both", tilt=True, gain=True))
    z = torch.randn(1, space.model.latent_dim, 1, dtype=torch.float64)
    memo = RenderMemo(space.render, space.measure, space.descriptor_of)
    locked = [space.controls["loudness"], space.controls["pitch"]]
    empty = torch.zeros(1, 0, 1, dtype=torch.float64)
    moved = staged_move(space, memo, LoopHistory(), z, [], [], locked, empty)
    assert torch.equal(moved.z_new, z.float())
    assert moved.audio is not None
    np.testing.assert_allclose(moved.audio, space.render(z), atol=1e-6)
    assert moved.renders == 1 and not moved.unreached


def test_every_stage_s_candidates_are_the_decoder_s_renders() -> None:
    """The tilt's and the fade-in's candidates, made from one bare decode, are the decoder's
    renders of the latent moved along their readouts (to 1e-3 of the peak: float32 rounding of
    the moved latent), so a search of either need not decode its result (`Stage.exact`)."""
    model = tiny_synth(envelope="both", tilt=True, gain=True)
    torch.manual_seed(5)
    z = torch.randn(2, model.latent_dim, 1, dtype=torch.float64)
    for stage in (tilt_stage(model, 0.5), fade_stage(model, 0.5)):
        assert stage is not None and stage.exact
        with torch.no_grad():
            bare = model.decode(stage.bare(z)).float().numpy()
        for b in range(2):
            values = stage.grid[[1, len(stage.grid) // 2, -2]]
            made = stage.candidates(bare[b], values, z[b : b + 1])
            for value, candidate in zip(values, made, strict=True):
                moved = stage.readout.at(z[b : b + 1], torch.tensor([value]))
                with torch.no_grad():
                    decoded = within_full_scale(model.decode(moved).float().numpy())[0]
                peak = float(np.abs(decoded).max())
                np.testing.assert_allclose(candidate, decoded, atol=1e-3 * peak)


def test_a_stage_gives_the_next_stage_s_bare_render_without_a_decode() -> None:
    """The tilt's bare render tilted to the latent's own slope is the fade-in's bare render
    (`Stage.passed`, to 1e-3 of the peak), and a fade-in search fed from the tilt's search
    (`ReadoutSearch.upstream`) places an attack without a decode of its own."""
    model = tiny_synth(envelope="both", tilt=True, gain=True)
    tilt, fade = tilt_stage(model, 0.5), fade_stage(model, 0.5)
    assert tilt is not None and fade is not None and tilt.passed is not None
    torch.manual_seed(6)
    z = torch.randn(1, model.latent_dim, 1, dtype=torch.float64)

    def render(latents: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return model.decode(latents.double()).float().numpy()

    expected = render(fade.bare(z))[0]
    made = tilt.passed(render(tilt.bare(z))[0], z)
    np.testing.assert_allclose(made, expected, atol=1e-3 * float(np.abs(expected).max()))
    rate = model.config.sample_rate
    tilts = ReadoutSearch(tilt, render, measurer("centroid", rate))
    tilts.start_values(z)  # the tilt's bare render, remembered: one decode
    fades = ReadoutSearch(fade, render, measurer("attack_time", rate), upstream=tilts.known_next)
    now = fades.start_values(z)
    fades.settle(z, now * 2.0, near=True)
    assert (tilts.decodes, fades.decodes) == (1, 0)


def test_a_loudness_search_lands_within_a_fifth_of_a_db() -> None:
    model = tiny_synth(envelope="both", tilt=True, gain=True)
    stage = gain_stage(model, 0.5)
    assert stage is not None

    def render(z: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return model.decode(z.double()).float().numpy()

    search = ReadoutSearch(stage, render, measurer("loudness", model.config.sample_rate))
    z = torch.randn(3, model.latent_dim, 1, dtype=torch.float64)
    now = search.start_values(z)
    wanted = now + np.array([-12.0, 3.0, 7.5])
    _, audio = search.settle(z, wanted, near=True)
    got = np.array([search.measure(a) for a in audio])
    np.testing.assert_allclose(got, wanted, atol=0.22)
    assert search.decodes == 1  # the bare renders; the settled renders are its candidates


def test_a_loudness_beyond_full_scale_stops_the_gain_where_the_peak_reaches_it() -> None:
    """Asked 40 dB louder than it is, a sound is rendered as loud as full scale lets it, and
    its gain stops there: the decoder's own render peaks at full scale, not 20 dB beyond."""
    model = tiny_synth(envelope="both", tilt=True, gain=True)
    stage = gain_stage(model, 0.5)
    assert stage is not None

    def render(z: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return np.clip(model.decode(z.double()).float().numpy(), -1, 1)

    search = ReadoutSearch(stage, render, measurer("loudness", model.config.sample_rate))
    z = torch.randn(1, model.latent_dim, 1, dtype=torch.float64)
    placed = search.place(z, search.start_values(z) + 40.0, near=True)
    with torch.no_grad():
        peak = float(model.decode(placed).abs().max())
    assert peak == pytest.approx(1.0, abs=1e-3)
