"""Errors a user can act on: the CLI prints them as one line and exits non-zero."""

from __future__ import annotations

import errno
import os
from pathlib import Path


class TimbrespaceError(Exception):
    """A problem with the user's input (file, folder, field, option), stated in one line."""


OS_REASONS = {
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.ENAMETOOLONG: "file name too long",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "a part of the path is a file, not a folder",
    errno.EISDIR: "is a folder",
    errno.ENOENT: "no such file or folder",
    errno.EIO: "input/output error",
}
"""The file-system failures a user causes or can fix, as the one-line reason they read."""


def os_reason(error: OSError, target: str | os.PathLike[str] | None = None) -> str:
    """An `OSError` as a short reason (`read-only file system`, `no space left on
    device`, …); the path it names is added when it is not `target` nor a file beside it (a
    temporary sibling), e.g. the parent that is a file."""
    reason = OS_REASONS.get(error.errno or 0) or (error.strerror or type(error).__name__).lower()
    name = error.filename
    if name is not None and target is not None:
        failed, wanted = Path(os.fsdecode(name)), Path(target)
        if failed != wanted and failed.parent != wanted.parent:
            reason += f" ({failed})"
    return reason


def os_error(error: OSError, path: str | os.PathLike[str], doing: str = "cannot write") -> str:
    """One line for an `OSError` met at `path`: `PATH: cannot write (read-only file system)`."""
    return f"{path}: {doing} ({os_reason(error, path)})"


class NonFiniteError(TimbrespaceError):
    """A latent or a rendered sound that became NaN or infinite because a requested value was
    too large; a face that knows which option asked for it adds that to the message."""


class WriteError(TimbrespaceError, OSError):
    """An output that could not be written (read-only file system, permission, full disk, a
    file where a folder should be, a name too long), in one line naming it; still an `OSError`
    with the original `errno`, for code that handles those."""

    @classmethod
    def of(cls, error: OSError, path: str | os.PathLike[str]) -> WriteError:
        """`PATH: cannot write (reason)` for `error`, met while writing `path`."""
        made = cls(os_error(error, path))
        made.errno = error.errno
        return made
