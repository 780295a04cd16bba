"""The one table of limits (`timbrespace.limits`) and the memory bombs of issue 13, item 3–4.

Every memory-bomb request the red team sent fails in < 1 s with < 200 MB of memory growth and
a one-line message; each is run through the CLI in a fresh subprocess (after one valid warm-up
request, so imports and first-call costs are not counted), measuring the peak RSS
(`ru_maxrss`) before and after. Then known-answer tests of each check.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import soundfile as sf
import torch

from tests.conftest import decaying_tone
from tests.test_bundle_tamper import make_tiny_bundle
from timbrespace.errors import NonFiniteError, TimbrespaceError
from timbrespace.limits import (
    CONFIG_FIELDS,
    GLA_ITERS_MAX,
    LIMITS,
    SOUNDS_MAX,
    LimitError,
    check,
    check_config,
    check_count,
    limits,
)

MEASURE = """
import contextlib, io, json, resource, sys, time
from timbrespace.cli import main

warm, bomb = json.loads(sys.argv[1])
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    assert main(warm) == 0, warm
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
err = io.StringIO()
began = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
    code = main(bomb)
seconds = time.perf_counter() - began
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"code": code, "seconds": seconds, "grown_mb": (after - before) / 1024,
                  "err": err.getvalue()}))
"""


@pytest.fixture(scope="module")
def spaces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An analysed tiny one-shot bundle, an untrained tiny spectral bundle (16 kHz, hop 128)
    and a 1 s tone to encode."""
    from timbrespace.bundle import save_bundle
    from timbrespace.models.base import build_model, resolve_config

    root = tmp_path_factory.mktemp("limits")
    oneshot = make_tiny_bundle(root / "oneshot")
    config = resolve_config("spectral", "tiny", {"sample_rate": 16000, "clip_samples": 16000})
    torch.manual_seed(0)
    spectral = save_bundle(
        root / "spectral",
        build_model("spectral", config).eval(),
        "spectral",
        training={"prepare_config": {"mode": "continuous", "sample_rate": 16000, "length": 1.0}},
        latents=torch.randn(4, config.latent_dim, 10),
    )
    tone = root / "tone.wav"
    sf.write(tone, decaying_tone(220.0, 1.0, 16000, tau=0.4), 16000)
    return {"oneshot": oneshot, "spectral": spectral, "tone": tone, "out": root / "out"}


def _bombs(s: dict[str, Path]) -> dict[str, tuple[list[str], list[str], str]]:
    """name → (warm-up argv, bomb argv, expected text of the one-line error)."""
    one, spec, tone, out = (str(s[k]) for k in ("oneshot", "spectral", "tone", "out"))
    path = ["generate", "path", spec, tone]
    warm_path = [*path, "--op", "stretch=2", "-o", f"{out}/warm.wav"]
    amounts = ",".join(f"{i / 10000:.4f}" for i in range(10_000))
    warm_mix = ["generate", "interpolate", one, tone, tone, "--amount", "0,1", "-o", f"{out}/m"]
    warm_random = ["generate", "random", one, "-n", "2", "-o", f"{out}/r"]
    control = ["generate", "control", one, "--nearest", "tone_0.wav"]
    return {
        "path stretch=1e6": (
            warm_path,
            [*path, "--op", "stretch=1e6", "-o", f"{out}/p.wav"],
            "stretch factor 1000000 is above its limit 100",
        ),
        "path smooth=1e9": (
            warm_path,
            [*path, "--op", "smooth=1e9", "-o", f"{out}/p.wav"],
            "smooth width 1000000000 frames is above its limit 1000 frames",
        ),
        "path stretch=1000 with gla_iters=512": (
            warm_path,
            [*path, "--op", "stretch=1000", "--gla-iters", "512", "-o", f"{out}/p.wav"],
            "stretch factor 1000 is above its limit 100",
        ),
        "path stretch=100 with gla_iters=512 (the work budget)": (
            warm_path,
            [*path, "--op", "stretch=100", "--gla-iters", "512", "-o", f"{out}/p.wav"],
            "Griffin-Lim iterations is 1.66e+09 bin·frame·iterations, above the limit 5e+08",
        ),
        "path scale=1e308": (
            warm_path,
            [*path, "--op", "scale=1e308", "-o", f"{out}/p.wav"],
            "scale factor 1e+308 is above its limit 100",
        ),
        "path scale=100 twenty times (non-finite)": (
            warm_path,
            [*path, *["--op", "scale=100"] * 20, "-o", f"{out}/p.wav"],
            "] scale=100: the latent becomes infinite or NaN",  # ops[18] or [19]: |z| > 1
        ),
        "random -n 1000000": (
            warm_random,
            ["generate", "random", one, "-n", "1000000", "-o", f"{out}/r"],
            f"number of random sounds 1000000 sounds is above its limit {SOUNDS_MAX} sounds",
        ),
        "interpolate with 10 000 amounts": (
            warm_mix,
            ["generate", "interpolate", one, tone, tone, "--amount", amounts, "-o", f"{out}/m"],
            f"--amount values 10000 sounds is above its limit {SOUNDS_MAX} sounds",
        ),
        "control --set pca1=1e300 --extrapolate": (
            [*control, "--set", "pca1=0.1", "-o", f"{out}/c.wav"],
            [*control, "--set", "pca1=1e300", "--extrapolate", "-o", f"{out}/c.wav"],
            "setting pca1: the latent becomes infinite or NaN",
        ),
    }


BOMB_NAMES = [
    "path stretch=1e6",
    "path smooth=1e9",
    "path stretch=1000 with gla_iters=512",
    "path stretch=100 with gla_iters=512 (the work budget)",
    "path scale=1e308",
    "path scale=100 twenty times (non-finite)",
    "random -n 1000000",
    "interpolate with 10 000 amounts",
    "control --set pca1=1e300 --extrapolate",
]


def _measure(warm: list[str], bomb: list[str]) -> dict[str, typing.Any]:
    run = subprocess.run(
        [sys.executable, "-c", MEASURE, json.dumps([warm, bomb])],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", BOMB_NAMES)
def test_a_memory_bomb_fails_fast_small_and_in_one_line(name: str, spaces: dict[str, Path]) -> None:
    warm, bomb, expected = _bombs(spaces)[name]
    result = _measure(warm, bomb)
    err = result["err"]
    assert result["code"] == 1, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert expected in err
    assert result["seconds"] < 1.0, result
    assert result["grown_mb"] < 200, result


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("latent_dim", 1_000_000, "config.latent_dim 1000000 is above its limit 1024"),
        ("n_harmonics", 100_000_000, "config.n_harmonics 100000000 is above its limit 512"),
        ("clip_samples", 10**12, "config.clip_samples 1000000000000 is 6.25e+07 s"),
        ("encoder_widths", [8, 16, 32, 48, 1_000_000], "encoder_widths[4] 1000000 is above"),
    ],
)
def test_a_huge_bundle_config_fails_fast_and_small(
    field: str, value: object, expected: str, spaces: dict[str, Path], tmp_path: Path
) -> None:
    """The red team's 11 GB, 25.6 GB, 12 TB and 6.4 GB configs: refused before allocating."""
    import shutil

    folder = tmp_path / "bundle"
    shutil.copytree(spaces["oneshot"], folder)
    meta = json.loads((folder / "bundle.json").read_text())
    meta["config"][field] = value
    (folder / "bundle.json").write_text(json.dumps(meta))
    out = str(spaces["out"])
    warm = ["generate", "random", str(spaces["oneshot"]), "-n", "1", "-o", f"{out}/w"]
    result = _measure(warm, ["generate", "random", str(folder), "-n", "1", "-o", f"{out}/x"])
    assert result["code"] == 1 and expected in result["err"], result
    assert len(result["err"].strip().splitlines()) == 1
    assert result["seconds"] < 1.0 and result["grown_mb"] < 200, result


# --- known answers ------------------------------------------------------------------------------


def test_check_gives_the_value_within_and_names_field_value_and_limit_beyond() -> None:
    assert check("latent_dim", 1024) == 1024.0
    assert check_count("sounds", SOUNDS_MAX) == SOUNDS_MAX
    with pytest.raises(LimitError, match=r"^latent_dim 1025 is above its limit 1024 \(latent "):
        check("latent_dim", 1025)
    with pytest.raises(LimitError, match=r"^stretch factor 0.001 is below its limit 0.01 \("):
        check("stretch", 0.001, "stretch factor")
    with pytest.raises(LimitError, match=r"^-n 0 sounds is below its limit 1 sounds"):
        check_count("sounds", 0, "-n")
    with pytest.raises(LimitError, match="is not a number"):
        check("scale", float("nan"))
    with pytest.raises(LimitError, match="inf is above its limit 100"):
        check("scale", float("inf"))
    assert issubclass(LimitError, TimbrespaceError) and issubclass(LimitError, ValueError)


def test_limits_json_for_the_studio() -> None:
    table = json.loads(json.dumps(limits()))
    assert table["gla_iters"] == {"min": 1, "max": GLA_ITERS_MAX}
    assert table["sounds"] == {"min": 1, "max": SOUNDS_MAX}
    assert table["gla_work"]["max"] == 5e8
    assert set(table) == set(LIMITS)


def test_every_size_field_of_every_family_has_a_limit() -> None:
    """A new int field of a model config must be added to `CONFIG_FIELDS` (or here, with why)."""
    from timbrespace.models.base import available_families, get_family

    not_sizes = {"clip_samples"}  # checked in seconds against `clip_seconds`
    not_sizes.add("fader_ramp_steps")  # a training schedule: allocates nothing
    for family in available_families():
        cls = get_family(family).config_cls
        for name, hint in typing.get_type_hints(cls).items():
            sized = hint is int or hint == tuple[int, ...]
            if sized and name not in not_sizes:
                assert name in CONFIG_FIELDS, f"{cls.__name__}.{name} has no limit"
                assert CONFIG_FIELDS[name] in LIMITS


@pytest.mark.parametrize("family", ["oneshot", "spectral", "stream", "fader", "vq"])
@pytest.mark.parametrize("preset", ["tiny", "small", "full"])
def test_every_preset_is_within_the_limits(family: str, preset: str) -> None:
    from timbrespace.bundle_checks import meta_model
    from timbrespace.models.base import resolve_config

    config = resolve_config(family, preset)
    check_config(config)
    model = meta_model(family, config)
    parameters = sum(t.numel() for t in model.state_dict().values())
    assert parameters <= LIMITS["parameters"].high


def test_check_config_names_the_entry_and_reads_plain_dicts() -> None:
    from timbrespace.models.base import build_model, resolve_config

    with pytest.raises(LimitError, match=r"^config.synth_widths\[1\] 9000 is above its limit 8192"):
        check_config({"synth_widths": [64, 9000]}, "config.")
    with pytest.raises(LimitError, match="encoder_strides length 17 is above its limit 16"):
        check_config({"encoder_strides": [2] * 17})
    with pytest.raises(LimitError, match="^clip_samples 2928000 is 61 s at 48000 Hz, outside"):
        check_config({"clip_samples": 48000 * 61, "sample_rate": 48000})
    check_config({"latent_dim": "big", "encoder_widths": "wide"})  # types: the config's checks
    with pytest.raises(LimitError, match="latent_dim 2048 is above"):
        build_model("spectral", resolve_config("spectral", "tiny", {"latent_dim": 2048}))


def test_config_types_are_checked_by_the_dataclass_hints() -> None:
    from timbrespace.config import ConfigError, config_from_dict
    from timbrespace.models.oneshot import OneShotConfig

    cases = {
        "latent_dim": ("big", "expects a whole number, got 'big'"),
        "beta": ("x", "expects a number, got 'x'"),
        "weight_norm": (1, "expects true or false, got 1"),
        "synth": (3, "expects a string, got 3"),
        "encoder_widths": ({"a": 1}, "expects a list, got dict"),
        "f0_range": ([20.0], "expects a list of 2 values, got 1"),
        "dilations": ([1, 3.5], r"'dilations\[1\]' expects a whole number, got 3.5"),
    }
    for key, (value, message) in cases.items():
        with pytest.raises(ConfigError, match=message):
            config_from_dict(OneShotConfig, {key: value})
    config = config_from_dict(OneShotConfig, {"beta": 1, "f0_range": [20, 4000]})
    assert config.beta == 1.0 and isinstance(config.beta, float)
    assert config.f0_range == (20.0, 4000.0)


def test_path_operators_refuse_beyond_their_limits() -> None:
    from timbrespace.latent.operators import (
        AddNoise,
        Bias,
        Randomize,
        Scale,
        Smooth,
        TimeStretch,
        apply_ops,
    )
    from timbrespace.latent.syntax import parse_op

    for make, message in [
        (lambda: Scale(101.0), "scale factor 101 is above its limit 100"),
        (lambda: Scale(-1e308), "scale factor -1e\\+308 is below its limit -100"),
        (lambda: Bias(1001.0), "bias 1001 is above its limit 1000"),
        (lambda: Bias((0.0, -2000.0)), "bias -2000 is below its limit -1000"),
        (lambda: AddNoise(1e6), "noise std 1000000 is above its limit 1000"),
        (lambda: Randomize(0.5, std=1e9), "randomize std 1000000000 is above"),
        (lambda: TimeStretch(1e6), "stretch factor 1000000 is above its limit 100"),
        (lambda: TimeStretch(0.001), "stretch factor 0.001 is below its limit 0.01"),
        (lambda: Smooth(1001), "smooth width 1001 frames is above its limit 1000 frames"),
        (lambda: parse_op("smooth=1e9"), "smooth width 1000000000 frames is above"),
    ]:
        with pytest.raises(TimbrespaceError, match=message):  # a LimitError; parse_op rewraps
            make()
    Scale(100.0), Smooth(1000), TimeStretch(100.0), TimeStretch(0.01)  # the limits themselves
    long_path = torch.zeros(1, 4, 2000)
    with pytest.raises(LimitError, match=r"stretch=100 of 2000 frames 200000 frames is above"):
        TimeStretch(100.0)(long_path)
    assert TimeStretch(50.0)(long_path).shape == (1, 4, 100_000)
    with pytest.raises(NonFiniteError, match=r"^ops\[19\] scale=100: the latent becomes inf"):
        apply_ops(torch.ones(1, 4, 3), [Scale(100.0)] * 20)
    assert torch.isfinite(apply_ops(torch.ones(1, 4, 3), [Scale(100.0)] * 19)).all()


def test_mixes_and_moves_that_leave_float_range_name_their_cause() -> None:
    from timbrespace.latent.analysis import fit_pca
    from timbrespace.latent.control import Control, set_controls
    from timbrespace.latent.paths import interpolate, plane

    a, b = torch.zeros(1, 4, 5), torch.full((1, 4, 5), 1e30)
    assert interpolate(a, b, 1e8).abs().max() == pytest.approx(1e38, rel=1e-5)
    with pytest.raises(TimbrespaceError, match="^amount: the latent becomes infinite or NaN"):
        interpolate(a, b, 1e9)  # 1e39: beyond float32
    with pytest.raises(TimbrespaceError, match="^position x, y: the latent becomes infinite"):
        plane([a, b, a, b], 1e9, 0.5)
    pca = fit_pca(torch.randn(50, 4, dtype=torch.float64), 2)
    controls = {"pca1": Control.from_pca(pca, 0)}
    with pytest.raises(TimbrespaceError, match="^setting pca1: the latent becomes infinite"):
        set_controls(torch.zeros(1, 4, 1), ["pca1=1e300"], controls, extrapolate=True)


def test_render_checks_sounds_length_and_the_griffin_lim_budget() -> None:
    from timbrespace.inference import check_render, random_latents
    from timbrespace.models.base import build_model, resolve_config

    model = build_model("spectral", resolve_config("spectral", "tiny", {"sample_rate": 16000}))
    bins = model.config.n_fft // 2 + 1
    assert model.gla_work(100, 32) == bins * 100 * 32
    budget = LIMITS["gla_work"].high
    at_budget = int(budget // (bins * GLA_ITERS_MAX))  # frames a 512-iteration render may take
    check_render(model, torch.zeros(1, model.latent_dim, at_budget), GLA_ITERS_MAX)
    most = int(budget // (bins * (at_budget + 1)))
    with pytest.raises(LimitError, match=f"ask at most {most} iterations or a shorter sound"):
        check_render(model, torch.zeros(1, model.latent_dim, at_budget + 1), GLA_ITERS_MAX)
    with pytest.raises(LimitError, match="sounds to render 257 sounds is above its limit 256"):
        check_render(model, torch.zeros(257, model.latent_dim, 2))
    frames = int(600 * 16000 / model.hop_length) + 2  # just over 600 s
    with pytest.raises(LimitError, match=r"render of \d+ frames \(600 s\) .* above its limit 600"):
        check_render(model, torch.zeros(1, model.latent_dim, frames), 1)
    with pytest.raises(LimitError, match="gla_iters 513 is above its limit 512"):
        check_render(model, torch.zeros(1, model.latent_dim, 2), 513)
    with pytest.raises(TimbrespaceError, match="latent to render: the latent becomes infinite"):
        check_render(model, torch.full((1, model.latent_dim, 2), float("inf")))

    class NoStats:
        extra: dict[str, torch.Tensor] = {}

    for n in (0, 257, 1_000_000):
        with pytest.raises(LimitError, match=f"number of random sounds {n} sounds is"):
            random_latents(NoStats(), n)  # type: ignore[arg-type]
    with pytest.raises(TimbrespaceError, match="temperature must be a finite number ≥ 0"):
        random_latents(NoStats(), 1, temperature=-1.0)  # type: ignore[arg-type]


def test_a_non_finite_decode_is_refused_not_clamped() -> None:
    from timbrespace.inference import decode, render
    from timbrespace.models.base import build_model, resolve_config

    model = build_model("spectral", resolve_config("spectral", "tiny")).eval()
    huge = torch.full((1, model.latent_dim, 3), 3e38)
    assert torch.isfinite(decode(model, torch.zeros(1, model.latent_dim, 3))).all()
    with pytest.raises(NonFiniteError, match="the decoded sound has NaN or infinite samples"):
        render(model, huge, gla_iters=2)


def test_sweep_steps_come_from_the_table() -> None:
    from timbrespace.latent.settings import parse_sweep

    assert parse_sweep("pca1=-1:1:256").steps == LIMITS["sweep_steps"].high == 256
    with pytest.raises(TimbrespaceError, match="STEPS must be between 2 and 256"):
        parse_sweep("pca1=-1:1:257")


def test_the_table_is_torch_free() -> None:
    code = "import sys, timbrespace.limits; print('torch' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"


def test_config_fields_name_real_fields() -> None:
    from timbrespace.models.ddsp_config import DdspConfig
    from timbrespace.models.fader import FaderConfig
    from timbrespace.models.oneshot import OneShotConfig
    from timbrespace.models.spectral import SpectralModelConfig
    from timbrespace.models.stream import StreamModelConfig
    from timbrespace.models.vq import VQModelConfig

    configs = (
        OneShotConfig,
        SpectralModelConfig,
        StreamModelConfig,
        DdspConfig,
        FaderConfig,
        VQModelConfig,
    )
    fields = {f.name for c in configs for f in dataclasses.fields(c)}
    assert set(CONFIG_FIELDS) <= fields
