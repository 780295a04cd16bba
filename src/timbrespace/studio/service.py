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

import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from timbrespace import runtime
from timbrespace.errors import NonFiniteError, TimbrespaceError
from timbrespace.limits import LimitError
from timbrespace.space import (
    CapabilityError,
    ClipsUnavailable,
    Edit,
    LatentSpace,
    Move,
    as_curve,
    as_trajectory,
)
from timbrespace.studio.errors import Forbidden as Forbidden
from timbrespace.studio.errors import NotFound, StudioError, Unprocessable
from timbrespace.studio.export import export_wav
from timbrespace.studio.files import AUDIO_TYPES, dataset_root_of_cache, inside_root, pack_tree
from timbrespace.studio.live import LiveLink
from timbrespace.studio.states import MAX_STATES, State, StateStore, apply_gain, state_id, wav_bytes
from timbrespace.studio.views import finite_values, latent_map, map_position, space_info

if TYPE_CHECKING:
    from timbrespace.space import Analysis

NEAREST = 5


# --- helpers ---------------------------------------------------------------------------------


def check_analysis(analysis: Analysis) -> None:
    """Refuse (TimbrespaceError naming the file) an analysis without one latent and one pack
    per sound: a request's sound index would point past the end or at another sound's data."""
    count = len(analysis.sounds)
    sizes = {"latents": len(analysis.latents), "sound_packs": len(analysis.sound_packs)}
    wrong = [f"{size} {name}" for name, size in sizes.items() if size != count]
    if wrong:
        raise TimbrespaceError(
            f"{analysis.path}: the analysis is inconsistent ({', '.join(wrong)} for {count} "
            f"sounds); re-run `timbrespace analyze {analysis.path}`"
        )


def value_refused(error: BaseException) -> bool:
    """Whether a library error is a value over its limit or a latent that overflowed (422, like
    a field out of range) rather than a malformed request (400). The parsers re-raise a limit's
    error as a plain TimbrespaceError with the operator's name, so the chain is searched."""
    seen: BaseException | None = error
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, (LimitError, NonFiniteError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def check_finite(z: torch.Tensor, field_name: str) -> None:
    """422 naming `field_name` when a latent holds inf or NaN (a value overflowed)."""
    if not bool(torch.isfinite(z).all()):
        raise Unprocessable(
            f"{field_name}: the latent is not finite (a value overflows); use smaller values"
        )


# --- the studio -----------------------------------------------------------------------------------


class Studio:
    """The studio's state: a latent space, its dataset root (None: originals and export are
    unavailable) and the rendered states, whose ids are keyed by `secret` (default: 32 random
    bytes per studio). Refuses an analysis whose arrays disagree on the number of sounds."""

    def __init__(
        self,
        space: LatentSpace,
        dataset_root: str | os.PathLike[str] | None = None,
        *,
        max_states: int = MAX_STATES,
        secret: bytes | None = None,
    ) -> None:
        check_analysis(space.analysis)
        self.space = space
        root = None if dataset_root is None else Path(dataset_root)
        self.dataset_root = root if root is not None and root.is_dir() else None
        self.missing_root = root if root is not None and self.dataset_root is None else None
        self.states = StateStore(max_states)
        self.model_lock = threading.Lock()
        self.secret = secrets.token_bytes(32) if secret is None else secret
        """Key of the state ids: random per studio, so ids can't be predicted from outside."""
        self.live = LiveLink()
        """The live link: while on, every rendered latent is also sent to an engine."""

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
        space = LatentSpace.open(bundle)
        space.analysis  # noqa: B018 - the studio needs the analysis: say so now
        if dataset is None:
            cache = data or space.bundle.training.get("cache", {}).get("path")
            dataset = dataset_root_of_cache(cache)
        return cls(space, dataset)

    @property
    def sample_rate(self) -> int:
        return self.space.sample_rate

    @property
    def analysis(self) -> Analysis:
        return self.space.analysis

    # read-only views

    def info(self) -> dict[str, Any]:
        """What the page needs to build itself (see API.md `/api/info`)."""
        return space_info(self.space, originals=self.dataset_root is not None)

    def pack_tree(self) -> dict[str, Any]:
        """The dataset's folders and sounds (see `pack_tree`)."""
        cache = self.space.training_clips()
        offsets = None if cache is None else [float(v) for v in cache.clip_offset]
        return pack_tree(self.space.analysis.sounds, offsets)

    def map(self, color: str = "pack") -> dict[str, Any]:
        """The sounds on the first two PCA axes, coloured by pack or by a descriptor."""
        return latent_map(self.space.analysis, color)

    def original_path(self, index: int) -> tuple[Path, str]:
        """The original file of dataset sound `index` inside the dataset root, and its media
        type; NotFound if there is no root or no such sound or file, Forbidden if it leaves the
        root."""
        sounds = self.space.analysis.sounds
        if not 0 <= index < len(sounds):
            raise NotFound(
                f"index: no sound {index}; the analysis has {len(sounds)} (0…{len(sounds) - 1})"
            )
        root = self.require_root("playing originals")
        path = inside_root(root, sounds[index])
        if not path.is_file():
            raise NotFound(
                f"{sounds[index]}: the original file is not in the dataset folder {root}"
            )
        return path, AUDIO_TYPES.get(path.suffix.lower(), "application/octet-stream")

    def require_root(self, purpose: str) -> Path:
        """The dataset root, or NotFound saying `purpose` needs it (and how to give it)."""
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
        """A state as JSON: z `[dim][frames]`, its place on the map, values (read from the
        latent), requested and measured control values (user units), warnings and the nearest
        dataset sounds."""
        return {
            "id": state.id,
            "z": state.z[0].double().tolist(),
            "map": list(state.map),
            "values": finite_values(state.values),
            "requested": finite_values(state.requested),
            "measured": finite_values(state.measured),
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
        """A dataset sound's latent (`LatentSpace.sound_latent`); for a path model whose
        analysed cache is gone, the original file inside the dataset root, encoded."""
        count = len(self.space.analysis.sounds)
        if not 0 <= index < count:
            raise NotFound(
                f"{field_name}.index: no sound {index}; the analysis has {count} (0…{count - 1})"
            )
        try:
            with self.model_lock, runtime.threads("render"):
                return self.space.sound_latent(index)
        except ClipsUnavailable:
            pass
        root = self.require_root("starting from a sound of a path model")
        path = inside_root(root, self.space.analysis.sounds[index])
        with self.model_lock, runtime.threads("render"):
            return self.space.encode_file(path)

    def _map_latent(self, x: float, y: float) -> torch.Tensor:
        return self.space.map_point(x, y)

    # renders

    def _finish(
        self,
        z: torch.Tensor,
        warnings: Sequence[str],
        *,
        gain_db: float,
        normalize: bool,
        gla_iters: int | None,
        moved: Move | None = None,
        field_name: str = "body",
    ) -> State:
        """Decode `z [1, dim, frames]` (or take the render of a closed-loop `moved`), measure
        its controls, apply gain, encode the WAV and store the state (a state already stored is
        reused); either way the latent goes to the live link. A non-finite latent or
        render is refused (422 naming `field_name`, the request field that caused it): never a
        WAV of NaN, which 16-bit encoding turns into full-scale DC."""
        z = torch.as_tensor(z).float().contiguous()
        check_finite(z, field_name)
        warnings = list(dict.fromkeys(warnings))
        requested = dict(moved.requested) if moved is not None else {}
        options = (gain_db, normalize, gla_iters, warnings, sorted(requested.items()))
        key = state_id(z, *options, key=self.secret)
        known = self.states.get(key)
        if known is not None:
            self.live.push(z, one_shot=not self.space.path_latent)
            return known
        if moved is not None and moved.audio is not None:
            audio = np.asarray(moved.audio[0])
        else:
            with self.model_lock, runtime.threads("render"):
                audio = self.space.render(z, gla_iters=gla_iters)[0]
        if not np.isfinite(audio).all():
            peak = float(z.abs().max())
            raise Unprocessable(
                f"{field_name}: the rendered audio is not finite (latent values up to "
                f"{peak:.3g}); use smaller values"
            )
        measured = dict(moved.measured) if moved is not None and moved.measured else {}
        if not measured:
            measured = self.space.measure_controls(audio)
        audio = apply_gain(audio, gain_db, normalize)
        state = State(
            id=key,
            z=z,
            audio=audio,
            wav=wav_bytes(audio, self.sample_rate),
            values=self.space.control_values(z),
            warnings=warnings,
            requested=requested,
            measured=measured,
            map=map_position(self.space.analysis, z),
        )
        self.states.put(state)
        self.live.push(z, one_shot=not self.space.path_latent)
        return state

    def _check_names(self, names: Sequence[str], field_name: str) -> None:
        for name in names:
            try:
                self.space.control(name)
            except TimbrespaceError as error:
                raise StudioError(f"{field_name}: {error}") from None

    def warm_up(self) -> float:
        """Render the first sound once and move its first control (torch's first calls are
        slow), so the first slider move in the page answers at full speed. Returns seconds."""
        started = time.perf_counter()
        self.render({"index": 0})
        for control in self.space.controls.values():
            if control.range is not None:
                self.render({"index": 0}, {control.name: control.to_user(control.range[1])})
                break
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
        220.0}`) keeping `lock`ed ones, and render (see `LatentSpace.move`: where the closed loop
        runs, its final render is the state's audio and its measurements the state's)."""
        settings = dict(settings or {})
        self._check_names(list(settings), "set")
        self._check_names(list(lock), "lock")
        both = sorted(set(settings) & set(lock))
        if both:
            raise StudioError(f"lock: {', '.join(both)} cannot be both set and locked")
        z = self.resolve(start, "start")
        try:
            with self.model_lock, runtime.threads("render"):
                moved = self.space.move(
                    z, settings, lock=list(lock), extrapolate=extrapolate, gla_iters=gla_iters
                )
        except TimbrespaceError as error:
            raise StudioError(f"set: {error}") from None
        return self._finish(
            torch.as_tensor(moved.z_new),
            moved.warnings,
            gain_db=gain_db,
            normalize=normalize,
            gla_iters=gla_iters,
            moved=moved,
            field_name="set",
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
        try:
            shape = None if curve is None else as_curve(curve)
        except TimbrespaceError as error:
            raise StudioError(str(error)) from None
        za, zb = self.resolve(a, "a"), self.resolve(b, "b")
        edit = self._edit(
            "interpolate",
            lambda: self.space.interpolate(za, zb, amount=amount, curve=shape, align=align),
        )
        field_name = "amount" if curve is None else "curve"
        return self._finish_edit(edit, gain_db, normalize, gla_iters, field_name)

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
        try:
            path = None if trajectory is None else as_trajectory(trajectory)
        except TimbrespaceError as error:
            raise StudioError(str(error)) from None
        latents = [self.resolve(ref, f"corners[{i}]") for i, ref in enumerate(corners)]
        edit = self._edit(
            "plane", lambda: self.space.plane(latents, xy=xy, trajectory=path, align=align)
        )
        field_name = "xy" if trajectory is None else "trajectory"
        return self._finish_edit(edit, gain_db, normalize, gla_iters, field_name)

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
        """Apply path operators (the syntax of `latent.syntax.parse_op`) in order, and render."""
        start_z = self.resolve(start, "start")
        try:
            z = self.space.edit(start_z, ops, seed=seed)
        except TimbrespaceError as error:
            message = str(error)
            message = message if message.startswith("ops[") else f"ops: {message}"
            if value_refused(error):
                raise Unprocessable(message) from None
            raise StudioError(message) from None
        if not bool(torch.isfinite(z).all()):
            self._blame_op(start_z, ops, seed)
        return self._finish(
            z, [], gain_db=gain_db, normalize=normalize, gla_iters=gla_iters, field_name="ops"
        )

    def _blame_op(self, z: torch.Tensor, ops: Sequence[str], seed: int) -> None:
        """422 naming the first operator after which the latent is no longer finite."""
        for i in range(len(ops)):
            check_finite(self.space.edit(z, ops[: i + 1], seed=seed), f"ops[{i}] {ops[i]!r}")
        check_finite(z, "start")

    def _edit(self, what: str, make: Callable[[], Edit]) -> Edit:
        """Run a LatentSpace mix; its refusals become 400s naming `what` (or the field)."""
        try:
            return make()
        except CapabilityError as error:
            raise StudioError(str(error)) from None
        except TimbrespaceError as error:
            raise StudioError(f"{what}: {error}") from None

    def _finish_edit(
        self, edit: Edit, gain_db: float, normalize: bool, gla_iters: int | None, field_name: str
    ) -> State:
        return self._finish(
            edit.z,
            edit.warnings,
            gain_db=gain_db,
            normalize=normalize,
            gla_iters=gla_iters,
            field_name=field_name,
        )

    # export

    def export(self, state_id: str, folder: str, name: str, *, overwrite: bool = False) -> str:
        """Write a state's WAV to `folder/name` inside the dataset root, atomically; returns the
        path relative to the root (see `studio.export.export_wav` for what is refused)."""
        state = self.state(state_id)
        root = self.require_root("export")
        return export_wav(root, folder, name, state.wav, overwrite=overwrite)
