"""Writing a cache on a disk that may fill up, from workers that must not outlive their parent.

A full disk must end `prepare` with one line naming the cache folder and the space it needs, never
a Bus error (a memory-mapped write into a sparse file that the file system cannot back) or a
traceback; finished files stay in the cache so a re-run resumes.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

from timbrespace.errors import TimbrespaceError

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
SPACE_MARGIN_BYTES = 1 << 20
"""Kept free beyond an estimate: JSON records, manifests and file-system overhead."""
PARENT_POLL_SECONDS = 0.5
PR_SET_PDEATHSIG = 1


class DiskFullError(TimbrespaceError):
    """No room left where the cache is written; the message says how much is needed."""


def format_bytes(count: float) -> str:
    """`1536` → `'1.5 KB'`, `3.2e9` → `'3.2 GB'` (decimal units, as disk tools show them)."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(count) < 1000:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"


def is_disk_full(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS


def disk_full_message(folder: Path, needed: int | None) -> str:
    free = shutil.disk_usage(folder).free if folder.exists() else 0
    need = f"it needs about {format_bytes(needed)} more, " if needed else ""
    return (
        f"{folder}: the disk is full ({format_bytes(free)} free); {need}"
        "free some space or choose another cache folder (-o); finished files are kept, "
        "re-run to resume"
    )


def require_free_space(folder: Path, needed: int, what: str) -> None:
    """Raise DiskFullError before writing `needed` bytes of `what` into `folder` if they won't fit."""
    free = shutil.disk_usage(folder).free
    if free < needed + SPACE_MARGIN_BYTES:
        raise DiskFullError(
            f"{folder}: {what} needs about {format_bytes(needed + SPACE_MARGIN_BYTES)} of free "
            f"space and {format_bytes(free)} is free; free some space or choose another cache "
            "folder (-o); finished files are kept, re-run to resume"
        )


def cache_write_error(folder: Path, error: OSError, needed: int | None = None) -> TimbrespaceError:
    """The one-line error for an OSError met while writing the cache at `folder`."""
    if is_disk_full(error):
        return DiskFullError(disk_full_message(folder, needed))
    where = error.filename or folder
    return TimbrespaceError(f"{where}: cannot write the cache ({error.strerror or error})")


class NpyWriter:
    """Write a `.npy` file of `shape` from consecutive chunks with ordinary `write` calls.

    Unlike `open_memmap`, a full disk raises OSError(ENOSPC) here instead of killing the process
    with SIGBUS when a page of the mapping cannot be backed. Chunks are `[n, *shape[1:]]`.
    """

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.typing.DTypeLike) -> None:
        self.path = path
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self.rows = 0
        self._handle = open(path, "wb")  # noqa: SIM115 - closed in close()
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": shape,
        }
        np.lib.format.write_array_header_2_0(self._handle, header)

    def write(self, chunk: np.ndarray) -> None:
        data = np.ascontiguousarray(chunk, dtype=self.dtype)
        if data.shape[1:] != self.shape[1:]:
            raise ValueError(f"{self.path}: chunk of shape {data.shape} for rows {self.shape[1:]}")
        self._handle.write(data.tobytes())
        self.rows += len(data)

    def __enter__(self) -> NpyWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        """On success flush to disk and check the row count; on error just close."""
        with self._handle:
            if kind is not None:
                return
            self._handle.flush()
            os.fsync(self._handle.fileno())
        if self.rows != self.shape[0]:
            raise ValueError(
                f"{self.path}: wrote {self.rows} rows, the header says {self.shape[0]}"
            )


def die_with_parent(parent_pid: int) -> None:
    """Worker-process initializer: end this process when `parent_pid` dies (even by kill -9).

    On Linux the kernel sends SIGKILL on the parent's death (prctl PR_SET_PDEATHSIG); elsewhere
    a daemon thread polls the parent id.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the prctl took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)
