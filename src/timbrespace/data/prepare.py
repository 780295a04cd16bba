"""Turn a folder of sample packs into a cache of fixed-length clips with descriptors.

Work is split per source file. Each worker decodes one file, cuts it into clips, computes every
registered descriptor and writes a *shard* (`shards/<key>.npz`) and then a *record*
(`records/<key>.json`), both atomically. A record is the proof a file is done, so a killed run
resumes where it stopped and a re-run skips every file whose size and modification time are
unchanged. Files that fail get a record with the reason and are reported, not decoded again until
they change, except files that could not be opened (permissions, a vanished mount), which are
retried on every run. When all files are done the shards are consolidated into the memory-mapped
arrays that `SoundCache` reads (see `timbrespace.data.cache`). A full disk or an unwritable cache
ends the run with one line naming the folder (and the space needed); work already done is kept.
A `notes.csv` at the dataset root (written by `timbrespace notes`) gives the sources it lists a
note label (instrument, program, pitch, velocity) in the manifest; see `read_note_table`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from timbrespace.atomic import atomic_path, write_json_atomic
from timbrespace.audio.descriptors import (
    compute_descriptors,
    descriptor_names,
    frame_count,
)
from timbrespace.audio.io import AudioLoadError, audio_info
from timbrespace.data.clips import PrepareConfig, load_clips
from timbrespace.data.disk import (
    NpyWriter,
    cache_write_error,
    die_with_parent,
    require_free_space,
)
from timbrespace.data.notes import NoteTable, read_note_table
from timbrespace.data.scan import ScanResult, SourceFile, scan_dataset
from timbrespace.errors import TimbrespaceError

CACHE_FORMAT_VERSION = 1
ProgressCallback = Callable[[int, int, str], None]


@dataclass
class PrepareReport:
    """What one `prepare` run did."""

    cache: str
    sources: int = 0
    clips: int = 0
    processed: int = 0
    skipped_unchanged: int = 0
    removed: int = 0
    bad: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["bad"] = [{"path": path, "reason": reason} for path, reason in self.bad]
        data["ignored"] = [{"path": path, "reason": reason} for path, reason in self.ignored]
        return data


def source_key(relpath: str) -> str:
    """Stable file-system-safe key of a source path."""
    return hashlib.sha1(relpath.encode("utf-8")).hexdigest()[:20]


def process_source(dataset: str, source: SourceFile, config: PrepareConfig, cache: str) -> dict:
    """Decode, cut and describe one source file; write its shard and record. Returns the record.

    Runs in a worker process. Errors in the file become a record with an `error` field.
    """
    record: dict = {
        "relpath": source.relpath,
        "size": source.size,
        "mtime_ns": source.mtime_ns,
        "key": source_key(source.relpath),
    }
    path = Path(dataset) / source.relpath
    try:
        info = audio_info(path)
        clips, offsets = load_clips(path, info.sample_rate, config)
        if len(clips) == 0:
            raise AudioLoadError(path, "no non-silent chunk")
        settings = config.descriptor_settings
        values = [compute_descriptors(clip, settings) for clip in clips]
        clip_values = np.stack([value.clip for value in values]).astype(np.float32)
        curves = np.stack([value.curves for value in values]).astype(np.float32)
    except AudioLoadError as error:
        record["error"] = error.reason
        if not os.access(path, os.R_OK):
            record["retry"] = True
    except (MemoryError, ValueError) as error:
        record["error"] = f"{type(error).__name__}: {error}"
    else:
        shard = Path(cache) / "shards" / f"{record['key']}.npz"
        with atomic_path(shard, durable=False) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, audio=clips, descriptors=clip_values, curves=curves, offsets=offsets)
        record.update(
            n_clips=len(clips),
            source_sample_rate=info.sample_rate,
            source_channels=info.channels,
            source_duration=info.duration,
            truncated=info.duration > config.read_seconds,
        )
    write_json_atomic(Path(cache) / "records" / f"{record['key']}.json", record, durable=False)
    return record


def _load_records(cache: Path) -> dict[str, dict]:
    records: dict[str, dict] = {}
    folder = cache / "records"
    if not folder.is_dir():
        return records
    for path in folder.glob("*.json"):
        try:
            record = json.loads(path.read_text("utf-8"))
            records[record["relpath"]] = record
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)
    return records


def _check_config(cache: Path, config: PrepareConfig, rebuild: bool) -> None:
    settings_path = cache / "prepare.json"
    wanted_config = asdict(config)
    wanted = {
        "format_version": CACHE_FORMAT_VERSION,
        "config": wanted_config,
        "descriptors": descriptor_names(),
    }
    if rebuild and cache.exists():
        for name in ("records", "shards"):
            shutil.rmtree(cache / name, ignore_errors=True)
        (cache / "manifest.json").unlink(missing_ok=True)
    if settings_path.exists() and not rebuild:
        existing = json.loads(settings_path.read_text("utf-8"))
        if existing != wanted:
            differing = sorted(
                key
                for key in set(existing.get("config", {})) | set(wanted_config)
                if existing.get("config", {}).get(key) != wanted_config.get(key)
            ) or ["format_version/descriptors"]
            raise TimbrespaceError(
                f"{cache}: cache was prepared with other settings ({', '.join(differing)}); "
                "choose another output folder or pass --rebuild"
            )
    cache.mkdir(parents=True, exist_ok=True)
    write_json_atomic(settings_path, wanted)


def prepare_dataset(
    dataset: str | os.PathLike[str],
    cache: str | os.PathLike[str],
    config: PrepareConfig | None = None,
    *,
    workers: int | None = None,
    rebuild: bool = False,
    progress: ProgressCallback | None = None,
) -> PrepareReport:
    """Prepare (or update) the cache at `cache` from the sound folder `dataset`.

    Incremental: only new or changed files are processed; removed files leave the cache.
    `progress(done, total, relpath)` is called after each processed file.
    """
    config = config or PrepareConfig()
    dataset_path = Path(dataset)
    cache_path = Path(cache)
    scan = scan_dataset(dataset_path, exclude=cache_path if cache_path.exists() else None)
    notes = read_note_table(dataset_path)
    try:
        cache_path.mkdir(parents=True, exist_ok=True)
        with _exclusive(cache_path):
            return _prepare_locked(
                dataset_path, cache_path, config, scan, notes, workers, rebuild, progress
            )
    except OSError as error:
        raise cache_write_error(cache_path, error) from error


@contextlib.contextmanager
def _exclusive(cache: Path) -> Iterator[None]:
    """Hold an exclusive lock on the cache; left-over temporary files of a killed run are removed."""
    with open(cache / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise TimbrespaceError(f"{cache}: another prepare is running on this cache") from error
        for folder in (cache / "shards", cache / "records"):
            for stale in folder.glob(".*.tmp*") if folder.is_dir() else []:
                stale.unlink(missing_ok=True)
        for stale in cache.glob(".data-*.building"):
            shutil.rmtree(stale, ignore_errors=True)
        yield


def _prepare_locked(
    dataset_path: Path,
    cache_path: Path,
    config: PrepareConfig,
    scan: ScanResult,
    notes: NoteTable | None,
    workers: int | None,
    rebuild: bool,
    progress: ProgressCallback | None,
) -> PrepareReport:
    started = time.perf_counter()
    _check_config(cache_path, config, rebuild)
    records = _load_records(cache_path)
    todo = [
        source
        for source in scan.audio
        if not _is_current(records.get(source.relpath), source, cache_path)
    ]
    report = PrepareReport(cache=str(cache_path), ignored=scan.ignored)
    report.skipped_unchanged = len(scan.audio) - len(todo)
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    if todo:
        require_free_space(cache_path, len(todo) * _clip_bytes(config), f"{len(todo)} new files")
        _run_jobs(dataset_path, cache_path, config, todo, workers, records, progress)
    report.processed = len(todo)

    present = {source.relpath for source in scan.audio}
    for relpath in [relpath for relpath in records if relpath not in present]:
        stale = records.pop(relpath)
        (cache_path / "records" / f"{stale['key']}.json").unlink(missing_ok=True)
        (cache_path / "shards" / f"{stale['key']}.npz").unlink(missing_ok=True)
        report.removed += 1

    ordered = [records[source.relpath] for source in scan.audio]
    report.bad = [(record["relpath"], record["error"]) for record in ordered if "error" in record]
    good = [record for record in ordered if "error" not in record]
    report.sources = len(good)
    report.clips = sum(record["n_clips"] for record in good)
    _consolidate(cache_path, config, good, report, dataset_path, notes)
    report.seconds = time.perf_counter() - started
    return report


def _is_current(record: dict | None, source: SourceFile, cache: Path) -> bool:
    if record is None or record["size"] != source.size or record["mtime_ns"] != source.mtime_ns:
        return False
    if "error" in record:
        return not record.get("retry", False)
    return (cache / "shards" / f"{record['key']}.npz").exists()


def _clip_bytes(config: PrepareConfig) -> int:
    """Bytes one clip takes in a shard or the consolidated arrays (audio, descriptors, curves)."""
    n_descriptors = len(descriptor_names())
    n_frames = frame_count(config.clip_samples, config.descriptor_settings)
    return 4 * (config.channels * config.clip_samples + n_descriptors * (1 + n_frames) + 2)


def _space_still_needed(cache: Path, remaining: int) -> int:
    """Bytes the rest of a run needs: shards for `remaining` files like the ones already written,
    plus the consolidated copy of every shard."""
    sizes = [path.stat().st_size for path in (cache / "shards").glob("*.npz")]
    average = sum(sizes) / len(sizes) if sizes else 0.0
    return int(average * remaining * 2 + sum(sizes))


def _run_jobs(
    dataset: Path,
    cache: Path,
    config: PrepareConfig,
    todo: list[SourceFile],
    workers: int,
    records: dict[str, dict],
    progress: ProgressCallback | None,
) -> None:
    """Process `todo`, filling `records`. An OSError (it comes from writing the cache: reading a
    source fails as AudioLoadError) stops the run with a one-line error; finished files stay."""
    done = 0
    try:
        if workers == 1:
            finished = _run_serial(dataset, cache, config, todo, records)
        else:
            finished = _run_pool(dataset, cache, config, todo, workers, records)
        for source in finished:
            done += 1
            if progress:
                progress(done, len(todo), source.relpath)
    except OSError as error:
        needed = _space_still_needed(cache, len(todo) - done)
        raise cache_write_error(cache, error, needed) from error


def _run_serial(
    dataset: Path, cache: Path, config: PrepareConfig, todo: list[SourceFile], records: dict
) -> Iterator[SourceFile]:
    """Process `todo` in this process; yields each finished source."""
    for source in todo:
        records[source.relpath] = process_source(str(dataset), source, config, str(cache))
        yield source


def _run_pool(
    dataset: Path,
    cache: Path,
    config: PrepareConfig,
    todo: list[SourceFile],
    workers: int,
    records: dict[str, dict],
) -> Iterator[SourceFile]:
    """Process `todo` in spawned workers that die with this process; yields each finished source."""
    context = get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    ) as pool:
        futures = {
            pool.submit(process_source, str(dataset), source, config, str(cache)): source
            for source in todo
        }
        for future in as_completed(futures):
            source = futures[future]
            try:
                records[source.relpath] = future.result()
            except OSError:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            except Exception as error:  # a crash in a worker must not lose the other files
                records[source.relpath] = {
                    "relpath": source.relpath,
                    "size": source.size,
                    "mtime_ns": source.mtime_ns,
                    "key": source_key(source.relpath),
                    "error": f"worker failed: {type(error).__name__}: {error}",
                }
            yield source


def _consolidate(
    cache: Path,
    config: PrepareConfig,
    good: list[dict],
    report: PrepareReport,
    dataset: Path,
    notes: NoteTable | None = None,
) -> None:
    """Write the arrays SoundCache reads into a fresh `data-<id>/` folder, then switch the manifest.

    The manifest is the commit point: until it is renamed into place, readers see the old data.
    It records the dataset folder (absolute) the sources' paths are relative to, and the note
    label of each source `notes` lists. The fingerprint covers `notes.csv`'s bytes, so changed
    labels are picked up.
    """
    dataset_root = str(dataset.absolute())
    content: list = [[r["relpath"], r["size"], r["mtime_ns"]] for r in good] + [asdict(config)]
    if notes is not None:  # without labels the fingerprint stays what it was before them
        content.append({"notes_csv": notes.digest})
    fingerprint = hashlib.sha1(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]
    manifest_path = cache / "manifest.json"
    if manifest_path.exists():
        current = json.loads(manifest_path.read_text("utf-8"))
        if current.get("fingerprint") == fingerprint and (cache / current["data_dir"]).is_dir():
            current["dataset"] = dataset_root
            current["bad_files"] = report.to_dict()["bad"]
            current["ignored_files"] = report.to_dict()["ignored"]
            write_json_atomic(manifest_path, current)
            return
    data_dir = f"data-{fingerprint}"
    target = cache / data_dir
    building = cache / f".{data_dir}.building"
    shutil.rmtree(building, ignore_errors=True)
    n_clips = sum(record["n_clips"] for record in good)
    require_free_space(cache, n_clips * _clip_bytes(config), f"consolidating {n_clips} clips")
    building.mkdir(parents=True)
    try:
        sources = _write_arrays(cache, building, config, good, n_clips, notes)
    except BaseException as error:
        shutil.rmtree(building, ignore_errors=True)
        if isinstance(error, OSError):
            raise cache_write_error(cache, error, n_clips * _clip_bytes(config)) from error
        raise
    shutil.rmtree(target, ignore_errors=True)
    os.replace(building, target)

    from timbrespace.audio.descriptors import DESCRIPTORS

    manifest = {
        "format_version": CACHE_FORMAT_VERSION,
        "fingerprint": fingerprint,
        "data_dir": data_dir,
        "dataset": dataset_root,
        "config": asdict(config),
        "descriptors": [
            {"name": name, "unit": DESCRIPTORS[name].unit} for name in descriptor_names()
        ],
        "n_clips": n_clips,
        "n_frames": frame_count(config.clip_samples, config.descriptor_settings),
        "sources": sources,
        "bad_files": report.to_dict()["bad"],
        "ignored_files": report.to_dict()["ignored"],
    }
    write_json_atomic(manifest_path, manifest)
    for stale in cache.glob("data-*"):
        if stale.name != data_dir:
            shutil.rmtree(stale, ignore_errors=True)


def _write_arrays(
    cache: Path,
    building: Path,
    config: PrepareConfig,
    good: list[dict],
    n_clips: int,
    notes: NoteTable | None = None,
) -> list[dict]:
    """Copy every shard into the arrays of `building/`; returns the manifest's source entries
    (with `"note": {"instrument", "program", "pitch", "velocity"}` for each path `notes`
    lists)."""
    labels = notes.labels if notes is not None else {}
    names = descriptor_names()
    n_frames = frame_count(config.clip_samples, config.descriptor_settings)
    descriptors = np.zeros((n_clips, len(names)), np.float32)
    curves = np.zeros((n_clips, len(names), n_frames), np.float32)
    clip_source = np.zeros(n_clips, np.int32)
    clip_offset = np.zeros(n_clips, np.float32)
    sources = []
    start = 0
    shape = (n_clips, config.channels, config.clip_samples)
    with NpyWriter(building / "audio.npy", shape, np.float32) as audio:
        for index, record in enumerate(good):
            count = record["n_clips"]
            with np.load(cache / "shards" / f"{record['key']}.npz", allow_pickle=False) as shard:
                audio.write(shard["audio"])
                descriptors[start : start + count] = shard["descriptors"]
                curves[start : start + count] = shard["curves"]
                clip_offset[start : start + count] = shard["offsets"]
            clip_source[start : start + count] = index
            source = SourceFile(record["relpath"], record["size"], record["mtime_ns"])
            entry = {
                "path": record["relpath"],
                "pack": source.pack,
                "subpack": source.subpack,
                "label": source.label,
                "first_clip": start,
                "n_clips": count,
                "duration": round(record["source_duration"], 6),
                "source_sample_rate": record["source_sample_rate"],
                "source_channels": record["source_channels"],
                "truncated": record["truncated"],
            }
            if record["relpath"] in labels:
                entry["note"] = asdict(labels[record["relpath"]])
            sources.append(entry)
            start += count
    np.save(building / "descriptors.npy", descriptors)
    np.save(building / "curves.npy", curves)
    np.save(building / "clip_source.npy", clip_source)
    np.save(building / "clip_offset.npy", clip_offset)
    return sources


def cache_summary(cache: str | os.PathLike[str]) -> dict[str, Any]:
    """What `timbrespace info` shows of a prepared cache: packs, counts, descriptor ranges and
    bad files, as JSON-ready data (see `SoundCache.summary`)."""
    from timbrespace.data.cache import SoundCache

    return SoundCache(cache).summary()
