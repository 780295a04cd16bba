"""A bundle and its analysis as one playable latent space: start points, controls, sweeps,
nearest sounds, rendering and measuring. The CLI, the benchmarks and the studio all go through it.

    space = LatentSpace.open("run/bundle")
    z = space.sound_latent("kicks/808/kick_0000.wav")
    moved = space.move(z, ["pitch=+3st"], lock=["attack"])
    audio = space.render(moved.z_new)[0]          # [channels, samples]
    space.nearest(moved.z_new, k=5)               # the dataset sounds closest to the new point
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from timbrespace.analyze import Analysis, control_descriptor, load_analysis
from timbrespace.audio.descriptors import DescriptorSettings, DescriptorValues, compute_descriptors
from timbrespace.bundle import Bundle, load_bundle
from timbrespace.errors import TimbrespaceError
from timbrespace.generate import decode, encode_sound, random_latents
from timbrespace.latent.analysis import nearest
from timbrespace.latent.control import (
    Control,
    ControlResult,
    Setting,
    Sweep,
    apply_controls,
    get_control,
    parse_sweep,
    set_controls,
    sweep_targets,
)


@dataclass(frozen=True)
class Neighbour:
    """A dataset sound near a latent point: its index in the analysis, path, pack and distance."""

    index: int
    sound: str
    pack: str
    distance: float


@dataclass
class SweepResult:
    """One control swept over `steps` targets from one starting point.

    targets `[steps]` on the control's scale; requested: the same in the control's unit;
    z `[steps, dim, frames]`; audio `[steps, channels, samples]`; measured: the control's
    descriptor on each rendered sound, in `unit` (NaN where undefined or when the control has
    no descriptor, e.g. a PCA axis); distance: ‖z_step − z_start‖ per step.
    """

    name: str
    descriptor: str | None
    unit: str
    targets: torch.Tensor
    requested: list[float]
    z: torch.Tensor
    audio: np.ndarray
    measured: list[float]
    distance: list[float]
    warnings: list[str] = field(default_factory=list)


class LatentSpace:
    """A loaded bundle with its analysis: everything needed to play with the latent space."""

    def __init__(self, bundle: Bundle, analysis: Analysis, *, pca_axes: int = 8) -> None:
        self.bundle = bundle
        self.analysis = analysis
        self.controls: dict[str, Control] = analysis.controls(pca_axes=pca_axes)
        self.descriptor_settings = DescriptorSettings(sample_rate=bundle.sample_rate)

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, pca_axes: int = 8) -> LatentSpace:
        """Load the bundle at `path` (a bundle or run folder) and its analysis."""
        bundle = load_bundle(path)
        return cls(bundle, load_analysis(bundle.path), pca_axes=pca_axes)

    @property
    def sample_rate(self) -> int:
        return self.bundle.sample_rate

    # start points: each returns a latent `[1, latent_dim, frames]` float32

    def sound_index(self, sound: str) -> int:
        """Index of a dataset sound given its path (or a unique end of it, e.g. `kick_0001.wav`)."""
        sounds = self.analysis.sounds
        if sound in sounds:
            return sounds.index(sound)
        endings = [i for i, path in enumerate(sounds) if path.endswith("/" + sound.lstrip("/"))]
        if len(endings) == 1:
            return endings[0]
        close = [path for path in sounds if sound.lower() in path.lower()][:5]
        hint = f"; did you mean {', '.join(close)}" if close else ""
        raise TimbrespaceError(f"{sound!r}: no such sound in the analysis{hint}")

    def sound_latent(self, sound: str | int) -> torch.Tensor:
        """The analysed latent of a dataset sound (by path or index)."""
        index = sound if isinstance(sound, int) else self.sound_index(sound)
        if not 0 <= index < len(self.analysis.sounds):
            raise TimbrespaceError(
                f"sound index {index} out of range 0…{len(self.analysis.sounds) - 1}"
            )
        return self.analysis.latents[index].float().reshape(1, -1, 1)

    def encode_file(self, path: str | os.PathLike[str]) -> torch.Tensor:
        """Encode an audio file: its first clip, cut as the training data was, for a one-shot
        model; the whole file for a path model."""
        return encode_sound(self.bundle, path)

    def random_latent(self, seed: int = 0) -> torch.Tensor:
        """A point drawn from the Gaussian fitted to the training latents."""
        return random_latents(self.bundle, 1, seed=seed).float()

    # operations

    def nearest(self, z: torch.Tensor, k: int = 5) -> list[Neighbour]:
        """The `k` dataset sounds closest to `z` (paths are averaged over frames)."""
        query = torch.as_tensor(z).double().reshape(-1, self.bundle.model.latent_dim)
        indices, distances = nearest(query.mean(dim=0), self.analysis.latents, k)
        return [
            Neighbour(int(i), self.analysis.sounds[i], self.analysis.sound_packs[i], float(d))
            for i, d in zip(indices.tolist(), distances.tolist(), strict=True)
        ]

    def move(
        self,
        z: torch.Tensor,
        settings: Sequence[str | Setting],
        *,
        lock: Sequence[str] = (),
        extrapolate: bool = False,
    ) -> ControlResult:
        """Apply settings like `pitch=+3st` with the minimum-norm move (see `latent.control`)."""
        return set_controls(z, settings, self.controls, lock=lock, extrapolate=extrapolate)

    def render(self, z: torch.Tensor, *, gla_iters: int | None = None) -> np.ndarray:
        """Decode latents `[batch, dim, frames]` to float32 audio `[batch, channels, samples]`
        (gla_iters: Griffin-Lim iterations of a spectral model; None = its default)."""
        return decode(self.bundle, torch.as_tensor(z).float(), gla_iters=gla_iters)

    def measure(self, audio: np.ndarray, names: Sequence[str] | None = None) -> DescriptorValues:
        """Descriptors of one rendered sound `[channels, samples]` (all registered by default)."""
        return compute_descriptors(audio, self.descriptor_settings, names)

    def descriptor_of(self, control_name: str) -> str | None:
        """The descriptor measuring a control (`pitch` → `f0`), or None (PCA, packs, custom)."""
        descriptor = control_descriptor(control_name)
        return descriptor if descriptor in self.analysis.descriptor_names else None

    def sweep(
        self,
        z: torch.Tensor,
        sweep: Sweep | str,
        *,
        lock: Sequence[str] = (),
        extrapolate: bool = False,
    ) -> SweepResult:
        """Render `sweep` (e.g. `pitch=-12st:+12st:9`) from the single start point `z`."""
        spec = sweep if isinstance(sweep, Sweep) else parse_sweep(sweep, self.controls)
        control = get_control(self.controls, spec.name)
        z64 = torch.as_tensor(z).double()
        targets = sweep_targets(spec, control, control.value(z64))[0, :, 0]
        return self.sweep_targets(z, spec.name, targets, lock=lock, extrapolate=extrapolate)

    def sweep_targets(
        self,
        z: torch.Tensor,
        name: str,
        targets: torch.Tensor | Sequence[float],
        *,
        lock: Sequence[str] = (),
        extrapolate: bool = False,
    ) -> SweepResult:
        """Set control `name` to each of `targets` (on its scale) from the start point `z`
        `[1, dim, frames]`, keeping `lock`ed controls where they are; render and measure."""
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
        audio = self.render(result.z_new)
        descriptor = self.descriptor_of(name)
        measured = [
            self.measure(item, [descriptor]).value(descriptor) if descriptor else math.nan
            for item in audio
        ]
        used = torch.as_tensor(result.targets).double()[:, 0, 0]
        distance = (torch.as_tensor(result.z_new).double() - start.double()).flatten(1).norm(dim=1)
        return SweepResult(
            name=name,
            descriptor=descriptor,
            unit=control.unit,
            targets=used,
            requested=[control.to_user(float(v)) for v in used],
            z=torch.as_tensor(result.z_new).float(),
            audio=audio,
            measured=[float(v) for v in measured],
            distance=distance.tolist(),
            warnings=list(dict.fromkeys(result.warnings)),
        )
