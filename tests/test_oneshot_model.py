"""One-shot autoencoder: config matrix, protocol, config registry, and a short overfit."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

import pytest
import torch

from timbrespace.losses.spectral import ReconstructionLoss
from timbrespace.models.base import (
    ConfigError,
    LatentModel,
    build_model,
    config_from_dict,
    config_to_dict,
    get_family,
    resolve_config,
)
from timbrespace.models.bottleneck import (
    AEBottleneck,
    VAEBottleneck,
    build_bottleneck,
)
from timbrespace.models.oneshot import OneShotAutoencoder, OneShotConfig, OneShotOutput


@pytest.fixture(autouse=True)
def _seeded() -> Iterator[None]:
    torch.manual_seed(0)
    yield


def build(preset: str, **overrides: object) -> OneShotAutoencoder:
    model = build_model("oneshot", resolve_config("oneshot", preset, overrides))
    assert isinstance(model, OneShotAutoencoder)
    return model


def synth_sounds(sample_rate: int, n: int) -> torch.Tensor:
    """Four one-shots `[4, 1, n]`: decaying sines, two with a noise-burst attack."""
    t = torch.arange(n) / sample_rate
    gen = torch.Generator().manual_seed(0)
    sounds = []
    for i, (freq, decay) in enumerate([(110, 0.15), (330, 0.3), (660, 0.08), (220, 0.4)]):
        s = 0.6 * torch.sin(2 * math.pi * freq * t) * torch.exp(-t / decay)
        if i % 2 == 0:
            s = s + 0.4 * torch.randn(n, generator=gen) * torch.exp(-t / 0.02)
        sounds.append(s)
    return torch.stack(sounds).unsqueeze(1).clamp(-1.0, 1.0)


@pytest.mark.parametrize("synth", ["ddsp", "waveform"])
@pytest.mark.parametrize("bottleneck", ["ae", "vae"])
@pytest.mark.parametrize("channels", [1, 2])
def test_tiny_matrix(channels: int, bottleneck: str, synth: str) -> None:
    model = build(
        "tiny", channels=channels, bottleneck=bottleneck, n_descriptors=3, synth=synth
    ).eval()
    cfg = model.config
    assert isinstance(model, LatentModel)
    assert (
        (model.sample_rate, model.hop_length)
        == (16000, 8000)
        == (cfg.sample_rate, cfg.clip_samples)
    )
    assert (model.channels, model.latent_dim) == (channels, cfg.latent_dim)
    x = 0.5 * torch.randn(3, channels, cfg.clip_samples).clamp(-1, 1)
    with torch.inference_mode():
        z = model.encode(x)
        assert z.shape == (3, cfg.latent_dim, 1)
        y = model.decode(z)
        assert y.shape == (3, channels, cfg.clip_samples)
        assert y.abs().max().item() <= 1.0
        assert y.std().item() > 1e-4
        torch.testing.assert_close(model.encode(x[:1])[0], z[0], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(model.decode(z[:1])[0], y[0], atol=1e-5, rtol=1e-4)
        out = model(x)
    assert isinstance(out, OneShotOutput)
    torch.testing.assert_close(out.audio, y)
    torch.testing.assert_close(out.z, z)
    assert out.descriptors_pred is not None and out.descriptors_pred.shape == (3, 3)
    assert out.regularization.shape == ()
    readouts = sum(out.logs.values(), torch.tensor(0.0))
    assert not out.logs  # the tiny preset keeps the plain synth (no envelope readouts)
    if bottleneck == "ae":
        assert out.regularization.item() == pytest.approx(float(readouts))
    else:
        assert out.regularization.item() > float(readouts)


@pytest.mark.parametrize("preset", ["small", "full"])
@pytest.mark.parametrize(("channels", "bottleneck"), [(1, "ae"), (2, "vae")])
def test_larger_presets_build_and_run(preset: str, channels: int, bottleneck: str) -> None:
    model = build(preset, channels=channels, bottleneck=bottleneck).eval()
    cfg = model.config
    assert cfg.sample_rate == 44100 and cfg.clip_samples == 44100
    x = 0.3 * torch.randn(1, channels, cfg.clip_samples)
    with torch.inference_mode():
        out = model(x)
    assert out.z.shape == (1, cfg.latent_dim, 1)
    assert out.audio.shape == (1, channels, cfg.clip_samples)
    assert out.audio.abs().max().item() <= 1.0
    assert out.descriptors_pred is None


def test_vae_samples_in_training_and_is_deterministic_in_eval() -> None:
    model = build("tiny", bottleneck="vae")
    x = 0.3 * torch.randn(2, 1, 8000)
    model.train()
    assert not torch.equal(model.encode(x), model.encode(x))
    model.eval()
    torch.testing.assert_close(model.encode(x), model.encode(x))


def test_remove_weight_norm_keeps_the_output() -> None:
    model = build("tiny").eval()
    x = 0.3 * torch.randn(2, 1, 8000)
    with torch.inference_mode():
        before = model(x).audio
        after = model.remove_weight_norm()(x).audio
    assert not any("parametrizations" in key for key in model.state_dict())
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-4)


def test_any_clip_length_and_short_inputs() -> None:
    model = build("tiny", clip_samples=5000).eval()
    with torch.inference_mode():
        z = model.encode(torch.randn(2, 1, 3000))
        assert model.decode(z).shape == (2, 1, 5000)
        assert model.encode(torch.randn(2, 1, 9000)).shape == (2, model.latent_dim, 1)


def test_bad_shapes_and_conditioning_raise() -> None:
    model = build("tiny").eval()
    with pytest.raises(ValueError, match="samples"):
        model.encode(torch.zeros(1, 8000))
    with pytest.raises(ValueError, match="latent"):
        model.decode(torch.zeros(1, model.latent_dim, 4))
    with pytest.raises(ValueError, match="conditioning"):
        model.decode(torch.zeros(1, model.latent_dim, 1), cond=torch.zeros(1, 1))


def test_bottlenecks_share_one_signature() -> None:
    h = torch.randn(2, 8, 1)
    ae = build_bottleneck("ae", latent_dim=8)
    assert isinstance(ae, AEBottleneck)
    out = ae(h)
    assert torch.equal(out.z, h) and out.regularization.item() == 0.0
    vae = build_bottleneck("vae", latent_dim=4, beta=0.5).eval()
    assert isinstance(vae, VAEBottleneck) and vae.input_dim == 8
    out = vae(h)
    mean, scale = h.chunk(2, dim=1)
    torch.testing.assert_close(out.z, mean)
    std = torch.nn.functional.softplus(scale) + 1e-4
    kl = 0.5 * (mean**2 + std**2 - 2 * torch.log(std) - 1).sum(dim=(1, 2)).mean()
    assert out.regularization.item() == pytest.approx(0.5 * kl.item(), rel=1e-5)
    with pytest.raises(ConfigError, match="'vq2'.*ae, vae"):
        build_bottleneck("vq2", latent_dim=4)


def test_config_from_dict_raises_on_misspelt_key() -> None:
    with pytest.raises(ConfigError, match="'latnet_dim'") as info:
        config_from_dict(OneShotConfig, {"latnet_dim": 16})
    message = str(info.value)
    assert "latent_dim" in message and "clip_samples" in message
    with pytest.raises(ConfigError, match="'latnet_dim'"):
        resolve_config("oneshot", "tiny", {"latnet_dim": 16})
    with pytest.raises(ConfigError, match="'latnet_dim'"):
        build_model("oneshot", {"latnet_dim": 16})


@dataclasses.dataclass
class Inner:
    rate: float = 1.0
    sizes: tuple[int, ...] = (1, 2)


@dataclasses.dataclass
class Outer:
    inner: Inner = dataclasses.field(default_factory=Inner)
    name: str = "x"


def test_nested_config_from_dict_names_the_full_key() -> None:
    cfg = config_from_dict(Outer, {"inner": {"rate": 2, "sizes": [3, 4]}})
    assert cfg == Outer(inner=Inner(rate=2.0, sizes=(3, 4)))
    assert config_from_dict(Outer, config_to_dict(cfg)) == cfg
    with pytest.raises(ConfigError, match="'inner.rtae'"):
        config_from_dict(Outer, {"inner": {"rtae": 2}})


def test_presets_overrides_and_round_trip() -> None:
    tiny = resolve_config("oneshot", "tiny", {})
    small = resolve_config("oneshot", "small", {"bottleneck": "vae", "beta": 0.1})
    assert tiny.sample_rate == 16000 and tiny.clip_samples == 8000
    assert small == dataclasses.replace(OneShotConfig(), bottleneck="vae", beta=0.1)
    assert resolve_config("oneshot", "full", {}).latent_dim >= OneShotConfig().latent_dim
    as_dict = config_to_dict(tiny)
    assert isinstance(as_dict["encoder_widths"], list)
    assert config_from_dict(OneShotConfig, as_dict) == tiny
    with pytest.raises(ConfigError, match="'huge'"):
        resolve_config("oneshot", "huge", {})
    with pytest.raises(ConfigError, match="channels"):
        resolve_config("oneshot", "tiny", {"channels": 6})
    with pytest.raises(ConfigError, match="'nosuchfamily'"):
        get_family("nosuchfamily")
    assert get_family("oneshot").presets["small"] == {}


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One intra-op thread: on a shared 2-core machine, 2 threads made this test 20x slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("synth", ["ddsp", "waveform"])
def test_overfit_tiny_with_attack_weighted_loss(synth: str) -> None:
    cfg = resolve_config("oneshot", "tiny", {"synth": synth})
    model = build_model("oneshot", cfg)
    x = synth_sounds(cfg.sample_rate, cfg.clip_samples)
    loss_fn = ReconstructionLoss(sample_rate=cfg.sample_rate)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    history = []
    for _ in range(150):
        out = model(x)
        loss = loss_fn(out.audio, x)["loss"] + out.regularization
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    model.eval()
    with torch.inference_mode():
        y = model(x).audio
    first, last = history[0], sum(history[-5:]) / 5
    window = torch.hann_window(512)

    def log_spec(a: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(a.reshape(-1, a.shape[-1]), 512, 128, window=window, return_complex=True)
        return torch.log(spec.abs() + 1e-3)

    corr = [
        torch.corrcoef(torch.stack([p.flatten(), q.flatten()]))[0, 1].item()
        for p, q in zip(log_spec(y), log_spec(x), strict=True)
    ]
    rms = y.pow(2).mean(dim=-1).sqrt().flatten().tolist()
    print(f"overfit loss {first:.3f} -> {last:.3f}; rms {rms}; log-spectrogram corr {corr}")
    assert last < 0.5 * first
    assert min(rms) > 0.01
    assert min(corr) > 0.6


def test_saved_config_from_before_the_ddsp_decoder_loads_as_waveform() -> None:
    from timbrespace.models.base import config_to_dict
    from timbrespace.models.oneshot_synth import OneShotSynthDecoder
    from timbrespace.models.oneshot_waveform import OneShotDecoder

    saved = config_to_dict(resolve_config("oneshot", "tiny", {"synth": "waveform"}))
    del saved["synth"]
    assert isinstance(build_model("oneshot", saved).decoder, OneShotDecoder)
    assert isinstance(build("tiny").decoder, OneShotSynthDecoder)


def test_transient_head_adds_a_faded_onset_linear_in_the_latent() -> None:
    from timbrespace.models.oneshot_synth import TransientHead

    head = TransientHead(latent_dim=3, channels=2, samples=5)
    with torch.no_grad():
        head.linear.weight.zero_()
        head.linear.bias.fill_(1.0)
    audio = torch.zeros(4, 2, 12)
    out = head.add_to(audio, torch.randn(4, 3))
    fade = [1.0, 0.5 * (1 + math.cos(math.pi / 4)), 0.5, 0.5 * (1 + math.cos(3 * math.pi / 4)), 0.0]
    torch.testing.assert_close(out[..., :5], torch.tensor(fade).expand(4, 2, 5))
    assert torch.equal(out[..., 5:], audio[..., 5:])
    silent = TransientHead(latent_dim=3, channels=1, samples=0)
    assert silent.add_to(audio, torch.randn(4, 3)) is audio


def test_transient_length_follows_the_config_and_old_ddsp_configs_load_without_one() -> None:
    model = build("tiny")
    assert model.decoder.transient.samples == round(20.0 * 16000 / 1000)
    saved = config_to_dict(resolve_config("oneshot", "tiny"))
    del saved["transient_ms"]
    assert build_model("oneshot", saved).decoder.transient.samples == 0
    with pytest.raises(ConfigError, match="transient_ms"):
        resolve_config("oneshot", "tiny", {"transient_ms": 600.0})


def test_tune_pitch_sets_the_base_pitch_by_the_smallest_move() -> None:
    torch.manual_seed(0)
    model = build_model("oneshot", resolve_config("oneshot", "tiny", {})).eval()
    weights, bias = model.pitch_readout()
    z = torch.randn(3, model.latent_dim, 1)
    wanted = torch.tensor([440.0, float("nan"), 130.8127827])  # A4, unvoiced, C3
    tuned = model.tune_pitch(z, wanted)
    semitones = tuned[:, :, 0].double() @ weights + bias
    assert float(semitones[0]) == pytest.approx(0.0, abs=1e-4)
    assert float(semitones[2]) == pytest.approx(-21.0, abs=1e-4)
    assert torch.equal(tuned[1], z[1])
    step = (tuned - z)[0, :, 0].double()
    cosine = float(step @ weights / (step.norm() * weights.norm()))
    assert abs(cosine) == pytest.approx(1.0, abs=1e-5)  # along the readout: the smallest move
    with torch.no_grad():
        f0 = model.decoder.controls(tuned[..., 0]).base_pitch.mean(dim=1)
    assert float(440 * 2 ** f0[0]) == pytest.approx(440.0, rel=1e-4)


def test_a_waveform_decoder_has_no_pitch_to_tune() -> None:
    model = build_model("oneshot", resolve_config("oneshot", "tiny", {"synth": "waveform"}))
    z = torch.randn(2, model.latent_dim, 1)
    assert model.pitch_readout() is None
    assert torch.equal(model.tune_pitch(z, torch.tensor([440.0, 220.0])), z)


def test_centre_of_is_the_weighted_mean_with_known_answers() -> None:
    from timbrespace.models.oneshot_synth import centre_of

    curve = torch.tensor([[1.0, 2.0, 4.0], [3.0, 5.0, 7.0]])
    weight = torch.tensor([[1.0, 1.0, 2.0], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(centre_of(curve, weight), torch.tensor([[11.0 / 4.0], [5.0]]))


def test_the_rendered_pitch_has_the_base_pitch_as_its_level_weighted_mean() -> None:
    """A bend that is far from zero-mean (biased by +0.6 octave) still renders a sound whose
    harmonic-level-weighted mean pitch is the base pitch: the pitch readout is the sound's.
    (The per-frame bend, which the head's bias can bias; the glides start at zero.)"""
    torch.manual_seed(3)
    settings = {"pitch_bend": "frames"}
    model = build_model("oneshot", resolve_config("oneshot", "tiny", settings)).eval()
    decoder = model.decoder
    with torch.no_grad():
        decoder.head.bias.view(1, -1)[0, 0] = 0.3  # 2·tanh(0.3) ≈ +0.58 octave of bend
        z = torch.randn(4, model.latent_dim)
        controls = decoder.controls(z)
    octaves = torch.log2(controls.f0 / 440.0)
    level = controls.harmonics.sum(dim=2)
    mean = (octaves * level).sum(-1) / level.sum(-1)
    torch.testing.assert_close(mean, controls.base_pitch, atol=1e-5, rtol=0)
    legacy = config_to_dict(resolve_config("oneshot", "tiny", settings))
    del legacy["centred_bend"]
    old = build_model("oneshot", legacy).eval()
    old.load_state_dict(model.state_dict())
    with torch.no_grad():
        before = old.decoder.controls(z)
    old_mean = (torch.log2(before.f0 / 440.0) * level).sum(-1) / level.sum(-1)
    assert float((old_mean - before.base_pitch).mean()) > 0.3  # the bias the centring removes


def test_smooth_frames_removes_the_half_control_rate_checkerboard() -> None:
    from timbrespace.models.oneshot_synth import smooth_frames

    checker = torch.tensor([[[1.0, 0.0, 1.0, 0.0, 1.0, 0.0]]])
    torch.testing.assert_close(smooth_frames(checker)[..., 1:-1], torch.full((1, 1, 4), 0.5))
    ramp = torch.arange(6.0).view(1, 1, 6)
    torch.testing.assert_close(smooth_frames(ramp)[..., 1:-1], ramp[..., 1:-1])  # lines pass
    legacy = config_to_dict(resolve_config("oneshot", "tiny"))
    del legacy["smooth_controls"]
    assert not build_model("oneshot", legacy).decoder.smooth_controls


def test_the_bend_loses_patterns_repeating_every_upsampling_stride() -> None:
    """`null_period(·, 4)` is [1, 2, 2, 2, 1]/8: zero gain for every pattern of period 4 or 2
    (the last sub-pixel stage's frequency modulation), lines and constants pass; a decoder's
    bend keeps no period-4 component whatever its weights; legacy bundles keep the raw bend."""
    from timbrespace.models.oneshot_synth import null_period

    t = torch.arange(16.0)
    for pattern in (torch.cos(torch.pi / 2 * t), torch.sin(torch.pi / 2 * t), (-1.0) ** t):
        torch.testing.assert_close(
            null_period(pattern, 4)[2:-2], torch.zeros(12), atol=1e-6, rtol=0
        )
    torch.testing.assert_close(null_period(3.0 * t - 1.0, 4)[2:-2], (3.0 * t - 1.0)[2:-2])
    torch.testing.assert_close(null_period(t.view(2, 8), 1), t.view(2, 8))
    torch.testing.assert_close(null_period(torch.tensor([0.0, 0.0, 8.0, 0.0, 0.0]), 4),
                               torch.tensor([1.0, 2.0, 2.0, 2.0, 1.0]))  # fmt: skip

    model = build_model(
        "oneshot", resolve_config("oneshot", "tiny", {"smooth_bend": True, "pitch_bend": "frames"})
    ).eval()
    decoder = model.decoder
    heads: list[torch.Tensor] = []
    decoder.head.register_forward_hook(lambda module, args, out: heads.append(out))
    with torch.no_grad():
        decoder.head.weight.normal_(std=0.05)  # a decoder far from smooth
        decoder.pitch.weight.zero_()  # 200 Hz: no pitch near the f0 range's clamps
        octaves = torch.log2(decoder.controls(torch.randn(3, model.latent_dim)).f0)
    raw_bend = heads[0][:, 0]  # one channel: the head's first row is the bend (unstretched)
    expected = decoder.bend_octaves * torch.tanh(null_period(raw_bend, 4))
    # the centring and the base pitch are constants per sound: compare the bend's steps
    torch.testing.assert_close(torch.diff(octaves[:, 0]), torch.diff(expected), atol=1e-5, rtol=0)
    assert decoder.bend_period == 4
    from timbrespace.models.oneshot_synth import smooth_bend_for

    assert [smooth_bend_for(rate) for rate in (16000, 22050, 44100)] == [False, False, True]
    assert smooth_bend_for(22050, True) and not smooth_bend_for(44100, False)
    legacy = config_to_dict(resolve_config("oneshot", "tiny"))
    del legacy["smooth_bend"]
    assert build_model("oneshot", legacy).decoder.bend_period == 1


def test_harmonics_start_rolled_off_above_32_khz_and_equal_below() -> None:
    """A ddsp decoder at 44.1 kHz starts with harmonic k at 1/k of the first (all equal, a
    44.1 kHz model fell to all-noise renders in its first minute); at 22.05 kHz and 16 kHz all
    equal (1/k cost quality there); an explicit rolloff wins; a bad one is refused."""
    from timbrespace.models.oneshot_synth import rolloff_for

    assert [rolloff_for(rate) for rate in (16000, 22050, 44100, 48000)] == [0.0, 0.0, 1.0, 1.0]
    assert rolloff_for(22050, 2.0) == 2.0

    def starting_harmonics(overrides: dict) -> torch.Tensor:
        cfg = resolve_config("oneshot", "tiny", {"latent_dim": 16, **overrides})
        model = build_model("oneshot", cfg)
        with torch.no_grad():
            model.decoder.head.weight.zero_()  # the bias alone: the decoder's starting shape
            harmonics = model.decoder.controls(torch.zeros(1, 16)).harmonics[0, 0, :, 0]
        return harmonics / harmonics[0]

    k = torch.arange(1, 33, dtype=torch.float32)
    fast = {"sample_rate": 44100, "clip_samples": 44100}
    torch.testing.assert_close(starting_harmonics(fast), 1.0 / k)
    torch.testing.assert_close(starting_harmonics({}), torch.ones(32))
    torch.testing.assert_close(starting_harmonics({"harmonic_rolloff": 2.0}), k**-2)
    with pytest.raises(ConfigError, match="harmonic_rolloff"):
        resolve_config("oneshot", "tiny", {"harmonic_rolloff": -1.0})
