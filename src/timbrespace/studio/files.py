"""The studio's files: paths kept inside a root, the dataset folder of a cache, and the pack tree
of the analysed sounds."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from timbrespace.studio.errors import Forbidden

AUDIO_TYPES = {
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".aif": "audio/aiff",
    ".aiff": "audio/aiff",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".m4a": "audio/mp4",
}


def inside_root(root: str | os.PathLike[str], relative: str) -> Path:
    """The resolved path of `relative` under `root`, refusing anything that leaves the root.

    Refused (Forbidden, naming the path): absolute paths, `..` components, backslashes and NUL
    characters, and paths whose existing part resolves outside the root through a symlink.
    An empty `relative` is the root itself.
    """
    if "\x00" in relative or "\\" in relative:
        raise Forbidden(f"{relative!r}: backslashes and NUL characters are not allowed in paths")
    path = PurePosixPath(relative)
    if path.is_absolute():
        raise Forbidden(f"{relative!r}: absolute paths are refused; give a path inside the root")
    if ".." in path.parts:
        raise Forbidden(f"{relative!r}: '..' is refused; give a path inside the root")
    base = Path(root).resolve()
    resolved = (base / path).resolve()
    if resolved != base and base not in resolved.parents:
        raise Forbidden(f"{relative!r} resolves outside the root (through a symlink); refused")
    return resolved


def pack_tree(sounds: Sequence[str], offsets: Sequence[float] | None = None) -> dict[str, Any]:
    """Folders of dataset paths as a tree: `{"name", "path", "children", "sounds"}` per folder,
    each sound `{"index", "name"}`; children and sounds sorted by name; the root has name "".
    A file cut into several clips (continuous caches) lists each clip as `name @ offset s`
    (offsets: each clip's start in its file, s; without them `name #k`)."""
    counts: dict[str, int] = {}
    for sound in sounds:
        counts[sound] = counts.get(sound, 0) + 1
    seen: dict[str, int] = {}
    root: dict[str, Any] = {"name": "", "path": "", "children": {}, "sounds": []}
    for index, sound in enumerate(sounds):
        *folders, name = sound.split("/")
        if counts[sound] > 1:
            seen[sound] = seen.get(sound, 0) + 1
            name += f" @ {offsets[index]:.2f} s" if offsets is not None else f" #{seen[sound]}"
        node = root
        for depth, folder in enumerate(folders):
            children = node["children"]
            if folder not in children:
                path = "/".join(folders[: depth + 1])
                children[folder] = {"name": folder, "path": path, "children": {}, "sounds": []}
            node = children[folder]
        node["sounds"].append({"index": index, "name": name})

    def file_name(item: dict[str, Any]) -> str:
        return sounds[item["index"]].rsplit("/", 1)[-1]

    def finish(node: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": node["name"],
            "path": node["path"],
            "children": [finish(node["children"][key]) for key in sorted(node["children"])],
            "sounds": sorted(node["sounds"], key=lambda item: (file_name(item), item["index"])),
        }

    return finish(root)


def dataset_root_of_cache(cache: str | os.PathLike[str] | None) -> Path | None:
    """The dataset folder a prepared cache was made from (its manifest's `dataset`), or None."""
    if cache is None:
        return None
    try:
        manifest = json.loads((Path(cache) / "manifest.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    root = manifest.get("dataset") if isinstance(manifest, dict) else None
    return Path(root) if isinstance(root, str) and root else None
