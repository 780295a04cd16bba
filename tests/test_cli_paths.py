"""`generate interpolate / plane / path` on a tiny one-shot model trained on real drums."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from timbrespace.bundle import load_bundle
from timbrespace.cli import main
from timbrespace.inference import decode, encode_file
from timbrespace.latent.paths import interpolate

from .conftest import HYDROGEN_ROOT, KITS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sounds(trained) -> tuple[Path, list[Path]]:
    """(bundle folder, four real drum files)."""
    run, _ = trained
    files = sorted((HYDROGEN_ROOT / KITS[0]).glob("*.wav"))[:4]
    assert len(files) == 4
    return run / "bundle", files


def _read(path: Path) -> np.ndarray:
    audio, _ = sf.read(path, dtype="float32", always_2d=True)
    return audio.T


def _expected(bundle_dir: Path, z: torch.Tensor) -> np.ndarray:
    return decode(load_bundle(bundle_dir).model, z)[0].numpy()


def test_interpolate_hits_each_end_and_extrapolates_beyond_b(sounds, tmp_path: Path) -> None:
    bundle_dir, (a, b, *_) = sounds
    bundle = load_bundle(bundle_dir)
    za, zb = encode_file(bundle, a), encode_file(bundle, b)
    out = tmp_path / "mix"
    assert (
        main(
            [
                "generate",
                "interpolate",
                str(bundle_dir),
                str(a),
                str(b),
                "--amount",
                "0,1,1.2",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    written = sorted(out.glob("*.wav"))
    assert [p.name for p in written] == [
        "interpolate_00_+0.00.wav",
        "interpolate_01_+1.00.wav",
        "interpolate_02_+1.20.wav",
    ]
    tolerance = dict(atol=1e-4, rtol=0)  # 16-bit WAV quantisation is 3e-5
    np.testing.assert_allclose(_read(written[0]), _expected(bundle_dir, za), **tolerance)
    np.testing.assert_allclose(_read(written[1]), _expected(bundle_dir, zb), **tolerance)
    beyond = za + 1.2 * (zb - za)
    np.testing.assert_allclose(_read(written[2]), _expected(bundle_dir, beyond), **tolerance)
    torch.testing.assert_close(interpolate(za, zb, 1.2), beyond)
    assert not np.allclose(_read(written[1]), _read(written[2]), atol=1e-3)


def test_plane_corner_is_that_sound_and_path_ops_compose(sounds, tmp_path: Path) -> None:
    bundle_dir, files = sounds
    bundle = load_bundle(bundle_dir)
    out = tmp_path / "corner.wav"
    args = ["generate", "plane", str(bundle_dir), *map(str, files), "--xy", "1,0", "-o", str(out)]
    assert main(args) == 0
    zb = encode_file(bundle, files[1])
    np.testing.assert_allclose(_read(out), _expected(bundle_dir, zb), atol=1e-4, rtol=0)

    edited = tmp_path / "path.wav"
    ops = ["--op", "scale=2", "--op", "bias=0.5", "--op", "reverse"]
    assert main(["generate", "path", str(bundle_dir), str(files[0]), *ops, "-o", str(edited)]) == 0
    za = encode_file(bundle, files[0])
    np.testing.assert_allclose(
        _read(edited), _expected(bundle_dir, 2 * za + 0.5), atol=1e-4, rtol=0
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["interpolate", "--curve", "1:0,0:1"], "0"),
        (["interpolate", "--curve", "0:0,1:x"], "x"),
        (["interpolate", "--curve", "0:0,1.5:1"], "beyond the end"),
        (["interpolate", "--curve", "0:0,1:1"], "mixes whole sounds"),
        (["interpolate", "--amount", "0.5,nan"], "not a finite number"),
        (["plane", "--xy", "0.5"], "expected 2 comma-separated numbers"),
        (["path", "--op", "explode=3"], "known operators"),
    ],
)
def test_bad_input_is_refused_before_any_work(
    sounds, tmp_path: Path, capsys, extra: list[str], message: str
) -> None:
    bundle_dir, files = sounds
    action, *options = extra
    inputs = {"interpolate": files[:2], "plane": files, "path": files[:1]}[action]
    out = tmp_path / "never.wav"
    code = main(["generate", action, str(bundle_dir), *map(str, inputs), *options, "-o", str(out)])
    assert code == 1
    assert message in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.iterdir())


def test_the_parser_lists_the_alignment_modes_of_latent_paths() -> None:
    from timbrespace.cli import build_parser
    from timbrespace.latent.paths import ALIGN_MODES

    argv = ["generate", "interpolate", "bundle", "a.wav", "b.wav", "-o", "out.wav", "--align"]
    for mode in ALIGN_MODES:
        assert build_parser().parse_args([*argv, mode]).align == mode
    with pytest.raises(SystemExit):
        build_parser().parse_args([*argv, "warp"])
