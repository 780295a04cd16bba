"""The attack and the brightness set by search over a model's render stages
(`timbrespace.space_readout`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
import torch

from timbrespace.audio.descriptors import DescriptorSettings, compute_descriptors
from timbrespace.latent.control import Control
from timbrespace.latent.settings import Setting
from timbrespace.models.base import build_model
from timbrespace.models.oneshot import ONESHOT_PRESETS, OneShotConfig
from timbrespace.models.oneshot_envelope import fade_in
from timbrespace.models.oneshot_tilt import spectral_tilt
from timbrespace.render_stages import (
    GRID_HIGH_S,
    GRID_LOW_S,
    UNFADED_LOG_S,
    Readout,
    fade_stage,
    tilt_stage,
)
from timbrespace.space_readout import readout_move, readout_sweep
from timbrespace.space_staged import staged_move
from timbrespace.stage_search import MEMORY, Locks, ReadoutSearch, closest_setting

RATE = 16000


def test_closest_setting_bisects_where_the_measurement_crosses_the_request() -> None:
    """Readout ln s of a fade; a measurement of 0.9 × the fade reaches 3 ms at a fade of
    3.33 ms, between grid points 2 and 4 ms; in a gap (nothing measures between 5.4 and 9 ms)
    7 ms gets the edge closest in ratio, 9 ms."""

    def measure(log_s: float) -> float:
        fade_s = math.exp(log_s)
        return 0.9 * fade_s if fade_s < 0.006 else 1.5 * fade_s

    grid = np.log([0.001, 0.002, 0.004, 0.008, 0.016])
    measured = np.array([measure(v) for v in grid])
    value, got = closest_setting(0.003, grid, measured, measure)
    assert got == pytest.approx(0.003, rel=0.01)
    assert math.exp(value) == pytest.approx(0.003 / 0.9, rel=0.01)
    value, got = closest_setting(0.007, grid, measured, measure)
    assert (math.exp(value), got) == pytest.approx((0.006, 0.009), rel=0.01)
    nothing = np.full(grid.size, math.nan)
    assert closest_setting(0.003, grid, nothing, measure)[0] == grid[0]


def test_a_readout_move_changes_only_the_readout() -> None:
    fade = Readout(torch.tensor([0.0, 2.0, 0.0], dtype=torch.float64), -6.0)
    z = torch.tensor([[[1.0], [0.5], [3.0]]], dtype=torch.float64)
    moved = fade.at(z, torch.tensor([math.log(0.004)]))
    assert float(fade.value(moved)[0]) == pytest.approx(math.log(0.004))
    assert moved[0, [0, 2], 0].tolist() == [1.0, 3.0]


class FadedTone:
    """A 'model' whose render is a 440 Hz tone faded in by its attack readout (`z[0]` ln s)."""

    def descriptor_readouts(self) -> dict[str, tuple[torch.Tensor, float]]:
        return {"attack_time": (torch.tensor([1.0, 0.0], dtype=torch.float64), 0.0)}

    def attack_fade(self, samples: int, attack_s: torch.Tensor) -> torch.Tensor:
        return fade_in(samples, attack_s, RATE)


def measurer(descriptor: str, rate: int = RATE):  # noqa: ANN201
    settings = DescriptorSettings(sample_rate=rate)
    return lambda audio: compute_descriptors(audio, settings, [descriptor]).value(descriptor)


def _synthetic_search() -> tuple[ReadoutSearch, list[int]]:
    """A search over `FadedTone`'s fade, and a counter of its renders; the attack is measured
    by the descriptor."""
    stage = fade_stage(FadedTone(), 0.5)
    assert stage is not None
    t = np.arange(RATE // 2) / RATE
    tone = (0.5 * np.sin(2 * np.pi * 440 * t) * np.exp(-t / 0.2)).astype(np.float32)
    renders = [0]

    def render(z: torch.Tensor) -> np.ndarray:
        renders[0] += 1
        gains = fade_in(tone.size, stage.readout.value(z.double()).exp(), RATE).numpy()
        return (tone[None, None, :] * gains[:, None, :]).astype(np.float32)

    return ReadoutSearch(stage, render, measurer("attack_time")), renders


def test_an_attack_move_measures_the_request_in_one_render() -> None:
    """The descriptor reads a 440 Hz tone's 3 ms fade as 2.8 ms (its 1 ms envelope); the search
    sets the fade so that the render measures 3 ms, in one decode (the unfaded render: the
    fades of it are the decoder's renders, so the result is not decoded again, and is the
    decoder's render of the moved latent); a relative request is taken
    from the start's measured attack; 0.45 s is more than a tone decaying in 0.2 s can measure, and is said."""
    search, renders = _synthetic_search()
    control = Control("attack", torch.tensor([1.0, 0.0]), unit="s", scale="log")
    z = torch.tensor([[[math.log(0.001)], [0.0]]], dtype=torch.float64)
    assert (
        search.measure(
            search.render(search.stage.readout.at(z, torch.tensor([math.log(0.003)])))[0]
        )
        < 0.00285
    )
    renders[0] = 0
    moved = readout_move(
        search,
        z,
        Setting("attack", 0.003, False, "s"),
        control,
        torch.full((1, 1), math.log(0.003)),
    )
    assert search.measure(moved.audio[0]) == pytest.approx(0.003, rel=0.05)
    assert (renders[0], moved.renders, moved.unreached) == (1, 1, [])
    decoded = search.render(moved.z_new.double())[0]
    assert np.abs(moved.audio[0] - decoded).max() <= 1e-3 * np.abs(decoded).max()
    start_s = search.measure(search.render(z)[0])
    double = readout_move(
        search, z, Setting("attack", 100.0, True, "%"), control, torch.zeros(1, 1)
    )
    assert search.measure(double.audio[0]) == pytest.approx(2 * start_s, rel=0.05)
    low = readout_move(
        search, z, Setting("attack", 0.45, False, "s"), control, torch.full((1, 1), math.log(0.45))
    )
    assert low.unreached == ["attack"] and "attack: asked 450 ms" in low.warnings[0]
    shortest, longest = search.reach(z)[0]
    assert shortest < 0.001 and 0.05 < longest < 0.45
    rendered = low.warnings[0].split(", renders ")[1].split(" (")[0]  # the longest it renders
    assert "(this sound renders " in low.warnings[0] and low.warnings[0].endswith(f" – {rendered})")


def test_an_attack_sweep_shares_one_unfaded_render() -> None:
    search, renders = _synthetic_search()
    control = Control("attack", torch.tensor([1.0, 0.0]), unit="s", scale="log")
    z = torch.tensor([[[math.log(0.001)], [0.0]]], dtype=torch.float64)
    targets = np.log([0.002, 0.004, 0.008, 0.016]).tolist()
    _, audio, unreached, notes = readout_sweep(search, z, control, targets)
    measured = [search.measure(a) for a in audio]
    np.testing.assert_allclose(measured, np.exp(targets), rtol=0.05)
    assert (renders[0], unreached, notes) == (1, [False] * 4, [])
    _, _, unreached, notes = readout_sweep(search, z, control, [*targets, math.log(0.45)])
    assert unreached == [False] * 4 + [True]
    assert (
        "1 of 5 steps render outside" in notes[0] and "; 1 ask beyond what it renders" in notes[0]
    )


def tiny_synth(**options: object):  # noqa: ANN201
    """An untrained tiny one-shot synth in float64 (float32 adds 1e-3 of rounding)."""
    torch.manual_seed(0)
    config = OneShotConfig(**{**ONESHOT_PRESETS["tiny"], **options})  # type: ignore[arg-type]
    return build_model("oneshot", config).eval().double()


def test_the_synths_render_at_an_attack_is_its_unfaded_render_faded_in() -> None:
    """The contract `space_readout` relies on: moving along the attack readout changes the
    render by the fade-in gain alone."""
    model = tiny_synth(envelope="both", tilt=True)
    stage = fade_stage(model, 0.5)
    assert stage is not None and fade_stage(tiny_synth(), 0.5) is None
    z = torch.randn(3, model.latent_dim, 1, dtype=torch.float64)
    attacks = torch.tensor([0.0005, 0.004, 0.03], dtype=torch.float64)
    with torch.no_grad():
        unfaded = model.decode(stage.bare(z))
        faded = model.decode(stage.readout.at(z, attacks.log()))
    gains = fade_in(unfaded.shape[-1], attacks, model.config.sample_rate)
    peak = float(unfaded.abs().max())
    torch.testing.assert_close(faded, unfaded * gains[:, None, :], atol=1e-9 * peak, rtol=0.0)
    assert float((faded - unfaded)[2, :, :300].abs().max()) > 0.1 * peak  # the 30 ms fade
    assert math.exp(stage.grid[0]) == pytest.approx(GRID_LOW_S)
    assert math.exp(stage.grid[-1]) == pytest.approx(min(0.5, GRID_HIGH_S))
    assert stage.readout.at(z, torch.full((3,), UNFADED_LOG_S)).equal(stage.bare(z))


def test_a_tilt_of_one_multiplies_the_gain_by_two_per_octave_and_keeps_the_loudness() -> None:
    """Sines at 250 Hz and 4 kHz (4 octaves apart): a tilt readout of r gives slope
    a = 4 tanh(r / 4), the 4 kHz sine's amplitude grows by 2^(4a) against the 250 Hz one's, and
    every frame keeps its A-weighted power (the loudness); readout 0 changes nothing."""
    rate = 16000
    t = np.arange(rate) / rate
    tones = 0.3 * np.sin(2 * np.pi * 250 * t) + 0.3 * np.sin(2 * np.pi * 4000 * t)
    audio = torch.from_numpy(tones).view(1, 1, -1)
    raw = 4.0 * math.atanh(1.0 / 4.0)  # a slope of exactly 1
    tilted = spectral_tilt(audio.expand(2, -1, -1), torch.tensor([0.0, raw]), rate)
    torch.testing.assert_close(tilted[0], audio[0], atol=1e-9, rtol=0.0)
    spectrum = np.abs(np.fft.rfft(tilted[1, 0, 4000:12000].numpy()))  # 2 Hz bins
    before = np.abs(np.fft.rfft(tones[4000:12000]))
    ratio = (spectrum[2000] / spectrum[125]) / (before[2000] / before[125])
    assert ratio == pytest.approx(16.0, rel=0.01)
    loudness = measurer("loudness", rate)
    assert loudness(tilted[1].float().numpy()) == pytest.approx(loudness(tones), abs=0.05)
    assert measurer("centroid", rate)(tilted[1].float().numpy()) > 3000.0


def test_the_synths_render_at_a_tilt_is_its_bare_render_tilted_then_faded_in() -> None:
    """The contract of the brightness's search: one decode with the tilt flat and the fade off
    gives the render at every tilt (`Stage.candidates`) as the model decodes it."""
    model = tiny_synth(envelope="both", tilt=True)
    stage = tilt_stage(model, 0.5)
    assert stage is not None and tilt_stage(tiny_synth(envelope="both"), 0.5) is None
    z = torch.randn(1, model.latent_dim, 1, dtype=torch.float64)
    with torch.no_grad():
        bare = model.decode(stage.bare(z))[0].numpy()
        for value in (-3.0, 0.0, 1.5):
            decoded = model.decode(stage.readout.at(z, torch.tensor([value])))[0].numpy()
            expected = stage.candidates(bare, np.array([value]), z)[0]
            np.testing.assert_allclose(np.clip(decoded, -1, 1), expected, atol=1e-6)


def test_a_brightness_move_on_a_synth_measures_the_request() -> None:
    """On the tiny synth's render (centroid 3.4 kHz), the search sets centroids of 300 Hz to
    4.5 kHz within 5 % in one decode of the bare sound (the tilts of it are the decoder's
    renders, so the sweep decodes nothing more); 7 kHz, near a
    16 kHz model's Nyquist, is beyond what its steepest tilt renders (5.5 kHz), and is said."""
    model = tiny_synth(envelope="both", tilt=True)
    stage = tilt_stage(model, 0.5)
    assert stage is not None
    renders = [0]

    def render(z: torch.Tensor) -> np.ndarray:
        renders[0] += 1
        with torch.no_grad():
            return model.decode(z.double()).clamp(-1, 1).float().numpy()

    search = ReadoutSearch(stage, render, measurer("centroid", model.config.sample_rate))
    control = Control("brightness", torch.ones(model.latent_dim), unit="Hz", scale="log")
    z = torch.randn(1, model.latent_dim, 1, dtype=torch.float64)
    targets = np.log([300.0, 1500.0, 4500.0]).tolist()
    _, audio, unreached, _ = readout_sweep(search, z, control, targets)
    measured = [search.measure(a) for a in audio]
    np.testing.assert_allclose(measured, np.exp(targets), rtol=0.05)
    assert (renders[0], unreached) == (1, [False] * 3)
    far = readout_move(
        search,
        z,
        Setting("brightness", 7000.0, False, "Hz"),
        control,
        torch.full((1, 1), math.log(7000.0)),
    )
    assert far.unreached == ["brightness"] and far.warnings[0].startswith("brightness: asked 7")


def test_a_search_remembers_its_last_sounds_and_takes_a_batch_of_more() -> None:
    search, renders = _synthetic_search()
    count = MEMORY + 2
    z = torch.zeros(count, 2, 1, dtype=torch.float64)
    z[:, 1, 0] = torch.arange(count)  # distinct latents (the synthetic render ignores this)
    z_new, audio = search.settle(z, np.full(count, 0.004))
    assert renders[0] == 2 and len(search.memory) == MEMORY  # the 2 forgotten, again
    np.testing.assert_allclose([search.measure(a) for a in audio], 0.004, rtol=0.05)
    search.settle(z_new[-1:], np.array([0.008]))
    assert renders[0] == 2  # moved along the readout, the last sound is met again: no decode


def test_a_brightness_move_puts_a_locked_attack_back_with_the_fade_in() -> None:
    """The tilt moves where a sound's energy lies, and with it the attack the envelope measures
    (halving this sound's brightness moves its attack from 15.6 to 35.7 ms, beyond what a lock
    lets go); a locked attack is set back by the fade-in's search, which follows the tilt:
    the brightness then measures within 5 % of the request and the attack within 10 % of what
    was there (14.6 ms: the closest this sound's fades measure), in one decode (the tilt's bare
    render is remembered from the first move; the fade-in's bare render; the stages' renders
    are the decoder's, so neither result is decoded again)."""
    model = tiny_synth(envelope="both", tilt=True)
    rate = model.config.sample_rate
    tilt, fade = tilt_stage(model, 0.5), fade_stage(model, 0.5)
    assert tilt is not None and fade is not None

    def render(z: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return model.decode(z.double()).clamp(-1, 1).float().numpy()

    def measure(audio: np.ndarray, names: Sequence[str]):  # noqa: ANN202
        return compute_descriptors(audio, DescriptorSettings(sample_rate=rate), list(names))

    fades = ReadoutSearch(fade, render, measurer("attack_time", rate))
    attack = Control("attack", torch.ones(model.latent_dim), unit="s", scale="log")
    locks = Locks({"attack": "attack_time"}.get, measure, lambda c: fades)
    search = ReadoutSearch(tilt, render, measurer("centroid", rate), locks)
    brightness = Control("brightness", torch.ones(model.latent_dim), unit="Hz", scale="log")
    torch.manual_seed(1)
    z = torch.randn(1, model.latent_dim, 1, dtype=torch.float64)
    z = fade.readout.at(z, torch.tensor([math.log(0.04)]))
    before = measure(render(z)[0], ["attack_time", "centroid"])
    asked = 0.5 * before.value("centroid")
    setting = Setting("brightness", asked, False, "Hz")
    opened = torch.full((1, 1), math.log(asked))
    free = readout_move(search, z, setting, brightness, opened)
    held = readout_move(search, z, setting, brightness, opened, [attack])
    free_attack = measure(free.audio[0], ["attack_time"]).value("attack_time")
    after = measure(held.audio[0], ["attack_time", "centroid"])
    assert free_attack > 2.0 * before.value("attack_time")
    assert after.value("attack_time") == pytest.approx(before.value("attack_time"), rel=0.1)
    assert after.value("centroid") == pytest.approx(asked, rel=0.05)
    assert (held.renders, held.unreached, held.warnings) == (1, [], [])


class SynthSpace:
    """What `space_readout` reads of a `LatentSpace`, on the untrained tiny synth."""

    def __init__(self, model) -> None:  # noqa: ANN001
        self.model, self.rate = model, model.config.sample_rate
        self.controls = {
            name: Control(name, torch.ones(model.latent_dim), unit=unit, scale="log")
            for name, unit in (("brightness", "Hz"), ("attack", "s"))
        }

    def descriptor_of(self, name: str) -> str | None:
        return {"brightness": "centroid", "attack": "attack_time"}.get(name)

    def clip_seconds(self) -> float:
        return 0.5

    def render(self, z: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return self.model.decode(z.double()).clamp(-1, 1).float().numpy()

    def measure(self, audio: np.ndarray, names: Sequence[str]):  # noqa: ANN201
        settings = DescriptorSettings(sample_rate=self.rate)
        return compute_descriptors(audio, settings, list(names))


def test_a_move_of_several_stage_controls_sets_each_by_its_search() -> None:
    """Brightness asked at half each sound's and the attack at twice (a relative request):
    the tilt's search, then the fade-in's, holding the brightness, set both within 5 %."""
    space = SynthSpace(tiny_synth(envelope="both", tilt=True))
    brightness, attack = space.controls["brightness"], space.controls["attack"]
    torch.manual_seed(1)
    fade = fade_stage(space.model, 0.5)
    assert fade is not None
    z = fade.readout.at(
        torch.randn(2, space.model.latent_dim, 1, dtype=torch.float64),
        torch.tensor([math.log(0.01), math.log(0.02)]),
    )
    names = ("centroid", "attack_time")

    def measured(audio: np.ndarray) -> np.ndarray:
        return np.array([[space.measure(a, [d]).value(d) for d in names] for a in audio])

    start = measured(space.render(z))
    settings = [Setting("brightness", 0.0, False, "Hz"), Setting("attack", 100.0, True, "%")]
    targets = torch.from_numpy(np.log(start * [0.5, 1.0]))[..., None]  # the attack's: unused
    moved = staged_move(space, None, None, z, settings, [brightness, attack], [], targets)
    np.testing.assert_allclose(measured(moved.audio), start * [0.5, 2.0], rtol=0.05)
    assert moved.unreached == [] and moved.warnings == []
    assert moved.requested["attack"] == pytest.approx(2 * start[0, 1])
    np.testing.assert_allclose(moved.got.numpy(), np.log(measured(moved.audio)), atol=1e-6)


def test_a_search_near_the_latents_own_value_measures_a_few_fades_not_the_grid() -> None:
    """A 3 ms fade asked to measure 4 ms: the walk from 3 ms measures a few grid fades and the
    refinement, far fewer than the 28-point curve, and lands within 2.5 %; a request beyond
    every fade it walks (0.45 s, more than a 0.2 s decay measures) falls back to the curve."""
    search, _ = _synthetic_search()
    calls = [0]
    measure = search.measure

    def counted(audio: np.ndarray) -> float:
        calls[0] += 1
        return measure(audio)

    search.measure = counted
    z = search.stage.readout.at(
        torch.zeros(1, 2, 1, dtype=torch.float64), torch.tensor([math.log(0.003)])
    )
    sound = search.render(search.stage.bare(z))[0]
    value = search.near(sound, z, 0.004)
    assert value is not None and calls[0] <= 8 < search.stage.grid.size
    assert search.measure_at(sound, z)(value) == pytest.approx(0.004, rel=0.025)
    assert search.near(sound, z, 0.45) is None
    placed = search.place(z, np.array([0.004]), near=True)
    assert counted(search.render(placed)[0]) == pytest.approx(0.004, rel=0.025)
