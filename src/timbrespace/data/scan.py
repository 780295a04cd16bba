"""Walk a folder of sample packs and label each sound by its pack and sub-pack path.

`DATASET/Pack 2/SubPack 1/kick.wav` gets pack `Pack 2`, sub-pack `SubPack 1` and label
`Pack 2/SubPack 1`. Files directly in DATASET get the pack `(root)`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from timbrespace.audio.io import is_audio_path
from timbrespace.errors import TimbrespaceError

ROOT_PACK = "(root)"


@dataclass(frozen=True)
class SourceFile:
    """One file found under the dataset root; `relpath` uses forward slashes."""

    relpath: str
    size: int
    mtime_ns: int

    @property
    def pack(self) -> str:
        parts = self.relpath.split("/")
        return parts[0] if len(parts) > 1 else ROOT_PACK

    @property
    def subpack(self) -> str:
        return "/".join(self.relpath.split("/")[1:-1])

    @property
    def label(self) -> str:
        return "/".join(self.relpath.split("/")[:-1]) or ROOT_PACK


@dataclass(frozen=True)
class ScanResult:
    audio: list[SourceFile]
    ignored: list[tuple[str, str]]
    """(relpath, reason) for files that are not audio by name or could not be inspected."""


def scan_dataset(root: str | os.PathLike[str], *, exclude: Path | None = None) -> ScanResult:
    """List audio files below `root` in a stable (sorted) order.

    Linked folders are followed (packs are often linked in), each real folder at most once, so
    link loops end. Hidden files and folders (starting with '.') are skipped; `exclude` (e.g. a
    cache placed inside the dataset) is not entered.
    """
    base = Path(root)
    if not base.exists():
        raise TimbrespaceError(f"{base}: dataset folder not found")
    if not base.is_dir():
        raise TimbrespaceError(f"{base}: not a folder")
    excluded = exclude.resolve() if exclude is not None else None
    audio: list[SourceFile] = []
    ignored: list[tuple[str, str]] = []
    visited: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(base, followlinks=True):
        current = Path(dirpath)
        identity = (os.stat(current).st_dev, os.stat(current).st_ino)
        if identity in visited:
            dirnames[:] = []
            continue
        visited.add(identity)
        dirnames[:] = sorted(
            name
            for name in dirnames
            if not name.startswith(".")
            and (excluded is None or (current / name).resolve() != excluded)
        )
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = current / name
            relpath = path.relative_to(base).as_posix()
            if not is_audio_path(name):
                ignored.append((relpath, "not an audio file (by extension)"))
                continue
            try:
                stat = path.stat()
            except OSError as error:
                ignored.append((relpath, f"cannot stat: {error.strerror or error}"))
                continue
            audio.append(SourceFile(relpath, stat.st_size, stat.st_mtime_ns))
    audio.sort(key=lambda source: source.relpath)
    return ScanResult(audio, ignored)
