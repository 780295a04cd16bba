"""Read a prepared sound cache without loading it into memory.

Layout of a cache folder (written by `timbrespace.data.prepare`):

- `manifest.json`: config, descriptor names and units, sources (path, pack, label, clip range,
  and for a note set the note label `{"instrument", "program", "pitch", "velocity"}`), bad and
  ignored files. Written last, atomically: it is the commit point of a prepare run.
- `data-<fingerprint>/audio.npy`: float32 `[clips, channels, samples]`, memory-mapped.
- `data-<fingerprint>/descriptors.npy`: float32 `[clips, descriptors]` per-clip values (NaN where
  undefined, e.g. f0 of a hat).
- `data-<fingerprint>/curves.npy`: float32 `[clips, descriptors, frames]` per-frame curves.
- `data-<fingerprint>/clip_source.npy` (int32 `[clips]`), `clip_offset.npy` (float32 s).
- `records/`, `shards/`, `prepare.json`: the resumable work store of `prepare`.

Opening reads the manifest and maps the arrays; nothing is loaded until indexed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from timbrespace.data.notes import Note
from timbrespace.errors import TimbrespaceError

SUPPORTED_FORMAT_VERSION = 1


@dataclass(frozen=True)
class CachedSource:
    path: str
    pack: str
    subpack: str
    label: str
    first_clip: int
    n_clips: int
    duration: float
    note: Note | None = None
    """The note label `notes.csv` gave the file (`timbrespace notes`), if any."""


@dataclass(frozen=True, eq=False)
class NoteLabels:
    """Per-clip note labels of a cache prepared from a note set (`timbrespace notes`).

    `pitch` (MIDI), `velocity` (1…127) and `style` (index into `style_names`, the sorted
    instrument names) are int64 `[clips]`; a clip whose source has no label holds -1 in all
    three (`SoundCache.require_note_labels` refuses such a cache). Compare field by field
    (`eq=False`: the fields are arrays).
    """

    pitch: np.ndarray
    velocity: np.ndarray
    style: np.ndarray
    style_names: list[str]

    @property
    def labelled(self) -> np.ndarray:
        """bool `[clips]`: the clip's source has a note label."""
        return self.style >= 0


class SoundCache:
    """A prepared cache: clips, descriptors, labels. Arrays are memory-mapped read-only."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        manifest_path = self.root / "manifest.json"
        if not manifest_path.is_file():
            raise TimbrespaceError(
                f"{self.root}: not a prepared cache (no manifest.json); run `timbrespace prepare`"
            )
        try:
            self.manifest = json.loads(manifest_path.read_text("utf-8"))
        except ValueError as error:
            raise TimbrespaceError(f"{manifest_path}: unreadable manifest ({error})") from error
        version = self.manifest.get("format_version")
        if version != SUPPORTED_FORMAT_VERSION:
            raise TimbrespaceError(
                f"{manifest_path}: cache format {version} is not supported by this version "
                f"(supports {SUPPORTED_FORMAT_VERSION}); re-run `timbrespace prepare --rebuild`"
            )
        self.data_dir = self.root / self.manifest["data_dir"]
        self.config = self.manifest["config"]
        self.sources = [
            CachedSource(
                source["path"],
                source["pack"],
                source["subpack"],
                source["label"],
                source["first_clip"],
                source["n_clips"],
                source["duration"],
                _note(source, manifest_path),
            )
            for source in self.manifest["sources"]
        ]

    def __len__(self) -> int:
        return int(self.manifest["n_clips"])

    def __repr__(self) -> str:
        return f"SoundCache({str(self.root)!r}, clips={len(self)}, sr={self.sample_rate})"

    @property
    def fingerprint(self) -> str:
        return str(self.manifest["fingerprint"])

    @property
    def sample_rate(self) -> int:
        return int(self.config["sample_rate"])

    @property
    def channels(self) -> int:
        return int(self.config["channels"])

    @property
    def mode(self) -> str:
        return str(self.config["mode"])

    @property
    def clip_samples(self) -> int:
        return int(round(self.config["length"] * self.sample_rate))

    @property
    def descriptor_names(self) -> list[str]:
        return [entry["name"] for entry in self.manifest["descriptors"]]

    @property
    def descriptor_units(self) -> dict[str, str]:
        return {entry["name"]: entry["unit"] for entry in self.manifest["descriptors"]}

    @property
    def bad_files(self) -> list[dict]:
        return list(self.manifest.get("bad_files", []))

    @cached_property
    def audio(self) -> np.ndarray:
        """float32 `[clips, channels, samples]`, memory-mapped."""
        return np.load(self.data_dir / "audio.npy", mmap_mode="r", allow_pickle=False)

    @cached_property
    def descriptors(self) -> np.ndarray:
        """float32 `[clips, descriptors]` per-clip values, in `descriptor_units`."""
        return np.load(self.data_dir / "descriptors.npy", allow_pickle=False)

    @cached_property
    def curves(self) -> np.ndarray:
        """float32 `[clips, descriptors, frames]`, memory-mapped."""
        return np.load(self.data_dir / "curves.npy", mmap_mode="r", allow_pickle=False)

    @cached_property
    def clip_source(self) -> np.ndarray:
        """int32 `[clips]`: index into `sources` of each clip."""
        return np.load(self.data_dir / "clip_source.npy", allow_pickle=False)

    @cached_property
    def clip_offset(self) -> np.ndarray:
        """float32 `[clips]`: start of each clip in its source file, s."""
        return np.load(self.data_dir / "clip_offset.npy", allow_pickle=False)

    @cached_property
    def label_names(self) -> list[str]:
        """Sorted distinct labels (`pack/subpack`)."""
        return sorted({source.label for source in self.sources})

    @cached_property
    def clip_labels(self) -> np.ndarray:
        """int64 `[clips]`: index into `label_names` of each clip."""
        index = {label: i for i, label in enumerate(self.label_names)}
        per_source = np.array([index[source.label] for source in self.sources], dtype=np.int64)
        return per_source[self.clip_source] if len(self) else np.zeros(0, np.int64)

    @cached_property
    def note_labels(self) -> NoteLabels | None:
        """Pitch, velocity and instrument of each clip (see `NoteLabels`), from the `notes.csv`
        of the prepared folder; None when no source has a note label."""
        labelled = [source.note for source in self.sources if source.note is not None]
        if not labelled:
            return None
        names = sorted({note.instrument for note in labelled})
        index = {name: i for i, name in enumerate(names)}
        per_source = np.array(
            [
                (-1, -1, -1)
                if source.note is None
                else (source.note.pitch, source.note.velocity, index[source.note.instrument])
                for source in self.sources
            ],
            dtype=np.int64,
        ).reshape(len(self.sources), 3)
        per_clip = per_source[self.clip_source] if len(self) else np.zeros((0, 3), np.int64)
        pitch, velocity, style = (np.ascontiguousarray(per_clip[:, i]) for i in range(3))
        return NoteLabels(pitch=pitch, velocity=velocity, style=style, style_names=names)

    def require_note_labels(self) -> NoteLabels:
        """`note_labels`, for a model conditioned on notes: a `TimbrespaceError` naming
        `timbrespace notes` when any sound has no label (and one such file)."""
        labels = self.note_labels
        missing = [source for source in self.sources if source.note is None]
        if labels is not None and not missing:
            return labels
        unlabelled = sum(source.n_clips for source in missing)
        example = f", e.g. {missing[0].path}" if missing else ""
        raise TimbrespaceError(
            f"{self.root}: {unlabelled} of {len(self)} sounds have no note label (pitch, "
            f"velocity, instrument){example}; a note model trains on a labelled note set: "
            "render one with `timbrespace notes OUT` and prepare it with "
            "`timbrespace prepare OUT -o CACHE`"
        )

    def descriptor(self, name: str) -> np.ndarray:
        """Per-clip values of one descriptor `[clips]`."""
        names = self.descriptor_names
        if name not in names:
            raise TimbrespaceError(f"unknown descriptor {name!r}; known: {', '.join(names)}")
        return self.descriptors[:, names.index(name)]

    def summary(self) -> dict:
        """Counts, durations and descriptor ranges, JSON-ready."""
        packs: dict[str, dict] = {}
        for source in self.sources:
            entry = packs.setdefault(source.pack, {"files": 0, "clips": 0, "duration_s": 0.0})
            entry["files"] += 1
            entry["clips"] += source.n_clips
            entry["duration_s"] = round(entry["duration_s"] + source.duration, 3)
        ranges = {}
        for i, name in enumerate(self.descriptor_names):
            values = self.descriptors[:, i]
            finite = values[np.isfinite(values)]
            ranges[name] = {
                "unit": self.descriptor_units[name],
                "min": float(finite.min()) if finite.size else None,
                "median": float(np.median(finite)) if finite.size else None,
                "max": float(finite.max()) if finite.size else None,
                "defined": int(finite.size),
            }
        return {
            "cache": str(self.root),
            "mode": self.mode,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "clip_seconds": self.config["length"],
            "sounds": len(self),
            "source_files": len(self.sources),
            "source_duration_s": round(sum(source.duration for source in self.sources), 3),
            "packs": packs,
            "labels": len(self.label_names),
            "descriptors": ranges,
            "bad_files": self.bad_files,
            "ignored_files": len(self.manifest.get("ignored_files", [])),
        }


def _note(source: dict, manifest: Path) -> Note | None:
    """The optional note label of a manifest source entry."""
    label = source.get("note")
    if label is None:
        return None
    try:
        return Note(
            str(label["instrument"]),
            int(label["program"]),
            int(label["pitch"]),
            int(label["velocity"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise TimbrespaceError(
            f"{manifest}: malformed note label of {source.get('path')!r} ({error!r})"
        ) from error


def open_cache(path: str | os.PathLike[str]) -> SoundCache:
    return SoundCache(path)
