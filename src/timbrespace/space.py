"""A bundle and its analysis as one playable latent space: start points, controls, mixing, the
4-way plane, path editing, sweeps, nearest sounds, rendering and measuring. It is the one entry
point of the faces (CLI, studio, later the engine and exporters); they hold no model math.

    space = LatentSpace.open("run/bundle")
    z = space.sound_latent("kicks/808/kick_0000.wav")
    moved = space.move(z, ["pitch=+3st"], lock=["attack"])
    audio = space.render(moved.z_new)[0]          # [channels, samples]
    space.nearest(moved.z_new, k=5)               # the dataset sounds closest to the new point

What a family can do is asked of the model (`latent_kind`, `input_kind`, `default_gla_iters`);
an operation it cannot do is refused here with one shared message (`CapabilityError`).
Latents are `[batch, latent_dim, frames]` float32 (frames = 1 for a point latent).
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from timbrespace import inference, space_history
from timbrespace.audio.descriptors import DescriptorSettings, compute_descriptors, descriptor_limits
from timbrespace.audio.io import peak_normalize
from timbrespace.bundle import Bundle, load_bundle, weights_digest
from timbrespace.data.cache import SoundCache
from timbrespace.errors import TimbrespaceError
from timbrespace.latent import operators, paths, syntax
from timbrespace.latent.analysis import nearest
from timbrespace.latent.analysis_file import Analysis, control_descriptor, load_analysis
from timbrespace.latent.control import Control, apply_controls, get_control, set_controls
from timbrespace.latent.settings import Setting, bounded, parse_settings, parse_sweep, sweep_targets
from timbrespace.latent.syntax import as_curve, as_trajectory
from timbrespace.models.base import CapabilityError, ConfiguredModel, require_path_latent
from timbrespace.space_loop import Move, RenderMemo, steerable
from timbrespace.space_readout import readout_move, readout_search, readout_sweep
from timbrespace.space_results import ClipsUnavailable, Edit, Neighbour, SweepResult
from timbrespace.space_staged import staged_move, staged_sweep

__all__ = ["CapabilityError", "ClipsUnavailable", "Edit", "LatentSpace", "Move"]
__all__ += ["Neighbour", "SweepResult"]

MAX_ENCODED = 64
"""Encoded dataset sounds of a path model kept in memory."""


class LatentSpace:
    """A loaded bundle with (optionally) its analysis: everything needed to play with the latent
    space. Operations that need the analysis (controls, dataset sounds, nearest, the map) raise a
    `TimbrespaceError` telling to run `timbrespace analyze` when it is missing."""

    def __init__(self, bundle: Bundle, analysis: Analysis | None, *, pca_axes: int = 8) -> None:
        self.bundle = bundle
        self._analysis = analysis
        self.pca_axes = pca_axes
        self._controls: dict[str, Control] | None = None
        self.descriptor_settings = DescriptorSettings(sample_rate=bundle.sample_rate)
        self._encoded: OrderedDict[int, torch.Tensor] = OrderedDict()
        self._encoded_lock = threading.Lock()
        self._cache: SoundCache | None | Literal[False] = False  # False: not looked up yet
        self.loop_history = space_history.LoopHistory()
        self.measure = space_history.MeasureMemo(
            lambda audio, names: compute_descriptors(audio, self.descriptor_settings, names)
        )
        """Descriptors of one rendered sound `[channels, samples]` and names (default: all)."""

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, pca_axes: int = 8, analysis: bool = True
    ) -> LatentSpace:
        """Load the bundle at `path` (a bundle or run folder) and, when it has one and
        `analysis` is true, its analysis (refused if made with other weights)."""
        bundle = load_bundle(path)
        has_analysis = (bundle.path / "analysis.json").is_file()
        loaded = None
        if analysis and has_analysis:
            loaded = load_analysis(bundle.path, weights_digest(bundle.path), bundle.latent_dim)
        return cls(bundle, loaded, pca_axes=pca_axes)

    # what the model is and can do

    @property
    def model(self) -> ConfiguredModel:
        return self.bundle.model

    @property
    def sample_rate(self) -> int:
        return self.bundle.sample_rate

    @property
    def path_latent(self) -> bool:
        """Whether a sound is a latent path over time (one point per frame)."""
        return self.model.latent_kind == "path"

    def check_stream_block(self, block: int) -> None:
        """Refuse a `block` (samples) this model cannot stream (`inference.check_stream_block`)."""
        inference.check_stream_block(self.model, block)

    @property
    def default_gla_iters(self) -> int | None:
        """The model's default Griffin-Lim iterations (None: it renders the waveform itself)."""
        return self.model.default_gla_iters

    @property
    def analysis(self) -> Analysis:
        if self._analysis is None:
            raise TimbrespaceError(
                f"{self.bundle.path}: no analysis in the bundle; run `timbrespace analyze`"
            )
        return self._analysis

    @property
    def controls(self) -> dict[str, Control]:
        """Every control of the analysis by name (see `Analysis.controls`), each descriptor
        control bounded by its physical range at this rate and clip length (a centroid below
        Nyquist, a release within the clip), which no request passes, even extrapolating."""
        if self._controls is None:
            seconds = self.clip_seconds()
            self._controls = {
                name: control.with_limits(
                    *descriptor_limits(control_descriptor(name), self.sample_rate, seconds)
                )
                for name, control in self.analysis.controls(pca_axes=self.pca_axes).items()
            }
        return self._controls

    def clip_seconds(self) -> float:
        """Length of one training clip (s)."""
        return float(self.bundle.training.get("prepare_config", {}).get("length", 1.0))

    def clip_frames(self) -> int:
        """Latent frames of one training clip (1 for a point latent)."""
        return self.model.latent_frames(round(self.clip_seconds() * self.sample_rate))

    def training_clips(self) -> SoundCache | None:
        """The analysed cache if it is still there, unchanged and fits the model, else None."""
        if self._cache is False:
            recorded = self.analysis.cache
            try:
                cache = SoundCache(recorded["path"])
                inference.check_cache(self.bundle, cache, fingerprint=recorded.get("fingerprint"))
                self._cache = cache if len(cache) == len(self.analysis.sounds) else None
            except (TimbrespaceError, OSError, KeyError, ValueError):
                self._cache = None
        return self._cache or None

    # start points: each returns a latent `[1, latent_dim, frames]` float32

    def sound_index(self, sound: str | int) -> int:
        """Index of a dataset sound given its index, path, a unique end of its path (e.g.
        `kick_0001.wav`) or a file's path ending in it (`~/Samples/Kicks/kick_0001.wav`)."""
        sounds = self.analysis.sounds
        if isinstance(sound, int):
            if not 0 <= sound < len(sounds):
                raise TimbrespaceError(f"sound index {sound} out of range 0…{len(sounds) - 1}")
            return sound
        if sound in sounds:
            return sounds.index(sound)
        tail = "/" + sound.lstrip("/")  # an end of a dataset path, or a path ending in one
        endings = [i for i, p in enumerate(sounds) if p.endswith(tail) or tail.endswith("/" + p)]
        if len(endings) == 1:
            return endings[0]
        close = [path for path in sounds if sound.lower() in path.lower()][:5]
        hint = f"; did you mean {', '.join(close)}" if close else ""
        raise TimbrespaceError(f"{sound!r}: no such sound in the analysis{hint}")

    def sound_latent(self, sound: str | int) -> torch.Tensor:
        """A dataset sound's latent: its analysed point, or for a path latent its cache clip
        encoded (raises when the cache is gone: `encode_file` the original then)."""
        index = self.sound_index(sound)
        if not self.path_latent:
            return self.analysis.latents[index].float().reshape(1, -1, 1)
        with self._encoded_lock:
            cached = self._encoded.get(index)
        if cached is None:
            cache = self.training_clips()
            if cache is None:
                raise ClipsUnavailable(
                    f"{self.analysis.cache.get('path')}: the analysed cache is missing or "
                    "changed; a sound of a path model is encoded from its clip there"
                )
            cached = inference.encode_batches(self.model, cache.audio, indices=np.array([index]))
            with self._encoded_lock:
                self._encoded[index] = cached
                while len(self._encoded) > MAX_ENCODED:
                    self._encoded.popitem(last=False)
        return cached.clone()

    def encode_file(self, path: str | os.PathLike[str]) -> torch.Tensor:
        """Encode an audio file as the model takes it (`inference.load_for_encoding`)."""
        return inference.encode_file(self.bundle, path)

    def load_input(self, path: str | os.PathLike[str]) -> torch.Tensor:
        """A saved latent path (`.safetensors`, see `save_latent`) or an audio file, encoded."""
        if str(path).lower().endswith(inference.LATENT_SUFFIX):
            return inference.load_latent(self.bundle, path)
        return self.encode_file(path)

    def save_latent(self, z: torch.Tensor, path: str | os.PathLike[str]) -> None:
        """Write a latent path `[1, latent_dim, frames]` that only this model reads back."""
        inference.save_latent(self.bundle, z, path)

    def random_latents(
        self, n: int = 1, *, seed: int = 0, temperature: float = 1.0
    ) -> torch.Tensor:
        """`n` latents drawn from the Gaussian fitted to the training latents: points, or for a
        path latent each point held for 1 s: `[n, latent_dim, frames]`."""
        return inference.random_latents(self.bundle, n, seed=seed, temperature=temperature)

    def map_point(self, x: float, y: float) -> torch.Tensor:
        """The point at (x, y) on the first two PCA axes (the other axes at the data mean),
        held for one training clip for a path latent."""
        pca = self.analysis.pca
        scores = torch.tensor([x, y][: pca.n_components], dtype=torch.float64)
        point = pca.inverse_transform(scores[None])[0].float()
        return point.reshape(1, -1, 1).repeat(1, 1, self.clip_frames())

    # operations on latents

    def control_values(self, z: torch.Tensor) -> dict[str, float]:
        """Every control's value at `z` `[1, dim, frames]` in its user unit, averaged over frames."""
        controls = self.controls
        if not controls:
            return {}
        point = torch.as_tensor(z).double()[0].mean(dim=-1)
        directions = torch.stack([control.direction for control in controls.values()])
        offsets = torch.tensor([c.offset for c in controls.values()], dtype=torch.float64)
        scaled = (directions @ point + offsets).tolist()
        return {
            name: control.to_user(value) if math.isfinite(value) else math.nan
            for (name, control), value in zip(controls.items(), scaled, strict=True)
        }

    def control(self, name: str) -> Control:
        """A control by name; the error names the closest known ones."""
        return get_control(self.controls, name)

    def control_kind(self, name: str) -> str:
        """`pca`, `pack`, `custom` or `descriptor`."""
        if name in {control.name for control in self.analysis.custom}:
            return "custom"
        if name.startswith("pack:"):
            return "pack"
        return "pca" if name.startswith("pca") and name[3:].isdigit() else "descriptor"

    def move(
        self,
        z: torch.Tensor,
        settings: Sequence[str | Setting] | Mapping[str, float],
        *,
        lock: Sequence[str] = (),
        extrapolate: bool = False,
        closed_loop: bool | None = None,
        gla_iters: int | None = None,
    ) -> Move:
        """Apply settings like `pitch=+3st` (or `{name: value in its unit}`) to latents
        `[batch, dim, frames]` by the minimum-norm move (`latent.control`), keeping `lock`ed
        controls. closed_loop (default: the model's, on where a render is cheap): render,
        measure and correct until the sound measures what was asked (`space_loop`); the result
        then holds the `audio` and `measured` values, and a warning per control missed."""
        parsed = parse_settings(settings, self.controls)
        opened = set_controls(z, parsed, self.controls, lock=lock, extrapolate=extrapolate)
        parsed = [bounded(s, self.control(s.name), extrapolate) for s in parsed]
        chosen = [self.control(s.name) for s in parsed]
        locked = [self.control(name) for name in lock]
        targets = torch.as_tensor(opened.targets).double()
        loop = self.model.closed_loop if closed_loop is None else closed_loop
        if not loop or not any(steerable(c, self.descriptor_of) for c in [*chosen, *locked]):
            requested = {
                c.name: c.to_user(float(targets[0, i].mean())) for i, c in enumerate(chosen)
            }
            return Move(torch.as_tensor(opened.z_new), list(opened.warnings), requested)
        start, search = torch.as_tensor(z).double(), readout_search(self, chosen)
        if search is not None:  # the attack or brightness alone, on a model with its stage
            moved = readout_move(search, start, parsed[0], chosen[0], targets[:, 0], locked)
        else:
            memo, history = self.loop_memo(gla_iters), self.loop_history
            moved = staged_move(self, memo, history, start, parsed, chosen, locked, targets)
        moved.warnings[:0] = opened.warnings
        assert moved.audio is not None
        moved.measured = self.measure_controls(moved.audio[0])
        return moved

    def measure_controls(self, audio: np.ndarray) -> dict[str, float]:
        """Every control with a descriptor measured on one rendered sound `[channels, samples]`,
        in the control's unit (pitch in Hz, attack in s, …; NaN where undefined)."""
        names = {n: d for n in self.controls if (d := self.descriptor_of(n)) is not None}
        if not names:
            return {}
        values = self.measure(audio, sorted(set(names.values())))
        return {name: float(values.value(descriptor)) for name, descriptor in names.items()}

    def interpolate(
        self,
        a: torch.Tensor,
        b: torch.Tensor,
        *,
        amount: float | None = None,
        curve: str | Sequence[Sequence[float]] | paths.Curve | None = None,
        align: str | None = "stretch",
    ) -> Edit:
        """`a + amount·(b − a)` (0.5 by default), or with the amount varying over time along
        `curve` (text `t:amount,…`, `[[t, amount], …]` or a `Curve`). A point latent takes
        only a flat curve. Amounts outside 0…1 extrapolate (with a warning)."""
        mix: float | paths.Curve = 0.5 if amount is None else float(amount)
        if curve is not None:
            mix = as_curve(curve)
            if not self.path_latent:
                if any(v != mix.values[0] for v in mix.values):
                    require_path_latent(self.model, "curve", "an amount or a flat curve")
                mix = mix.values[0]
        z = paths.interpolate(a, b, mix, mode=align)
        values = mix.values if isinstance(mix, paths.Curve) else (mix,)
        outside = any(v < 0.0 or v > 1.0 for v in values)
        return Edit(z, ["amount outside 0…1: extrapolating beyond A or B"] if outside else [])

    def plane(
        self,
        corners: Sequence[torch.Tensor],
        *,
        xy: Sequence[float] | None = None,
        trajectory: str | Path | Sequence[Sequence[float]] | paths.Trajectory | None = None,
        align: str | None = "stretch",
    ) -> Edit:
        """Bilinear mix of four corners, (0,0) (1,0) (0,1) (1,1), at `xy` (default the centre)
        or along a `trajectory` (path latents: a `t,x,y` file or text, `[[t, x, y], …]` or a
        `Trajectory`); outside the unit square extrapolates (with a warning)."""
        if len(corners) != 4:
            raise TimbrespaceError(f"corners: expected 4 sounds, got {len(corners)}")
        x: float | paths.Curve
        y: float | paths.Curve
        if trajectory is not None:
            require_path_latent(self.model, "trajectory", "a point xy")
            path = as_trajectory(trajectory)
            x, y = path.x, path.y
            points = [*path.x.values, *path.y.values]
        else:
            x, y = (float(v) for v in (xy if xy is not None else (0.5, 0.5)))
            points = [x, y]
        z = paths.plane(list(corners), x, y, mode=align)
        outside = any(v < 0.0 or v > 1.0 for v in points)
        note = "position outside the unit square: extrapolating beyond the corners"
        return Edit(z, [note] if outside else [])

    def edit(
        self, z: torch.Tensor, ops: Sequence[str | operators.PathOp], *, seed: int = 0
    ) -> torch.Tensor:
        """Apply path operators in order (text in the syntax of `latent.syntax.parse_op`, e.g.
        `scale=1.5`, `curve:3+=0:0,1:2`; `seed` for noise and randomize)."""
        parsed = []
        for i, op in enumerate(ops):
            try:
                parsed.append(syntax.parse_op(op, seed=seed) if isinstance(op, str) else op)
            except TimbrespaceError as error:
                raise TimbrespaceError(f"ops[{i}]: {error}") from None
        return operators.apply_ops(z, parsed)

    def nearest(self, z: torch.Tensor, k: int = 5) -> list[Neighbour]:
        """The `k` dataset sounds closest to `z` (paths are averaged over frames)."""
        query = torch.as_tensor(z).double().reshape(-1, self.model.latent_dim)
        analysis = self.analysis
        indices, distances = nearest(query.mean(dim=0), analysis.latents, k)
        return [
            Neighbour(int(i), analysis.sounds[i], analysis.sound_packs[i], float(d))
            for i, d in zip(indices.tolist(), distances.tolist(), strict=True)
        ]

    # rendering and measuring

    def render(
        self, z: torch.Tensor, *, gla_iters: int | None = None, normalize: bool = False, cond: torch.Tensor | None = None
    ) -> np.ndarray:  # fmt: skip
        """Decode latents `[batch, dim, frames]` to float32 audio `[batch, channels, samples]`
        (gla_iters: Griffin-Lim iterations of a spectral model, None = its default; normalize:
        each sound's peak to -1 dBFS; cond: a note model's conditions, None = its defaults)."""
        audio = inference.render(
            self.model, torch.as_tensor(z).float(), gla_iters=gla_iters, cond=cond
        )
        sounds = audio.numpy()
        return np.stack([peak_normalize(s) for s in sounds]) if normalize else sounds

    def transfer(
        self,
        path: str | os.PathLike[str],
        *,
        gla_iters: int | None = None,
        normalize: bool = False,
        block: int | None = None,
    ) -> np.ndarray:
        """Any sound rendered through the model (timbre transfer, or reconstruction of an
        in-domain sound): float32 `[channels, samples]`; `block` (samples): block by block, as
        live, on a streaming model (see `inference.transfer`)."""
        audio = inference.transfer(self.bundle, path, gla_iters=gla_iters, block=block)
        return peak_normalize(audio) if normalize else audio

    def loop_memo(self, gla_iters: int | None = None) -> RenderMemo:
        """The closed loop's renders, measurements and gradients (`space_loop`)."""
        slopes = self.loop_history.slopes(self.model, self.descriptor_settings, self.descriptor_of)
        render = self.loop_history.rendering(partial(self.render, gla_iters=gla_iters), gla_iters)
        return RenderMemo(render, self.measure, self.descriptor_of, slopes)

    def descriptor_of(self, control_name: str) -> str | None:
        """The descriptor measuring a control (`pitch` → `f0`), or None (PCA, packs, custom)."""
        descriptor = control_descriptor(control_name)
        return descriptor if descriptor in self.analysis.descriptor_names else None

    def sweep(
        self,
        z: torch.Tensor,
        sweep: str,
        *,
        lock: Sequence[str] = (),
        extrapolate: bool = False,
        closed_loop: bool | None = None,
    ) -> SweepResult:
        """Render `sweep` (e.g. `pitch=-12st:+12st:9`) from the single start point `z`."""
        spec = parse_sweep(sweep, self.controls)
        control = get_control(self.controls, spec.name)
        targets = sweep_targets(spec, control, control.value(torch.as_tensor(z).double()))
        return self.sweep_targets(
            z,
            spec.name,
            targets[0, :, 0],
            lock=lock,
            extrapolate=extrapolate,
            closed_loop=closed_loop,
        )

    def sweep_targets(
        self,
        z: torch.Tensor,
        name: str,
        targets: torch.Tensor | Sequence[float],
        *,
        lock: Sequence[str] = (),
        extrapolate: bool = False,
        closed_loop: bool | None = None,
    ) -> SweepResult:
        """Set control `name` to each of `targets` (on its scale) from the start point `z`
        `[1, dim, frames]`, keeping `lock`ed controls; render and measure (closed loop: as in
        `move`, every step settled on its measurement)."""
        control = get_control(self.controls, name)
        values = torch.as_tensor(targets, dtype=torch.float64).reshape(-1)
        start = torch.as_tensor(z).float()
        if start.ndim != 3 or start.shape[0] != 1:
            raise ValueError(
                f"sweep start: expected one latent [1, dim, frames], got {tuple(start.shape)}"
            )
        repeated = start.expand(values.shape[0], -1, -1)
        locked = [get_control(self.controls, n) for n in lock]
        result = apply_controls(
            repeated, [control], values[:, None], locked=locked, extrapolate=extrapolate
        )
        opened = torch.as_tensor(result.targets)
        used = opened.double()[:, 0, 0]
        z_new = torch.as_tensor(result.z_new).double()
        descriptor = self.descriptor_of(name)
        limited = (~torch.isclose(used, values, rtol=1e-6, atol=1e-6)).tolist()
        warnings = list(result.warnings)
        loop = self.model.closed_loop if closed_loop is None else closed_loop
        if loop and any(steerable(c, self.descriptor_of) for c in [control, *locked]):
            search = readout_search(self, [control])
            z_new, audio, unreached, notes = (
                staged_sweep(self, self.loop_memo(), repeated.double(), control, locked, opened)
                if search is None
                else readout_sweep(search, start, control, used.tolist(), locked)
            )
            limited = [a or b for a, b in zip(limited, unreached, strict=True)]
            warnings += notes
        else:
            audio = self.render(z_new)
        measured = [
            self.measure(item, [descriptor]).value(descriptor) if descriptor else math.nan
            for item in audio
        ]
        distance = (z_new - start.double()).flatten(1).norm(dim=1)
        return SweepResult(
            name=name,
            descriptor=descriptor,
            unit=control.unit,
            targets=used,
            requested=[control.to_user(float(v)) for v in used],
            z=z_new.float(),
            audio=audio,
            measured=[float(v) for v in measured],
            distance=distance.tolist(),
            warnings=list(dict.fromkeys(warnings)),
            limited=limited,
        )
