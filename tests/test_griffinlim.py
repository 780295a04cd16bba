"""Griffin-Lim with known answers: the true phase is a fixed point (offline and streamed), the
update is librosa's (same result from the same start, on a synthetic tone and on real drums),
momentum and iterations lower the spectral convergence, seeds are reproducible, and the
block-by-block stream overlap-adds like the offline ISTFT and joins its blocks without clicks."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

from timbrespace.audio.griffinlim import GriffinLimStream, griffin_lim, spectral_convergence
from timbrespace.audio.spectral import istft, magnitude, stft

SR = 22050
N_FFT, HOP = 1024, 256
SUFFIXES = {".wav", ".flac", ".aif", ".aiff"}


def tone_and_burst(seconds: float = 1.0, seed: int = 0) -> torch.Tensor:
    """A 220 Hz harmonic tone plus a decaying noise burst: float32 [1, samples]."""
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(seed)
    tone = sum(np.sin(2 * np.pi * 220.0 * k * t) / k for k in range(1, 9))
    burst = np.exp(-t / 0.05) * rng.standard_normal(t.size)
    return torch.from_numpy((0.3 * tone + 0.5 * burst).astype(np.float32))[None]


@pytest.fixture(scope="module")
def drums(hydrogen_root: Path) -> torch.Tensor:
    """2 s of real drum one-shots (each cut to 0.25 s) at 22.05 kHz: float32 [1, samples]."""
    files = sorted(p for p in hydrogen_root.rglob("*") if p.suffix.lower() in SUFFIXES)
    parts, total = [], 0
    for path in files[:: max(1, len(files) // 16)]:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
        audio = soxr.resample(audio.mean(axis=1), rate, SR)[: SR // 4]
        parts.append(audio)
        total += audio.size
        if total >= 2 * SR:
            break
    return torch.from_numpy(np.concatenate(parts)[: 2 * SR].astype(np.float32))[None]


def convergence(target: torch.Tensor, audio: torch.Tensor) -> float:
    return float(spectral_convergence(target, audio, n_fft=N_FFT, hop=HOP)[0])


def frame_errors(target: torch.Tensor, audio: torch.Tensor) -> np.ndarray:
    """Per-frame spectral convergence `‖ |STFT(audio)|_t − M_t ‖ / ‖M_t‖`: [frames]."""
    error = torch.linalg.vector_norm(magnitude(audio, N_FFT, HOP) - target, dim=-2)
    return (error / torch.linalg.vector_norm(target, dim=-2).clamp(min=1e-3))[0].numpy()


def stream_blocks(stream: GriffinLimStream, target: torch.Tensor, block: int) -> torch.Tensor:
    frames = target.shape[-1]
    chunks = [stream.process(target[..., s : s + block]) for s in range(0, frames, block)]
    return torch.cat([*chunks, stream.flush()], dim=-1)


def test_true_phase_is_a_fixed_point() -> None:
    audio = tone_and_burst()
    spectrum = stft(audio, N_FFT, HOP)
    for iterations in (0, 16):
        rebuilt = griffin_lim(
            spectrum.abs(),
            n_fft=N_FFT,
            hop=HOP,
            iterations=iterations,
            initial_phase=spectrum.angle(),
            length=audio.shape[-1],
        )
        assert rebuilt.shape == audio.shape
        assert (rebuilt - audio).abs().max() < 1e-4
        assert convergence(spectrum.abs(), rebuilt) < 1e-4


def test_update_equals_librosa_from_the_same_random_start() -> None:
    target = magnitude(tone_and_burst(), N_FFT, HOP)
    phase = 2 * np.pi * np.random.RandomState(0).random_sample(target[0].shape)  # librosa's
    ours = griffin_lim(
        target, n_fft=N_FFT, hop=HOP, iterations=8, initial_phase=torch.from_numpy(phase)[None]
    )
    expected = librosa.griffinlim(
        target[0].numpy(), n_iter=8, hop_length=HOP, n_fft=N_FFT, momentum=0.99, random_state=0
    )
    assert ours.shape[-1] == expected.size
    np.testing.assert_allclose(ours[0].numpy(), expected, atol=1e-4 * np.abs(expected).max())


def test_convergence_on_real_drums_equals_librosa_from_zero_phase(drums: torch.Tensor) -> None:
    target = magnitude(drums, N_FFT, HOP)
    ours = griffin_lim(
        target, n_fft=N_FFT, hop=HOP, iterations=32, initial_phase=torch.zeros_like(target)
    )
    expected = librosa.griffinlim(
        target[0].numpy(), n_iter=32, hop_length=HOP, n_fft=N_FFT, momentum=0.99, init=None
    )
    ours_sc = convergence(target, ours)
    librosa_sc = convergence(target, torch.from_numpy(expected)[None])
    assert ours_sc == pytest.approx(librosa_sc, rel=1e-3)  # the same iterates up to rounding
    assert ours_sc < 0.1


def test_more_iterations_and_momentum_converge_further() -> None:
    target = magnitude(tone_and_burst(), N_FFT, HOP)
    values = [
        convergence(target, griffin_lim(target, n_fft=N_FFT, hop=HOP, iterations=n))
        for n in (1, 8, 32)
    ]
    assert values[0] > values[1] > values[2]
    momentum_free = griffin_lim(target, n_fft=N_FFT, hop=HOP, iterations=32, momentum=0.0)
    assert values[2] < 0.8 * convergence(target, momentum_free)  # "fast" Griffin-Lim


def test_previous_phase_warm_starts_an_edited_sound() -> None:
    audio = tone_and_burst()
    target = magnitude(audio, N_FFT, HOP)
    previous = griffin_lim(target, n_fft=N_FFT, hop=HOP, iterations=32)
    edited = target * torch.linspace(0.5, 1.5, target.shape[-2])[:, None]  # a brightness edit
    warm = griffin_lim(
        edited, n_fft=N_FFT, hop=HOP, iterations=4, initial_phase=stft(previous, N_FFT, HOP).angle()
    )
    cold = griffin_lim(edited, n_fft=N_FFT, hop=HOP, iterations=4)
    assert convergence(edited, warm) < 0.5 * convergence(edited, cold)


def test_seed_batch_and_leading_dimensions() -> None:
    target = magnitude(torch.cat([tone_and_burst(), tone_and_burst(seed=1)]), N_FFT, HOP)
    first = griffin_lim(target, n_fft=N_FFT, hop=HOP, iterations=4, seed=7)
    torch.testing.assert_close(
        first, griffin_lim(target, n_fft=N_FFT, hop=HOP, iterations=4, seed=7)
    )
    other = griffin_lim(target, n_fft=N_FFT, hop=HOP, iterations=4, seed=8)
    assert (first - other).abs().max() > 1e-3
    phase = torch.rand(target.shape, generator=torch.Generator().manual_seed(0)) * 6.28
    batched = griffin_lim(target, n_fft=N_FFT, hop=HOP, iterations=4, initial_phase=phase)
    single = griffin_lim(target[:1], n_fft=N_FFT, hop=HOP, iterations=4, initial_phase=phase[:1])
    torch.testing.assert_close(batched[:1], single, rtol=1e-5, atol=1e-6)
    # [batch, channels, bins, frames] → [batch, channels, samples]; unbatched [bins, frames]
    channels = griffin_lim(target[:, None], n_fft=N_FFT, hop=HOP, iterations=4, seed=7)
    torch.testing.assert_close(channels[:, 0], first)
    unbatched = griffin_lim(target[0], n_fft=N_FFT, hop=HOP, iterations=4, initial_phase=phase[0])
    torch.testing.assert_close(unbatched, single[0], rtol=1e-5, atol=1e-6)


def test_runs_in_the_magnitude_dtype() -> None:
    audio = tone_and_burst().double()
    spectrum = stft(audio, N_FFT, HOP)
    rebuilt = griffin_lim(
        spectrum.abs(),
        n_fft=N_FFT,
        hop=HOP,
        iterations=4,
        initial_phase=spectrum.angle(),
        length=audio.shape[-1],
    )
    assert rebuilt.dtype == torch.float64
    assert (rebuilt - audio).abs().max() < 1e-10


def test_length_and_shape_errors() -> None:
    audio = tone_and_burst()
    target = magnitude(audio, N_FFT, HOP)
    out = griffin_lim(target, n_fft=N_FFT, hop=HOP, iterations=2, length=audio.shape[-1])
    assert out.shape == audio.shape
    with pytest.raises(ValueError, match="frames"):
        griffin_lim(target, n_fft=N_FFT, hop=HOP, length=audio.shape[-1] + 4 * HOP)
    with pytest.raises(ValueError, match="magnitude"):
        griffin_lim(target, n_fft=2 * N_FFT, hop=HOP)
    with pytest.raises(ValueError, match="initial_phase"):
        griffin_lim(target, n_fft=N_FFT, hop=HOP, initial_phase=target[..., :-1])


def test_spectral_convergence_known_answers() -> None:
    audio = tone_and_burst()
    target = magnitude(audio, N_FFT, HOP)
    assert convergence(target, audio) < 1e-6
    assert convergence(target, 0.5 * audio) == pytest.approx(0.5, abs=1e-5)
    assert convergence(target, torch.zeros_like(audio)) == pytest.approx(1.0)


@pytest.mark.parametrize(("block", "lookahead"), [(1, 0), (1, 2), (5, 2), (16, 3)])
def test_stream_equals_offline_istft_when_the_phase_is_given(block: int, lookahead: int) -> None:
    spectrum = stft(tone_and_burst(0.5), N_FFT, HOP)
    target, phase = spectrum.abs(), spectrum.angle()
    stream = GriffinLimStream(n_fft=N_FFT, hop=HOP, iterations=0, lookahead=lookahead)
    chunks, frames = [], target.shape[-1]
    for start in range(0, frames, block):
        chunk = stream.process(
            target[..., start : start + block], phase[..., start : start + block]
        )
        received = min(start + block, frames)
        assert sum(c.shape[-1] for c in chunks) + chunk.shape[-1] == max(
            0, (received - 1) * HOP - stream.latency
        )
        chunks.append(chunk)
    chunks.append(stream.flush())
    torch.testing.assert_close(
        torch.cat(chunks, -1), istft(spectrum, N_FFT, HOP), atol=1e-5, rtol=0
    )


def test_stream_keeps_the_true_phase_while_iterating() -> None:
    """Held frames, the look-ahead and momentum leave a consistent spectrogram unchanged."""
    audio = tone_and_burst()
    spectrum = stft(audio, N_FFT, HOP)
    stream = GriffinLimStream(n_fft=N_FFT, hop=HOP, iterations=8, lookahead=2)
    chunks = [
        stream.process(spectrum.abs()[..., s : s + 7], spectrum.angle()[..., s : s + 7])
        for s in range(0, spectrum.shape[-1], 7)
    ]
    streamed = torch.cat([*chunks, stream.flush()], dim=-1)
    expected = audio[..., : (spectrum.shape[-1] - 1) * HOP]
    assert (streamed - expected).abs().max() < 1e-4


def test_stream_joins_blocks_without_clicks(drums: torch.Tensor) -> None:
    target = magnitude(drums, N_FFT, HOP)
    frames, block = target.shape[-1], 8
    streamed = stream_blocks(GriffinLimStream(n_fft=N_FFT, hop=HOP, iterations=16), target, block)
    offline = griffin_lim(target, n_fft=N_FFT, hop=HOP, iterations=16, seed=0)
    assert streamed.shape == offline.shape
    assert convergence(target, streamed) <= 1.2 * convergence(target, offline)

    # naive block-by-block: each block of frames inverted on its own, then concatenated
    naive = torch.cat(
        [
            griffin_lim(target[..., s : s + block + 1], n_fft=N_FFT, hop=HOP, iterations=16)
            for s in range(0, frames - 1, block)
        ],
        dim=-1,
    )[..., : streamed.shape[-1]]
    joins = np.arange(block, frames - 1, block)  # frames centred on a block join

    def join_ratio(audio: torch.Tensor) -> float:
        errors = frame_errors(target, audio)
        return float(np.median(errors[joins]) / np.median(np.delete(errors, joins)))

    assert join_ratio(naive) > 2.5  # a click spreads over the whole spectrum of its frame
    assert join_ratio(streamed) < 1.3


def test_stream_with_blocks_shorter_than_the_lookahead(drums: torch.Tensor) -> None:
    target = magnitude(drums[..., : SR // 2], N_FFT, HOP)
    stream = GriffinLimStream(n_fft=N_FFT, hop=HOP, iterations=4, lookahead=3)
    streamed = stream_blocks(stream, target, block=1)
    assert streamed.shape[-1] == (target.shape[-1] - 1) * HOP
    assert convergence(target, streamed) < 0.3
    assert stream.flush().numel() == 0  # flush resets: nothing left
