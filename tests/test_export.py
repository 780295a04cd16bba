"""Exports, proven by loading them: nn~ TorchScript (checked against what nn~'s backend does
when it loads a model) and ONNX with explicit state (run by ONNX Runtime) reproduce the bundle's
own stream on a real melody in consecutive blocks of 128, 512 and 2048 samples; nn~ attributes
move the sound as the engine's open-loop control move does; bad requests are one-line errors
and leave nothing behind."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from timbrespace import inference
from timbrespace.bundle import save_bundle
from timbrespace.cli import main
from timbrespace.export import ExportError, export_bundle
from timbrespace.export.neutone import NeutoneUnavailable
from timbrespace.export.verify import (
    allowed_parted,
    forced_errors,
    onnx_runner,
    onnx_step,
    streamed,
)
from timbrespace.export.verify import (
    test_sound as verify_sound,
)
from timbrespace.exportable import exportable
from timbrespace.latent.control import Control, apply_controls
from timbrespace.latent.control_hold import ControlHold
from timbrespace.models.base import build_model, resolve_config
from timbrespace.models.stream_blocks import StreamBlocks
from timbrespace.space import LatentSpace

BLOCKS = (128, 512, 2048)
NN_TILDE_TYPES = {0: bool, 1: int, 2: float, 3: str}


@pytest.fixture(scope="module")
def stream_space(stream_run) -> LatentSpace:
    return LatentSpace.open(stream_run[0] / "bundle")


@pytest.fixture(scope="module")
def melody(stream_space: LatentSpace, melody_cache: Path) -> torch.Tensor:
    """Two seconds of a real melody at the model's rate, `[1, 1, samples]`."""
    dataset = json.loads((melody_cache / "manifest.json").read_text())["dataset"]
    path = sorted(Path(dataset).rglob("*.wav"))[1]
    audio = inference.load_recording(stream_space.bundle, path)
    return audio[..., 3 * stream_space.sample_rate : 5 * stream_space.sample_rate]


@pytest.fixture(scope="module")
def nn_tilde_file(stream_space: LatentSpace, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "melodies.ts"
    export_bundle(stream_space, "nn_tilde", out)
    return out


def check_nn_tilde_contract(path: Path, batch: int, buffer: int = 4096) -> dict[str, list[int]]:
    """What nn~'s backend does when it loads a model: every method of `get_methods()` has a
    4-int `<method>_params` and maps `[batch, in_ch, buffer / in_ratio]` to float32 `[batch,
    out_ch, buffer / out_ratio]`; every attribute has typed `<name>_params` and a getter and
    setter. Returns each method's params."""
    module = torch.jit.load(str(path))
    methods = list(module.get_methods())
    params: dict[str, list[int]] = {}
    for method in methods:
        values = getattr(module, f"{method}_params")
        assert values.dtype in (torch.int64, torch.int32) and tuple(values.shape) == (4,)
        in_ch, in_ratio, out_ch, out_ratio = (int(v) for v in values)
        params[method] = [in_ch, in_ratio, out_ch, out_ratio]
        with torch.inference_mode():
            y = getattr(module, method)(torch.zeros(batch, in_ch, buffer // in_ratio))
        assert isinstance(y, torch.Tensor) and y.dtype == torch.float32
        assert tuple(y.shape) == (batch, out_ch, buffer // out_ratio), method
    for attribute in module.get_attributes():
        kinds = [NN_TILDE_TYPES[int(v)] for v in getattr(module, f"{attribute}_params")]
        value = getattr(module, f"get_{attribute}")()
        assert [type(v) for v in value] == kinds
        assert getattr(module, f"set_{attribute}")(*value) == 0
    return params


@pytest.mark.parametrize("options", [{}, {"phase": "free", "loudness_gain": False}])
def test_stream_blocks_compile_and_equal_the_models_own_blocks(options) -> None:
    torch.manual_seed(0)
    model = build_model("stream", resolve_config("stream", "tiny", options)).eval()
    blocks = StreamBlocks(model).eval()
    scripted = torch.jit.script(blocks)
    x = torch.randn(2, 1, 2048) * 0.3
    ours, theirs = model.init_state(2), blocks.init_state(2)
    with torch.inference_mode():
        for start in range(0, 2048, 256):
            expected, ours = model.forward_block(x[..., start : start + 256], ours)
            got, theirs = scripted(x[..., start : start + 256], theirs)
            assert torch.equal(got, expected)


def _torch_step(blocks: StreamBlocks, bug: str = ""):  # noqa: ANN202
    """`blocks` as an export with explicit state; `bug`: "fresh" ignores the state it is given,
    "stale" hands back the state it was given."""

    def step(x: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        given = [torch.from_numpy(s) for s in state]
        start = blocks.init_state(x.shape[0]) if bug == "fresh" else given
        with torch.inference_mode():
            y, new = blocks(torch.from_numpy(x), start)
        return y.numpy(), [s.numpy() for s in (given if bug == "stale" else new)]

    return step


def test_the_block_by_block_check_passes_a_faithful_export_and_catches_a_lost_state() -> None:
    torch.manual_seed(0)
    blocks = StreamBlocks(build_model("stream", resolve_config("stream", "tiny")).eval()).eval()
    model = SimpleNamespace(blocks=blocks)
    sound = verify_sound(blocks.sample_rate, blocks.channels)
    assert blocks.phase_decisions and allowed_parted(model, 188) == 3  # type: ignore[arg-type]
    faithful = forced_errors(model, _torch_step(blocks), sound, 128)  # type: ignore[arg-type]
    assert len(faithful) == math.ceil(sound.shape[-1] / 128) and faithful.max() <= 1e-6
    for bug in ("fresh", "stale"):
        errors = forced_errors(model, _torch_step(blocks, bug), sound, 128)  # type: ignore[arg-type]
        assert np.mean(errors > 1e-4) > 0.5, bug


def test_both_runtimes_render_silence_then_sound_as_the_model_does(tmp_path: Path) -> None:
    from timbrespace.bundle import save_bundle
    from timbrespace.export.compiled import compiled_steps, fastest_steps

    torch.manual_seed(0)
    model = build_model("stream", resolve_config("stream", "tiny")).eval()
    space = LatentSpace.open(save_bundle(tmp_path / "stream", model, "stream"))
    x = torch.randn(1, 1, 2048) * 0.3
    x[..., :1024] = 0.0  # a host's first buffers: the loudness floor must survive the export
    expected = inference.stream(model, x, 256)
    for runtime in ("torchscript", "onnxruntime"):
        steps = compiled_steps(space, 256, runtime)
        encoder, decoder, parts = steps.encoder_state, steps.decoder_state, []
        with torch.inference_mode():
            for start in range(0, 2048 + model.delay_samples + 256, 256):
                block = torch.nn.functional.pad(x, (0, 1024))[..., start : start + 256]
                z, encoder = steps.encoder(block, encoder)
                assert torch.isfinite(z).all(), (runtime, start)
                y, decoder = steps.decoder(z, decoder)
                parts.append(y)
        got = torch.cat(parts, -1)[..., model.delay_samples : model.delay_samples + 2048]
        assert expected.abs().max() > 1e-3
        assert (got.clamp(-1, 1) - expected).abs().max() <= 1e-4, runtime
    chosen = fastest_steps(space, 256)
    assert set(chosen.block_ms) == {"torchscript", "onnxruntime"}
    assert chosen.block_ms[chosen.runtime] == min(chosen.block_ms.values())


def test_auto_plays_torchscript_when_the_onnx_export_fails(tmp_path: Path, monkeypatch) -> None:
    from timbrespace.bundle import save_bundle
    from timbrespace.export import onnx
    from timbrespace.export.compiled import fastest_steps

    def broken(*_: object) -> None:
        raise RuntimeError("exporter failed on aten::something\nand a traceback")

    monkeypatch.setattr(onnx, "write_onnx_steps", broken)
    model = build_model("stream", resolve_config("stream", "tiny")).eval()
    space = LatentSpace.open(save_bundle(tmp_path / "stream", model, "stream"))
    chosen = fastest_steps(space, 256)
    assert chosen.runtime == "torchscript" and list(chosen.block_ms) == ["torchscript"]
    assert chosen.skipped == {"onnxruntime": "RuntimeError: exporter failed on aten::something"}


def test_control_hold_is_the_open_loop_control_move() -> None:
    generator = torch.Generator().manual_seed(1)
    directions = torch.randn(3, 6, generator=generator, dtype=torch.float64)
    controls = [
        Control("brightness", directions[0], offset=7.0, unit="Hz", scale="log", range=(6, 8)),
        Control("pitch", directions[1], offset=-5.0, unit="Hz", scale="semitones", range=(-30, 20)),
        Control("loudness", directions[2], offset=-20.0, unit="dB", range=(-60.0, 0.0)),
    ]
    hold = ControlHold(controls)
    z = torch.randn(2, 6, 5, generator=generator)
    targets = torch.tensor([2000.0, 0.0, -12.0])  # pitch released
    expected = apply_controls(z, [controls[0], controls[2]], torch.tensor([np.log(2000.0), -12.0]))
    assert torch.allclose(hold(z, targets), expected.z_new, atol=1e-5)
    assert torch.equal(hold(z, torch.zeros(3)), z)
    clamped = hold(z, torch.tensor([1e6, 0.0, 0.0]))  # far above the range: held at its top
    assert torch.allclose(
        controls[0].value(clamped.double()), torch.full((2, 5), 8.0, dtype=torch.float64)
    )


@pytest.mark.slow
def test_nn_tilde_export_keeps_the_contract_at_batch_1_and_4(
    nn_tilde_file: Path, stream_space
) -> None:
    model = stream_space.model
    for batch in (1, 4):
        params = check_nn_tilde_contract(nn_tilde_file, batch)
    assert params == {
        "encode": [1, 1, model.latent_dim, model.hop_length],
        "decode": [model.latent_dim, model.hop_length, 1, 1],
        "forward": [1, 1, 1, 1],
    }
    description = json.loads(nn_tilde_file.with_name(nn_tilde_file.name + ".json").read_text())
    assert description["delay_samples"] == model.delay_samples
    assert description["block_sizes"]["verified"] == list(BLOCKS)
    assert max(description["max_difference"].values()) <= 1e-4
    assert description["weights_sha256"] == exportable(stream_space).weights_sha256


@pytest.mark.slow
def test_nn_tilde_and_onnx_exports_reproduce_the_bundles_stream(
    nn_tilde_file: Path, stream_space, melody, tmp_path: Path
) -> None:
    onnx_file = tmp_path / "melodies.onnx"
    report = export_bundle(stream_space, "onnx", onnx_file)
    model = exportable(stream_space)
    assert [i["name"] for i in report.description["inputs"]][:2] == ["audio", "state_0"]
    assert model.blocks.phase_decisions  # the default locked phase: ONNX is checked per block
    for block in BLOCKS:
        reference = inference.stream(stream_space.model, melody, block)
        assert reference.abs().max() > 0.05, "the tiny model must not be silent"
        module = torch.jit.load(str(nn_tilde_file))
        scripted = streamed(module.forward, melody, block, model.delay_samples)
        assert (scripted - reference).abs().max() <= 1e-4, block  # the same kernels: exact
        errors = forced_errors(model, onnx_step(onnx_file), melody, block)
        assert np.sum(errors > 1e-4) <= allowed_parted(model, len(errors)), block
        assert np.median(errors) <= 1e-5, block


def _held_and_untouched(
    space: LatentSpace, melody: torch.Tensor, block: int, brightness: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The melody decoded with its brightness held by the engine's open-loop move, and the
    bundle's plain stream of it (blocks of `block`)."""
    model = space.model
    padded = torch.nn.functional.pad(melody, (0, -melody.shape[-1] % block))
    moved = space.move(model.encode(padded), {"brightness": brightness}, closed_loop=False)
    expected = model.decode(moved.z_new.float())[..., : melody.shape[-1]].clamp(-1, 1)
    return expected, inference.stream(model, melody, block)


@pytest.mark.slow
def test_an_nn_tilde_attribute_moves_the_sound_as_the_engine_does(
    nn_tilde_file: Path, stream_space, melody
) -> None:
    module = torch.jit.load(str(nn_tilde_file))
    assert "brightness" in module.get_attributes()
    module.set_brightness(1500.0)
    block, model = 512, stream_space.model
    got = streamed(module.forward, melody, block, model.delay_samples)
    expected, untouched = _held_and_untouched(stream_space, melody, block, 1500.0)
    assert (got - untouched).abs().max() > 0.05, "the attribute must change the sound"
    assert (got - expected).abs().max() <= 1e-3
    module.set_brightness(0.0)
    released = streamed(
        torch.jit.load(str(nn_tilde_file)).forward, melody, block, model.delay_samples
    )
    assert (released - untouched).abs().max() <= 1e-4


def test_a_neutone_export_streams_as_the_bundle_and_a_knob_moves_it(
    stream_space, melody, tmp_path: Path
) -> None:
    """Where neutone-sdk imports (it needs torchaudio: not with torch 2.13 here; checked in a
    torch 2.5.1 venv), the saved model, called as a DAW calls it, streams the bundle's output,
    and a knob holds its control as the engine's open-loop move does."""
    try:
        report = export_bundle(stream_space, "neutone", tmp_path / "m.nm", controls=["brightness"])
    except NeutoneUnavailable as error:
        pytest.skip(f"neutone-sdk does not import with this torch: {error}")
    from neutone_sdk import constants

    assert report.description["block_sizes"]["verified"] == [128, 512, 2048]
    assert max(report.description["max_difference"].values()) <= 1e-4
    low, high = report.description["controls"][0]["range"]
    knob = math.log(1500.0 / low) / math.log(high / low)  # Hz knobs are geometric
    block, model = 512, stream_space.model
    module = torch.jit.load(str(tmp_path / "m.nm"))
    module.set_daw_sample_rate_and_buffer_size(model.sample_rate, block)
    params = torch.zeros(constants.MAX_N_PARAMS, block)
    params[0] = knob

    def host(piece: torch.Tensor) -> torch.Tensor:
        return module.forward(piece[0], params)[None].clone()

    got = streamed(host, melody, block, model.delay_samples)
    expected, untouched = _held_and_untouched(stream_space, melody, block, 1500.0)
    assert (got - untouched).abs().max() > 0.05, "the knob must change the sound"
    assert (got - expected).abs().max() <= 1e-3


@pytest.mark.slow
def test_export_refusals_are_one_line_and_leave_nothing(
    stream_space, demo_run: Path, tmp_path: Path, capsys
) -> None:
    with pytest.raises(ExportError, match=r"nn_tilde export: a one-shot model \(oneshot family\)"):
        export_bundle(demo_run / "bundle", "nn_tilde", tmp_path / "kit.ts")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ExportError, match="is a file, not a folder"):
        export_bundle(stream_space, "onnx", blocker / "model.onnx")
    with pytest.raises(ExportError, match="cannot create"):
        export_bundle(stream_space, "onnx", Path("/proc/timbrespace/model.onnx"))
    with pytest.raises(ExportError, match="is a folder"):
        export_bundle(stream_space, "onnx", tmp_path)
    with pytest.raises(Exception, match="unknown control|no control"):
        export_bundle(stream_space, "nn_tilde", tmp_path / "x.ts", controls=["sparkle"])
    try:
        export_bundle(stream_space, "neutone", tmp_path / "model.nm")
    except NeutoneUnavailable as error:
        assert "\n" not in str(error) and "neutone-sdk" in str(error)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"] + (
        ["model.nm", "model.nm.json", "model.nm.neutone"]
        if (tmp_path / "model.nm").exists()
        else []
    )
    assert main(["export", str(demo_run), "--format", "onnx", "-o", str(tmp_path / "k.onnx")]) == 1
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.slow
def test_the_export_command_reports_what_it_measured(stream_run, tmp_path: Path, capsys) -> None:
    out = tmp_path / "m.ts"
    code = main(
        [
            "export",
            str(stream_run[0]),
            "--format",
            "nn_tilde",
            "-o",
            str(out),
            "--controls",
            "brightness",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "match the bundle within" in printed and "brightness (Hz)" in printed
    assert torch.jit.load(str(out)).get_attributes() == ["brightness"]


@pytest.mark.slow
def test_ddsp_exports_reproduce_the_instruments_stream(ddsp_run, melody_cache, tmp_path) -> None:
    """The ddsp instrument records one 128-sample block (tracker, network, synth, reverb);
    nn~ runs host buffers of any multiple of it and mc.nn~ batches item by item, ONNX takes
    exactly one block at batch 1 with its state."""
    space = LatentSpace.open(ddsp_run[0] / "bundle")
    dataset = json.loads((melody_cache / "manifest.json").read_text())["dataset"]
    path = sorted(Path(dataset).rglob("*.wav"))[0]  # a flute melody, not the test chirp
    melody = inference.load_recording(space.bundle, path)[..., : 2 * space.sample_rate]
    scripted_file, onnx_file = tmp_path / "flute.ts", tmp_path / "flute.onnx"
    export_bundle(space, "nn_tilde", scripted_file)
    report = export_bundle(space, "onnx", onnx_file)
    assert report.description["fixed_block"] == 128
    assert report.description["inputs"][0]["shape"] == [1, 1, 128]
    for batch in (1, 4):
        check_nn_tilde_contract(scripted_file, batch)
    model = exportable(space)
    for block in BLOCKS:
        reference = inference.stream(space.model, melody, block)
        assert reference.abs().max() > 0.05, "the tiny instrument must not be silent"
        module = torch.jit.load(str(scripted_file))
        scripted = streamed(module.forward, melody, block, 0)
        runtime = streamed(onnx_runner(onnx_file, model), melody, block, 0)
        assert (scripted - reference).abs().max() <= 1e-4, block
        assert (runtime - reference).abs().max() <= 1e-4, block
    four = melody * torch.tensor([1.0, 0.5, 0.25, 0.1])[:, None, None]
    module = torch.jit.load(str(scripted_file))
    assert (
        streamed(module.forward, four, 512, 0) - inference.stream(space.model, four, 512)
    ).abs().max() <= 1e-4


OLD_TORCH = "TIMBRESPACE_OLD_TORCH_PYTHON"


@pytest.mark.slow
@pytest.mark.parametrize("family", ["stream", "ddsp"])
def test_an_nn_tilde_export_loads_in_an_older_torch(
    family: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """nn~ 1.6 links torch 2.5: with a Python that has it (`$TIMBRESPACE_OLD_TORCH_PYTHON`),
    the file loads there and streams the same output (ddsp: a `tiny` model with random
    weights, recorded at 2048-sample blocks)."""
    import os
    import subprocess

    python = os.environ.get(OLD_TORCH)
    if not python:
        pytest.skip(f"set {OLD_TORCH} to a Python with torch 2.5 (nn~ 1.6's) to run this check")
    if family == "stream":
        nn_tilde_file = request.getfixturevalue("nn_tilde_file")
    else:
        torch.manual_seed(0)
        model = build_model("ddsp", resolve_config("ddsp", "tiny")).eval()
        space = LatentSpace.open(save_bundle(tmp_path / "ddsp", model, "ddsp"))
        nn_tilde_file = tmp_path / "ddsp.ts"
        export_bundle(space, "nn_tilde", nn_tilde_file, block=2048)
    sound = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 1, 8192))).float() * 0.1
    np.save(tmp_path / "in.npy", sound.numpy())
    with torch.inference_mode():
        module = torch.jit.load(str(nn_tilde_file))
        ours = torch.cat(
            [module.forward(sound[..., i : i + 2048]) for i in range(0, 8192, 2048)], -1
        )
    script = (
        "import sys, numpy as np, torch\n"
        "m = torch.jit.load(sys.argv[1]); x = torch.from_numpy(np.load(sys.argv[2]))\n"
        "with torch.inference_mode():\n"
        "    y = torch.cat([m.forward(x[..., i : i + 2048]) for i in range(0, 8192, 2048)], -1)\n"
        "np.save(sys.argv[3], y.numpy()); print(torch.__version__)\n"
    )
    done = subprocess.run(
        [python, "-c", script, str(nn_tilde_file), str(tmp_path / "in.npy"), str(tmp_path / "out.npy")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    theirs = np.load(tmp_path / "out.npy")
    assert np.abs(theirs - ours.numpy()).max() <= 1e-4, done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("run_fixture", ["stream_run", "ddsp_run"])
def test_the_engine_plays_either_runtimes_graphs_with_the_same_output(
    run_fixture: str, melody_cache: Path, request: pytest.FixtureRequest
) -> None:
    from timbrespace.engine import Engine
    from timbrespace.engine.backends import render_file

    space = LatentSpace.open(request.getfixturevalue(run_fixture)[0] / "bundle")
    dataset = json.loads((melody_cache / "manifest.json").read_text())["dataset"]
    take = sorted(Path(dataset).rglob("*.wav"))[2]
    outputs = {}
    for runtime in ("python", "torchscript", "onnxruntime", "auto"):
        engine = Engine(space, 128, runtime=runtime)
        assert engine.decoder.compiled is (runtime != "python")
        out, _ = render_file(engine, None, input_path=take, seconds=2.0)
        outputs[runtime] = out
    assert engine.runtime in ("torchscript", "onnxruntime")
    assert set(engine.runtime_ms) == {"torchscript", "onnxruntime"}
    assert engine.runtime_ms[engine.runtime] == min(engine.runtime_ms.values())
    assert np.abs(outputs["python"]).max() > 0.05
    assert np.abs(outputs["torchscript"] - outputs["python"]).max() <= 1e-5
    assert np.abs(outputs["onnxruntime"] - outputs["python"]).max() <= 1e-4


@pytest.mark.slow
def test_a_spectral_decoder_exports_to_onnx_and_a_one_shot_says_why_not(
    spectral_run, demo_run: Path, melody_cache: Path, tmp_path: Path
) -> None:
    import onnxruntime

    space = LatentSpace.open(spectral_run[0] / "bundle")
    out = tmp_path / "spectral.onnx"
    report = export_bundle(space, "onnx", out)
    assert report.description["griffin_lim"]["hop"] == space.model.config.hop
    dataset = json.loads((melody_cache / "manifest.json").read_text())["dataset"]
    melody = inference.load_recording(space.bundle, sorted(Path(dataset).rglob("*.wav"))[0])
    z = inference.encode_batches(space.model, melody[..., : 2 * space.sample_rate])
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    magnitude = session.run(None, {"latent": z.numpy()})[0]
    expected = space.model.decode_magnitude(z).detach().numpy()
    assert magnitude.shape == expected.shape and expected.max() > 0.01
    assert np.abs(magnitude - expected).max() <= 1e-4 * max(1.0, float(expected.max()))
    with pytest.raises(ExportError, match="nn_tilde export: a spectral model.*--format onnx"):
        export_bundle(space, "nn_tilde", tmp_path / "spectral.ts")
    with pytest.raises(ExportError, match="onnx export \\(oneshot family\\).*seeded generator"):
        export_bundle(demo_run / "bundle", "onnx", tmp_path / "kit.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spectral.onnx", "spectral.onnx.json"]


@pytest.mark.slow
def test_a_pitch_shape_vq_decoder_exports_to_onnx(
    vq_run: Path, melody_cache: Path, tmp_path: Path
) -> None:
    """The vq decoder moves its pitch-relative part by the latent's pitch channel (a gather at
    positions computed from it): ONNX Runtime computes the same spectra, at other pitches too."""
    import onnxruntime

    space = LatentSpace.open(vq_run / "bundle")
    assert space.model.pitch_shape
    out = tmp_path / "vq.onnx"
    export_bundle(space, "onnx", out)
    dataset = json.loads((melody_cache / "manifest.json").read_text())["dataset"]
    melody = inference.load_recording(space.bundle, sorted(Path(dataset).rglob("*.wav"))[0])
    z = inference.encode_batches(space.model, melody[..., : space.sample_rate])
    z[:, -1, ::2] += 0.37  # every other frame moved by 4.4 semitones
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    magnitude = session.run(None, {"latent": z.numpy()})[0]
    expected = space.model.decode_magnitude(z).detach().numpy()
    assert magnitude.shape == expected.shape and expected.max() > 0.01
    assert np.abs(magnitude - expected).max() <= 1e-4 * max(1.0, float(expected.max()))
