"""The studio's state and operations as plain Python: no HTTP here (that is `studio.app`).

A `Studio` holds a `LatentSpace`, the dataset root (where the analysed sounds live, for playing
originals and exporting renders) and an LRU of rendered states. Every render is reached by
resolving sound references to latents, moving or mixing them with `LatentSpace` and
`latent.paths`, decoding, and applying gain; the result is a `State` with its 16-bit WAV.

    studio = Studio.open("runs/kit/bundle")
    state = studio.render({"index": 3}, {"pitch": 220.0})
    state.wav, state.values["pitch"], studio.export(state.id, "kicks/new", "k.wav")

Errors are `StudioError`s carrying an HTTP status; library errors (`TimbrespaceError`) are bad
requests. Decoding is serialised by a lock: one model, one decode at a time, torch's own threads
inside it.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import soundfile as sf
import torch

from timbrespace.analyze import Analysis
from timbrespace.atomic import atomic_path
from timbrespace.data.cache import SoundCache
from timbrespace.errors import TimbrespaceError
from timbrespace.generate import encode_sound, is_one_shot, peak_normalize
from timbrespace.latent import paths
from timbrespace.latent.control import Control, Setting, get_control
from timbrespace.space import LatentSpace

MAX_STATES = 512
NORMALIZE_PEAK_DB = -1.0
MAX_ENCODED = 64
NEAREST = 5
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


class StudioError(TimbrespaceError):
    """A request the studio refuses; `status` is its HTTP status code."""

    status = 400


class NotFound(StudioError):
    status = 404


class Forbidden(StudioError):
    status = 403


class Conflict(StudioError):
    status = 409


@dataclass(frozen=True)
class State:
    """One rendered sound: id, latent `z [1, dim, frames]` float32, audio `[channels, samples]`
    float32 after gain (what `wav` holds, before 16-bit rounding), control values after the move
    (user units, NaN where undefined) and warnings."""

    id: str
    z: torch.Tensor
    audio: np.ndarray
    wav: bytes
    values: dict[str, float]
    warnings: list[str] = field(default_factory=list)


class StateStore:
    """A thread-safe LRU of states by id (the most recently used `capacity` are kept)."""

    def __init__(self, capacity: int = MAX_STATES) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, State] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, state_id: str) -> State | None:
        with self._lock:
            state = self._items.get(state_id)
            if state is not None:
                self._items.move_to_end(state_id)
            return state

    def put(self, state: State) -> None:
        with self._lock:
            self._items[state.id] = state
            self._items.move_to_end(state.id)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


# --- pure helpers ---------------------------------------------------------------------------------


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


def apply_gain(audio: np.ndarray, gain_db: float = 0.0, normalize: bool = False) -> np.ndarray:
    """Float audio `[channels, samples]` → float32 with its peak scaled to NORMALIZE_PEAK_DB dBFS
    (if `normalize`, as the CLI's `--normalize`; silence stays silent), then `gain_db` dB
    applied, then clipped to [-1, 1]."""
    out = np.asarray(audio, dtype=np.float32)
    if normalize:
        out = peak_normalize(out, NORMALIZE_PEAK_DB)
    out = out * 10.0 ** (gain_db / 20.0)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """Float audio `[channels, samples]` in [-1, 1] → a 16-bit PCM WAV file in memory."""
    buffer = io.BytesIO()
    sf.write(buffer, np.asarray(audio).T, sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def state_id(z: torch.Tensor, *options: object) -> str:
    """A short content hash of a latent and the render options: equal requests, equal ids."""
    digest = hashlib.blake2b(digest_size=8)
    digest.update(z.detach().float().contiguous().numpy().tobytes())
    digest.update(repr(tuple(z.shape)).encode())
    digest.update(json.dumps(options).encode())
    return digest.hexdigest()


def control_kind(name: str, analysis: Analysis) -> str:
    """`pca`, `pack`, `custom` or `descriptor` for a control of `analysis`."""
    if name in {control.name for control in analysis.custom}:
        return "custom"
    if name.startswith("pack:"):
        return "pack"
    if name.startswith("pca") and name[3:].isdigit():
        return "pca"
    return "descriptor"


def finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def control_values(z: torch.Tensor, controls: Mapping[str, Control]) -> dict[str, float]:
    """Every control's value at `z [1, dim, frames]` in its user unit, averaged over frames."""
    if not controls:
        return {}
    point = torch.as_tensor(z).double()[0].mean(dim=-1)
    directions = torch.stack([control.direction for control in controls.values()])
    offsets = torch.tensor([control.offset for control in controls.values()], dtype=torch.float64)
    scaled = (directions @ point + offsets).tolist()
    return {
        name: control.to_user(value) if math.isfinite(value) else math.nan
        for (name, control), value in zip(controls.items(), scaled, strict=True)
    }


def is_flat(values: Sequence[float]) -> bool:
    return all(v == values[0] for v in values)


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


# --- the studio -----------------------------------------------------------------------------------


class Studio:
    """The studio's state: a latent space, its dataset root (None: originals and export are
    unavailable) and the rendered states."""

    def __init__(
        self,
        space: LatentSpace,
        dataset_root: str | os.PathLike[str] | None = None,
        *,
        max_states: int = MAX_STATES,
    ) -> None:
        self.space = space
        root = None if dataset_root is None else Path(dataset_root)
        self.dataset_root = root if root is not None and root.is_dir() else None
        self.missing_root = root if root is not None and self.dataset_root is None else None
        self.states = StateStore(max_states)
        self.model_lock = threading.Lock()
        self._encoded: OrderedDict[int, torch.Tensor] = OrderedDict()
        self._encoded_lock = threading.Lock()
        self._cache: SoundCache | None | bool = False

    def training_clips(self) -> SoundCache | None:
        """The analysed cache, if it is still there and unchanged (its clips are the sounds the
        analysis indexes), else None."""
        if self._cache is False:
            recorded = self.analysis.cache
            try:
                cache = SoundCache(recorded["path"])
                same = cache.fingerprint == recorded.get("fingerprint")
                self._cache = cache if same and len(cache) == len(self.analysis.sounds) else None
            except (TimbrespaceError, OSError, KeyError, ValueError):
                self._cache = None
        return self._cache or None

    @classmethod
    def open(
        cls,
        bundle: str | os.PathLike[str],
        *,
        data: str | os.PathLike[str] | None = None,
        dataset: str | os.PathLike[str] | None = None,
    ) -> Studio:
        """Open a bundle (or run folder). The dataset root is `dataset` if given, else the one
        recorded by the cache `data` (default: the cache the model was trained on)."""
        folder = Path(bundle)
        if (folder / "run.json").is_file():
            folder = folder / "bundle"
        space = LatentSpace.open(folder)
        if dataset is None:
            cache = data or space.bundle.training.get("cache", {}).get("path")
            dataset = dataset_root_of_cache(cache)
        return cls(space, dataset)

    # properties of the bundle

    @property
    def analysis(self) -> Analysis:
        return self.space.analysis

    @property
    def path_model(self) -> bool:
        return not is_one_shot(self.space.bundle)

    @property
    def sample_rate(self) -> int:
        return self.space.sample_rate

    def _default_gla_iters(self) -> int | None:
        if not self.path_model:
            return None
        model = self.space.bundle.model
        value = getattr(
            model, "gla_iters", getattr(getattr(model, "config", None), "gla_iters", None)
        )
        return None if value is None else int(value)

    def _path_frames(self) -> int:
        """Frames of a path decoded from one map point: the length of a training clip."""
        if not self.path_model:
            return 1
        bundle = self.space.bundle
        seconds = float(bundle.training.get("prepare_config", {}).get("length", 1.0))
        hop = int(bundle.meta.get("hop_length", getattr(bundle.model, "hop_length", 1)))
        return max(1, round(seconds * bundle.sample_rate / max(hop, 1)))

    # read-only views

    def info(self) -> dict[str, Any]:
        """What the page needs to build itself (see API.md `/api/info`)."""
        analysis = self.analysis
        controls = []
        for name, control in self.space.controls.items():
            low = high = None
            if control.range is not None:
                ends = sorted(control.to_user(v) for v in control.range)
                low, high = finite_or_none(ends[0]), finite_or_none(ends[1])
            controls.append(
                {
                    "name": name,
                    "kind": control_kind(name, analysis),
                    "unit": control.unit,
                    "low": low,
                    "high": high,
                }
            )
        bundle = self.space.bundle
        return {
            "family": bundle.family,
            "bundle": bundle.path.name,
            "sample_rate": bundle.sample_rate,
            "channels": int(bundle.meta.get("channels", getattr(bundle.model, "channels", 1))),
            "latent_dim": int(bundle.meta.get("latent_dim", self.analysis.latents.shape[1])),
            "path_model": self.path_model,
            "sounds": len(analysis.sounds),
            "packs": list(analysis.packs),
            "gla_iters": self._default_gla_iters(),
            "originals": self.dataset_root is not None,
            "descriptors": [
                {"name": name, "unit": analysis.descriptor_units.get(name, "")}
                for name in analysis.descriptor_names
            ],
            "controls": controls,
        }

    def pack_tree(self) -> dict[str, Any]:
        """The dataset's folders and sounds (see `pack_tree`)."""
        cache = self.training_clips()
        offsets = None if cache is None else [float(v) for v in cache.clip_offset]
        return pack_tree(self.analysis.sounds, offsets)

    def map(self, color: str = "pack") -> dict[str, Any]:
        """The sounds on the first two PCA axes, coloured by pack or by a descriptor."""
        analysis = self.analysis
        scores = analysis.pca.transform(analysis.latents)
        columns = [
            scores[:, i] if i < scores.shape[1] else torch.zeros(len(scores)) for i in (0, 1)
        ]
        ratios = [float(r) for r in analysis.pca.explained_variance_ratio[:2]]
        result: dict[str, Any] = {
            "x": [float(v) for v in columns[0]],
            "y": [float(v) for v in columns[1]],
            "sounds": list(analysis.sounds),
            "explained": ratios,
        }
        if color == "pack":
            index = {pack: i for i, pack in enumerate(analysis.packs)}
            return {
                **result,
                "color": [index.get(pack, -1) for pack in analysis.sound_packs],
                "color_kind": "category",
                "categories": list(analysis.packs),
                "unit": "",
            }
        if color not in analysis.descriptor_names:
            known = ", ".join(["pack", *analysis.descriptor_names])
            raise StudioError(f"color: unknown {color!r}; known: {known}")
        values = analysis.descriptor(color)
        return {
            **result,
            "color": [finite_or_none(float(v)) for v in values],
            "color_kind": "value",
            "categories": [],
            "unit": analysis.descriptor_units.get(color, ""),
        }

    def original_path(self, index: int) -> tuple[Path, str]:
        """The original file of dataset sound `index` inside the dataset root, and its media
        type; NotFound if there is no root or no such sound or file, Forbidden if it leaves the
        root."""
        sounds = self.analysis.sounds
        if not 0 <= index < len(sounds):
            raise NotFound(
                f"index: no sound {index}; the analysis has {len(sounds)} (0…{len(sounds) - 1})"
            )
        root = self._require_root("playing originals")
        path = inside_root(root, sounds[index])
        if not path.is_file():
            raise NotFound(
                f"{sounds[index]}: the original file is not in the dataset folder {root}"
            )
        return path, AUDIO_TYPES.get(path.suffix.lower(), "application/octet-stream")

    def _require_root(self, purpose: str) -> Path:
        if self.dataset_root is not None:
            return self.dataset_root
        if self.missing_root is not None:
            raise NotFound(f"the dataset folder {self.missing_root} is missing; {purpose} needs it")
        raise NotFound(
            f"no dataset folder known (its cache does not record one); {purpose} needs it: "
            "start the studio with --dataset FOLDER"
        )

    def state(self, state_id: str) -> State:
        """A rendered state by id; NotFound once it has left the LRU."""
        state = self.states.get(state_id)
        if state is None:
            raise NotFound(
                f"state {state_id!r}: unknown or expired (the studio keeps the last {self.states.capacity})"
            )
        return state

    def describe(self, state: State) -> dict[str, Any]:
        """A state as JSON: z `[dim][frames]`, values, warnings and the nearest dataset sounds."""
        return {
            "id": state.id,
            "z": state.z[0].double().tolist(),
            "values": {k: finite_or_none(v) for k, v in state.values.items()},
            "warnings": list(state.warnings),
            "nearest": [vars(n) for n in self.space.nearest(state.z, NEAREST)],
        }

    # sound references → latents `[1, dim, frames]` float32

    def resolve(self, ref: Mapping[str, Any], field_name: str) -> torch.Tensor:
        """A sound reference (`{"index": i}`, `{"state": id}` or `{"map": [x, y]}`) → latent."""
        if len(ref) != 1:
            raise StudioError(f"{field_name}: give exactly one of index, state, map")
        ((kind, value),) = ref.items()
        if kind == "index":
            return self._sound_latent(int(value), field_name)
        if kind == "state":
            return self.state(str(value)).z.clone()
        if kind == "map":
            x, y = (float(v) for v in value)
            return self._map_latent(x, y)
        raise StudioError(f"{field_name}: unknown reference {kind!r}; give index, state or map")

    def _sound_latent(self, index: int, field_name: str) -> torch.Tensor:
        """A dataset sound's latent: the analysed point of a one-shot model; for a path model,
        the encoded clip of the analysed cache (or, without that cache, the encoded file)."""
        count = len(self.analysis.sounds)
        if not 0 <= index < count:
            raise NotFound(
                f"{field_name}.index: no sound {index}; the analysis has {count} (0…{count - 1})"
            )
        if not self.path_model:
            return self.space.sound_latent(index)
        with self._encoded_lock:
            cached = self._encoded.get(index)
        if cached is not None:
            return cached.clone()
        z = self._encode_sound(index)
        with self._encoded_lock:
            self._encoded[index] = z
            while len(self._encoded) > MAX_ENCODED:
                self._encoded.popitem(last=False)
        return z.clone()

    def _encode_sound(self, index: int) -> torch.Tensor:
        cache = self.training_clips()
        if cache is not None:
            clip = torch.from_numpy(np.array(cache.audio[index], dtype=np.float32))[None]
            with self.model_lock, torch.inference_mode():
                return self.space.bundle.model.encode(clip).float()
        root = self._require_root("starting from a sound of a path model")
        path = inside_root(root, self.analysis.sounds[index])
        with self.model_lock:
            return encode_sound(self.space.bundle, path).float()

    def _map_latent(self, x: float, y: float) -> torch.Tensor:
        pca = self.analysis.pca
        scores = torch.tensor([x, y][: pca.n_components], dtype=torch.float64)
        point = pca.inverse_transform(scores[None])[0].float()
        return point.reshape(1, -1, 1).repeat(1, 1, self._path_frames())

    # renders

    def _finish(
        self,
        z: torch.Tensor,
        warnings: Sequence[str],
        *,
        gain_db: float,
        normalize: bool,
        gla_iters: int | None,
    ) -> State:
        """Decode `z [1, dim, frames]`, apply gain, encode the WAV and store the state."""
        z = torch.as_tensor(z).float().contiguous()
        warnings = list(dict.fromkeys(warnings))
        key = state_id(z, gain_db, normalize, gla_iters, warnings)
        known = self.states.get(key)
        if known is not None:
            return known
        with self.model_lock:
            audio = self.space.render(z, gla_iters=gla_iters)[0]
        audio = apply_gain(audio, gain_db, normalize)
        state = State(
            id=key,
            z=z,
            audio=audio,
            wav=wav_bytes(audio, self.sample_rate),
            values=control_values(z, self.space.controls),
            warnings=warnings,
        )
        self.states.put(state)
        return state

    def _check_names(self, names: Sequence[str], field_name: str) -> None:
        for name in names:
            try:
                get_control(self.space.controls, name)
            except TimbrespaceError as error:
                raise StudioError(f"{field_name}: {error}") from None

    def warm_up(self) -> float:
        """Render the first sound once and move its first control (torch's first calls are
        slow), so the first slider move in the page answers at full speed. Returns seconds."""
        started = time.perf_counter()
        self.render({"index": 0})
        ranged = [c for c in self.space.controls.values() if c.range is not None]
        if ranged:
            self.render({"index": 0}, {ranged[0].name: ranged[0].to_user(ranged[0].range[1])})
        return time.perf_counter() - started

    def render(
        self,
        start: Mapping[str, Any],
        settings: Mapping[str, float] | None = None,
        *,
        lock: Sequence[str] = (),
        extrapolate: bool = False,
        gain_db: float = 0.0,
        normalize: bool = False,
        gla_iters: int | None = None,
    ) -> State:
        """Start from a sound reference, set controls to values in their user units (`{"pitch":
        220.0}`) keeping `lock`ed ones, and render (see `LatentSpace.move`)."""
        settings = dict(settings or {})
        self._check_names(list(settings), "set")
        self._check_names(list(lock), "lock")
        both = sorted(set(settings) & set(lock))
        if both:
            raise StudioError(f"lock: {', '.join(both)} cannot be both set and locked")
        z = self.resolve(start, "start")
        chosen = [Setting(name, float(value), False, "") for name, value in settings.items()]
        try:
            moved = self.space.move(z, chosen, lock=list(lock), extrapolate=extrapolate)
        except TimbrespaceError as error:
            raise StudioError(f"set: {error}") from None
        return self._finish(
            torch.as_tensor(moved.z_new),
            moved.warnings,
            gain_db=gain_db,
            normalize=normalize,
            gla_iters=gla_iters,
        )

    def interpolate(
        self,
        a: Mapping[str, Any],
        b: Mapping[str, Any],
        *,
        amount: float | None = 0.5,
        curve: Sequence[Sequence[float]] | None = None,
        align: str = "stretch",
        gain_db: float = 0.0,
        normalize: bool = False,
        gla_iters: int | None = None,
    ) -> State:
        """`a + amount·(b − a)`; amounts outside 0…1 extrapolate. `curve` `[[t, amount], …]`
        varies the amount over time (path models; a one-shot takes only a flat curve)."""
        mix: float | paths.Curve = 0.5 if amount is None else float(amount)
        if curve is not None:
            times, amounts = [float(p[0]) for p in curve], [float(p[1]) for p in curve]
            if not self.path_model and not is_flat(amounts):
                raise StudioError(
                    "curve: a one-shot model mixes whole sounds, one latent point each; a sloped "
                    "curve over time needs a path model (give a flat curve or amount)"
                )
            try:
                mix = paths.Curve(tuple(times), tuple(amounts))
            except TimbrespaceError as error:
                raise StudioError(f"curve: {error}") from None
            if not self.path_model:
                mix = amounts[0]
        za, zb = self.resolve(a, "a"), self.resolve(b, "b")
        try:
            z = paths.interpolate(za, zb, mix, mode=align)
        except TimbrespaceError as error:
            raise StudioError(f"interpolate: {error}") from None
        warnings = []
        values = mix.values if isinstance(mix, paths.Curve) else (mix,)
        if any(v < 0.0 or v > 1.0 for v in values):
            warnings.append("amount outside 0…1: extrapolating beyond A or B")
        return self._finish(z, warnings, gain_db=gain_db, normalize=normalize, gla_iters=gla_iters)

    def plane(
        self,
        corners: Sequence[Mapping[str, Any]],
        *,
        xy: Sequence[float] | None = None,
        trajectory: Sequence[Sequence[float]] | None = None,
        align: str = "stretch",
        gain_db: float = 0.0,
        normalize: bool = False,
        gla_iters: int | None = None,
    ) -> State:
        """Bilinear mix of four corners, (0,0) (1,0) (0,1) (1,1), at `xy` or along a
        `trajectory` `[[t, x, y], …]` (path models only); outside 0…1 extrapolates."""
        if len(corners) != 4:
            raise StudioError(f"corners: expected 4 sound references, got {len(corners)}")
        if trajectory is not None:
            if not self.path_model:
                raise StudioError(
                    "trajectory: a one-shot model mixes whole sounds, one latent point each; a "
                    "trajectory over time needs a path model (give xy)"
                )
            times = tuple(float(p[0]) for p in trajectory)
            try:
                x: float | paths.Curve = paths.Curve(times, tuple(float(p[1]) for p in trajectory))
                y: float | paths.Curve = paths.Curve(times, tuple(float(p[2]) for p in trajectory))
            except TimbrespaceError as error:
                raise StudioError(f"trajectory: {error}") from None
            points = [float(p[i]) for p in trajectory for i in (1, 2)]
        else:
            x, y = (float(v) for v in (xy or (0.5, 0.5)))
            points = [x, y]
        latents = [self.resolve(ref, f"corners[{i}]") for i, ref in enumerate(corners)]
        try:
            z = paths.plane(latents, x, y, mode=align)
        except TimbrespaceError as error:
            raise StudioError(f"plane: {error}") from None
        warnings = []
        if any(v < 0.0 or v > 1.0 for v in points):
            warnings.append("position outside the unit square: extrapolating beyond the corners")
        return self._finish(z, warnings, gain_db=gain_db, normalize=normalize, gla_iters=gla_iters)

    def path(
        self,
        start: Mapping[str, Any],
        ops: Sequence[str],
        *,
        seed: int = 0,
        gain_db: float = 0.0,
        normalize: bool = False,
        gla_iters: int | None = None,
    ) -> State:
        """Apply path operators (the syntax of `latent.paths.parse_op`) in order, and render."""
        parsed = []
        for i, text in enumerate(ops):
            try:
                parsed.append(paths.parse_op(text, seed=seed))
            except TimbrespaceError as error:
                raise StudioError(f"ops[{i}]: {error}") from None
        z = self.resolve(start, "start")
        try:
            z = paths.apply_ops(z, parsed)
        except TimbrespaceError as error:
            raise StudioError(f"ops: {error}") from None
        return self._finish(z, [], gain_db=gain_db, normalize=normalize, gla_iters=gla_iters)

    # export

    def export(self, state_id: str, folder: str, name: str, *, overwrite: bool = False) -> str:
        """Write a state's WAV to `folder/name` inside the dataset root, atomically; returns the
        path relative to the root. Refuses paths leaving the root (Forbidden), names that are not
        plain `.wav` file names (StudioError) and existing files unless `overwrite` (Conflict)."""
        state = self.state(state_id)
        root = self._require_root("export")
        if not name.lower().endswith(".wav") or name.startswith(".") or "/" in name or "\\" in name:
            raise StudioError(f"name: {name!r} must be a plain file name ending in .wav")
        folder_path = inside_root(root, folder)
        target = inside_root(root, (PurePosixPath(folder) / name).as_posix())
        if target.parent != folder_path:
            raise Forbidden(f"name: {name!r} must be a file directly in the folder")
        if folder_path.exists() and not folder_path.is_dir():
            raise Conflict(f"folder: {folder!r} is a file, not a folder")
        if target.is_dir():
            raise Conflict(f"name: {folder}/{name} is a folder")
        if target.exists() and not overwrite:
            raise Conflict(
                f"name: {target.relative_to(root.resolve()).as_posix()} exists; set overwrite to replace it"
            )
        with atomic_path(target) as tmp:
            tmp.write_bytes(state.wav)
        return target.relative_to(root.resolve()).as_posix()
