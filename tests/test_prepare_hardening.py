"""`prepare` on a full disk, with a killed parent, with files that become readable; file modes."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from timbrespace.atomic import write_bytes_atomic
from timbrespace.cli import main
from timbrespace.data import disk, prepare
from timbrespace.data.cache import SoundCache
from timbrespace.data.clips import PrepareConfig
from timbrespace.data.disk import DiskFullError, NpyWriter, format_bytes
from timbrespace.data.prepare import prepare_dataset

from .conftest import decaying_tone

TINY = PrepareConfig(sample_rate=16000, length=0.5)


def tone_folder(root: Path, count: int, seconds: float = 0.5, tau: float = 0.15) -> Path:
    """`count` tones of `seconds` at 16 kHz that decay with time constant `tau` (s)."""
    for i in range(count):
        folder = root / f"pack{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        tone = decaying_tone(100 + 17 * i, seconds, 16000, tau=tau, seed=i)
        sf.write(folder / f"s{i:03d}.wav", tone, 16000)
    return root


def leftovers(cache: Path) -> list[Path]:
    return [*cache.glob(".data-*.building"), *cache.rglob("*.tmp*")]


def raise_disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_format_bytes_known_answers() -> None:
    assert format_bytes(512) == "512 B"
    assert format_bytes(1536) == "1.5 KB"
    assert format_bytes(3.2e9) == "3.2 GB"


def test_npy_writer_matches_numpy_and_checks_rows(tmp_path: Path) -> None:
    data = np.arange(24, dtype=np.float32).reshape(4, 2, 3)
    with NpyWriter(tmp_path / "a.npy", data.shape, np.float32) as writer:
        writer.write(data[:1])
        writer.write(data[1:])
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), data)
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy", mmap_mode="r"), data)
    with (
        pytest.raises(ValueError, match="wrote 1 rows"),
        NpyWriter(tmp_path / "b.npy", data.shape, np.float32) as writer,
    ):
        writer.write(data[:1])


def test_disk_full_while_consolidating_keeps_the_work_and_no_temporary_folder(
    small_pack: Path, tmp_path: Path, monkeypatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setattr(NpyWriter, "write", raise_disk_full)
    with pytest.raises(DiskFullError, match=f"{cache}: the disk is full .*needs about"):
        prepare_dataset(small_pack, cache, TINY, workers=1)
    assert not leftovers(cache)
    assert len(list((cache / "records").glob("*.json"))) == 8
    monkeypatch.undo()
    report = prepare_dataset(small_pack, cache, TINY, workers=1)
    assert report.processed == 0 and report.clips == 8


def test_disk_full_in_a_file_job_stops_the_run_without_marking_files_bad(
    small_pack: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setattr(prepare.np, "savez", raise_disk_full)
    code = main([
        "prepare", str(small_pack), "-o", str(cache), "--sr", "16000", "--length", "0.5",
        "--workers", "1", "--no-progress",
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{cache}: the disk is full" in err and "re-run to resume" in err
    assert not leftovers(cache)
    assert not list((cache / "records").glob("*.json")), "a full disk is not a bad file"
    monkeypatch.undo()
    assert prepare_dataset(small_pack, cache, TINY, workers=1).sources == 8


def test_too_little_free_space_is_refused_before_writing(
    small_pack: Path, tmp_path: Path, monkeypatch
) -> None:
    cache = tmp_path / "cache"
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda path: usage._replace(free=100_000))
    with pytest.raises(
        DiskFullError, match=r"8 new files needs about 1\.\d MB .* 100\.0 KB is free"
    ):
        prepare_dataset(small_pack, cache, TINY, workers=1)
    assert not (cache / "shards").exists() or not list((cache / "shards").iterdir())


@pytest.fixture()
def small_disk(tmp_path: Path):
    """An 8 MB tmpfs (needs root and a kernel that lets this process mount)."""
    mount = tmp_path / "small_disk"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize(
    ("workers", "mode", "files", "seconds", "expected"),
    [
        ("1", "continuous", 4, 12.0, "the disk is full"),  # chunks overflow while writing shards
        ("2", "continuous", 4, 12.0, "the disk is full"),
        ("2", "oneshot", 30, 1.0, "consolidating 30 clips needs about"),  # refused before copying
    ],
)
def test_prepare_on_a_real_full_disk_ends_with_one_line(
    small_disk: Path, tmp_path: Path, workers: str, mode: str, files: int, seconds: float,
    expected: str,
) -> None:  # fmt: skip
    data = tone_folder(tmp_path / "data", files, seconds=seconds, tau=100.0)
    cache = small_disk / "cache"
    result = subprocess.run(
        [
            sys.executable, "-m", "timbrespace.cli", "prepare", str(data), "-o", str(cache),
            "--sr", "44100", "--length", "1.0", "--mode", mode, "--workers", workers,
            "--no-progress",
        ],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: {cache}") and expected in result.stderr
    assert not leftovers(cache)
    assert not (cache / "manifest.json").exists()
    if mode == "oneshot":
        assert len(list((cache / "records").glob("*.json"))) == files, "finished work is kept"


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_killing_the_parent_of_prepare_ends_its_workers(tmp_path: Path) -> None:
    data = tone_folder(tmp_path / "data", 300, seconds=1.0)
    process = subprocess.Popen(
        [
            sys.executable, "-m", "timbrespace.cli", "prepare", str(data),
            "-o", str(tmp_path / "cache"), "--sr", "16000", "--length", "0.5",
            "--workers", "2", "--no-progress",
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    records = tmp_path / "cache" / "records"
    deadline = time.time() + 90
    while time.time() < deadline and len(list(records.glob("*.json"))) < 5:
        time.sleep(0.05)
    workers = children_of(process.pid)
    assert len(workers) >= 2, "the workers (and the resource tracker) are running"
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.time() + 5
    while time.time() < deadline and any(alive(pid) for pid in workers):
        time.sleep(0.1)
    assert not [pid for pid in workers if alive(pid)]


def test_a_file_that_could_not_be_opened_is_retried_next_run(
    small_pack: Path, tmp_path: Path, monkeypatch
) -> None:
    locked = next(small_pack.rglob("tone_3.wav"))
    real_info = prepare.audio_info

    def unreadable_once(path):
        if Path(path) == locked:
            raise prepare.AudioLoadError(path, "permission denied")
        return real_info(path)

    monkeypatch.setattr(prepare, "audio_info", unreadable_once)
    monkeypatch.setattr(prepare.os, "access", lambda path, mode: Path(path) != locked)
    first = prepare_dataset(small_pack, tmp_path / "cache", TINY, workers=1)
    assert [reason for _, reason in first.bad] == ["permission denied"]
    monkeypatch.undo()
    second = prepare_dataset(small_pack, tmp_path / "cache", TINY, workers=1)
    assert second.processed == 1 and not second.bad and second.sources == 8
    assert len(SoundCache(tmp_path / "cache").manifest["sources"]) == 8


def test_a_file_that_is_not_audio_is_not_decoded_again(small_pack: Path, tmp_path: Path) -> None:
    (small_pack / "low" / "a" / "broken.wav").write_bytes(b"not audio at all")
    assert len(prepare_dataset(small_pack, tmp_path / "cache", TINY, workers=1).bad) == 1
    again = prepare_dataset(small_pack, tmp_path / "cache", TINY, workers=1)
    assert again.processed == 0 and len(again.bad) == 1


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_honour_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    previous = os.umask(umask)
    try:
        write_bytes_atomic(tmp_path / "new.bin", b"x")
    finally:
        os.umask(previous)
    assert (tmp_path / "new.bin").stat().st_mode & 0o777 == mode


def test_atomic_writes_keep_an_existing_files_mode(tmp_path: Path) -> None:
    target = tmp_path / "kept.bin"
    target.write_bytes(b"old")
    target.chmod(0o640)
    write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"new" and target.stat().st_mode & 0o777 == 0o640
