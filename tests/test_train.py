"""Training pipeline on real audio: learning, resume after kill -9, DDP, bundles, bad input."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from timbrespace.bundle import BUNDLE_FORMAT_VERSION, load_bundle, read_bundle_meta
from timbrespace.data.prepare import PrepareConfig, prepare_dataset
from timbrespace.errors import TimbrespaceError
from timbrespace.evaluation import evaluate
from timbrespace.train.run import train


def scalar_series(run: Path, tag: str) -> list[float]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "logs"))
    events.Reload()
    return [event.value for event in events.Scalars(tag)]


def test_tiny_model_learns_real_drums(trained) -> None:
    run, result = trained
    assert result.steps == 300
    losses = scalar_series(run, "train/stft/loss")
    first, last = np.mean(losses[:3]), np.mean(losses[-5:])
    assert last < 0.75 * first, (first, last)
    bundle = load_bundle(run / "bundle")
    from timbrespace.data.cache import SoundCache

    cache = SoundCache(bundle.training["cache"]["path"])
    clips = torch.from_numpy(np.array(cache.audio[:8]))
    with torch.inference_mode():
        output = bundle.model.decode(bundle.model.encode(clips))
    assert output.shape == clips.shape
    assert output.abs().max() <= 1.0
    assert float(output.pow(2).mean().sqrt()) > 0.01, "silent output"
    previews = sorted((run / "previews").glob("step_*/0_output.wav"))
    assert previews, "no audio previews written"
    assert list((run / "previews").glob("step_*/0.png"))
    report = evaluate(run / "bundle", bundle.training["cache"]["path"], split="all")
    assert report["improvement"]["mrstft_distance"] > 0.15, report  # beats PCA of the same size


def test_bundle_round_trips_bit_for_bit_without_pickle(trained, monkeypatch) -> None:
    run, _ = trained
    first = load_bundle(run / "bundle")

    def refuse(*args, **kwargs):
        raise AssertionError("loading a bundle must not unpickle")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    second = load_bundle(run / "bundle")
    x = torch.randn(3, 1, first.model.hop_length, generator=torch.Generator().manual_seed(0)) * 0.3
    with torch.inference_mode():
        a = first.model.decode(first.model.encode(x))
        b = second.model.decode(second.model.encode(x))
    assert torch.equal(a, b)
    assert set(os.listdir(run / "bundle")) >= {"bundle.json", "weights.safetensors"}


def test_newer_bundle_format_is_refused(trained, tmp_path: Path) -> None:
    run, _ = trained
    meta = json.loads((run / "bundle" / "bundle.json").read_text())
    meta["format_version"] = BUNDLE_FORMAT_VERSION + 1
    (tmp_path / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(TimbrespaceError, match="newer timbrespace"):
        read_bundle_meta(tmp_path)


def test_generate_reconstruct_and_random(trained, hydrogen_root: Path, tmp_path: Path) -> None:
    import soundfile as sf

    from timbrespace.cli import main

    run, _ = trained
    source = next((hydrogen_root / "HardElectro1").glob("*.flac"))
    assert (
        main(["generate", "reconstruct", str(run), str(source), "-o", str(tmp_path / "rec.wav")])
        == 0
    )
    audio, sr = sf.read(tmp_path / "rec.wav")
    assert sr == 16000 and audio.shape == (8000,) and np.abs(audio).max() > 0.01
    assert (
        main(["generate", "random", str(run / "bundle"), "-n", "3", "-o", str(tmp_path / "rnd")])
        == 0
    )
    sounds = [sf.read(path)[0] for path in sorted((tmp_path / "rnd").glob("*.wav"))]
    assert len(sounds) == 3 and not np.allclose(sounds[0], sounds[1])


def test_existing_run_needs_resume_and_changed_cache_is_refused(
    trained, real_cache: Path, small_pack: Path, tmp_path: Path
) -> None:
    run, _ = trained
    with pytest.raises(TimbrespaceError, match="--resume"):
        train(real_cache, run, preset="tiny", progress=False)
    other = tmp_path / "other"
    prepare_dataset(small_pack, other, PrepareConfig(sample_rate=16000, length=0.5), workers=1)
    with pytest.raises(TimbrespaceError, match="cache changed"):
        train(other, run, preset="tiny", resume=True, progress=False)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(
    real_cache: Path, tmp_path: Path, monkeypatch
) -> None:
    from timbrespace.train.task import NonFiniteLossError, ReconstructionTask

    original = ReconstructionTask._losses

    def poisoned(self, batch):
        terms, output = original(self, batch)
        if self.global_step >= 60:
            terms["loss"] = terms["loss"] * float("nan")
        return terms, output

    monkeypatch.setattr(ReconstructionTask, "_losses", poisoned)
    with pytest.raises(NonFiniteLossError, match="step 60"):
        train(
            real_cache,
            tmp_path / "run",
            preset="tiny",
            train_overrides={"max_steps": 100},
            logger="none",
            progress=False,
        )
    checkpoint = tmp_path / "run" / "checkpoints" / "last.ckpt"
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    assert state["global_step"] == 50
    assert all(torch.isfinite(t).all() for t in state["state_dict"].values())
    assert not (tmp_path / "run" / "bundle").exists()


def _train_command(cache: Path, run: Path, max_steps: int, *extra: str) -> list[str]:
    """`timbrespace train` of the tiny preset as a subprocess command, without logger or bar."""
    return [
        sys.executable,
        "-m",
        "timbrespace.cli",
        "train",
        "--data",
        str(cache),
        "--out",
        str(run),
        "--preset",
        "tiny",
        "--max-steps",
        str(max_steps),
        "--logger",
        "none",
        "--no-progress",
        *extra,
    ]


@pytest.mark.slow
def test_kill_during_training_then_resume_continues(real_cache: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    command = _train_command(real_cache, run, 200)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    checkpoint = run / "checkpoints" / "last.ckpt"
    deadline = time.time() + 240
    step = 0
    while time.time() < deadline and process.poll() is None:
        if checkpoint.exists():
            step = torch.load(checkpoint, map_location="cpu", weights_only=True)["global_step"]
            if step >= 50:  # the tiny preset's first checkpoint
                break
        time.sleep(0.2)
    assert process.poll() is None, process.stdout.read().decode()[-2000:]
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (run / "bundle").exists()
    killed_at = torch.load(checkpoint, map_location="cpu", weights_only=True)["global_step"]
    assert 50 <= killed_at < 200
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resumed from step {killed_at}" in resumed.stdout + resumed.stderr
    meta = read_bundle_meta(run / "bundle")
    assert meta["training"]["steps"] == 200


@pytest.mark.slow
def test_two_process_ddp_on_cpu_writes_one_bundle(real_cache: Path, tmp_path: Path) -> None:
    run = tmp_path / "ddp"
    result = subprocess.run(
        _train_command(
            real_cache, run, 30, "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp"
        ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list(run.rglob("bundle.json"))) == 1
    meta = read_bundle_meta(run / "bundle")
    assert meta["training"]["steps"] == 30
    assert load_bundle(run / "bundle").model.latent_dim == meta["latent_dim"]


def test_a_time_budget_decays_the_learning_rate_as_it_is_spent() -> None:
    from datetime import timedelta
    from types import SimpleNamespace

    from lightning.pytorch.callbacks import Timer

    from timbrespace.train.task import cosine_factor, time_progress

    assert [cosine_factor(p, 0.1) for p in (-1.0, 0.0, 0.5, 1.0, 3.0)] == pytest.approx(
        [1.0, 1.0, 0.55, 0.1, 0.1]
    )
    timer = Timer(duration=timedelta(minutes=2))
    timer.load_state_dict({"time_elapsed": {"train": 30.0}})  # a resumed run's earlier 30 s
    asked: list[int] = []
    strategy = SimpleNamespace(broadcast=lambda value, src: asked.append(src) or value)
    trainer = SimpleNamespace(callbacks=[timer], strategy=strategy)
    assert time_progress(trainer, 2.0) == pytest.approx(0.25)  # type: ignore[arg-type]
    assert asked == [0]  # every rank takes rank 0's clock
    assert time_progress(trainer, None) == 0.0  # type: ignore[arg-type]
    assert time_progress(SimpleNamespace(callbacks=[], strategy=strategy), 2.0) == 0.0  # type: ignore[arg-type]
