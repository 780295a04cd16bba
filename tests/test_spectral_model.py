"""The frame-wise spectral VAE: shapes for every front end, decode = Griffin-Lim of the decoded
magnitude, the frame loss and the PCA-of-frames baseline with known answers, and a tiny model
trained on real instrument melodies."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tests.conftest import decaying_tone
from timbrespace.audio.griffinlim import griffin_lim
from timbrespace.audio.spectral import SpectralConfig
from timbrespace.evaluation import FramePCABaseline, evaluate
from timbrespace.losses.spectral import FrameSpectrumLoss
from timbrespace.models.base import ConfigError, build_model, resolve_config

SR = 16000


def tones(channels: int, batch: int = 2, seconds: float = 0.5) -> torch.Tensor:
    """Decaying tones with a little noise: `[batch, channels, samples]`."""
    items = [
        np.stack(
            [
                decaying_tone(220.0 * (i + 1 + c), seconds, SR, noise=0.1, seed=i)
                for c in range(channels)
            ]
        )
        for i in range(batch)
    ]
    return torch.from_numpy(np.stack(items))


@pytest.mark.parametrize("front_end", ["log", "mel", "cqt"])
@pytest.mark.parametrize("channels", [1, 2])
def test_every_front_end_encodes_a_path_and_decodes_audio(front_end: str, channels: int) -> None:
    torch.manual_seed(0)
    config = resolve_config(
        "spectral", "tiny", {"sample_rate": SR, "channels": channels, "front_end": front_end}
    )
    model = build_model("spectral", config)
    audio = tones(channels)
    output = model(audio)
    output.log_magnitude.sum().backward()
    first = model.encoder.hidden[0]
    assert first.weight.grad is not None and float(first.weight.grad.abs().sum()) > 0

    model.eval()
    with torch.inference_mode():
        z = model.encode(audio)
        frames = 1 + audio.shape[-1] // config.hop
        assert z.shape == (2, config.latent_dim, frames)
        torch.testing.assert_close(model.encode(audio[:1]), z[:1], atol=1e-5, rtol=1e-5)
        sound = model.decode(z, gla_iters=4)
    assert sound.shape == (2, channels, (frames - 1) * config.hop)
    assert torch.isfinite(sound).all()
    assert model.hop_length == config.hop


def test_decode_is_griffin_lim_of_the_decoded_magnitude() -> None:
    torch.manual_seed(1)
    model = build_model("spectral", resolve_config("spectral", "tiny", {"sample_rate": SR})).eval()
    config = model.config
    with torch.inference_mode():
        z = torch.randn(2, config.latent_dim, 20)
        magnitude = model.decode_magnitude(z)
        expected = griffin_lim(
            magnitude, n_fft=config.n_fft, hop=config.hop, iterations=5, momentum=0.99, seed=3
        )
        torch.testing.assert_close(model.decode(z, gla_iters=5, seed=3), expected)
        assert magnitude.min() >= 0
        assert magnitude.shape == (2, 1, config.n_fft // 2 + 1, 20)
        with pytest.raises(ValueError, match=r"latent \[batch, 8, frames\]"):
            model.decode(torch.zeros(1, 3, 20))


def test_config_refuses_unknown_front_ends_and_keys() -> None:
    with pytest.raises(ConfigError, match="front_end"):
        resolve_config("spectral", "tiny", {"front_end": "wavelet"})
    with pytest.raises(ConfigError, match="gla_iter"):
        resolve_config("spectral", "tiny", {"gla_iter": 3})


def test_frame_loss_known_answers() -> None:
    loss = FrameSpectrumLoss(floor=1e-5)
    target = torch.log(torch.rand(3, 1, 33, 7) + 1e-5)
    same = loss(target, target)
    assert float(same["loss"]) == 0.0
    silent = torch.full_like(target, math.log(1e-5))  # predicts a zero magnitude everywhere
    terms = loss(silent, target)
    assert float(terms["spec/sc"]) == pytest.approx(1.0, abs=1e-6)
    assert float(terms["spec/log_l1"]) == pytest.approx(float((target - silent).abs().mean()))


def test_frame_pca_with_every_axis_is_griffin_lim_of_the_true_magnitude() -> None:
    spectral = SpectralConfig(sample_rate=SR, n_fft=256, hop=64, front_end="log")
    audio = tones(1, batch=3, seconds=0.25)
    full = FramePCABaseline.fit(audio, spectral.linear_bins, spectral, gla_iters=6)
    truth = griffin_lim(
        (spectral.features(audio).exp() - spectral.log_floor).clamp(min=0),
        n_fft=256,
        hop=64,
        iterations=6,
        momentum=0.99,
    ).clamp(-1, 1)
    torch.testing.assert_close(full.reconstruct(audio), truth, atol=2e-4, rtol=1e-3)
    one = FramePCABaseline.fit(audio, 1, spectral, gla_iters=6)
    assert one.latent_dim == 1
    assert not torch.allclose(one.reconstruct(audio), truth, atol=1e-3)


@pytest.mark.slow
def test_tiny_spectral_model_learns_real_melodies(spectral_run, melody_cache) -> None:
    run, result = spectral_run
    assert result.steps == 600
    report = evaluate(run, melody_cache, split="train")
    assert report["baseline"].startswith("PCA of log-magnitude")
    model, baseline = report["model"], report["baseline_pca"]
    # measured (8 dims, 600 steps): LSD 5.49 vs 5.76 dB, MR-STFT 1.38 vs 1.80
    assert model["log_spectral_distance_db"] < baseline["log_spectral_distance_db"]
    assert report["improvement"]["mrstft_distance"] > 0.1


@pytest.fixture(scope="module")
def melody_files(spectral_run, melody_cache) -> list[Path]:
    """Three real melody files the tiny spectral model was trained on (flute, cello, trumpet)."""
    from timbrespace.data.cache import SoundCache

    cache = SoundCache(melody_cache)
    root = Path(json.loads((melody_cache / "manifest.json").read_text())["dataset"])
    names = sorted({source.path for source in cache.sources})
    return [root / name for name in names if name.endswith("melody_000.wav")]


@pytest.mark.slow
def test_cli_renders_curves_paths_and_transfer_through_the_spectral_model(
    spectral_run, melody_files, tmp_path: Path
) -> None:
    from timbrespace.bundle import load_bundle
    from timbrespace.cli import main
    from timbrespace.inference import decode, encode_file
    from timbrespace.latent import paths, syntax

    run = spectral_run[0]
    bundle = load_bundle(run / "bundle")
    a, b = melody_files[:2]
    curve = "0:0,0.5:1,1:1.3"
    out = tmp_path / "curve.wav"
    args = ["generate", "interpolate", str(run), str(a), str(b), "--curve", curve]
    assert main([*args, "--align", "crop", "--gla-iters", "4", "-o", str(out)]) == 0
    za, zb = encode_file(bundle, a), encode_file(bundle, b)
    mixed = paths.interpolate(za, zb, syntax.parse_curve(curve), mode="crop")
    expected = decode(bundle.model, mixed, gla_iters=4)[0, 0].numpy()
    written, rate = sf.read(out, dtype="float32")
    assert rate == bundle.sample_rate
    np.testing.assert_allclose(written, expected, atol=1.5 / 32768)
    assert np.abs(written).max() > 0.01

    out = tmp_path / "transfer.wav"
    assert main(["generate", "transfer", str(run), str(melody_files[2]), "-o", str(out)]) == 0
    source = sf.info(melody_files[2])
    samples = round(source.frames * bundle.sample_rate / source.samplerate)
    assert sf.info(out).frames == samples // bundle.model.hop_length * bundle.model.hop_length

    out = tmp_path / "path.wav"
    ops = ["--op", "reverse", "--op", "reverse", "--gla-iters", "4"]
    assert main(["generate", "path", str(run), str(a), *ops, "-o", str(out)]) == 0
    reference = decode(bundle.model, za, gla_iters=4)[0, 0].numpy()  # reverse twice is the identity
    np.testing.assert_allclose(sf.read(out, dtype="float32")[0], reference, atol=1.5 / 32768)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("options", "code", "message"),
    [
        (["--curve", "0:0,0.6:1,0.5:1"], 1, "times must increase"),
        (["--curve", "0:0,x:1"], 1, "is not a number"),
        (["--curve", "0:0,1.5:1"], 1, "beyond the end"),
        (["--curve", "0:0,1:1", "--gla-iters", "5000"], 2, "outside 1…512"),
    ],
)
def test_bad_curves_are_refused_before_any_work(
    spectral_run, melody_files, tmp_path: Path, capsys, options, code, message
) -> None:
    from timbrespace.cli import main

    out = tmp_path / "never.wav"
    a, b = map(str, melody_files[:2])
    argv = ["generate", "interpolate", str(spectral_run[0]), a, b, *options, "-o", str(out)]
    if code == 2:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
    else:
        assert main(argv) == code
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_saved_latent_paths_mix_only_with_their_own_model(
    spectral_run, trained, melody_files, tmp_path: Path, capsys
) -> None:
    from timbrespace.bundle import load_bundle
    from timbrespace.cli import main
    from timbrespace.inference import encode_file, load_latent

    run = spectral_run[0]
    saved = tmp_path / "a.safetensors"
    assert main(["generate", "encode", str(run), str(melody_files[0]), "-o", str(saved)]) == 0
    bundle = load_bundle(run / "bundle")
    torch.testing.assert_close(load_latent(bundle, saved), encode_file(bundle, melody_files[0]))

    reversed_path = tmp_path / "reversed.safetensors"
    assert (
        main(
            ["generate", "path", str(run), str(saved), "--op", "reverse", "-o", str(reversed_path)]
        )
        == 0
    )
    torch.testing.assert_close(
        load_latent(bundle, reversed_path), load_latent(bundle, saved).flip(-1)
    )

    out = tmp_path / "never.wav"
    other = ["generate", "interpolate", str(trained[0]), str(melody_files[1]), str(saved)]
    assert main([*other, "--amount", "0.5", "-o", str(out)]) == 1
    assert "encoded by a 'spectral' model" in capsys.readouterr().err
    assert not out.exists()
