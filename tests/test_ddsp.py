"""The ddsp instrument family: features, synthesis, streaming, training, transfer and MIDI."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from timbrespace.config import ConfigError
from timbrespace.models.base import build_model, resolve_config
from timbrespace.models.ddsp import LOUDNESS, PITCH, VOICING, DdspInstrument


def _tiny(**overrides) -> DdspInstrument:
    torch.manual_seed(0)
    model = build_model("ddsp", resolve_config("ddsp", "tiny", overrides))
    assert isinstance(model, DdspInstrument)
    return model.eval()


def _tone(f0: float, sample_rate: int, seconds: float, start: float = 0.1) -> torch.Tensor:
    t = torch.arange(int(sample_rate * seconds)) / sample_rate
    tone = 0.3 * torch.sin(2 * math.pi * f0 * t) + 0.1 * torch.sin(4 * math.pi * f0 * t)
    return (tone * (t >= start))[None, None]


@pytest.mark.parametrize("preset", ["tiny", "small", "full"])
def test_presets_build_and_render_a_latent_path(preset: str):
    model = build_model("ddsp", resolve_config("ddsp", preset)).eval()
    z = model.encode(_tone(330.0, model.sample_rate, 0.25))
    assert z.shape == (1, model.latent_dim, math.ceil(model.sample_rate * 0.25 / model.hop_length))
    audio = model.decode(z)
    assert audio.shape == (1, 1, z.shape[-1] * model.hop_length)
    audio = audio.detach()
    assert bool(torch.isfinite(audio).all()) and float(audio.abs().max()) > 1e-3


def test_config_refuses_stereo_an_unknown_tracker_and_unknown_keys():
    with pytest.raises(ConfigError, match="monophonic"):
        resolve_config("ddsp", "tiny", {"channels": 2})
    with pytest.raises(ConfigError, match="tracker"):
        resolve_config("ddsp", "tiny", {"tracker": "sigmund"})
    with pytest.raises(ConfigError, match="unknown config key"):
        resolve_config("ddsp", "tiny", {"harmonics": 10})


def test_encode_measures_pitch_loudness_and_voicing():
    model = _tiny()
    z = model.encode(_tone(220.0, model.sample_rate, 0.5))[0]
    late = slice(z.shape[-1] // 2, None)
    assert float((z[PITCH, late] - 57.0).abs().max()) < 0.05  # A3
    assert float(z[VOICING, late].min()) > 0.95
    assert float(z[LOUDNESS, :5].max()) <= -99.0  # silence before the onset
    assert -20.0 < float(z[LOUDNESS, late].mean()) < -5.0


def test_the_synth_plays_the_pitch_it_is_given_even_untrained():
    model = _tiny()
    frames, rate = 200, 16000
    f0 = torch.full((1, frames), 440.0)
    z = model.features_latent(f0, torch.full((1, frames), -12.0), torch.ones(1, frames))
    with torch.no_grad():
        audio = model.decode(z, torch.zeros(1))[0, 0].numpy()
    steady = audio[4000:12000] * np.hanning(8000)
    spectrum = np.abs(np.fft.rfft(steady))
    frequencies = np.fft.rfftfreq(steady.size, 1 / rate)
    strong = frequencies[spectrum > spectrum.max() / 10]
    assert strong.size > 3
    assert np.all(np.abs(strong / 440.0 - np.round(strong / 440.0)) * 440.0 < 4.0)  # harmonics
    assert np.min(np.abs(strong - 440.0)) < 4.0  # the fundamental itself sounds


@pytest.mark.parametrize("block", [64, 128, 512])
def test_a_stream_equals_the_offline_render(block: int):
    model = _tiny(z_dim=3)
    x = _tone(196.0, model.sample_rate, 0.6)
    x = x[..., : x.shape[-1] // 512 * 512]
    with torch.inference_mode():
        whole = model.decode(model.encode(x))
        state, parts = model.init_state(1), []
        for start in range(0, x.shape[-1], block):
            out, state = model.forward_block(x[..., start : start + block], state)
            parts.append(out)
    streamed = torch.cat(parts, dim=-1)
    assert model.delay_samples == 0
    assert float((streamed - whole).abs().max()) < 1e-4
    assert float(whole.abs().max()) > 1e-2


def test_reverb_wet_level_zero_is_the_dry_synth():
    model = _tiny()
    z = model.encode(_tone(262.0, model.sample_rate, 0.4))
    dry = model.decode(z, torch.zeros(1))
    wet = model.decode(z, torch.full((1,), 3.0))
    trained = model.decode(z)
    impulse = model.reverb
    assert impulse is not None and float(impulse[0]) == 0.0
    with torch.no_grad():
        model.reverb_gain.fill_(-40.0)  # an impulse of level 4e-18: no reverb
    assert torch.allclose(model.decode(z), dry, atol=1e-6)
    assert float((wet - trained).abs().max()) > 0


def test_block_of_a_wrong_size_is_refused():
    from timbrespace.models.base import BlockSizeError

    model = _tiny()
    with pytest.raises(BlockSizeError, match="multiple of its hop"):
        model.encode_block(torch.zeros(1, 1, 100), model.init_encoder_state(1))


@pytest.mark.slow
def test_training_learns_the_instrument_and_its_range(ddsp_run, melody_cache: Path):
    from timbrespace.bundle import load_bundle
    from timbrespace.data.cache import SoundCache
    from timbrespace.evaluation import mrstft_distance
    from timbrespace.inference import reconstruct

    run, result = ddsp_run
    assert result.steps == 300
    bundle = load_bundle(run / "bundle")
    trained = bundle.model.trained_range()
    assert trained is not None
    (low, high), (quiet, loud) = trained
    assert 40 < low < high < 100 and -80 < quiet < loud < 0
    audio = torch.from_numpy(np.asarray(SoundCache(melody_cache).audio[:24], dtype=np.float32))
    fresh = build_model("ddsp", bundle.model.config).eval()
    rate = bundle.sample_rate
    ours = mrstft_distance(reconstruct(bundle.model, audio), audio, rate).mean()
    untrained = mrstft_distance(reconstruct(fresh, audio), audio, rate).mean()
    assert ours < 0.7 * untrained, (ours, untrained)


def test_crepe_tiny_tracker_option_tracks_and_streams():
    model = _tiny(tracker="crepe-tiny")
    x = _tone(330.0, model.sample_rate, 1.0)
    x = x[..., : x.shape[-1] // 64 * 64]
    with torch.inference_mode():
        z = model.encode(x)
        whole = model.decode(z)
        state, parts = model.init_state(1), []
        for start in range(0, x.shape[-1], 64):
            out, state = model.forward_block(x[..., start : start + 64], state)
            parts.append(out)
    expected = 69 + 12 * math.log2(330 / 440)
    assert float((z[0, PITCH, -20:] - expected).abs().max()) < 0.1  # 10 cents
    assert float(z[0, VOICING, -20:].min()) > 0.7
    assert model.tracker_lag_samples == 512  # half of CREPE's 1024-sample frame at 16 kHz
    assert float((torch.cat(parts, dim=-1) - whole).abs().max()) < 1e-4
