"""Shared fixtures: real data roots and small synthetic sound folders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

HYDROGEN_ROOT = Path("/usr/share/hydrogen/data/drumkits")
KITS = ("Audiophob", "HardElectro1", "VariBreaks")


def require_path(path: Path, package: str) -> Path:
    """Real-data tests skip on a developer machine without the package, but fail in CI."""
    if not path.exists():
        message = f"{path} missing: install the Debian package {package} (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def hydrogen_root() -> Path:
    return require_path(HYDROGEN_ROOT, "hydrogen-drumkits")


def decaying_tone(
    freq: float, seconds: float, sr: int, tau: float = 0.15, noise: float = 0.0, seed: int = 0
) -> np.ndarray:
    """A sine (Hz) with exponential decay τ (s) plus optional noise: float32 [samples]."""
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    signal = np.sin(2 * np.pi * freq * t) + noise * rng.standard_normal(t.size)
    return (0.8 * np.exp(-t / tau) * signal / (1 + noise)).astype(np.float32)


@pytest.fixture()
def small_pack(tmp_path: Path) -> Path:
    """A two-pack folder of 8 short decaying tones at 22.05 kHz."""
    root = tmp_path / "pack"
    for i in range(8):
        folder = root / ("low" if i < 4 else "high") / ("a" if i % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        freq = 110.0 * (i + 1)
        sf.write(folder / f"tone_{i}.wav", decaying_tone(freq, 0.6, 22050, seed=i), 22050)
    return root


@pytest.fixture(scope="session")
def real_cache(tmp_path_factory: pytest.TempPathFactory, hydrogen_root: Path) -> Path:
    """~44 real drum one-shots from three hydrogen kits at 16 kHz, 0.5 s."""
    from timbrespace.data.prepare import PrepareConfig, prepare_dataset

    data = tmp_path_factory.mktemp("kits")
    for kit in KITS:
        (data / kit).symlink_to(hydrogen_root / kit, target_is_directory=True)
    cache = tmp_path_factory.mktemp("cache") / "cache"
    prepare_dataset(data, cache, PrepareConfig(sample_rate=16000, length=0.5), workers=2)
    return cache


@pytest.fixture(scope="session")
def trained(real_cache: Path, tmp_path_factory: pytest.TempPathFactory):
    """A tiny one-shot model trained 300 steps on `real_cache`: (run folder, TrainResult)."""
    from timbrespace.train.run import train

    run = tmp_path_factory.mktemp("runs") / "tiny"
    result = train(
        real_cache,
        run,
        preset="tiny",
        train_overrides={"max_steps": 300},
        logger="tensorboard",
        progress=False,
    )
    return run, result


@pytest.fixture(scope="session")
def analysed_run(trained, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny trained run (`trained`), analysed: its `bundle` is a LatentSpace."""
    import shutil

    from timbrespace.analyze import analyze_bundle

    run = tmp_path_factory.mktemp("analysed_run") / "run"
    shutil.copytree(trained[0], run)
    analyze_bundle(run / "bundle")
    return run


@pytest.fixture(scope="session")
def melody_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real instrument melodies (fluidsynth + the GM soundfont: flute, cello, trumpet, 24 s
    each) prepared in continuous mode at 16 kHz: 1 s chunks every 0.5 s."""
    from timbrespace.data.melodies import SOUNDFONTS, write_melodies
    from timbrespace.data.prepare import PrepareConfig, prepare_dataset

    require_path(SOUNDFONTS[0], "timgm6mb-soundfont")
    require_path(Path("/usr/bin/fluidsynth"), "fluidsynth")
    data = tmp_path_factory.mktemp("melodies") / "melodies"
    write_melodies(
        data,
        instruments=("flute", "cello", "trumpet"),
        seconds=24,
        melody_seconds=8,
        sample_rate=16000,
    )
    cache = tmp_path_factory.mktemp("melody_cache") / "cache"
    config = PrepareConfig(mode="continuous", sample_rate=16000, length=1.0, hop=0.5)
    prepare_dataset(data, cache, config, workers=2)
    return cache


@pytest.fixture(scope="session")
def spectral_run(melody_cache: Path, tmp_path_factory: pytest.TempPathFactory):
    """A tiny spectral model trained 600 steps on `melody_cache`: (run folder, TrainResult)."""
    from timbrespace.train.run import train

    run = tmp_path_factory.mktemp("spectral_runs") / "tiny"
    result = train(
        melody_cache,
        run,
        family="spectral",
        preset="tiny",
        train_overrides={"max_steps": 600},
        logger="none",
        progress=False,
    )
    return run, result


STREAM_STEPS = 800


@pytest.fixture(scope="session")
def stream_run(melody_cache: Path, tmp_path_factory: pytest.TempPathFactory):
    """A tiny streaming VAE trained `STREAM_STEPS` steps on `melody_cache` and analysed:
    (run folder, TrainResult)."""
    from timbrespace.analyze import analyze_bundle
    from timbrespace.train.run import train

    run = tmp_path_factory.mktemp("stream_runs") / "tiny"
    result = train(
        melody_cache,
        run,
        family="stream",
        preset="tiny",
        train_overrides={"max_steps": STREAM_STEPS},
        logger="none",
        progress=False,
    )
    analyze_bundle(run / "bundle")
    return run, result


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny one-shot model trained 300 steps on a 60-sound demo pack (16 kHz, 0.5 s), analysed:
    its run folder (plucks have a known pitch)."""
    from timbrespace.analyze import analyze_bundle
    from timbrespace.data.demo_pack import write_demo_pack
    from timbrespace.data.prepare import PrepareConfig, prepare_dataset
    from timbrespace.train.run import train

    pack = write_demo_pack(tmp_path_factory.mktemp("demo_pack"), n=60, sample_rate=16000).parent
    cache = tmp_path_factory.mktemp("demo_cache") / "cache"
    prepare_dataset(pack, cache, PrepareConfig(sample_rate=16000, length=0.5), workers=2)
    run = tmp_path_factory.mktemp("demo_runs") / "tiny"
    train(
        cache, run, preset="tiny", train_overrides={"max_steps": 300}, logger="none", progress=False
    )
    analyze_bundle(run / "bundle")
    return run


DDSP_STEPS = 300


@pytest.fixture(scope="session")
def ddsp_run(melody_cache: Path, tmp_path_factory: pytest.TempPathFactory):
    """A tiny ddsp instrument trained `DDSP_STEPS` steps on `melody_cache`: (run, TrainResult)."""
    from timbrespace.train.run import train

    run = tmp_path_factory.mktemp("ddsp_runs") / "tiny"
    result = train(
        melody_cache,
        run,
        family="ddsp",
        preset="tiny",
        train_overrides={"max_steps": DDSP_STEPS},
        logger="none",
        progress=False,
    )
    return run, result


NOTE_RATE = 16000


@pytest.fixture(scope="session")
def note_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real GM notes (`timbrespace notes`): flute and cello G3–G4 (each in its own range:
    the flute from C4) at velocities 60 and 110, 1 s, 16 kHz, with `notes.csv`."""
    from timbrespace.data.melodies import SOUNDFONTS
    from timbrespace.data.notes import write_notes

    require_path(SOUNDFONTS[0], "timgm6mb-soundfont")
    require_path(Path("/usr/bin/fluidsynth"), "fluidsynth")
    folder = tmp_path_factory.mktemp("notes") / "notes"
    write_notes(
        folder, instruments=("flute", "cello"), pitches=(55, 67), velocities=(60, 110),
        seconds=1.0, sample_rate=NOTE_RATE,
    )  # fmt: skip
    return folder


@pytest.fixture(scope="session")
def note_run(note_set: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny fader model trained 200 steps on `note_set`: its run folder."""
    from timbrespace.data.prepare import PrepareConfig, prepare_dataset
    from timbrespace.train.run import train

    cache = tmp_path_factory.mktemp("note_cache") / "cache"
    prepare_dataset(
        note_set, cache, PrepareConfig(mode="oneshot", sample_rate=NOTE_RATE, length=1.0)
    )
    run = tmp_path_factory.mktemp("note_runs") / "tiny"
    train(cache, run, family="fader", preset="tiny", train_overrides={"max_steps": 200}, logger="none", progress=False)  # fmt: skip
    return run


@pytest.fixture(scope="session")
def vq_run(melody_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny vq model (32 codes) trained 400 steps on `melody_cache` and analysed (codebook
    measured): the run folder."""
    from timbrespace.analyze import analyze_bundle
    from timbrespace.train.run import train

    run = tmp_path_factory.mktemp("vq_runs") / "tiny"
    train(
        melody_cache,
        run,
        family="vq",
        preset="tiny",
        train_overrides={"max_steps": 400},
        logger="none",
        progress=False,
    )
    analyze_bundle(run)
    return run


@pytest.fixture(scope="module")
def browser():  # noqa: ANN201 - a Playwright browser
    """Debian's chromium, headless, driven by Playwright (one per test module)."""
    from .browsers import CHROMIUM, CHROMIUM_ARGS, sync_playwright_or_skip

    require_path(CHROMIUM, "chromium")
    with sync_playwright_or_skip()() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the studio screenshots go: $TIMBRESPACE_ARTIFACTS/studio, or a temporary folder
    (printed)."""
    folder = os.environ.get("TIMBRESPACE_ARTIFACTS")
    path = Path(folder) / "studio" if folder else tmp_path_factory.mktemp("studio_screenshots")
    path.mkdir(parents=True, exist_ok=True)
    print(f"studio screenshots: {path}")
    return path
