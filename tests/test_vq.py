"""The vq family: the quantizer's known answers, the model's contract, the codebook measured on
decoded audio, and descriptor targets followed on a tiny trained model."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from timbrespace.models.base import ConfigError, build_model, resolve_config
from timbrespace.models.quantizer import VectorQuantizer, kmeans, perplexity


def test_kmeans_finds_three_separated_clusters() -> None:
    generator = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    rows = torch.cat([c + 0.1 * torch.randn(50, 2, generator=generator) for c in centres])
    found = kmeans(rows, 3, iterations=10)
    nearest = torch.cdist(centres, found).min(dim=1).values
    assert float(nearest.max()) < 0.1


def test_perplexity_known_answers() -> None:
    assert float(perplexity(torch.ones(16))) == pytest.approx(16.0)
    assert float(perplexity(torch.tensor([5.0, 0.0, 0.0]))) == pytest.approx(1.0)
    assert float(perplexity(torch.tensor([1.0, 1.0, 0.0, 0.0]))) == pytest.approx(2.0)


def test_quantizer_eval_returns_nearest_codes_and_passes_gradients_straight() -> None:
    vq = VectorQuantizer(2, codebook_size=3, kmeans_iters=0)
    with torch.no_grad():
        vq.codebook.copy_(torch.tensor([[0.0, 0.0], [1.0, 1.0], [-2.0, 3.0]]))
    vq.initialised.fill_(True)
    vq.eval()
    h = torch.tensor([[[0.1, 0.9, -1.5], [0.2, 1.2, 2.5]]], requires_grad=True)
    out = vq(h)
    expected = torch.tensor([[[0.0, 1.0, -2.0], [0.0, 1.0, 3.0]]])
    assert torch.equal(out.z.detach(), expected)
    assert vq.indices(h).tolist() == [[0, 1, 2]]
    (out.z * torch.arange(6.0).reshape(1, 2, 3)).sum().backward()
    assert h.grad is not None
    assert torch.equal(h.grad, torch.arange(6.0).reshape(1, 2, 3))
    commitment = 0.25 * ((h.detach() - expected) ** 2).sum(dim=1).mean()
    assert float(out.regularization.detach()) == pytest.approx(float(commitment))


def test_ema_update_moves_a_code_to_the_running_mean() -> None:
    vq = VectorQuantizer(2, codebook_size=2, ema_decay=0.9, dead_ratio=0.0, kmeans_iters=0)
    with torch.no_grad():
        vq.codebook.copy_(torch.tensor([[0.0, 0.0], [5.0, 5.0]]))
        vq.ema_sum.copy_(vq.codebook)
    vq.initialised.fill_(True)
    vq.train()
    rows = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [6.0, 6.0]])
    vq(rows.T[None])
    # code 0: count 0.9·1 + 0.1·3 = 1.2, sum 0.9·0 + 0.1·(2, 2) = (0.2, 0.2)
    assert vq.codebook[0].tolist() == pytest.approx([0.2 / 1.2, 0.2 / 1.2])
    # code 1: count 0.9 + 0.1 = 1.0, sum 0.9·(5, 5) + 0.1·(6, 6) = (5.1, 5.1)
    assert vq.codebook[1].tolist() == pytest.approx([5.1, 5.1])


def test_dead_codes_restart_on_rows_of_the_batch() -> None:
    vq = VectorQuantizer(2, codebook_size=4, ema_decay=0.5, dead_ratio=0.5, kmeans_iters=0)
    with torch.no_grad():
        vq.codebook.copy_(torch.tensor([[0.0, 0.0], [100.0, 100.0], [-100.0, 0.0], [0.0, -100]]))
        vq.ema_sum.copy_(vq.codebook)
    vq.initialised.fill_(True)
    vq.train()
    rows = torch.randn(64, 2) * 0.1 + torch.tensor([1.0, 1.0])
    out = vq(rows.T[None])
    assert float(out.logs["usage"]) == pytest.approx(0.25)  # all rows on code 0 before restarts
    assert int(vq.restarts) == 3
    distances = (vq.codebook[1:, None] - rows[None]).square().sum(dim=-1).min(dim=1).values
    assert float(distances.max()) < 1e-10  # each restarted code sits on a row of the batch


def test_first_training_batch_starts_the_codebook_by_kmeans() -> None:
    vq = VectorQuantizer(2, codebook_size=2, dead_ratio=0.0)
    vq.train()
    rows = torch.cat([torch.zeros(20, 2) + 3.0, torch.zeros(20, 2) - 3.0])
    vq(rows.T[None])
    assert bool(vq.initialised)
    assert sorted(vq.codebook[:, 0].tolist()) == pytest.approx([-3.0, 3.0], abs=1e-4)


def test_vq_config_refuses_another_bottleneck_and_tiny_codebooks() -> None:
    with pytest.raises(ConfigError, match="quantizes"):
        resolve_config("vq", "tiny", {"bottleneck": "vae"})
    with pytest.raises(ConfigError, match="codebook_size"):
        resolve_config("vq", "tiny", {"codebook_size": 1})


def test_vq_model_encodes_to_code_vectors_and_back() -> None:
    torch.manual_seed(0)
    model = build_model("vq", resolve_config("vq", "tiny"))
    model.train()
    audio = 0.1 * torch.randn(2, 1, 8000)
    output = model(audio)
    assert set(output.logs) == {"perplexity", "usage", "restarts"}
    model.eval()
    with torch.inference_mode():
        z = model.encode(audio)
        codes, levels, pitches = model.codes(z), model.levels(z), model.pitches(z)
        assert z.shape == (2, 4 + 2, 1 + 8000 // 128)  # the code vector, the level, the pitch
        assert torch.equal(model.code_path(codes, levels, pitches), z)  # a code is a row
        sound = model.decode(model.code_path(codes[:, :10], levels[:, :10], pitches[:, :10]))
    assert sound.shape == (2, 1, 9 * 128)
    with pytest.raises(ValueError, match="codes must be in"):
        model.code_path(torch.tensor([[0, 32]]), torch.zeros(1, 2), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="needs a level"):
        model.code_path(torch.tensor([[0, 1]]))
    with pytest.raises(ValueError, match="needs a pitch"):
        model.code_path(torch.tensor([[0, 1]]), torch.zeros(1, 2))


def test_gain_shape_codes_ignore_the_level_and_the_level_sets_the_loudness() -> None:
    torch.manual_seed(0)
    model = build_model("vq", resolve_config("vq", "tiny")).eval()
    audio = 0.05 * torch.randn(1, 1, 8000)
    with torch.inference_mode():
        quiet, loud = model.encode(audio), model.encode(audio * 10)
        assert torch.equal(model.codes(quiet), model.codes(loud))  # the shape alone is coded
        shift = (model.levels(loud) - model.levels(quiet)).numpy()
        assert np.allclose(shift[:, 2:-2], math.log(10), atol=0.01)  # the level, in ln |X|
        louder = quiet.clone()
        louder[:, model.code_dim] += 1.0
        gain = model.decode_log_magnitude(louder) - model.decode_log_magnitude(quiet)
    assert torch.allclose(gain, torch.ones_like(gain), atol=1e-5)  # +1 level = ×e magnitude


def harmonic_tone(f0: float, sample_rate: int, seconds: float = 0.5) -> torch.Tensor:
    """Audio `[1, 1, samples]`: 8 partials at k·f0 falling 1/k, peak about 0.3."""
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    tone = sum(torch.sin(2 * math.pi * k * f0 * t) / k for k in range(1, 9))
    return (0.3 * tone / 2.7)[None, None]


def test_pitch_shape_tracks_each_frame_and_reads_a_note_shape_at_any_pitch() -> None:
    model = build_model("vq", resolve_config("vq", "tiny")).eval()
    assert model.pitch_shape and model.latent_dim == 4 + 2
    with torch.inference_mode():
        sr = model.sample_rate
        low, high = (model.encode(harmonic_tone(hz, sr)) for hz in (220.0, 330.0))
        for z, hz in ((low, 220.0), (high, 330.0)):
            middle = model.pitches(z)[0, 5:-5]
            assert torch.allclose(440 * torch.exp2(middle), torch.full_like(middle, hz), rtol=2e-3)
        # the encoder reads both on the pitch axis, where they are the same shape
        spectra = [model.target.features(harmonic_tone(hz, sr)) for hz in (220.0, 330.0)]
        read = [
            model.pitch_features(spectrum, torch.full((1, spectrum.shape[-1]), hz))
            for spectrum, hz in zip(spectra, (220.0, 330.0), strict=True)
        ]
    hz = torch.arange(spectra[0].shape[2]) * sr / model._config.n_fft
    partials = (hz > 100) & (hz < 3000)
    axis = (model.pitch_axis > -0.5) & (model.pitch_axis < 3.1)  # up to the 8th partial

    def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
        a, b = a[0, 0, :, 10] - a[0, 0, :, 10].mean(), b[0, 0, :, 10] - b[0, 0, :, 10].mean()
        return float((a * b).sum() / (a.norm() * b.norm()))

    assert correlation(spectra[0][:, :, partials], spectra[1][:, :, partials]) < 0.5
    assert correlation(read[0][:, :, axis], read[1][:, :, axis]) > 0.9


def test_pitch_channel_moves_the_pitch_relative_part_by_its_octaves() -> None:
    torch.manual_seed(0)
    model = build_model("vq", resolve_config("vq", "tiny", {"gain_shape": False})).eval()
    with torch.no_grad():
        model.decoder.output.weight.zero_()  # the fixed part: the per-bin mean alone
        model.decoder.linear.weight.zero_()
        model.decoder.output.bias.zero_()
        bins = model.target.linear_bins
        axis = model.pitch_axis
        bump = torch.exp(-0.5 * ((axis - math.log2(3)) / 0.02) ** 2)  # the 3rd partial
        model.decoder.output.bias[bins:] = bump
        z = torch.zeros(1, model.latent_dim, 1)
        fixed = model.decode_log_magnitude(z)  # pitch channel 0: A4
        z[:, -1] = 1.0  # one octave up
        moved = model.decode_log_magnitude(z)
    hz = torch.arange(bins) * model.sample_rate / model._config.n_fft
    mean = model._target_stats()[0]
    peak_a4 = float(hz[int(torch.argmax(fixed[0, 0, :, 0] - mean))])
    peak_a5 = float(hz[int(torch.argmax(moved[0, 0, :, 0] - mean))])
    step = model.sample_rate / model._config.n_fft
    assert peak_a4 == pytest.approx(3 * 440, abs=step) and peak_a5 == pytest.approx(
        3 * 880, abs=step
    )


def test_models_from_before_pitch_shape_keep_their_latent() -> None:
    config = resolve_config("vq", "tiny", {"pitch_shape": False})
    model = build_model("vq", config).eval()
    assert model.latent_dim == 4 + 1 and model.pitches(torch.zeros(1, 5, 3)) is None
    with pytest.raises(ConfigError, match="front_end"):
        resolve_config("vq", "tiny", {"front_end": "mel"})


def test_a_vq_model_without_gain_shape_keeps_loudness_in_the_codes() -> None:
    settings = {"gain_shape": False, "pitch_shape": False}
    model = build_model("vq", resolve_config("vq", "tiny", settings)).eval()
    assert model.latent_dim == 4
    with torch.inference_mode():
        z = model.encode(0.1 * torch.randn(1, 1, 4000))
        assert model.levels(z) is None
        assert torch.equal(model.code_path(model.codes(z)), z)


def _bundle(run: Path):  # noqa: ANN202
    from timbrespace.bundle import load_bundle

    return load_bundle(run)


def test_codebook_is_measured_on_decoded_audio(vq_run: Path) -> None:
    import librosa

    from timbrespace.codebook_play import bundle_codebook, render_codes

    bundle = _bundle(vq_run)
    codebook = bundle_codebook(bundle)
    assert codebook.size == 32
    assert codebook.values.shape == (32, len(codebook.names))
    assert codebook.units["centroid"] == "Hz" and codebook.units["loudness"] == "dB"
    audible = np.flatnonzero(codebook.audible() & codebook.used())
    code = int(audible[np.argmax(codebook.column("loudness")[audible])])
    frames = bundle.model.latent_frames(8000)
    held = render_codes(
        bundle.model,
        np.full(frames, code),
        np.full(frames, codebook.levels[code]),
        np.full(frames, codebook.pitches[code]),
    )
    audio = held.mean(dim=0).numpy()
    sr = bundle.model.sample_rate
    centroid = librosa.feature.spectral_centroid(y=audio, sr=sr, n_fft=1024, hop_length=128)[0]
    middle = float(np.median(centroid[len(centroid) // 4 : -len(centroid) // 4]))
    assert codebook.column("centroid")[code] == pytest.approx(middle, rel=0.1)


def test_a_code_plays_at_the_pitch_of_its_pitch_channel(vq_run: Path) -> None:
    import librosa

    from timbrespace.codebook_play import bundle_codebook, render_codes

    bundle = _bundle(vq_run)
    codebook = bundle_codebook(bundle)
    assert codebook.pitch_shape and np.isfinite(codebook.pitches).all()
    voiced = np.flatnonzero(np.isfinite(codebook.column("f0")) & codebook.audible())
    # every voiced code measures (the project's tracker) at the pitch it was rendered at
    cents = 1200 * np.log2(codebook.column("f0")[voiced] / (440 * 2 ** codebook.pitches[voiced]))
    assert voiced.size >= 8 and np.mean(np.abs(cents) < 50) >= 0.9
    code = int(voiced[np.argmax(codebook.usage[voiced])])
    frames, sr = bundle.model.latent_frames(16000), bundle.model.sample_rate
    for shift in (0, 7, -5):  # semitones
        pitch = codebook.pitches[code] + shift / 12
        audio = render_codes(
            bundle.model,
            np.full(frames, code),
            np.full(frames, codebook.levels[code]),
            np.full(frames, pitch),
        ).mean(dim=0)
        f0, voiced_flag, _ = librosa.pyin(audio.numpy(), fmin=60, fmax=2000, sr=sr)
        heard = float(np.nanmedian(np.where(voiced_flag, f0, np.nan)[8:-8]))
        assert 1200 * abs(math.log2(heard / (440 * 2**pitch))) < 50


def test_codebook_counts_the_training_sequences(vq_run: Path, melody_cache: Path) -> None:
    from timbrespace.codebook_play import bundle_codebook
    from timbrespace.data.cache import SoundCache

    codebook = bundle_codebook(_bundle(vq_run))
    cache = SoundCache(melody_cache)
    frames = 1 + cache.audio.shape[-1] // 128
    assert codebook.usage.sum() == len(cache) * frames
    assert codebook.transitions.sum() == len(cache) * (frames - 1)
    assert np.allclose(codebook.transitions.sum(axis=0), 0) is False
    assert codebook.used().mean() >= 0.5  # dead-code restarts keep the tiny codebook in use


def test_a_stale_or_missing_codebook_says_to_run_analyze(vq_run: Path, tmp_path: Path) -> None:
    import shutil

    from timbrespace.codebook_play import bundle_codebook
    from timbrespace.latent.codebook import CodebookMissing

    copy = tmp_path / "run"
    shutil.copytree(vq_run / "bundle", copy / "bundle")
    (copy / "bundle" / "codebook.json").unlink()
    with pytest.raises(CodebookMissing, match="timbrespace analyze"):
        bundle_codebook(_bundle(copy))
    meta = json.loads((vq_run / "bundle" / "codebook.json").read_text())
    meta["model"]["weights_sha256"] = "0" * 64
    (copy / "bundle" / "codebook.json").write_text(json.dumps(meta))
    with pytest.raises(CodebookMissing, match="other weights"):
        bundle_codebook(_bundle(copy))


def test_targets_are_followed_and_dp_changes_codes_less_than_greedy(vq_run: Path) -> None:
    from timbrespace.codebook_play import (
        bundle_codebook,
        follow_targets,
        formula_targets,
        target_frames,
    )

    bundle = _bundle(vq_run)
    codebook = bundle_codebook(bundle)
    mask = codebook.audible() & codebook.used()
    low, high = np.percentile(codebook.column("centroid")[mask], [10, 90])
    frames = target_frames(bundle.model, 2.0)
    targets = formula_targets([f"centroid=ramp:{low:.0f}:{high:.0f}"], codebook, frames)
    dp = follow_targets(bundle, targets, codebook=codebook)
    greedy = follow_targets(bundle, targets, method="greedy", codebook=codebook)
    assert dp.audio.shape == (1, (frames - 1) * 128)
    assert dp.tracking["centroid"]["r"] > 0.9
    changes = [int((r.selection.codes[1:] != r.selection.codes[:-1]).sum()) for r in (dp, greedy)]
    assert changes[0] <= changes[1]
    assert not dp.selection.notices


def test_out_of_range_targets_are_clamped_with_the_range_in_units(vq_run: Path) -> None:
    from timbrespace.codebook_play import bundle_codebook, check_targets

    codebook = bundle_codebook(_bundle(vq_run))
    low, high = codebook.value_range("centroid", codebook.selectable())
    everything = codebook.value_range("centroid")
    assert everything[0] <= low and high <= everything[1]  # quiet codes are not choosable
    clamped, notices = check_targets(codebook, {"centroid": np.array([10.0, 1000.0, 20000.0])})
    assert clamped["centroid"].tolist() == pytest.approx([low, min(max(1000, low), high), high])
    assert len(notices) == 1
    assert f"{low:.0f} Hz to {high:.0f} Hz" in notices[0]
    assert "2 of 3 frames clamped" in notices[0]
    with pytest.raises(Exception, match="known: .*centroid"):
        check_targets(codebook, {"brightnes": np.zeros(3)})


def test_generate_target_cli(vq_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import soundfile

    from timbrespace.cli import main

    out = tmp_path / "sweep.wav"
    code = main(
        [
            "generate",
            "target",
            str(vq_run),
            "--curve",
            "centroid=sine:800:2000:1",
            "--curve",
            "loudness=ramp:-40:-20",
            "--weight",
            "loudness=0.5",
            "--seconds",
            "1.5",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    info = soundfile.info(str(out))
    assert info.samplerate == 16000
    assert info.frames == (1 + 24000 // 128 - 1) * 128
    rows = (tmp_path / "sweep.csv").read_text().splitlines()
    assert rows[0].startswith("frame,time,code,centroid_target,centroid_code,centroid_measured")
    assert len(rows) == 1 + 1 + 24000 // 128
    printed = capsys.readouterr().out
    assert "centroid: measured vs target r =" in printed and "loudness" in printed


@pytest.mark.parametrize(
    ("curve", "message"),
    [
        ("centroid=sine:800:x:2", "position 19"),
        ("centriod=ramp:1:2", "known: .*centroid"),
        ("centroid=wobble:1:2", "shape"),
    ],
)
def test_generate_target_bad_curves(
    vq_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture, curve: str, message: str
) -> None:
    from timbrespace.cli import main

    code = main(
        ["generate", "target", str(vq_run), "--curve", curve, "-o", str(tmp_path / "o.wav")]
    )
    assert code == 1
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "o.wav").exists()


def test_generate_target_refuses_a_model_without_codebook(
    spectral_run, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from timbrespace.cli import main

    run, _ = spectral_run
    code = main(
        [
            "generate",
            "target",
            str(run),
            "--curve",
            "centroid=const:900",
            "-o",
            str(tmp_path / "o.wav"),
        ]
    )
    assert code == 1
    assert "no codebook; train --model vq" in capsys.readouterr().err


def test_like_follows_another_sound(vq_run: Path, melody_cache: Path, tmp_path: Path) -> None:
    import soundfile

    from timbrespace.codebook_play import bundle_codebook, follow_targets, like_targets
    from timbrespace.data.cache import SoundCache

    cache = SoundCache(melody_cache)
    source = tmp_path / "source.wav"
    soundfile.write(source, np.asarray(cache.audio[3, 0]), cache.sample_rate)
    bundle = _bundle(vq_run)
    targets = like_targets(bundle, source, ["centroid", "loudness"], None)
    render = follow_targets(bundle, targets, codebook=bundle_codebook(bundle))
    assert render.audio.shape[-1] == (len(targets["centroid"]) - 1) * 128
    assert render.tracking["loudness"]["r"] > 0.5
    assert math.isfinite(render.tracking["centroid"]["median_error"])


def test_spectral_distances_known_answers() -> None:
    from timbrespace.latent.codebook import pca_map, spectral_distances, transition_counts

    spectra = np.array([[1.0, 0.0, 0.0], [3.0, 0.0, 0.0], [0.0, 2.0, 0.0], [1.0, 1.0, 0.0]])
    distance = spectral_distances(spectra)
    assert distance[0, 1] == pytest.approx(0.0, abs=1e-7)  # a louder copy is no jump
    assert distance[0, 2] == pytest.approx(math.sqrt(2))
    assert distance[0, 3] == pytest.approx(math.sqrt(2 - math.sqrt(2)))
    assert np.allclose(distance, distance.T)
    counts = transition_counts([np.array([0, 0, 1]), np.array([1, 2])], 3)
    assert counts.tolist() == [[1, 1, 0], [0, 0, 1], [0, 0, 0]]
    line = np.array([[0.0, 0.0, 1.0], [1.0, 1.0, 1.0], [2.0, 2.0, 1.0]])
    mapped = pca_map(line)
    assert mapped.shape == (3, 2)
    assert abs(mapped[2, 0] - mapped[0, 0]) == pytest.approx(2 * math.sqrt(2))
    assert np.allclose(mapped[:, 1], 0.0)


def test_weights_match_curve_names_whatever_their_case(vq_run: Path) -> None:
    from timbrespace.codebook_play import bundle_codebook, select_codes

    codebook = bundle_codebook(_bundle(vq_run))
    mask = codebook.audible() & codebook.used()
    low, high = np.percentile(codebook.column("centroid")[mask], [10, 90])
    rising = np.linspace(low, high, 40)
    falling_rolloff = np.linspace(*np.percentile(codebook.column("rolloff")[mask], [90, 10]), 40)
    targets = {"centroid": rising, "rolloff": falling_rolloff}
    centroid_wins = select_codes(codebook, targets, weights={"CENTROID": 100.0, "Rolloff": 0.0})
    rolloff_wins = select_codes(codebook, targets, weights={"centroid": 0.0, "rolloff": 100.0})
    slope = [
        np.polyfit(np.arange(40), s.predicted["centroid"], 1)[0]
        for s in (centroid_wins, rolloff_wins)
    ]
    assert slope[0] > 0 > slope[1]


def test_plot_draws_the_codebook_map(vq_run: Path, tmp_path: Path) -> None:
    from PIL import Image

    from timbrespace.cli import main

    assert main(["plot", str(vq_run), "-o", str(tmp_path / "figures")]) == 0
    maps = sorted(p.name for p in (tmp_path / "figures").glob("codebook_*.png"))
    assert {"codebook_centroid.png", "codebook_f0.png", "codebook_loudness.png"} <= set(maps)
    with Image.open(tmp_path / "figures" / "codebook_centroid.png") as image:
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
        assert image.size[0] > 400 and len(np.unique(pixels, axis=0)) > 50


def test_generate_target_from_a_csv(vq_run: Path, tmp_path: Path) -> None:
    import soundfile

    from timbrespace.cli import main

    curves = tmp_path / "curves.csv"
    curves.write_text("time,centroid,loudness\n0,900,-30\n0.5,1800,\n1.0,900,-20\n")
    out = tmp_path / "from_csv.wav"
    assert main(["generate", "target", str(vq_run), "--csv", str(curves), "-o", str(out)]) == 0
    assert soundfile.info(str(out)).duration == pytest.approx(4.0, abs=0.01)  # the default
    rows = [line.split(",") for line in (tmp_path / "from_csv.csv").read_text().splitlines()]
    header = rows[0]
    target = np.array([float(r[header.index("centroid_target")]) for r in rows[1:]])
    assert target[0] == pytest.approx(900) and target.max() == pytest.approx(1800, rel=0.01)
    loud = np.array([float(r[header.index("loudness_target")]) for r in rows[1:]])
    assert loud[0] == pytest.approx(-30) and loud[-1] == pytest.approx(-20)  # beyond 1 s: held
