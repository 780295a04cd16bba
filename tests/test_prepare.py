from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from timbrespace.cli import main
from timbrespace.data.cache import SoundCache
from timbrespace.data.clips import PrepareConfig, cut_clips, fit_length
from timbrespace.data.prepare import prepare_dataset
from timbrespace.errors import TimbrespaceError

from .conftest import decaying_tone

TINY = PrepareConfig(sample_rate=16000, length=0.5)


def test_prepare_small_pack_labels_and_descriptors(small_pack: Path, tmp_path: Path) -> None:
    report = prepare_dataset(small_pack, tmp_path / "cache", TINY, workers=1)
    assert (report.sources, report.clips, report.bad) == (8, 8, [])
    cache = SoundCache(tmp_path / "cache")
    assert cache.audio.shape == (8, 1, 8000)
    assert cache.label_names == ["high/a", "high/b", "low/a", "low/b"]
    assert {source.pack for source in cache.sources} == {"high", "low"}
    f0 = cache.descriptor("f0")
    expected = [110.0 * (int(Path(s.path).stem.split("_")[1]) + 1) for s in cache.sources]
    np.testing.assert_allclose(f0, expected, rtol=0.02)
    # leading silence is trimmed: every clip starts within 2 ms of its onset
    assert np.all(np.abs(cache.audio[:, 0, :32]).max(axis=1) > 0.01)


def test_second_run_processes_nothing_and_picks_up_changes(
    small_pack: Path, tmp_path: Path
) -> None:
    cache_dir = tmp_path / "cache"
    prepare_dataset(small_pack, cache_dir, TINY, workers=1)
    first = SoundCache(cache_dir).fingerprint
    again = prepare_dataset(small_pack, cache_dir, TINY, workers=1)
    assert (again.processed, again.skipped_unchanged) == (0, 8)
    assert SoundCache(cache_dir).fingerprint == first
    sf.write(small_pack / "low" / "a" / "new.wav", decaying_tone(300, 0.4, 16000), 16000)
    (small_pack / "high" / "b" / "tone_4.wav").unlink()
    update = prepare_dataset(small_pack, cache_dir, TINY, workers=1)
    assert (update.processed, update.removed, update.sources) == (1, 1, 8)
    paths = [source.path for source in SoundCache(cache_dir).sources]
    assert "low/a/new.wav" in paths and "high/b/tone_4.wav" not in paths


def test_other_settings_refuse_to_mix(small_pack: Path, tmp_path: Path) -> None:
    prepare_dataset(small_pack, tmp_path / "cache", TINY, workers=1)
    with pytest.raises(TimbrespaceError, match="sample_rate"):
        prepare_dataset(
            small_pack, tmp_path / "cache", PrepareConfig(sample_rate=22050, length=0.5), workers=1
        )
    rebuilt = prepare_dataset(
        small_pack,
        tmp_path / "cache",
        PrepareConfig(sample_rate=22050, length=0.5),
        workers=1,
        rebuild=True,
    )
    assert rebuilt.processed == 8 and SoundCache(tmp_path / "cache").sample_rate == 22050


def test_continuous_mode_cuts_overlapping_chunks(tmp_path: Path) -> None:
    config = PrepareConfig(mode="continuous", sample_rate=1000, length=1.0, hop=0.5)
    audio = np.ones((1, 3200), np.float32) * 0.5
    clips, offsets = cut_clips(audio, config)
    # full chunks at 0, 0.5, 1.0, 1.5, 2.0 s; the tail from 2.5 s is 700 samples >= half: kept
    np.testing.assert_allclose(offsets, [0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
    assert clips.shape == (6, 1, 1000) and clips[-1, 0, 700:].max() == 0
    audio[:, 1000:2000] = 0
    _, offsets = cut_clips(audio[:, :2000], config)
    np.testing.assert_allclose(offsets, [0.0, 0.5])  # the silent chunk from 1.0 s is dropped


def test_fit_length_fades_only_when_cropping() -> None:
    audio = np.ones((1, 100), np.float32)
    cropped = fit_length(audio, 50, 10)
    assert cropped[0, -1] == 0 and cropped[0, 39] == 1
    padded = fit_length(audio, 150, 10)
    assert padded[0, 99] == 1 and padded[0, 100:].max() == 0


def write_broken_files(root: Path) -> tuple[set[str], dict[str, str]]:
    """A folder of good and broken files. Returns (good relpaths, bad relpath → reason word)."""
    sr = 16000
    good_dir = root / "good pack" / "ünïcode sub"
    good_dir.mkdir(parents=True)
    good = set()
    for i in range(3):
        name = f"good pack/ünïcode sub/tone {i} ♪.wav"
        sf.write(root / name, decaying_tone(200 * (i + 1), 0.3, sr), sr)
        good.add(name)
    broken = root / "broken"
    broken.mkdir()
    tone = decaying_tone(330, 0.3, 44100)
    sf.write(broken / "six_channels.wav", np.stack([tone] * 6, axis=1), 44100)
    sf.write(broken / "eight_bit.wav", tone, 22050, subtype="PCM_U8")
    sf.write(broken / "hi_res_96k.flac", decaying_tone(330, 0.3, 96000), 96000)
    good |= {"broken/six_channels.wav", "broken/eight_bit.wav", "broken/hi_res_96k.flac"}
    bad = {}
    (broken / "empty.wav").write_bytes(b"")
    bad["broken/empty.wav"] = "not a readable"
    full = (broken / "six_channels.wav").read_bytes()
    (broken / "truncated_header.wav").write_bytes(full[:30])
    bad["broken/truncated_header.wav"] = "not a readable"
    (broken / "random_bytes.wav").write_bytes(np.random.default_rng(1).bytes(20000))
    bad["broken/random_bytes.wav"] = "not a readable"
    sf.write(broken / "nan.wav", np.full(4000, np.nan, np.float32), sr, subtype="FLOAT")
    bad["broken/nan.wav"] = "NaN"
    sf.write(broken / "zero_length.wav", np.zeros(0, np.float32), sr)
    bad["broken/zero_length.wav"] = "zero-length"
    sf.write(broken / "hour_of_silence.wav", np.zeros(4000 * 3600, np.int16), 4000)
    bad["broken/hour_of_silence.wav"] = "silent"
    (broken / "picture.wav").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    bad["broken/picture.wav"] = "not a readable"
    (broken / "notes.txt").write_text("not audio")
    locked = broken / "locked.wav"
    sf.write(locked, tone, 44100)
    locked.chmod(0)
    if os.geteuid() == 0:  # root reads it anyway: then it must be prepared correctly
        good.add("broken/locked.wav")
    else:
        bad["broken/locked.wav"] = "permission"
    return good, bad


def test_broken_files_are_reported_and_the_rest_prepared(tmp_path: Path, capsys) -> None:
    good, bad = write_broken_files(tmp_path / "data")
    prepare_args = [
        "prepare",
        str(tmp_path / "data"),
        "-o",
        str(tmp_path / "cache"),
        "--sr",
        "16000",
        "--length",
        "0.5",
        "--no-progress",
    ]
    code = main([*prepare_args, "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    reasons = {entry["path"]: entry["reason"] for entry in report["bad"]}
    assert set(reasons) == set(bad)
    for path, word in bad.items():
        assert word in reasons[path], (path, reasons[path])
    assert {entry["path"] for entry in report["ignored"]} == {"broken/notes.txt"}
    cache = SoundCache(tmp_path / "cache")
    assert {source.path for source in cache.sources} == good
    assert np.isfinite(cache.audio).all() and np.abs(cache.audio).max() <= 1
    assert main([*prepare_args, "--strict"]) == 3
    capsys.readouterr()
    assert main(["info", str(tmp_path / "cache"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["sounds"] == len(good) and len(info["bad_files"]) == len(bad)


def test_info_json_counts(small_pack: Path, tmp_path: Path, capsys) -> None:
    prepare_dataset(small_pack, tmp_path / "cache", TINY, workers=1)
    capsys.readouterr()
    assert main(["info", str(tmp_path / "cache"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["sounds"], info["source_files"], info["bad_files"]) == (8, 8, [])
    assert info["descriptors"]["f0"]["unit"] == "Hz"
    assert main(["info", str(tmp_path / "cache")]) == 0
    assert "high" in capsys.readouterr().out


def test_missing_dataset_and_cache_give_one_line_errors(tmp_path: Path, capsys) -> None:
    assert main(["prepare", str(tmp_path / "nope"), "-o", str(tmp_path / "c")]) == 1
    assert "nope: dataset folder not found" in capsys.readouterr().err
    assert main(["info", str(tmp_path)]) == 1
    assert "not a prepared cache" in capsys.readouterr().err


@pytest.mark.slow
def test_killed_prepare_resumes_to_the_same_cache(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for i in range(40):
        folder = data / f"pack{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        sf.write(folder / f"s{i:02d}.wav", decaying_tone(100 + 17 * i, 0.5, 16000, seed=i), 16000)
    args = [
        "prepare",
        str(data),
        "--sr",
        "16000",
        "--length",
        "0.5",
        "--workers",
        "1",
        "--no-progress",
    ]
    command = [sys.executable, "-m", "timbrespace.cli", *args]
    process = subprocess.Popen([*command, "-o", str(tmp_path / "killed")])
    records = tmp_path / "killed" / "records"
    deadline = time.time() + 60
    while time.time() < deadline and len(list(records.glob("*.json"))) < 10:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(list(records.glob("*.json")))
    assert 10 <= done_before < 40, "the kill must land midway"
    assert not (tmp_path / "killed" / "manifest.json").exists()
    resumed = subprocess.run(
        [*command, "-o", str(tmp_path / "killed"), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(resumed.stdout)["processed"] <= 40 - done_before + 1
    subprocess.run([*command, "-o", str(tmp_path / "clean")], check=True, capture_output=True)
    killed, clean = SoundCache(tmp_path / "killed"), SoundCache(tmp_path / "clean")
    assert killed.fingerprint == clean.fingerprint
    assert killed.manifest["sources"] == clean.manifest["sources"]
    np.testing.assert_array_equal(killed.audio, clean.audio)
    np.testing.assert_array_equal(killed.descriptors, clean.descriptors)
    assert not list((tmp_path / "killed").rglob("*.tmp*"))


def test_linked_packs_are_followed_once(small_pack: Path, tmp_path: Path) -> None:
    from timbrespace.data.scan import scan_dataset

    root = tmp_path / "linked"
    root.mkdir()
    (root / "mine").symlink_to(small_pack / "low", target_is_directory=True)
    (small_pack / "low" / "loop").symlink_to(small_pack / "low", target_is_directory=True)
    paths = [source.relpath for source in scan_dataset(root).audio]
    assert len(paths) == 4 and all(path.startswith("mine/") for path in paths)


def test_second_prepare_on_the_same_cache_is_refused_while_one_runs(
    small_pack: Path, tmp_path: Path
) -> None:
    import fcntl

    cache = tmp_path / "cache"
    cache.mkdir()
    with open(cache / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with pytest.raises(TimbrespaceError, match="another prepare is running"):
            prepare_dataset(small_pack, cache, TINY, workers=1)
    assert prepare_dataset(small_pack, cache, TINY, workers=1).sources == 8


@pytest.mark.slow
def test_entire_hydrogen_collection(hydrogen_root: Path, tmp_path: Path) -> None:
    """Every audio file of the real collection is cached or reported; labels are the kits."""
    from timbrespace.audio.io import AUDIO_EXTENSIONS

    found = {
        path.relative_to(hydrogen_root).as_posix()
        for path in hydrogen_root.rglob("*")
        if path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS
    }
    assert len(found) > 700
    cache_dir = tmp_path / "hydrogen"
    report = prepare_dataset(hydrogen_root, cache_dir, PrepareConfig(sample_rate=16000, length=0.5))
    cache = SoundCache(cache_dir)
    cached = {source.path for source in cache.sources}
    bad = {path for path, _ in report.bad}
    assert cached | bad == found and not cached & bad
    assert len(bad) <= 5, report.bad
    kits = {path.name for path in hydrogen_root.iterdir() if path.is_dir()}
    assert {source.pack for source in cache.sources} == kits
    assert all(source.pack == source.path.split("/")[0] for source in cache.sources)
    assert np.isfinite(cache.audio).all() and np.abs(cache.audio).max() <= 1.0
    assert np.all(np.abs(cache.audio).max(axis=(1, 2)) > 1e-3), "a cached clip is silent"
    again = prepare_dataset(hydrogen_root, cache_dir, PrepareConfig(sample_rate=16000, length=0.5))
    assert again.processed == 0 and again.skipped_unchanged == len(found)
