"""Load and save audio files.

Every loader returns float32 arrays shaped `[channels, samples]` in [-1, 1] at the requested
sample rate. Formats are whatever libsndfile reads (wav, flac, aiff, ogg, mp3, ...); resampling is
done with soxr. Saving is atomic (temporary file + rename).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from timbrespace.errors import TimbrespaceError, os_reason

AUDIO_EXTENSIONS = frozenset(
    {".wav", ".wave", ".flac", ".aif", ".aiff", ".aifc", ".ogg", ".oga", ".opus", ".mp3"}
)
WRITE_FORMATS = {
    ".wav": "WAV",
    ".wave": "WAV",
    ".flac": "FLAC",
    ".aif": "AIFF",
    ".aiff": "AIFF",
    ".ogg": "OGG",
    ".oga": "OGG",
    ".mp3": "MP3",
}
"""Suffix → libsndfile format of the files `save_audio` writes."""


class AudioLoadError(TimbrespaceError, ValueError):
    """A file that could not be turned into usable audio; `str()` names the file and the reason.
    (A `ValueError` too, for callers that predate `TimbrespaceError`.)"""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class AudioWriteError(TimbrespaceError, ValueError):
    """Audio that could not be written: `str()` names the file and the reason; `nonfinite` is
    true when the samples themselves were refused (NaN/inf), so a caller can name the option
    that drove the render there."""

    def __init__(self, path: str | os.PathLike[str], reason: str, *, nonfinite: bool = False):
        self.path = str(path)
        self.reason = reason
        self.nonfinite = nonfinite
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class AudioInfo:
    """What the file header says, before decoding."""

    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def is_audio_path(path: str | os.PathLike[str]) -> bool:
    """True for file names with a known audio extension (case-insensitive)."""
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


def audio_info(path: str | os.PathLike[str]) -> AudioInfo:
    """Read the header of `path`; raises AudioLoadError on unreadable or unsupported files."""
    where = Path(path)
    if where.is_dir():
        raise AudioLoadError(path, "is a folder, not an audio file")
    if not where.exists():
        raise AudioLoadError(path, "file not found")
    if not os.access(where, os.R_OK):
        raise AudioLoadError(path, "permission denied")
    try:
        info = sf.info(str(path))
    except OSError as error:
        raise AudioLoadError(path, os_reason(error, path)) from error
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AudioLoadError(path, f"not a readable audio file ({_short(error)})") from error
    return AudioInfo(info.samplerate, info.channels, info.frames, info.format, info.subtype)


def load_audio(
    path: str | os.PathLike[str],
    sample_rate: int | None = None,
    *,
    channels: int = 1,
    max_seconds: float | None = None,
) -> np.ndarray:
    """Decode `path` to float32 `[channels, samples]` in [-1, 1].

    sample_rate: target rate in Hz (None keeps the file's rate); resampled with soxr (HQ).
    channels: 1 mixes down to mono; 2 keeps the first two channels (a mono file is duplicated).
    max_seconds: decode at most this much from the start (protects against hour-long files).
    Files whose peak exceeds 1 (float formats) are scaled down to peak 1.
    Raises AudioLoadError naming the file for empty, corrupt, NaN-filled or unreadable input.
    """
    if channels not in (1, 2):
        raise ValueError(f"channels must be 1 or 2, got {channels}")
    info = audio_info(path)
    if info.frames <= 0:
        raise AudioLoadError(path, "zero-length audio")
    if info.sample_rate <= 0:
        raise AudioLoadError(path, f"invalid sample rate {info.sample_rate}")
    frames = info.frames
    if max_seconds is not None:
        frames = min(frames, max(1, int(round(max_seconds * info.sample_rate))))
    try:
        data = sf.read(str(path), frames=frames, dtype="float32", always_2d=True)[0]
    except OSError as error:
        raise AudioLoadError(path, os_reason(error, path)) from error
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AudioLoadError(path, f"decoding failed ({_short(error)})") from error
    if data.shape[0] == 0:
        raise AudioLoadError(path, "zero-length audio (header promised frames, none decoded)")
    if not np.isfinite(data).all():
        raise AudioLoadError(path, "contains NaN or infinite samples")
    audio = _to_channels(data.T, channels)
    if sample_rate is not None and sample_rate != info.sample_rate:
        audio = resample(audio, info.sample_rate, sample_rate)
    return np.ascontiguousarray(limit_peak(audio), dtype=np.float32)


def limit_peak(audio: np.ndarray) -> np.ndarray:
    """Scale audio down to peak 1 if it exceeds it (float files, resampling overshoot)."""
    peak = float(np.abs(audio).max(initial=0.0))
    return audio / peak if peak > 1.0 else audio


def resample(audio: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Resample `[channels, samples]` float audio from `source_rate` to `target_rate` Hz (soxr HQ)."""
    if source_rate == target_rate:
        return audio
    out = soxr.resample(np.ascontiguousarray(audio.T), source_rate, target_rate, quality="HQ")
    return np.ascontiguousarray(np.atleast_2d(out.T), dtype=np.float32)


def save_audio(
    path: str | os.PathLike[str],
    audio: np.ndarray,
    sample_rate: int,
    *,
    subtype: str | None = None,
) -> Path:
    """Write `[channels, samples]` (or `[samples]`) float audio atomically; format from the suffix
    (`WRITE_FORMATS`).

    wav, aiff and flac default to 24-bit PCM; values are clipped to [-1, 1]. Raises
    AudioWriteError naming the file for an unknown suffix, NaN/inf samples (`nonfinite`) and
    any failure of the file system (read-only, permission, full disk, a file where a folder
    should be, a name too long).
    """
    from timbrespace.atomic import atomic_path

    target = Path(path)
    file_format = audio_write_format(target)
    array = np.asarray(audio, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise ValueError(f"audio must be [channels, samples], got shape {array.shape}")
    if not np.isfinite(array).all():
        raise AudioWriteError(target, "refusing to write NaN/inf samples", nonfinite=True)
    if subtype is None and file_format in ("WAV", "FLAC", "AIFF"):
        subtype = "PCM_24"
    try:
        with atomic_path(target) as tmp:
            sf.write(
                str(tmp),
                np.clip(array, -1.0, 1.0).T,
                sample_rate,
                subtype=subtype,
                format=file_format,
            )
    except OSError as error:
        raise AudioWriteError(target, f"cannot write ({os_reason(error, target)})") from error
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AudioWriteError(target, f"cannot write it ({_short(error)})") from error
    return target


def audio_write_format(path: str | os.PathLike[str]) -> str:
    """The libsndfile format `save_audio` writes `path` in (from its suffix); raises
    AudioWriteError for a folder or a suffix it does not write."""
    target = Path(path)
    if target.is_dir():
        raise AudioWriteError(target, "is a folder; give a file name such as out.wav")
    suffix = target.suffix.lower()
    if suffix not in WRITE_FORMATS:
        known = ", ".join(sorted(WRITE_FORMATS))
        what = f"suffix {suffix!r}" if suffix else "no suffix"
        raise AudioWriteError(target, f"{what}: an audio file ends in one of {known}")
    return WRITE_FORMATS[suffix]


def _to_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    if channels == 1:
        return audio.mean(axis=0, keepdims=True)
    if audio.shape[0] == 1:
        return np.repeat(audio, 2, axis=0)
    return audio[:2]


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[-1] if text else type(error).__name__


def peak_normalize(audio: np.ndarray, peak_db: float = -1.0) -> np.ndarray:
    """Scale `audio` so its peak is `peak_db` dBFS (silence stays silent)."""
    peak = float(np.max(np.abs(audio), initial=0.0))
    return audio if peak <= 0 else (audio * (10 ** (peak_db / 20) / peak)).astype(np.float32)


def within_full_scale(audio: np.ndarray) -> np.ndarray:
    """Sounds `[..., channels, samples]` whose peak passes full scale scaled down to it, each
    sound on its own, the rest as they are (a clamp squares off the bass of a darkened kick);
    non-finite samples clamped; float32."""
    audio = np.asarray(audio, dtype=np.float32)
    axes = tuple(range(max(audio.ndim - 2, 0), audio.ndim))
    peak = np.max(np.abs(audio), axis=axes, keepdims=True, initial=0.0)
    scale = np.where(np.isfinite(peak), np.maximum(peak, 1.0), 1.0)
    return np.clip(audio / scale, -1.0, 1.0).astype(np.float32)
