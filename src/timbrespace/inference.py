"""The one way to run a model: encode batches and files, decode, reconstruct, transfer, and check
that a cache and a bundle belong together. Training, analysis, evaluation, the training
callbacks and `LatentSpace` (hence every face) all go through these functions.

Shapes: audio `[batch, channels, samples]` float32 in [-1, 1]; latents `[batch, latent_dim,
frames]` (frames = 1 for a point latent). How a file is cut for encoding follows the model's
`input_kind` (see `timbrespace.models.base`), never its family name.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import cast

import numpy as np
import torch

from timbrespace.audio.descriptors import DescriptorSettings, compute_descriptors
from timbrespace.audio.io import AudioLoadError, audio_info, load_audio, within_full_scale
from timbrespace.bundle import Bundle, bundle_dir
from timbrespace.data.cache import SoundCache
from timbrespace.data.clips import PrepareConfig, load_clips
from timbrespace.errors import NonFiniteError, TimbrespaceError
from timbrespace.latent.closed_loop import settle
from timbrespace.latent.paths import check_finite
from timbrespace.latent.sampling import sample_gaussian
from timbrespace.latent_files import LATENT_SUFFIX, load_latent, save_latent
from timbrespace.limits import LIMITS, LimitError, check, check_count
from timbrespace.models.base import (
    CapabilityError,
    ConfiguredModel,
    StreamingModel,
    require_streaming,
)
from timbrespace.render_stages import ATTACK_DESCRIPTOR, stage_of
from timbrespace.stage_search import keep_measured

__all__ = [
    "LATENT_SUFFIX",
    "MAX_INPUT_SECONDS",
    "bundle_dir",
    "check_cache",
    "check_render",
    "decode",
    "encode_batches",
    "encode_file",
    "encode_in_tune",
    "reconstruct_in_tune",
    "load_for_encoding",
    "load_latent",
    "reconstruct",
    "render",
    "save_latent",
    "stream",
    "transfer",
]

MAX_INPUT_SECONDS = float(LIMITS["input_seconds"].high)
"""Models that encode whole recordings read at most this long (s)."""
DECODE_BATCH = 64
"""Sounds decoded at once (memory: the ddsp synth holds `[batch, harmonics, samples]`)."""
TUNE_TOLERANCE_ST = 0.05
"""How close (semitones) a reconstruction's measured f0 is brought to its source's."""
TUNE_MAX_CORRECTION_ST = 2.0
"""The tuning loop moves a pitch by at most this much in all (more is a tracker's octave slip)."""
TUNE_RENDERS = 3
"""Decodes the tuning loop of `encode_in_tune` may spend per clip."""


def encode_batches(
    model: ConfiguredModel,
    audio: np.ndarray | torch.Tensor,
    *,
    indices: np.ndarray | None = None,
    batch_size: int = 32,
) -> torch.Tensor:
    """Latents `[clips, latent_dim, frames]` (float32, on the CPU) of the clips `audio`
    `[clips, channels, samples]` (an array, a memory map or a tensor; only `indices` of it when
    given, in that order), `batch_size` clips at a time. The model's train/eval mode is kept."""
    rows = np.arange(len(audio)) if indices is None else np.asarray(indices, dtype=np.int64)
    device = _device_of(model)
    parts = []
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            if isinstance(audio, torch.Tensor):
                batch = audio[torch.from_numpy(chunk)]
            else:
                batch = torch.from_numpy(np.asarray(audio[chunk], dtype=np.float32))
            parts.append(model.encode(batch.to(device)).float().cpu())
    if not parts:
        return torch.zeros(0, int(model.latent_dim), 1)
    return torch.cat(parts)


def decode(
    model: ConfiguredModel,
    z: torch.Tensor,
    *,
    gla_iters: int | None = None,
    batch_size: int = DECODE_BATCH,
    finite: bool = False,
    cond: torch.Tensor | None = None,
) -> torch.Tensor:
    """Latents `[batch, latent_dim, frames]` → float32 audio `[batch, channels, samples]` in
    [-1, 1] (a sound peaking beyond is scaled down: `within_full_scale`), `batch_size` sounds
    at a time. `gla_iters`: Griffin-Lim iterations of a model that
    renders through Griffin-Lim (None: its default; ignored by models that render the waveform
    themselves). finite: refuse (`NonFiniteError`) a sound with NaN or infinite samples
    instead of clamping it into full-scale noise. cond `[batch, ...]`: the model's conditions
    (see its `conditions`), None = its defaults."""
    iterations = None if gla_iters is None else int(gla_iters)
    device = _device_of(model)
    parts = []
    step = max(1, batch_size)
    with torch.inference_mode():
        for start in range(0, int(z.shape[0]), step):
            chunk = z[start : start + step].to(device)
            given = None if cond is None else cond[start : start + step].to(device)
            audio = model.decode(chunk, given, gla_iters=iterations).float()
            if finite and not bool(torch.isfinite(audio).all()):
                raise NonFiniteError(
                    "the decoded sound has NaN or infinite samples: its latent lies too far "
                    "outside what the model renders; ask smaller values"
                )
            parts.append(torch.from_numpy(within_full_scale(audio.cpu().numpy())))
    return torch.cat(parts)


def decode_spectra(model: ConfiguredModel, z: torch.Tensor) -> torch.Tensor:
    """The magnitude spectra a model that renders through Griffin-Lim predicts for latents
    `[batch, latent_dim, frames]`: `[batch, channels, bins, frames]` (float32, CPU); refused for
    a family that renders the waveform itself."""
    spectra = getattr(model, "decode_magnitude", None)
    if spectra is None:
        raise CapabilityError(f"a {model.label} model does not predict magnitude spectra")
    with torch.inference_mode():
        return spectra(z.to(_device_of(model))).float().cpu()


def render(
    model: ConfiguredModel,
    z: torch.Tensor,
    *,
    gla_iters: int | None = None,
    cond: torch.Tensor | None = None,
) -> torch.Tensor:
    """`decode` for the faces: the request is checked against `timbrespace.limits` first
    (`check_render`: sounds, length, Griffin-Lim work, finite latents) and a non-finite sound
    is refused, never clamped into full-scale DC."""
    check_render(model, z, gla_iters)
    return decode(model, z, gla_iters=gla_iters, finite=True, cond=cond)


def check_render(model: ConfiguredModel, z: torch.Tensor, gla_iters: int | None = None) -> None:
    """Refuse, before anything is decoded, a render of latents `[batch, dim, frames]` beyond
    the limits: more than `LIMITS['sounds']` sounds, a sound longer than `render_seconds`, more
    samples in all than `render_samples`, more Griffin-Lim work than `gla_work` (bins × frames ×
    iterations: the seconds the model is held), or non-finite latents. One-line `LimitError`s."""
    if z.dim() != 3:
        raise TimbrespaceError(f"expected latents [batch, dim, frames], got {list(z.shape)}")
    sounds, _, frames = (int(n) for n in z.shape)
    check_count("sounds", sounds, "sounds to render")
    samples = model.decoded_samples(frames)
    seconds = samples / model.sample_rate
    check("render_seconds", seconds, f"render of {frames} frames ({seconds:.4g} s)")
    total = sounds * int(model.channels) * samples
    check("render_samples", total, f"render of {sounds} sounds of {seconds:.4g} s")
    iterations = model.default_gla_iters if gla_iters is None else int(gla_iters)
    if iterations is not None:
        check("gla_iters", iterations, "gla_iters")
        work = sounds * model.gla_work(frames, iterations)
        budget = LIMITS["gla_work"].high
        if work > budget:
            most = int(budget // max(work / iterations, 1e-9))
            raise LimitError(
                f"render of {sounds} × {seconds:.4g} s at {iterations} Griffin-Lim iterations "
                f"is {work:.3g} bin·frame·iterations, above the limit {budget:.3g} (a few "
                f"seconds of CPU): ask at most {most} iterations or a shorter sound"
            )
    check_finite(z, "latent to render")


def reconstruct(
    model: ConfiguredModel,
    audio: torch.Tensor,
    *,
    gla_iters: int | None = None,
    cond: torch.Tensor | None = None,
) -> torch.Tensor:
    """Encode and decode `[batch, channels, samples]` (with conditions `cond` `[batch, ...]`
    for a family that decodes with them); the output (in [-1, 1]) is cropped or zero-padded to
    the input's length."""
    z = encode_batches(model, audio)
    return fit_length(decode(model, z, gla_iters=gla_iters, cond=cond), audio.shape[-1])


def reconstruct_in_tune(
    bundle: Bundle,
    audio: torch.Tensor,
    *,
    f0_hz: np.ndarray | torch.Tensor | None = None,
    attack_s: np.ndarray | None = None,
    cond: torch.Tensor | None = None,
) -> torch.Tensor:
    """`reconstruct` as the faces reconstruct a sound: encoded with its pitch and attack kept
    (`encode_in_tune`; `f0_hz`, `attack_s` `[batch]` when measured, NaN where undefined), then
    decoded."""
    z = encode_in_tune(bundle, audio, f0_hz=f0_hz, attack_s=attack_s)
    return fit_length(decode(bundle.model, z, cond=cond), audio.shape[-1])


def fit_length(audio: torch.Tensor, samples: int) -> torch.Tensor:
    """`audio` `[..., n]` cropped or zero-padded at the end to `samples`."""
    if audio.shape[-1] >= samples:
        return audio[..., :samples]
    return torch.nn.functional.pad(audio, (0, samples - audio.shape[-1]))


def load_clips_like_training(bundle: Bundle, path: str | os.PathLike[str]) -> torch.Tensor:
    """Load `path` and cut it exactly as the training cache was cut: `[clips, channels, samples]`."""
    settings = bundle.training.get("prepare_config")
    if settings is None:
        raise TimbrespaceError(f"{bundle.path}: bundle has no prepare settings to cut input with")
    config = PrepareConfig.from_dict(settings)
    try:
        clips, _ = load_clips(Path(path), audio_info(path).sample_rate, config)
    except AudioLoadError as error:
        raise TimbrespaceError(str(error)) from error
    return torch.from_numpy(clips)


def load_recording(bundle: Bundle, path: str | os.PathLike[str]) -> torch.Tensor:
    """The whole file at `path` at the bundle's rate and channel count: `[1, channels, samples]`
    (at most `MAX_INPUT_SECONDS`)."""
    try:
        audio = load_audio(
            path,
            bundle.sample_rate,
            channels=int(bundle.model.channels),
            max_seconds=MAX_INPUT_SECONDS,
        )
    except AudioLoadError as error:
        raise TimbrespaceError(str(error)) from error
    return torch.from_numpy(audio)[None]


def load_for_encoding(bundle: Bundle, path: str | os.PathLike[str]) -> torch.Tensor:
    """The file at `path` as the model encodes it, `[1, channels, samples]`: the first clip cut
    as in training for a model of clips, else the whole recording."""
    if bundle.model.input_kind == "clip":
        return load_clips_like_training(bundle, path)[:1]
    return load_recording(bundle, path)


def encode_file(bundle: Bundle, path: str | os.PathLike[str]) -> torch.Tensor:
    """The latent `[1, latent_dim, frames]` of the audio file at `path` (see `load_for_encoding`),
    in tune with it (see `encode_in_tune`)."""
    return encode_in_tune(bundle, load_for_encoding(bundle, path))


def encode_in_tune(
    bundle: Bundle,
    clips: np.ndarray | torch.Tensor,
    *,
    f0_hz: np.ndarray | torch.Tensor | None = None,
    attack_s: np.ndarray | None = None,
    max_renders: int = TUNE_RENDERS,
) -> torch.Tensor:
    """Latents `[clips, latent_dim, frames]` of `[clips, channels, samples]` whose renders keep
    their sources' pitch and attack. A model with an explicit pitch gets each voiced clip's f0
    as its pitch (`tune_pitch`), then, up to `max_renders` decodes, the closed loop of
    `latent.closed_loop` corrects it until the rendered sound's f0 (measured as the cache
    measures it) is within TUNE_TOLERANCE_ST of the source's; a model whose synth ends with a
    fade-in then gets the fade whose render measures the source's attack
    (`stage_search.keep_measured`). The loudness is the model's own: a demo model's renders set
    to their sources' A-weighted loudness by its gain measured 2.6 points less below PCA's
    MR-STFT (50.0 % against 52.6 %). `f0_hz` `[clips]` (Hz, NaN where unvoiced) and `attack_s`
    `[clips]` (s): the clips' values when already measured (a cache's), else measured here."""
    model, samples = bundle.model, int(clips.shape[-1])
    z = _tuned(bundle, clips, encode_batches(model, clips), f0_hz, max_renders)
    seconds = samples / bundle.sample_rate
    if stage_of(model, seconds, ATTACK_DESCRIPTOR) is None:
        return z
    if attack_s is None:
        attack_s = measure_descriptor(bundle, clips, ATTACK_DESCRIPTOR).numpy()

    settings = descriptor_settings(bundle)  # once: the search measures ~36 renders a sound

    def measure(sound: np.ndarray) -> float:
        return compute_descriptors(sound, settings, [ATTACK_DESCRIPTOR]).value(ATTACK_DESCRIPTOR)

    def render(latents: torch.Tensor) -> np.ndarray:
        return fit_length(decode(model, latents.float()), samples).numpy()

    attacks = np.asarray(attack_s)
    return keep_measured(model, z, ATTACK_DESCRIPTOR, attacks, render, measure, seconds)


def _tuned(
    bundle: Bundle,
    clips: np.ndarray | torch.Tensor,
    z: torch.Tensor,
    f0_hz: np.ndarray | torch.Tensor | None,
    max_renders: int,
) -> torch.Tensor:
    """Latents `z` of `clips` in tune with them (see `encode_in_tune`)."""
    model = bundle.model
    if model.pitch_readout() is None:
        return z
    if f0_hz is None:
        f0_hz = measure_descriptor(bundle, clips, "f0")
    f0 = torch.as_tensor(f0_hz, dtype=torch.float64)
    z = model.tune_pitch(z, f0)
    voiced = torch.isfinite(f0) & (f0 > 0)
    if max_renders < 2 or not bool(voiced.any()):
        return z
    tuned = z[voiced]
    wanted = 12.0 * torch.log2(f0[voiced] / 440.0)[:, None]

    def place(semitones: torch.Tensor) -> torch.Tensor:
        return model.tune_pitch(tuned, 440.0 * torch.exp2(semitones[:, 0] / 12.0))

    def measure(latents: torch.Tensor) -> torch.Tensor:
        rendered = measure_descriptor(bundle, decode(model, latents.float()), "f0")
        return 12.0 * torch.log2(rendered / 440.0)[:, None]

    tolerance = torch.tensor([TUNE_TOLERANCE_ST], dtype=torch.float64)
    settled = settle(
        place,
        measure,
        wanted,
        wanted,
        tolerance,
        max_renders=max_renders,
        max_offset=torch.tensor([TUNE_MAX_CORRECTION_ST]),
    )
    z[voiced] = settled.z.to(z.dtype)
    return z


def at_pitch(model: ConfiguredModel, z: torch.Tensor, f0_hz: float) -> torch.Tensor | None:
    """Latents `[batch, dim, 1]` moved the least so that the model's own explicit pitch is
    `f0_hz` (Hz), or None when the model has no explicit pitch (`pitch_readout`)."""
    if model.pitch_readout() is None:
        return None
    if not math.isfinite(f0_hz) or f0_hz <= 0:
        raise TimbrespaceError(f"pitch must be a positive number of Hz, got {f0_hz:g}")
    target = torch.full((z.shape[0],), float(f0_hz), dtype=torch.float64)
    with torch.inference_mode():
        return model.tune_pitch(z, target).float()


def measure_descriptor(bundle: Bundle, clips: np.ndarray | torch.Tensor, name: str) -> torch.Tensor:
    """Descriptor `name` of each clip `[clips, channels, samples]` as one value `[clips]` (f0
    in Hz, attack in s; NaN where undefined), with the descriptor settings the training cache
    was prepared with."""
    settings = descriptor_settings(bundle)
    rows = clips.detach().cpu().numpy() if isinstance(clips, torch.Tensor) else clips
    values = [compute_descriptors(np.asarray(c), settings, [name]).value(name) for c in rows]
    return torch.tensor(values, dtype=torch.float64)


def descriptor_settings(bundle: Bundle) -> DescriptorSettings:
    """The descriptor settings the bundle's training cache was prepared with."""
    settings = bundle.training.get("prepare_config")
    return PrepareConfig.from_dict(
        settings or {"sample_rate": bundle.sample_rate}
    ).descriptor_settings


def check_stream_block(model: ConfiguredModel, block: int) -> StreamingModel:
    """`model` as a streaming model, once it is one and `block` (samples) is a multiple of its
    hop; else a one-line `CapabilityError` / `BlockSizeError`."""
    require_streaming(model, "block-by-block rendering")
    streaming = cast(StreamingModel, model)
    streaming.check_block(int(block))
    return streaming


def stream(model: ConfiguredModel, audio: torch.Tensor, block: int) -> torch.Tensor:
    """Audio `[batch, channels, samples]` rendered through a streaming model in consecutive
    blocks of `block` samples, as the realtime engine runs it; the model's delay is taken off,
    so the result `[batch, channels, samples]` lines up with the input (and with `decode(encode(x))`
    within float rounding). Refuses a model that does not stream and a block that is not a
    multiple of its hop (one-line errors)."""
    streaming = check_stream_block(model, block)
    check_finite(audio, "audio to stream")
    samples = int(audio.shape[-1])
    delay = int(streaming.delay_samples)
    padded = torch.nn.functional.pad(audio, (0, delay + (-(samples + delay) % block)))
    device = _device_of(model)
    parts = []
    with torch.inference_mode():
        state = streaming.init_state(int(audio.shape[0]))
        for start in range(0, int(padded.shape[-1]), block):
            out, state = streaming.forward_block(
                padded[..., start : start + block].to(device), state
            )
            parts.append(out.float().cpu())
    return torch.cat(parts, dim=-1)[..., delay : delay + samples].clamp(-1.0, 1.0)


def transfer(
    bundle: Bundle,
    path: str | os.PathLike[str],
    *,
    gla_iters: int | None = None,
    block: int | None = None,
) -> np.ndarray:
    """Timbre transfer: the file at `path` (any sound) encoded and decoded, float32
    `[channels, samples]`. A model of clips renders each training-length clip of it, end to end;
    other models render the whole recording through their latent path; with `block` (samples)
    a streaming model renders it block by block, as live (`stream`)."""
    if block is not None:
        return stream(bundle.model, load_recording(bundle, path), int(block))[0].numpy()
    if bundle.model.input_kind == "clip":
        source = load_clips_like_training(bundle, path)
        z = encode_in_tune(bundle, source)
        rendered = render(bundle.model, z, gla_iters=gla_iters)
        clips = fit_length(rendered, source.shape[-1])
        return np.concatenate(list(clips.numpy()), axis=-1)
    z = encode_file(bundle, path)
    return render(bundle.model, z, gla_iters=gla_iters)[0].numpy()


def check_cache(bundle: Bundle, cache: SoundCache, *, fingerprint: str | None = None) -> None:
    """Raise a one-line `TimbrespaceError` unless the cache's clips can go through the bundle's
    model (same sample rate and channels; the training clip length for a model of clips) and,
    when `fingerprint` is given, the cache is that one (the data a model or analysis used)."""
    model = bundle.model
    if cache.sample_rate != bundle.sample_rate:
        raise TimbrespaceError(
            f"{cache.root}: cache sample rate is {cache.sample_rate} Hz but the bundle "
            f"{bundle.path} runs at {bundle.sample_rate} Hz; prepare the data with "
            f"--sr {bundle.sample_rate}"
        )
    channels = int(model.channels)
    if cache.channels != channels:
        raise TimbrespaceError(
            f"{cache.root}: cache has {cache.channels} channel(s) but the bundle "
            f"{bundle.path} takes {channels}; prepare the data with --channels {channels}"
        )
    clip_samples = int(model.hop_length)
    if model.input_kind == "clip" and cache.clip_samples != clip_samples:
        raise TimbrespaceError(
            f"{cache.root}: cache clips are {cache.clip_samples} samples but the bundle "
            f"{bundle.path} takes {clip_samples}; prepare the data with "
            f"--length {clip_samples / bundle.sample_rate:g}"
        )
    if fingerprint is not None and fingerprint != cache.fingerprint:
        raise TimbrespaceError(
            f"{cache.root}: this cache (fingerprint {cache.fingerprint}) is not the one the model "
            f"was trained on ({fingerprint}); re-run prepare on the same data or pass that cache"
        )


def _device_of(model: ConfiguredModel) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def random_latents(
    bundle: Bundle, n: int = 1, *, seed: int = 0, temperature: float = 1.0
) -> torch.Tensor:
    """`n` latents drawn from the Gaussian fitted to the training latents: points, or for a
    path latent each point held for 1 s: `[n, latent_dim, frames]` float32. `n` is checked
    against `LIMITS['sounds']` and `temperature` must be finite and ≥ 0, before drawing."""
    check_count("sounds", n, "number of random sounds")
    if not math.isfinite(temperature) or temperature < 0:
        raise TimbrespaceError(f"temperature must be a finite number ≥ 0, got {temperature:g}")
    if "latent_mean" not in bundle.extra:
        raise TimbrespaceError(
            f"{bundle.path}: bundle has no latent statistics (extra.safetensors)"
        )
    extra = bundle.extra
    z = sample_gaussian(
        extra["latent_mean"], extra["latent_cholesky"], n, seed=seed, temperature=temperature
    ).float()
    return z.expand(-1, -1, bundle.model.latent_frames(bundle.sample_rate))
