"""Tampered bundles: every class the red team tried (issue 13, item 5) ends in one line on
stderr and exit 1, never a traceback, and is refused before the model is built.

The bundle is a real one made in seconds: an untrained tiny one-shot model saved with
`save_bundle` over a small prepared pack, analysed without calibration.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file, save_file

from tests.conftest import decaying_tone
from timbrespace.cli import main

Tamper = Callable[[Path], None]


def make_tiny_bundle(root: Path) -> Path:
    """An analysed bundle of an untrained tiny one-shot model (16 kHz, 0.5 s clips) over a
    prepared pack of 8 tones, in `root`; made in seconds."""
    from timbrespace.analyze import analyze_bundle
    from timbrespace.bundle import save_bundle
    from timbrespace.data.cache import SoundCache
    from timbrespace.data.prepare import PrepareConfig, prepare_dataset
    from timbrespace.inference import encode_batches
    from timbrespace.models.base import build_model, resolve_config

    for i in range(8):
        folder = root / "pack" / ("low" if i < 4 else "high")
        folder.mkdir(parents=True, exist_ok=True)
        tone = decaying_tone(110.0 * (i + 1), 0.6, 16000, seed=i)
        sf.write(folder / f"tone_{i}.wav", tone, 16000)
    cache_path = root / "cache"
    config = PrepareConfig(sample_rate=16000, length=0.5)
    prepare_dataset(root / "pack", cache_path, config, workers=1)
    cache = SoundCache(cache_path)
    torch.manual_seed(0)
    model = build_model("oneshot", resolve_config("oneshot", "tiny")).eval()
    bundle = save_bundle(
        root / "bundle",
        model,
        "oneshot",
        training={
            "cache": {"path": str(cache_path), "fingerprint": cache.fingerprint},
            "prepare_config": cache.config,
        },
        latents=encode_batches(model, cache.audio),
    )
    analyze_bundle(bundle, calibrate=False)
    return bundle


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """See `make_tiny_bundle`."""
    return make_tiny_bundle(tmp_path_factory.mktemp("tamper"))


def _edit_json(name: str, edit: Callable[[dict], object]) -> Tamper:
    """A tamper that rewrites `name` (bundle.json or analysis.json) with `edit(meta)`: the
    edit changes `meta` in place (returns None) or returns the new document."""

    def tamper(folder: Path) -> None:
        path = folder / name
        meta = json.loads(path.read_text("utf-8"))
        replaced = edit(meta)
        path.write_text(json.dumps(meta if replaced is None else replaced), "utf-8")

    return tamper


def _config(key: str, value: object) -> Tamper:
    return _edit_json("bundle.json", lambda meta: meta["config"].__setitem__(key, value))


def _meta(key: str, value: object) -> Tamper:
    return _edit_json("bundle.json", lambda meta: meta.__setitem__(key, value))


def _training(key: str, value: object) -> Tamper:
    return _edit_json("bundle.json", lambda meta: meta["training"].__setitem__(key, value))


def _write(name: str, data: bytes | Callable[[bytes], bytes]) -> Tamper:
    def tamper(folder: Path) -> None:
        path = folder / name
        path.write_bytes(data(path.read_bytes()) if callable(data) else data)

    return tamper


def _load(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, copied out of its memory map (the file is rewritten
    in place next: a mapped tensor would then read a truncated file, a bus error)."""
    return {name: tensor.clone() for name, tensor in load_file(str(path)).items()}


def _pickle_weights(folder: Path) -> None:
    state = _load(folder / "weights.safetensors")
    torch.save(state, folder / "weights.safetensors")  # a pickle in place of safetensors


def _rename_tensor(folder: Path) -> None:
    state = _load(folder / "weights.safetensors")
    first = sorted(state)[0]
    state[first + "_renamed"] = state.pop(first)
    save_file(state, str(folder / "weights.safetensors"))


def _reshape_extra(folder: Path) -> None:
    extra = _load(folder / "extra.safetensors")
    extra["latent_mean"] = torch.zeros(3)
    save_file(extra, str(folder / "extra.safetensors"))


def _fewer_latents(folder: Path) -> None:
    tensors = _load(folder / "analysis.safetensors")
    tensors["latents"] = tensors["latents"][:3].contiguous()
    save_file(tensors, str(folder / "analysis.safetensors"))


def _remove(name: str) -> Tamper:
    return lambda folder: (folder / name).unlink()


def _delete_key(name: str, key: str) -> Tamper:
    def delete(meta: dict) -> None:
        del meta[key]

    return _edit_json(name, delete)


DEEP = b"[" * 200_000 + b"]" * 200_000
WIDTHS_1E6 = [8, 16, 32, 48, 1_000_000]

BUNDLE_CASES: dict[str, Tamper] = {
    "weights truncated": _write("weights.safetensors", lambda data: data[: len(data) // 2]),
    "weights empty": _write("weights.safetensors", b""),
    "weights pickle": _pickle_weights,
    "weights garbage": _write("weights.safetensors", b"\x80\x04garbage" * 100),
    "weights header only": _write("weights.safetensors", lambda data: data[:200]),
    "weights missing": _remove("weights.safetensors"),
    "weights renamed tensor": _rename_tensor,
    "latent_dim 1e6": _config("latent_dim", 1_000_000),
    "latent_dim 1e6 float": _config("latent_dim", 1e6),
    "latent_dim big": _config("latent_dim", "big"),
    "latent_dim 0": _config("latent_dim", 0),
    "n_harmonics 1e8": _config("n_harmonics", 100_000_000),
    "noise_bands 1e9": _config("noise_bands", 1_000_000_000),
    "clip_samples 1e12": _config("clip_samples", 10**12),
    "encoder_widths ending in 1e6": _config("encoder_widths", WIDTHS_1E6),
    "encoder_widths a string": _config("encoder_widths", "wide"),
    "decoder_widths of 64 layers": _edit_json(
        "bundle.json",
        lambda meta: meta["config"].update(
            decoder_widths=[16] * 64, decoder_strides=[1] * 64, decoder_res_blocks=[0] * 64
        ),
    ),
    "encoder_widths 4000 (in limits, not the weights)": _config(
        "encoder_widths", [8, 16, 32, 48, 4000]
    ),
    "config sample_rate 1e9": _config("sample_rate", 1_000_000_000),
    "config unknown key": _config("latent_dimm", 16),
    "config an array": _meta("config", [1, 2, 3]),
    "bundle.json an array": _write("bundle.json", b"[1, 2, 3]"),
    "bundle.json a number": _write("bundle.json", b"42"),
    "bundle.json deeply nested": _write("bundle.json", DEEP),
    "bundle.json invalid": _write("bundle.json", lambda data: data[: len(data) // 2]),
    "bundle.json empty": _write("bundle.json", b""),
    "bundle.json not utf-8": _write("bundle.json", b"\xff\xfe\x00{"),
    "format_version -5": _meta("format_version", -5),
    "format_version 0": _meta("format_version", 0),
    "format_version string": _meta("format_version", "1"),
    "format_version true": _meta("format_version", True),
    "format_version 99": _meta("format_version", 99),
    "family unknown": _meta("family", "nope"),
    "family a number": _meta("family", 5),
    "family a module without a family": _meta("family", "layers"),
    "sample_rate a string": _meta("sample_rate", "fast"),
    "latent_dim beside the config": _meta("latent_dim", 32),
    "training an array": _meta("training", [1]),
    "prepare_config unknown key": _training("prepare_config", {"sample_rate": 16000, "lenght": 1}),
    "prepare_config length a string": _training("prepare_config", {"length": "long"}),
    "prepare_config an array": _training("prepare_config", [0.5]),
    "extra truncated": _write("extra.safetensors", lambda data: data[: len(data) // 2]),
    "extra latent_mean reshaped": _reshape_extra,
}

ANALYSIS_CASES: dict[str, Tamper] = {
    "analysis missing sounds": _delete_key("analysis.json", "sounds"),
    "analysis missing probes": _delete_key("analysis.json", "probes"),
    "analysis fewer latents than sounds": _fewer_latents,
    "analysis sounds not a list": _edit_json("analysis.json", lambda m: m.__setitem__("sounds", 7)),
    "analysis.json deeply nested": _write("analysis.json", DEEP),
    "analysis.json an array": _write("analysis.json", b"[]"),
    "analysis format_version -5": _edit_json(
        "analysis.json", lambda m: m.__setitem__("format_version", -5)
    ),
    "analysis.safetensors empty": _write("analysis.safetensors", b""),
    "analysis.safetensors truncated": _write(
        "analysis.safetensors", lambda data: data[: len(data) // 2]
    ),
}


def _tampered(bundle: Path, tmp_path: Path, tamper: Tamper) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    tamper(copy)
    return copy


def _one_line_error(capsys: pytest.CaptureFixture[str], code: int) -> str:
    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_the_untampered_bundle_loads(
    tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", "random", str(tiny_bundle), "-n", "2", "-o", str(tmp_path / "r")]) == 0
    assert main(["controls", str(tiny_bundle)]) == 0
    assert len(list((tmp_path / "r").glob("*.wav"))) == 2


def test_there_are_at_least_25_tamper_classes() -> None:
    assert len(BUNDLE_CASES) + len(ANALYSIS_CASES) >= 25


@pytest.mark.parametrize("case", sorted(BUNDLE_CASES))
def test_a_tampered_bundle_is_one_line_and_exit_1(
    case: str, tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _tampered(tiny_bundle, tmp_path, BUNDLE_CASES[case])
    code = main(["generate", "random", str(folder), "-n", "1", "-o", str(tmp_path / "out")])
    line = _one_line_error(capsys, code)
    assert str(folder) in line  # names the file (or folder) at fault
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", sorted(ANALYSIS_CASES))
def test_a_tampered_analysis_is_one_line_and_exit_1(
    case: str, tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _tampered(tiny_bundle, tmp_path, ANALYSIS_CASES[case])
    line = _one_line_error(capsys, main(["controls", str(folder)]))
    assert str(folder) in line


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("latent_dim 1e6", "config.latent_dim 1000000 is above its limit 1024"),
        ("latent_dim big", "config key 'latent_dim' expects a whole number, got 'big'"),
        ("n_harmonics 1e8", "config.n_harmonics 100000000 is above its limit 512"),
        ("clip_samples 1e12", "config.clip_samples 1000000000000 is 6.25e+07 s"),
        ("encoder_widths ending in 1e6", "config.encoder_widths[4] 1000000 is above its limit"),
        ("decoder_widths of 64 layers", "config.decoder_widths length 64 is above its limit 16"),
        ("bundle.json an array", "expected a JSON object, got an array"),
        ("bundle.json deeply nested", "invalid JSON (nested too deep)"),
        ("format_version -5", "invalid field 'format_version' (-5; expected a whole number"),
        ("prepare_config unknown key", "unknown config key 'lenght' (did you mean 'length'?)"),
        ("weights pickle", "weights.safetensors: not a valid safetensors file"),
        ("weights empty", "weights.safetensors: empty file"),
        ("weights truncated", "weights.safetensors: not a valid safetensors file"),
        ("weights renamed tensor", "weights do not match the config (missing "),
        ("encoder_widths 4000 (in limits, not the weights)", "is [64] in the file, [4000]"),
        ("latent_dim beside the config", "field 'latent_dim' is 32 but the config gives 16"),
        ("extra latent_mean reshaped", "latent_mean is [3], the model's latent needs [16]"),
    ],
)
def test_the_message_names_the_field_the_value_and_the_limit(
    case: str,
    expected: str,
    tiny_bundle: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = _tampered(tiny_bundle, tmp_path, BUNDLE_CASES[case])
    code = main(["generate", "random", str(folder), "-n", "1", "-o", str(tmp_path / "out")])
    assert expected in _one_line_error(capsys, code)


def test_analysis_with_fewer_latents_than_sounds_says_so(
    tiny_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _tampered(tiny_bundle, tmp_path, ANALYSIS_CASES["analysis fewer latents than sounds"])
    line = _one_line_error(capsys, main(["controls", str(folder)]))
    assert "latents has shape [3, 16], expected [8, 16] (8 sounds)" in line


def test_a_shape_mismatch_is_found_before_the_model_is_built(
    tiny_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header is compared on a meta-device model: no real model is built for a bundle whose
    weights do not fit its config."""
    import timbrespace.bundle as bundle_module
    from timbrespace.errors import TimbrespaceError

    built: list[str] = []
    real_build = bundle_module.build_model
    monkeypatch.setattr(
        bundle_module, "build_model", lambda *a, **k: built.append("real") or real_build(*a, **k)
    )
    folder = _tampered(
        tiny_bundle, tmp_path, BUNDLE_CASES["encoder_widths 4000 (in limits, not the weights)"]
    )
    with pytest.raises(TimbrespaceError, match="weights do not match the config"):
        bundle_module.load_bundle(folder)
    assert built == []
    assert isinstance(
        bundle_module.load_bundle(tiny_bundle).model.encoder.dense.weight, torch.Tensor
    )
    assert built == ["real"]


def test_loading_never_runs_a_pickle(tiny_bundle: Path, tmp_path: Path) -> None:
    """A weights file that is a pickle whose loading would create a file is refused unread."""
    from timbrespace.bundle import load_bundle
    from timbrespace.errors import TimbrespaceError

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (Path.touch, (str(marker),))  # type: ignore[return-value]

    folder = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, folder)
    torch.save({"x": Evil()}, folder / "weights.safetensors")
    with pytest.raises(TimbrespaceError, match="not a valid safetensors file"):
        load_bundle(folder)
    assert not marker.exists()


def test_a_subprocess_run_prints_no_traceback(tiny_bundle: Path, tmp_path: Path) -> None:
    """The console script itself (not only `main`): exit 1, one line, for three classes."""
    import subprocess
    import sys

    for case in ("weights pickle", "bundle.json deeply nested", "latent_dim big"):
        folder = _tampered(tiny_bundle, tmp_path / case.replace(" ", "_"), BUNDLE_CASES[case])
        run = subprocess.run(
            [str(Path(sys.executable).parent / "timbrespace"), "generate", "random", str(folder)]
            + ["-n", "1"]
            + ["-o", str(tmp_path / "out")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 1, run.stderr
        assert "Traceback" not in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr
