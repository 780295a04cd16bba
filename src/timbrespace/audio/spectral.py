"""Spectral front-ends in batched torch on any device (no torchaudio): STFT and its inverse,
magnitude and log-magnitude, librosa's Slaney mel filterbank, and an STFT-based constant-Q
approximation, each with a way back to a linear magnitude for Griffin-Lim.

Conventions follow librosa (`librosa.stft` with `center=True, pad_mode="constant"`): frame `i`
is centred on sample `i * hop`, a clip of `n` samples has `1 + n // hop` frames, spectra are
`[batch, bins, frames]` with `bins = n_fft // 2 + 1`, windows are periodic ("fftbins").
Functions accept any leading dimensions before the last (samples, or bins and frames).

    config = SpectralConfig(sample_rate=22050, front_end="mel")
    features = config.features(audio)              # [batch, 128, frames], log mel magnitude
    magnitude = config.to_linear_magnitude(features)  # [batch, 1025, frames], for Griffin-Lim
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch

WINDOWS = ("hann", "hamming", "blackman", "boxcar")
FRONT_ENDS = ("linear", "log", "mel", "cqt")
C1_HZ = 32.70319566257483  # librosa's default CQT fmin (note_to_hz("C1"))


def window_tensor(
    window: str,
    n_fft: int,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Periodic analysis window `[n_fft]`, equal to `scipy.signal.get_window(window, n_fft)`:
    one of "hann", "hamming", "blackman", "boxcar"."""
    builders = {
        "hann": torch.hann_window,
        "hamming": torch.hamming_window,
        "blackman": torch.blackman_window,
    }
    if window in builders:
        return builders[window](n_fft, periodic=True, device=device, dtype=dtype)
    if window == "boxcar":
        return torch.ones(n_fft, device=device, dtype=dtype)
    raise ValueError(f"unknown window {window!r}; expected one of {', '.join(WINDOWS)}")


def frame_count(samples: int, hop: int) -> int:
    """Frames of a centred STFT of `samples` samples: `1 + samples // hop`."""
    return 1 + samples // hop


def stft(
    audio: torch.Tensor,
    n_fft: int,
    hop: int,
    window: str = "hann",
    center: bool = True,
    pad_mode: str = "constant",
) -> torch.Tensor:
    """Complex STFT, equal to `librosa.stft` (same window, `center`, `pad_mode`).

    audio `[..., samples]` → `[..., n_fft // 2 + 1, frames]`, complex, unnormalised (a full-scale
    sine of amplitude a peaks at `a · sum(window) / 2`).
    """
    lead, samples = audio.shape[:-1], audio.shape[-1]
    spectrum = torch.stft(
        audio.reshape(-1, samples),
        n_fft,
        hop,
        window=window_tensor(window, n_fft, device=audio.device, dtype=audio.dtype),
        center=center,
        pad_mode=pad_mode,
        return_complex=True,
    )
    return spectrum.reshape(*lead, *spectrum.shape[-2:])


def istft(
    spectrum: torch.Tensor,
    n_fft: int,
    hop: int,
    window: str = "hann",
    center: bool = True,
    length: int | None = None,
) -> torch.Tensor:
    """Inverse of `stft` by windowed overlap-add (the least-squares inverse, as `librosa.istft`).

    spectrum `[..., n_fft // 2 + 1, frames]`, complex → `[..., samples]`, `samples = length` or
    `(frames − 1) · hop` when centred.
    """
    lead = spectrum.shape[:-2]
    audio = torch.istft(
        spectrum.reshape(-1, *spectrum.shape[-2:]),
        n_fft,
        hop,
        window=window_tensor(window, n_fft, device=spectrum.device, dtype=spectrum.real.dtype),
        center=center,
        length=length,
    )
    return audio.reshape(*lead, audio.shape[-1])


def magnitude(
    audio: torch.Tensor, n_fft: int, hop: int, window: str = "hann", center: bool = True
) -> torch.Tensor:
    """`|stft(audio)|`: `[..., samples]` → `[..., n_fft // 2 + 1, frames]`, linear amplitude."""
    return stft(audio, n_fft, hop, window, center).abs()


def log_magnitude(magnitude: torch.Tensor, floor: float = 1e-5) -> torch.Tensor:
    """Natural-log compression `log(magnitude + floor)`, invertible by `inverse_log_magnitude`.
    floor (linear amplitude) bounds the result below at `log(floor)`."""
    return torch.log(magnitude + floor)


def inverse_log_magnitude(log_mag: torch.Tensor, floor: float = 1e-5) -> torch.Tensor:
    """Inverse of `log_magnitude`: `max(exp(log_mag) − floor, 0)`."""
    return torch.clamp(torch.exp(log_mag) - floor, min=0.0)


def hz_to_mel(frequencies: torch.Tensor) -> torch.Tensor:
    """Hz → mel on Slaney's scale (librosa `htk=False`): linear below 1 kHz (one mel per 200/3 Hz,
    15 mel at 1 kHz), logarithmic above (27 mel per factor 6.4)."""
    linear = frequencies / (200.0 / 3.0)
    log_step = math.log(6.4) / 27.0
    logarithmic = 15.0 + torch.log(torch.clamp(frequencies, min=1e-10) / 1000.0) / log_step
    return torch.where(frequencies >= 1000.0, logarithmic, linear)


def mel_to_hz(mels: torch.Tensor) -> torch.Tensor:
    """Inverse of `hz_to_mel` (Slaney scale)."""
    linear = mels * (200.0 / 3.0)
    logarithmic = 1000.0 * torch.exp((math.log(6.4) / 27.0) * (mels - 15.0))
    return torch.where(mels >= 15.0, logarithmic, linear)


def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Slaney mel filterbank `[n_mels, n_fft // 2 + 1]`, equal to `librosa.filters.mel` with its
    defaults (`htk=False, norm="slaney"`): triangles between `n_mels + 2` points evenly spaced
    in mel from fmin to fmax (Hz, default Nyquist), each scaled to unit area per Hz
    (`2 / (upper − lower)`). Built in float64, returned in dtype."""
    fmax = sample_rate / 2.0 if fmax is None else fmax
    fft_hz = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * (sample_rate / n_fft)
    edges_mel = torch.tensor([fmin, fmax], dtype=torch.float64)
    low, high = hz_to_mel(edges_mel).tolist()
    points = mel_to_hz(torch.linspace(low, high, n_mels + 2, dtype=torch.float64))
    widths = torch.diff(points)
    ramps = points[:, None] - fft_hz[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = torch.clamp(torch.minimum(rising, falling), min=0.0)
    weights = weights * (2.0 / (points[2:] - points[:-2]))[:, None]
    return weights.to(device=device, dtype=dtype)


def mel_spectrogram(
    audio: torch.Tensor,
    *,
    sample_rate: int,
    n_fft: int,
    hop: int,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    power: float = 2.0,
    window: str = "hann",
    center: bool = True,
) -> torch.Tensor:
    """Mel spectrogram `mel_filterbank @ |stft|^power`, equal to `librosa.feature.melspectrogram`
    with the same settings (power 2 = power spectrum, 1 = magnitude).
    audio `[..., samples]` → `[..., n_mels, frames]`."""
    spectrum = magnitude(audio, n_fft, hop, window, center)
    if power != 1.0:
        spectrum = spectrum**power
    bank = mel_filterbank(
        sample_rate, n_fft, n_mels, fmin, fmax, device=audio.device, dtype=spectrum.dtype
    )
    return torch.matmul(bank, spectrum)


def cqt_frequencies(n_bins: int, fmin: float = C1_HZ, bins_per_octave: int = 24) -> torch.Tensor:
    """Centre frequencies `fmin · 2^(k / bins_per_octave)`, k = 0 … n_bins − 1 (Hz, float64)."""
    return fmin * 2.0 ** (torch.arange(n_bins, dtype=torch.float64) / bins_per_octave)


def cqt_bin_count(sample_rate: int, fmin: float = C1_HZ, bins_per_octave: int = 24) -> int:
    """Bins whose centre frequency lies below Nyquist, starting at fmin."""
    return 1 + math.floor(bins_per_octave * math.log2(sample_rate / 2.0 / fmin) - 1e-9)


def cqt_filterbank(
    sample_rate: int,
    n_fft: int,
    *,
    fmin: float = C1_HZ,
    n_bins: int | None = None,
    bins_per_octave: int = 24,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Log-frequency filterbank `[n_bins, n_fft // 2 + 1]` turning an STFT magnitude into a
    constant-Q-like magnitude. An STFT-based approximation, not a true CQT: the time resolution
    stays the STFT's at every frequency.

    Filter k is a triangle in Hz centred on `fmin · 2^(k / bins_per_octave)` with half-width
    `max(f_k / Q, sample_rate / n_fft)`, `Q = 1 / (2^(1 / bins_per_octave) − 1)` (the CQT's
    bandwidth), normalised to unit sum, so each bin is a weighted mean of STFT magnitudes and
    keeps their scale. Where `f_k / Q` is narrower than the STFT bin spacing (low frequencies)
    the filter reduces to linear interpolation between the two nearest STFT bins: those CQT bins
    are interpolated, not resolved. n_bins defaults to every bin below Nyquist.
    """
    n_bins = cqt_bin_count(sample_rate, fmin, bins_per_octave) if n_bins is None else n_bins
    centres = cqt_frequencies(n_bins, fmin, bins_per_octave)
    if fmin <= 0 or centres[-1] >= sample_rate / 2.0:
        raise ValueError(
            f"CQT bins must lie in (0, Nyquist): fmin={fmin} Hz, top bin {centres[-1]:.1f} Hz, "
            f"Nyquist {sample_rate / 2.0} Hz"
        )
    fft_hz = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * (sample_rate / n_fft)
    q_factor = 1.0 / (2.0 ** (1.0 / bins_per_octave) - 1.0)
    half_widths = torch.clamp(centres / q_factor, min=sample_rate / n_fft)
    weights = torch.clamp(1.0 - (fft_hz[None] - centres[:, None]).abs() / half_widths[:, None], 0)
    weights = weights / weights.sum(dim=1, keepdim=True)
    return weights.to(device=device, dtype=dtype)


def cqt_spectrogram(
    audio: torch.Tensor,
    *,
    sample_rate: int,
    n_fft: int,
    hop: int,
    fmin: float = C1_HZ,
    n_bins: int | None = None,
    bins_per_octave: int = 24,
    window: str = "hann",
    center: bool = True,
) -> torch.Tensor:
    """STFT-based constant-Q magnitude `cqt_filterbank @ |stft|` (see `cqt_filterbank` for how
    it approximates a CQT). audio `[..., samples]` → `[..., n_bins, frames]`, linear amplitude."""
    spectrum = magnitude(audio, n_fft, hop, window, center)
    bank = cqt_filterbank(
        sample_rate,
        n_fft,
        fmin=fmin,
        n_bins=n_bins,
        bins_per_octave=bins_per_octave,
        device=audio.device,
        dtype=spectrum.dtype,
    )
    return torch.matmul(bank, spectrum)


def filterbank_pseudo_inverse(filterbank: torch.Tensor, rtol: float = 1e-4) -> torch.Tensor:
    """Moore-Penrose pseudo-inverse `[bins, filters]` of a filterbank `[filters, bins]`, computed
    in float64 (singular values below `rtol` × the largest are dropped): `pinv @ features` is the
    minimum-norm linear magnitude whose filterbank output is closest to the features. Clamp the
    result at 0 before using it as a magnitude; STFT bins no filter covers (below fmin, above
    fmax) come back as 0. On speech and music this is about as close to the true magnitude as
    librosa's non-negative least squares (`librosa.feature.inverse.mel_to_stft`), and far faster."""
    inverse = torch.linalg.pinv(filterbank.double(), rtol=rtol)
    return inverse.to(filterbank.dtype)


@dataclass(frozen=True)
class SpectralConfig:
    """A spectral front-end a model reads and a way back to a linear STFT magnitude.

    front_end: "linear" (|STFT|), "log" (`log_magnitude` of |STFT|), "mel" (log Slaney mel
    magnitude, power 1, n_mels bands from fmin to fmax Hz) or "cqt" (log STFT-based constant-Q
    magnitude, `n_bins` bins from `cqt_fmin` Hz, `bins_per_octave`; n_bins None = up to Nyquist).
    Lengths in samples; log_floor is the linear-amplitude floor added before the log.
    """

    sample_rate: int = 22050
    n_fft: int = 1024
    hop: int = 256
    window: str = "hann"
    front_end: str = "log"
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float | None = None
    cqt_fmin: float = C1_HZ
    bins_per_octave: int = 24
    n_bins: int | None = None
    log_floor: float = 1e-5

    def __post_init__(self) -> None:
        if self.front_end not in FRONT_ENDS:
            raise ValueError(
                f"unknown front_end {self.front_end!r}; expected one of {', '.join(FRONT_ENDS)}"
            )
        if self.window not in WINDOWS:
            raise ValueError(
                f"unknown window {self.window!r}; expected one of {', '.join(WINDOWS)}"
            )
        if self.n_fft < 2 or not 0 < self.hop <= self.n_fft:
            raise ValueError(f"need n_fft >= 2 and 0 < hop <= n_fft, got {self.n_fft}, {self.hop}")
        if self.log_floor <= 0:
            raise ValueError(f"log_floor must be positive, got {self.log_floor}")
        if self.front_end == "cqt":
            cqt_filterbank(
                self.sample_rate,
                self.n_fft,
                fmin=self.cqt_fmin,
                n_bins=self.n_bins,
                bins_per_octave=self.bins_per_octave,
            )

    @property
    def linear_bins(self) -> int:
        """STFT bins: `n_fft // 2 + 1`."""
        return self.n_fft // 2 + 1

    @property
    def n_features(self) -> int:
        """Feature rows per frame for this front-end."""
        if self.front_end == "mel":
            return self.n_mels
        if self.front_end == "cqt":
            if self.n_bins is None:
                return cqt_bin_count(self.sample_rate, self.cqt_fmin, self.bins_per_octave)
            return self.n_bins
        return self.linear_bins

    def frames(self, samples: int) -> int:
        """Frames for a clip of `samples` samples (centred STFT)."""
        return frame_count(samples, self.hop)

    def filterbank(
        self, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
    ) -> torch.Tensor | None:
        """The front-end's filterbank `[n_features, linear_bins]`, None for linear and log."""
        bank = _filterbanks(self)[0]
        return None if bank is None else bank.to(device=device, dtype=dtype)

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """audio `[..., samples]` → features `[..., n_features, frames]`."""
        spectrum = magnitude(audio, self.n_fft, self.hop, self.window)
        if self.front_end == "linear":
            return spectrum
        bank = self.filterbank(audio.device, spectrum.dtype)
        if bank is not None:
            spectrum = torch.matmul(bank, spectrum)
        return log_magnitude(spectrum, self.log_floor)

    def to_linear_magnitude(self, features: torch.Tensor) -> torch.Tensor:
        """features `[..., n_features, frames]` → linear STFT magnitude `[..., linear_bins,
        frames]` (≥ 0), ready for `griffin_lim`. Exact for "linear" and "log"; mel and cqt go
        through the filterbank's pseudo-inverse, which restores the spectral envelope at the
        filters' resolution, not the fine structure between them."""
        if self.front_end == "linear":
            return features
        spectrum = inverse_log_magnitude(features, self.log_floor)
        inverse = _filterbanks(self)[1]
        if inverse is None:
            return spectrum
        inverse = inverse.to(device=features.device, dtype=features.dtype)
        return torch.clamp(torch.matmul(inverse, spectrum), min=0.0)


@lru_cache(maxsize=16)
def _filterbanks(config: SpectralConfig) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(filterbank, pseudo-inverse) on the CPU in float32 for a config; (None, None) without a
    filterbank. Cached: callers must not modify them in place."""
    if config.front_end == "mel":
        bank = mel_filterbank(
            config.sample_rate, config.n_fft, config.n_mels, config.fmin, config.fmax
        )
    elif config.front_end == "cqt":
        bank = cqt_filterbank(
            config.sample_rate,
            config.n_fft,
            fmin=config.cqt_fmin,
            n_bins=config.n_bins,
            bins_per_octave=config.bins_per_octave,
        )
    else:
        return None, None
    return bank, filterbank_pseudo_inverse(bank)
