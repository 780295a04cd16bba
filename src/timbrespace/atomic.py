"""Atomic file writes: write to a temporary sibling, fsync, then rename over the target.

A crash or kill at any moment leaves either the old file or the new one, never half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed to `path`.

    The temporary name keeps the target's suffix so writers that pick a format by extension
    (soundfile, numpy) behave the same. On error the temporary file is removed. `durable`
    fsyncs before the rename (survives power loss, not only a killed process).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _mode_for(target))
        if durable:
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _mode_for(target: Path) -> int:
    """An existing file keeps its permission bits; a new one gets 0666 minus the umask, as `open`
    would give it (mkstemp's 0600 would hide the user's files from their other tools)."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~current_umask()


def current_umask() -> int:
    """The process umask, read without changing it where Linux exposes it."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, *, durable: bool = True) -> None:
    with atomic_path(path, durable=durable) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(
    path: str | os.PathLike[str], obj: Any, *, indent: int | None = 1, durable: bool = True
) -> None:
    """Write `obj` as UTF-8 JSON atomically (NaN is refused: it is not valid JSON)."""
    text = json.dumps(obj, indent=indent, ensure_ascii=False, allow_nan=False)
    write_bytes_atomic(path, text.encode("utf-8"), durable=durable)
