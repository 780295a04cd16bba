"""Limits shared by every face (CLI, HTTP schema, the studio page, the engine), defined once: every
number that sizes work or memory (a bundle's config, a path operator, a count of sounds, a render's
length and Griffin-Lim work) has its range here, and is checked against it before anything is
allocated, with a one-line `LimitError` naming the field, the value and the limit:

    check("latent_dim", 1_000_000)       # LimitError: latent_dim 1000000 is above its limit 1024
    check("stretch", 1e6, "--op stretch=1e6")

Torch-free, so `timbrespace --help` stays instant.

The Griffin-Lim work budget (`gla_work`, in bins × frames × iterations) was measured on this
machine's CPUs: a spectral decode costs about 10 ns per STFT bin, frame and iteration on one
thread (9–12 ns for the tiny, small and full presets) and 5–6.6 ns on two threads, so 5·10⁸ units
hold the model for about 3 s on two threads (5 s on one): e.g. 32 iterations of 350 s of audio
with the `small` preset (513 bins, 86 frames/s), or 512 iterations of 22 s.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from timbrespace.errors import TimbrespaceError

GLA_ITERS_MIN = 1
GLA_ITERS_MAX = 512
"""Griffin-Lim iterations a request may ask of a spectral model (inclusive)."""

ALIGN_MODES: tuple[str, ...] = ("crop", "loop", "stretch")
"""How two latent paths of unequal length are made to match (`latent.paths.align`)."""


class LimitError(TimbrespaceError, ValueError):
    """A number that sizes work or memory is outside its range in `LIMITS`."""


@dataclass(frozen=True)
class Limit:
    """An inclusive range `low`…`high` in `unit`; `what` says what the number sizes."""

    low: float
    high: float
    unit: str = ""
    what: str = ""

    def text(self, value: float) -> str:
        """`value` with the unit, whole numbers in full (`1000000`, not `1e+06`)."""
        value = float(value)
        shown = f"{int(value)}" if value.is_integer() and abs(value) < 1e16 else f"{value:g}"
        return f"{shown} {self.unit}" if self.unit else shown


SOUNDS_MAX = 256
"""Sounds rendered by one request: `generate random -n`, `--amount` values, sweep steps."""
PACK_RATES: tuple[int, ...] = (44100, 48000)
"""Sample rates a pack of variations is written at, Hz (`generate pack`)."""
PACK_BITS: tuple[int, ...] = (16, 24)
"""Bit depths of a pack's WAV files."""

LIMITS: dict[str, Limit] = {
    # a bundle's (or a training run's) model config
    "sample_rate": Limit(1000, 384000, "Hz", "the model's sample rate"),
    "channels": Limit(1, 2, "", "audio channels"),
    "latent_dim": Limit(1, 1024, "", "latent dimensions"),
    "clip_seconds": Limit(0, 60, "s", "a training clip (prepare allows up to 60 s)"),
    "width": Limit(1, 8192, "", "a layer's width"),
    "layers": Limit(1, 16, "", "layers of a stack (entries of *_widths, *_strides, …)"),
    "stride": Limit(1, 64, "", "a stride of the encoder, decoder or synth"),
    "res_blocks": Limit(0, 16, "", "residual blocks of a stage"),
    "kernel_size": Limit(1, 127, "", "a convolution kernel"),
    "dilation": Limit(1, 1024, "", "a dilation of the residual blocks"),
    "n_harmonics": Limit(1, 512, "", "harmonics of the ddsp synth"),
    "noise_bands": Limit(2, 2048, "", "noise bands of the ddsp synth"),
    "reverb_seconds": Limit(0, 10, "s", "the learned reverb's impulse response"),
    "z_dim": Limit(0, 256, "", "timbre latent dimensions"),
    "codebook_size": Limit(2, 16384, "", "codes of a codebook (its transition table is size²)"),
    "kmeans_iters": Limit(0, 1000, "", "k-means iterations of a codebook's start"),
    "n_partials": Limit(1, 512, "", "partials of the partial bank"),
    "n_voices": Limit(1, 32, "", "voices of the partial synth"),
    "voice_harmonics": Limit(1, 512, "", "harmonics per voice"),
    "control_hop": Limit(0, 65536, "samples", "the synth's control hop"),
    "n_fft": Limit(16, 65536, "samples", "the STFT size"),
    "hop": Limit(1, 65536, "samples", "the STFT hop"),
    "n_mels": Limit(1, 1024, "", "mel bands"),
    "bins_per_octave": Limit(1, 96, "", "CQT bins per octave"),
    "pitch_per_octave": Limit(4, 192, "", "points per octave of a pitch-relative spectrum"),
    "encoder_context": Limit(0, 64, "frames", "encoder context on each side"),
    "train_samples": Limit(0, 10_000_000, "samples", "the training crop (0: whole clips)"),
    "train_frames": Limit(0, 65536, "frames", "frames per training clip"),
    "n_descriptors": Limit(0, 256, "", "outputs of the descriptor head"),
    "gla_iters": Limit(GLA_ITERS_MIN, GLA_ITERS_MAX, "", "Griffin-Lim iterations"),
    "parameters": Limit(0, 200_000_000, "", "model parameters (800 MB as float32)"),
    "json_bytes": Limit(0, 64 << 20, "bytes", "a bundle's or analysis' JSON file"),
    # requests: counts, path operators and renders
    "sounds": Limit(1, SOUNDS_MAX, "sounds", "sounds rendered at once"),
    "sweep_steps": Limit(2, SOUNDS_MAX, "steps", "steps of a sweep"),
    "stretch": Limit(0.01, 100, "", "a time-stretch factor"),
    "smooth": Limit(1, 1000, "frames", "a smoothing width"),
    "scale": Limit(-100, 100, "", "a scale factor"),
    "bias": Limit(-1000, 1000, "", "a bias"),
    "noise": Limit(0, 1000, "", "a noise standard deviation"),
    "randomize_std": Limit(0, 1000, "", "the spread of randomize"),
    "path_frames": Limit(1, 1 << 17, "frames", "a latent path"),
    "input_seconds": Limit(0, 600, "s", "a recording encoded whole"),
    "render_seconds": Limit(0, 600, "s", "one rendered sound"),
    "render_samples": Limit(0, 1 << 25, "samples", "all sounds of a render, channels included"),
    "gla_work": Limit(0, 5e8, "bin·frame·iterations", "Griffin-Lim work of one render"),
}
"""Every limit by name: the range a number may take (inclusive)."""

CONFIG_FIELDS: dict[str, str] = {
    "sample_rate": "sample_rate",
    "channels": "channels",
    "latent_dim": "latent_dim",
    "encoder_widths": "width",
    "encoder_width": "width",
    "decoder_width": "width",
    "encoder_dilations": "dilation",
    "decoder_dilations": "dilation",
    "train_samples": "train_samples",
    "decoder_widths": "width",
    "synth_widths": "width",
    "encoder_strides": "stride",
    "decoder_strides": "stride",
    "synth_strides": "stride",
    "encoder_res_blocks": "res_blocks",
    "decoder_res_blocks": "res_blocks",
    "synth_res_blocks": "res_blocks",
    "kernel_size": "kernel_size",
    "upsample_kernel_size": "kernel_size",
    "output_kernel_size": "kernel_size",
    "dilations": "dilation",
    "n_harmonics": "n_harmonics",
    "noise_bands": "noise_bands",
    "reverb_seconds": "reverb_seconds",
    "hidden_width": "width",
    "gru_width": "width",
    "style_dim": "width",
    "classifier_width": "width",
    "z_dim": "z_dim",
    "codebook_size": "codebook_size",
    "kmeans_iters": "kmeans_iters",
    "n_partials": "n_partials",
    "n_voices": "n_voices",
    "voice_harmonics": "voice_harmonics",
    "control_hop": "control_hop",
    "n_fft": "n_fft",
    "hop": "hop",
    "n_mels": "n_mels",
    "bins_per_octave": "bins_per_octave",
    "pitch_per_octave": "pitch_per_octave",
    "encoder_context": "encoder_context",
    "train_frames": "train_frames",
    "n_descriptors": "n_descriptors",
    "gla_iters": "gla_iters",
}
"""Model config field → its limit in `LIMITS` (a tuple field: every entry, and its length
within `layers`). `clip_samples` is checked in seconds (`clip_seconds`)."""


def check(name: str, value: float, label: str | None = None) -> float:
    """`value` if it lies within `LIMITS[name]`, else a `LimitError` naming `label` (default
    `name`), the value and the limit. NaN and infinities are refused."""
    limit = LIMITS[name]
    label = label or name
    value = float(value)
    if math.isnan(value):
        raise LimitError(f"{label}: {value} is not a number")
    if value > limit.high:
        raise LimitError(
            f"{label} {limit.text(value)} is above its limit {limit.text(limit.high)} "
            f"({limit.what})"
        )
    if value < limit.low:
        raise LimitError(
            f"{label} {limit.text(value)} is below its limit {limit.text(limit.low)} ({limit.what})"
        )
    return value


def check_count(name: str, count: int, label: str | None = None) -> int:
    """A count of things (sounds, sweep steps) checked against `LIMITS[name]`, before they are
    made: `check_count("sounds", 1_000_000, "-n")` refuses a million random sounds."""
    return int(check(name, count, label))


def check_config(config: Any, prefix: str = "") -> None:
    """Check every size field of a model config (a dataclass, or the plain dict it is built
    from: then entries of another type are left to the config's type checks) against
    `CONFIG_FIELDS`, and its clip length in seconds, before the model is built; `LimitError`
    names `prefix` + the field, the value and the limit."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    else:
        values = dict(config)
    for field, name in CONFIG_FIELDS.items():
        value = values.get(field)
        if isinstance(value, list | tuple):
            if field.endswith(("_widths", "_strides", "_res_blocks", "dilations")):
                check("layers", len(value), f"{prefix}{field} length")
            for index, entry in enumerate(value):
                if _is_number(entry):
                    check(name, entry, f"{prefix}{field}[{index}]")
        elif _is_number(value):
            check(name, value, f"{prefix}{field}")
    samples, rate = values.get("clip_samples"), values.get("sample_rate")
    if _is_number(samples) and _is_number(rate) and rate > 0:
        seconds = samples / rate
        if not LIMITS["clip_seconds"].low <= seconds <= LIMITS["clip_seconds"].high:
            raise LimitError(
                f"{prefix}clip_samples {samples} is {seconds:g} s at {rate} Hz, outside its "
                f"limit {LIMITS['clip_seconds'].low:g}…{LIMITS['clip_seconds'].high:g} s"
            )


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def limits() -> dict[str, dict[str, float]]:
    """The numeric limits as JSON for a client (the studio page reads them from `/api/info`):
    `gla_iters` and every entry of `LIMITS`, as `{"min": low, "max": high}`."""
    table: dict[str, dict[str, float]] = {
        name: {"min": limit.low, "max": limit.high} for name, limit in LIMITS.items()
    }
    table["gla_iters"] = {"min": GLA_ITERS_MIN, "max": GLA_ITERS_MAX}
    return table


def read_json(path: str | os.PathLike[str]) -> Any:
    """The JSON in `path`; a one-line `TimbrespaceError` naming it when it is too big, not
    UTF-8, not JSON or nested too deep to parse."""
    file = Path(path)
    try:
        size = file.stat().st_size
        check("json_bytes", size, f"{file.name} size")
        text = file.read_text("utf-8")
    except LimitError as error:
        raise TimbrespaceError(f"{file}: {error}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise TimbrespaceError(f"{file}: cannot read it ({error})") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise TimbrespaceError(f"{file}: invalid JSON (nested too deep)") from None
    except ValueError as error:
        raise TimbrespaceError(f"{file}: invalid JSON ({error})") from None
