"""The stream family end to end on real melodies: training, evaluation against PCA of frames,
every latent operation through the CLI, block-by-block transfer, and refused bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from timbrespace.bundle import load_bundle
from timbrespace.cli import main
from timbrespace.inference import decode, encode_file, load_recording, stream

from .conftest import HYDROGEN_ROOT, KITS, STREAM_STEPS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def melodies(melody_cache: Path) -> list[Path]:
    """The first melody of each instrument (flute, cello, trumpet): real files of the cache."""
    root = Path(json.loads((melody_cache / "manifest.json").read_text())["dataset"])
    return sorted(root.glob("*/melody_000.wav"))


def _read(path: Path) -> np.ndarray:
    return sf.read(path, dtype="float32", always_2d=True)[0].T


def test_tiny_stream_model_learns_real_melodies(stream_run, melody_cache) -> None:
    """A tiny model after a few hundred steps is not yet as good as PCA of frames rebuilt by
    Griffin-Lim (the `small` preset's 15-minute figure is in `benchmarks/stream_quality.py`),
    but it must have learned: far closer than an untrained model, near the linear baseline."""
    from timbrespace.data.cache import SoundCache
    from timbrespace.evaluation import evaluate, mrstft_distance
    from timbrespace.inference import reconstruct
    from timbrespace.models.base import build_model

    run, result = stream_run
    assert result.steps == STREAM_STEPS
    report = evaluate(run, melody_cache, split="train", limit=40)
    assert report["baseline"].startswith("PCA of log-magnitude STFT frames at the model's frame")
    trained = report["model"]["mrstft_distance"]
    assert trained < 1.25 * report["baseline_pca"]["mrstft_distance"]
    model = load_bundle(run / "bundle").model
    torch.manual_seed(0)
    untrained = build_model("stream", model.config).eval()
    clips = torch.from_numpy(np.array(SoundCache(melody_cache).audio[:40], dtype=np.float32))
    fresh = float(np.mean(mrstft_distance(reconstruct(untrained, clips), clips, 16000)))
    assert trained < 0.65 * fresh


def test_curves_planes_paths_and_transfer_render_through_the_stream_model(
    stream_run, melodies, tmp_path: Path
) -> None:
    from timbrespace.latent import paths, syntax

    run = stream_run[0]
    bundle = load_bundle(run / "bundle")
    a, b, c = melodies
    curve = "0:0,0.5:1,1:1.3"
    out = tmp_path / "curve.wav"
    args = ["generate", "interpolate", str(run), str(a), str(b), "--curve", curve]
    assert main([*args, "--align", "crop", "-o", str(out)]) == 0
    za, zb = encode_file(bundle, a), encode_file(bundle, b)
    mixed = paths.interpolate(za, zb, syntax.parse_curve(curve), mode="crop")
    np.testing.assert_allclose(_read(out), decode(bundle.model, mixed)[0].numpy(), atol=1e-4)
    assert np.abs(_read(out)).max() > 0.01

    out = tmp_path / "plane.wav"
    corners = [str(a), str(b), str(c), str(a)]
    assert (
        main(
            [
                "generate",
                "plane",
                str(run),
                *corners,
                "--xy",
                "1,0",
                "--align",
                "crop",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert _read(out).shape[-1] > bundle.sample_rate
    trajectory = tmp_path / "walk.txt"
    trajectory.write_text("0,0,0\n0.5,1,0\n1,1,1\n")
    out = tmp_path / "walk.wav"
    walk = ["generate", "plane", str(run), *corners, "--trajectory", str(trajectory)]
    assert main([*walk, "--align", "crop", "-o", str(out)]) == 0
    assert np.abs(_read(out)).max() > 0.01

    out = tmp_path / "random.wav"
    ops = ["--op", "randomize=0.3", "--op", "curve:1+=0:0,1:2", "--seed", "3"]
    assert main(["generate", "path", str(run), str(a), *ops, "-o", str(out)]) == 0
    edited = _read(out)
    assert edited.shape == decode(bundle.model, za)[0].numpy().shape
    assert np.abs(edited - decode(bundle.model, za)[0].numpy()).max() > 1e-3

    out = tmp_path / "path.wav"
    ops = ["--op", "scale=1.5", "--op", "bias=0.2", "--op", "reverse", "--op", "reverse"]
    assert main(["generate", "path", str(run), str(a), *ops, "-o", str(out)]) == 0
    np.testing.assert_allclose(
        _read(out), decode(bundle.model, 1.5 * za + 0.2)[0].numpy(), atol=1e-4
    )

    whole, live = tmp_path / "transfer.wav", tmp_path / "live.wav"
    assert main(["generate", "transfer", str(run), str(c), "-o", str(whole)]) == 0
    assert main(["generate", "transfer", str(run), str(c), "--block", "256", "-o", str(live)]) == 0
    offline, streamed = _read(whole), _read(live)
    assert offline.shape == streamed.shape == (1, load_recording(bundle, c).shape[-1])
    settled = offline.shape[-1] - bundle.model.delay_samples
    np.testing.assert_allclose(streamed[:, :settled], offline[:, :settled], atol=1e-4)


def test_controls_move_a_stream_path_frame_by_frame(stream_run, melodies, tmp_path: Path) -> None:
    run = stream_run[0]
    out = tmp_path / "moved.wav"
    argv = ["generate", "control", str(run), "--from", str(melodies[0]), "--set", "pca1=1.5"]
    assert main([*argv, "-o", str(out)]) == 0
    moved = _read(out)
    bundle = load_bundle(run / "bundle")
    original = decode(bundle.model, encode_file(bundle, melodies[0]))[0].numpy()
    assert moved.shape == original.shape
    assert np.abs(moved - original).max() > 1e-3


def test_a_drum_loop_keeps_its_loudness_envelope_through_a_melody_model(stream_run) -> None:
    from timbrespace.audio.loudness import envelope_spearman
    from timbrespace.data.loops import drum_loop

    bundle = load_bundle(stream_run[0] / "bundle")
    files = sorted((HYDROGEN_ROOT / KITS[0]).glob("*.wav"))[:12]
    loop = drum_loop(files, bundle.sample_rate)
    rendered = stream(bundle.model, torch.from_numpy(loop)[None, None], 512)[0, 0].numpy()
    assert envelope_spearman(loop, rendered) >= 0.8
    noise = np.random.default_rng(0).standard_normal(loop.size).astype(np.float32) * 0.1
    assert abs(envelope_spearman(loop, noise)) < 0.3


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--block", "100"], "block of 100 samples"),
        (["--block", "0"], "positive"),
    ],
)
def test_bad_blocks_are_one_line_errors(
    stream_run, melodies, tmp_path, capsys, extra, message
) -> None:
    out = tmp_path / "never.wav"
    argv = ["generate", "transfer", str(stream_run[0]), str(melodies[0]), *extra, "-o", str(out)]
    try:
        code = main(argv)
    except SystemExit as exit_info:
        code = exit_info.code
    assert code in (1, 2)
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_model_that_does_not_stream_refuses_blocks(trained, melodies, tmp_path, capsys) -> None:
    out = tmp_path / "never.wav"
    argv = [
        "generate",
        "transfer",
        str(trained[0]),
        str(melodies[0]),
        "--block",
        "512",
        "-o",
        str(out),
    ]
    assert main(argv) == 1
    error = capsys.readouterr().err
    assert "does not stream block by block" in error and error.count("\n") == 1
    assert not out.exists()


def test_nan_audio_is_refused_with_the_file_named(stream_run, tmp_path, capsys) -> None:
    bad = tmp_path / "nan.wav"
    audio = np.zeros(16000, dtype=np.float32)
    audio[100] = np.nan
    sf.write(bad, audio, 16000, subtype="FLOAT")
    out = tmp_path / "never.wav"
    assert (
        main(
            ["generate", "transfer", str(stream_run[0]), str(bad), "--block", "512", "-o", str(out)]
        )
        == 1
    )
    assert "nan.wav" in capsys.readouterr().err
    assert not out.exists()
