"""The studio's export folder: kits and sample packs the page makes are written here, one folder
each (`kits/NAME/`, `packs/NAME/`), and served back for download. By default it is the bundle's
`exports/` folder (`timbrespace studio --exports FOLDER` chooses another).

Its rules are `studio.export`'s: every file is written atomically, nothing leaves the root (`..`,
absolute paths and symlinks leaving it: 403), names are checked (400), an existing folder with
files in it is refused unless `overwrite` (409, before anything is written), a read-only folder
is a 403, a full disk a 507. Only `.wav` and `.csv` files inside it are served.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from timbrespace.pack import safe_name
from timbrespace.studio.errors import Conflict, NotFound, StudioError
from timbrespace.studio.export import check_folder, export_wav, write_error
from timbrespace.studio.files import inside_root

KINDS = ("kits", "packs")
"""The sub-folders of the export folder, one per kind of export."""
SERVED = {".wav": "audio/wav", ".csv": "text/csv"}
FOLDER_CHARS = 100
"""Longest folder name a request may give (characters)."""
ROOT_NAME = "the export folder"


@dataclass(frozen=True)
class Written:
    """A file written: its name, its path relative to the export folder and its download URL."""

    name: str
    path: str
    url: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "path": self.path, "url": self.url}


def file_url(path: str) -> str:
    """The URL serving `path` (relative to the export folder)."""
    return "/api/exports/" + quote(path)


class ExportFolder:
    """The folder kits and packs are written into (created at the first write)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def folder(self, kind: str, name: str, *, overwrite: bool) -> str:
        """A new folder `kind/NAME` for an export, NAME made portable (`pack.safe_name`: ASCII
        letters, digits and `+-=._`); returns its path relative to the root. Refused: a name
        with control characters, slashes or a leading dot, or over `FOLDER_CHARS` (400), a
        folder holding files unless `overwrite`, a file in the way (409)."""
        if kind not in KINDS:
            raise ValueError(f"kind {kind!r}: one of {KINDS}")
        text = name.strip()
        if not text or len(text) > FOLDER_CHARS:
            raise StudioError(f"name: give a folder name of 1 … {FOLDER_CHARS} characters")
        if any(c in text for c in "/\\") or text.startswith(".") or text in ("..", "."):
            raise StudioError(f"name: {name!r} must be one plain folder name (no / or leading .)")
        check_folder(text)  # control characters
        relative = f"{kind}/{safe_name(text)}"
        path = inside_root(self.root, relative)
        for parent, shown in ((path.parent, kind), (path, relative)):
            if parent.exists() and not parent.is_dir():
                raise Conflict(f"name: {shown} is a file in {ROOT_NAME}, not a folder")
        if path.is_dir() and any(path.iterdir()) and not overwrite:
            raise Conflict(
                f"name: {relative} already holds files; choose another name or set overwrite"
            )
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise write_error(error, relative, ROOT_NAME) from None
        return relative

    def write(self, folder: str, name: str, data: bytes) -> Written:
        """Write `data` to `folder/name` (a folder from `folder()`; a `.wav` or `.csv` name),
        atomically, replacing a file of that name."""
        suffix = PurePosixPath(name).suffix.lower()
        if suffix not in SERVED:
            raise StudioError(f"name: {name!r} must end in .wav or .csv")
        path = export_wav(
            self.root, folder, name, data, overwrite=True, suffix=suffix, root_name=ROOT_NAME
        )
        return Written(name, path, file_url(path))

    def file(self, relative: str) -> tuple[Path, str]:
        """A served file (`.wav` or `.csv` inside the root) and its media type; 403 for a path
        leaving the root, 404 for anything else that is not such a file."""
        path = inside_root(self.root, relative)
        media = SERVED.get(path.suffix.lower())
        if media is None or not path.is_file():
            raise NotFound(f"{relative}: no such file in {ROOT_NAME}")
        return path, media
