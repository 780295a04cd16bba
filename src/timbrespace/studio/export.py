"""Writing a render into the dataset folder: the name and folder checked first, the file system's
refusals answered as the HTTP errors they are (never a 500 for something the user can fix)."""

from __future__ import annotations

import errno
import os
from pathlib import Path, PurePosixPath

from timbrespace.atomic import atomic_path
from timbrespace.studio.errors import (
    Conflict,
    Forbidden,
    InsufficientStorage,
    StudioError,
    WriteFailed,
)
from timbrespace.studio.files import inside_root

NAME_BYTES = 240
"""Longest export name in UTF-8 bytes: 255 (the usual file-name limit) less the 14 bytes
`atomic_path`'s temporary sibling (`.{stem}.XXXXXXXX.tmp{suffix}`) adds."""
COMPONENT_BYTES = 255


def _control_characters(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def check_name(name: str, suffix: str = ".wav") -> None:
    """Refuse (400, naming `name`) what is not a plain `suffix` file name that fits on disk."""
    if _control_characters(name):
        raise StudioError(f"name: {name!r}: control characters (newline, tab…) are refused")
    if not name.lower().endswith(suffix) or name.startswith(".") or "/" in name or "\\" in name:
        raise StudioError(f"name: {name!r} must be a plain file name ending in {suffix}")
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > NAME_BYTES:
        raise StudioError(f"name: {size} bytes in UTF-8; at most {NAME_BYTES}")


def check_folder(folder: str) -> None:
    """Refuse (400, naming `folder`) control characters and path parts too long for a disk."""
    if _control_characters(folder):
        raise StudioError(f"folder: {folder!r}: control characters (newline, tab…) are refused")
    for part in PurePosixPath(folder).parts:
        size = len(part.encode("utf-8", "surrogatepass"))
        if size > COMPONENT_BYTES:
            raise StudioError(f"folder: a part of {size} bytes in UTF-8; at most {COMPONENT_BYTES}")


def export_wav(
    root: Path,
    folder: str,
    name: str,
    data: bytes,
    *,
    overwrite: bool,
    suffix: str = ".wav",
    root_name: str = "the dataset folder",
) -> str:
    """Write `data` to `folder/name` inside `root`, atomically; returns the path relative to the
    root. Refuses: paths leaving the root (403), bad names and folders (400; a name must end in
    `suffix`), an existing file unless `overwrite`, a folder that is or lies below a file (409),
    a read-only folder (403, naming `root_name`), a full disk (507)."""
    check_name(name, suffix)
    check_folder(folder)
    folder_path = inside_root(root, folder)
    target = inside_root(root, (PurePosixPath(folder) / name).as_posix())
    base = root.resolve()
    if target.parent != folder_path:
        raise Forbidden(f"name: {name!r} must be a file directly in the folder")
    for parent in [folder_path, *folder_path.parents]:
        if parent == base or base not in parent.parents:
            break
        if parent.exists() and not parent.is_dir():
            what = (
                "is a file" if parent == folder_path else f"is below the file {_rel(parent, base)}"
            )
            raise Conflict(f"folder: {folder!r} {what}, not a folder")
    if target.is_dir():
        raise Conflict(f"name: {folder}/{name} is a folder")
    if target.exists() and not overwrite:
        raise Conflict(f"name: {_rel(target, base)} exists; set overwrite to replace it")
    try:
        with atomic_path(target) as tmp:
            tmp.write_bytes(data)
    except OSError as error:
        raise write_error(error, _rel(target, base), root_name) from None
    return _rel(target, base)


def _rel(path: Path, base: Path) -> str:
    return path.relative_to(base).as_posix()


def write_error(error: OSError, where: str, root: str = "the dataset folder") -> StudioError:
    """The HTTP error for a failed write of `where` (relative to `root`, named in messages)."""
    reason = error.strerror or os.strerror(error.errno or 0) or type(error).__name__
    code = error.errno
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return Forbidden(f"folder: cannot write {where} ({reason}): {root} is read-only")
    if code in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientStorage(f"cannot write {where} ({reason}): free some space")
    if code == errno.ENAMETOOLONG:
        return StudioError(f"name: {where} is too long for this file system ({reason})")
    if code in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
        return Conflict(f"folder: cannot write {where} ({reason})")
    return WriteFailed(f"cannot write {where} ({reason})")
