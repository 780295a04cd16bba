"""Phase reconstruction from an STFT magnitude: fast Griffin-Lim (Perraudin, Balazs & Søndergaard
2013, "A fast Griffin-Lim algorithm"), offline and block by block, batched torch on any device.

The update is `librosa.griffinlim`'s, with the same STFT conventions as `spectral.stft` (centred
frames, zero padding, periodic window). With `c = momentum / (1 + momentum)`:

    rebuilt_n = STFT(ISTFT(X_n));   X_{n+1} = M · u(rebuilt_n − c · rebuilt_{n−1}),   u(x) = x / |x|

which is Perraudin's `t_n = c_n + α (c_n − c_{n−1})` divided by `1 + α` (the scale vanishes in
`u`); momentum 0 is the original Griffin & Lim (1984) algorithm.

Spectra are kept frame-major `[batch, frames, bins]`, so one iteration is an irfft, an overlap-add
(strided adds when hop divides n_fft), a multiply by `1 / window envelope` (0 on the centring
padding), a strided framing and an rfft, all into preallocated buffers.

    audio = griffin_lim(magnitude, n_fft=2048, hop=512)          # offline
    stream = GriffinLimStream(n_fft=2048, hop=512)               # live: blocks of frames
    chunks = [stream.process(block) for block in blocks] + [stream.flush()]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional

from timbrespace import runtime
from timbrespace.audio.spectral import magnitude as stft_magnitude
from timbrespace.audio.spectral import window_tensor

EPSILON = 1e-12  # |x| floor when normalising x to a unit phasor (0 stays 0)
THREAD_CHECK_ITERATIONS = 8
ENVELOPE_FLOOR = 1e-11  # samples whose summed squared window is below this are left at 0


class _Inverter:
    """STFT synthesis and analysis on frame-major spectra `[batch, frames, n_fft // 2 + 1]` in
    padded coordinates: frame i covers padded samples `i·hop … i·hop + n_fft − 1`."""

    def __init__(
        self, n_fft: int, hop: int, window: str, device: torch.device, dtype: torch.dtype
    ) -> None:
        if n_fft < 2 or not 0 < hop <= n_fft:
            raise ValueError(f"need n_fft >= 2 and 0 < hop <= n_fft, got {n_fft}, {hop}")
        self.n_fft, self.hop = n_fft, hop
        self.window = window_tensor(window, n_fft, device=device, dtype=dtype)

    def span(self, frames: int) -> int:
        """Padded samples covered by `frames` frames."""
        return (frames - 1) * self.hop + self.n_fft

    def overlap_add(self, grains: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """Sum overlapping frames: grains `[batch, frames, n_fft]` → `[batch, span(frames)]`,
        written into `out` when given."""
        batch, count, n_fft = grains.shape
        if out is None:
            out = grains.new_empty(batch, self.span(count))
        if n_fft % self.hop == 0:
            ratio = n_fft // self.hop
            blocks = out.view(batch, count + ratio - 1, self.hop).zero_()
            parts = grains.view(batch, count, ratio, self.hop)
            for k in range(ratio):
                blocks[:, k : k + count] += parts[:, :, k]
            return out
        folded = functional.fold(
            grains.transpose(1, 2),
            output_size=(1, out.shape[-1]),
            kernel_size=(1, n_fft),
            stride=(1, self.hop),
        )
        return out.copy_(folded.view(batch, -1))

    def envelope(self, frames: int) -> torch.Tensor:
        """Overlap-added squared window `[span(frames)]`: the least-squares ISTFT's divisor."""
        squared = (self.window**2).expand(1, frames, self.n_fft)
        if self.n_fft % self.hop:  # fold needs real frames; strided adds take the expanded view
            squared = squared.contiguous()
        return self.overlap_add(squared)[0]

    def gain(self, frames: int, origin: int, start: int, stop: int) -> torch.Tensor:
        """`1 / envelope(frames)` `[span(frames)]` for a window whose first sample is at padded
        position `origin`; 0 outside padded positions `start … stop − 1` (the zeros a centred
        STFT pads with) and where the envelope vanishes."""
        envelope = self.envelope(frames)
        gain = torch.where(envelope > ENVELOPE_FLOOR, 1.0 / envelope, torch.zeros_like(envelope))
        gain[: max(0, start - origin)] = 0.0
        gain[max(0, stop - origin) :] = 0.0
        return gain

    def synthesize(self, spectrum: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
        """Least-squares ISTFT in padded coordinates: `[batch, frames, bins]` complex →
        `[batch, span(frames)]`, the windowed overlap-add of inverse FFTs times `gain`."""
        grains = torch.fft.irfft(spectrum, n=self.n_fft).mul_(self.window)
        return self.overlap_add(grains).mul_(gain)

    def iterate(
        self,
        target: torch.Tensor,
        start: torch.Tensor,
        gain: torch.Tensor,
        iterations: int,
        momentum: float,
        fixed: int = 0,
        job: runtime.Job = "batch",
    ) -> torch.Tensor:
        """Fast Griffin-Lim from the complex frames `start` `[batch, frames, bins]` towards the
        magnitudes `target` (same shape, real); gain `[span(frames)]` as `synthesize`. The first
        `fixed` frames are held at their start value. Returns the last estimate, complex.

        Torch threads follow `runtime`'s policy for `job`, re-checked every
        `THREAD_CHECK_ITERATIONS` iterations (load that arrives mid-run is met within ~10 ms)."""
        with runtime.threads(job):
            batch, frames, bins = target.shape
            rate = momentum / (1.0 + momentum)
            angles = start.clone()
            rebuilt, previous = torch.empty_like(angles), torch.empty_like(angles)
            grains = target.new_empty(batch, frames, self.n_fft)
            signal = target.new_empty(batch, self.span(frames))
            scale = torch.empty_like(target)
            held = start[:, :fixed]
            for step in range(iterations):
                if step and step % THREAD_CHECK_ITERATIONS == 0:
                    runtime.use_threads(job)
                torch.fft.irfft(angles, n=self.n_fft, out=grains)
                self.overlap_add(grains.mul_(self.window), out=signal).mul_(gain)
                torch.mul(signal.unfold(-1, self.n_fft, self.hop), self.window, out=grains)
                torch.fft.rfft(grains, out=rebuilt)
                if step == 0:
                    angles.copy_(rebuilt)
                else:
                    torch.sub(rebuilt, previous, alpha=rate, out=angles)
                # angles ← target · angles / |angles|; |x|² from the real and imaginary views is
                # several times faster than complex abs() on the CPU
                real, imag = angles.real, angles.imag
                torch.mul(real, real, out=scale).addcmul_(imag, imag).add_(EPSILON**2)
                angles.mul_(scale.rsqrt_().mul_(target))
                if fixed:
                    angles[:, :fixed] = held
                rebuilt, previous = previous, rebuilt
            return angles


def polar(magnitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """`magnitude · e^(i·phase)`, as `torch.polar` but about 2.5× faster on the CPU (its cos and
    sin are vectorised)."""
    return torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))


def random_phase(
    shape: tuple[int, ...], seed: int, device: torch.device | str | None = None
) -> torch.Tensor:
    """Uniform phases in [0, 2π) (radians, float32) from a CPU `torch.Generator` seeded with
    `seed`: the same phases on every device."""
    generator = torch.Generator().manual_seed(seed)
    return (2 * math.pi * torch.rand(shape, generator=generator)).to(device)


def _check_magnitude(magnitude: torch.Tensor, n_fft: int) -> None:
    if magnitude.dim() < 2 or magnitude.shape[-2] != n_fft // 2 + 1:
        raise ValueError(
            f"magnitude must be [..., {n_fft // 2 + 1}, frames] for n_fft={n_fft}, "
            f"got {list(magnitude.shape)}"
        )
    if not magnitude.is_floating_point():
        raise ValueError(f"magnitude must be a real floating tensor, got {magnitude.dtype}")


def griffin_lim(
    magnitude: torch.Tensor,
    *,
    n_fft: int,
    hop: int,
    iterations: int = 32,
    momentum: float = 0.99,
    initial_phase: torch.Tensor | None = None,
    seed: int = 0,
    length: int | None = None,
    window: str = "hann",
) -> torch.Tensor:
    """Fast Griffin-Lim (Perraudin et al. 2013), the update of `librosa.griffinlim`.

    magnitude `[..., n_fft // 2 + 1, frames]`: the linear |STFT| of a centred STFT
    (`spectral.magnitude`); any leading dimensions, e.g. `[batch, channels]`.
    Returns audio `[..., samples]`, `samples = length` or `(frames − 1)·hop`; length must give
    the same frame count (`1 + length // hop == frames`).

    initial_phase (radians, magnitude's shape) is the starting phase, e.g. the phase of the
    previous rendering of a sound being edited, `spectral.stft(previous_audio, n_fft, hop).angle()`;
    `torch.zeros_like(magnitude)` is librosa's `init=None`. Without it the
    start is uniform random phases seeded by `seed`. momentum 0 is the original Griffin-Lim;
    `iterations == 0` returns the ISTFT of the starting estimate. Runs on magnitude's device
    in its dtype.
    """
    _check_magnitude(magnitude, n_fft)
    if momentum < 0 or iterations < 0:
        raise ValueError(f"momentum and iterations must be >= 0, got {momentum}, {iterations}")
    lead, (bins, frames) = magnitude.shape[:-2], magnitude.shape[-2:]
    length = (frames - 1) * hop if length is None else length
    if 1 + length // hop != frames:
        raise ValueError(
            f"length {length} gives {1 + length // hop} frames at hop {hop}, not {frames}"
        )
    if initial_phase is None:
        phase = random_phase(tuple(magnitude.shape), seed, magnitude.device)
    elif initial_phase.shape != magnitude.shape:
        raise ValueError(
            f"initial_phase shape {list(initial_phase.shape)} != magnitude shape "
            f"{list(magnitude.shape)}"
        )
    else:
        phase = initial_phase
    target = magnitude.reshape(-1, bins, frames).transpose(1, 2).contiguous()
    phase = phase.to(magnitude.dtype).reshape(-1, bins, frames).transpose(1, 2)
    inverter = _Inverter(n_fft, hop, window, magnitude.device, magnitude.dtype)
    first = n_fft // 2  # padded position of the first sample
    gain = inverter.gain(frames, origin=0, start=first, stop=first + length)
    angles = inverter.iterate(target, polar(target, phase), gain, iterations, momentum)
    audio = inverter.synthesize(angles, gain)[:, first : first + length]
    audio = functional.pad(audio, (0, length - audio.shape[-1]))
    return audio.reshape(*lead, length)


def spectral_convergence(
    magnitude: torch.Tensor,
    audio: torch.Tensor,
    *,
    n_fft: int,
    hop: int,
    window: str = "hann",
) -> torch.Tensor:
    """Spectral convergence `‖ |STFT(audio)| − M ‖_F / ‖M‖_F` (0 = consistent with the target).

    magnitude M `[..., bins, frames]`; audio `[..., samples]` giving the same frame count
    (centred STFT, `1 + samples // hop == frames`). Returns `[...]`, one value per spectrogram.
    """
    rebuilt = stft_magnitude(audio, n_fft, hop, window)
    if rebuilt.shape != magnitude.shape:
        raise ValueError(
            f"audio gives a spectrogram of shape {list(rebuilt.shape)}, target is "
            f"{list(magnitude.shape)}"
        )
    error = torch.linalg.vector_norm(rebuilt - magnitude, dim=(-2, -1))
    return error / torch.linalg.vector_norm(magnitude, dim=(-2, -1))


class GriffinLimStream:
    """Griffin-Lim block by block, for live decoding: `process` takes the next magnitude frames
    `[batch, bins, frames]` and returns the audio they complete; `flush` returns the rest.

    A variant of real-time iterative spectrogram inversion with look-ahead (Zhu, Beauregard &
    Wyse 2007): each block runs fast Griffin-Lim on the last `ceil(n_fft / hop) − 1` frames
    already played, held fixed, followed by the new frames, so the new frames' phases continue
    the audio already played instead of starting afresh (which clicks at every join). New frames
    start from the previous frame's phase advanced by each bin's centre frequency
    (`2π·k·hop / n_fft` radians per frame), or from given phases. The last `lookahead` frames of
    each block stay provisional and are refined again with the next block, for `lookahead·hop`
    more samples of delay.

    Samples are overlap-added as the offline ISTFT does: the concatenated output has
    `(frames − 1)·hop` samples like `griffin_lim`, and equals the offline ISTFT when every
    frame's phase is given and `iterations == 0`. After `process` has received F frames in total
    it has returned `max(0, (F − 1)·hop − latency)` samples (see `latency`).
    """

    def __init__(
        self,
        *,
        n_fft: int,
        hop: int,
        iterations: int = 16,
        momentum: float = 0.99,
        lookahead: int = 2,
        window: str = "hann",
        seed: int = 0,
    ) -> None:
        if lookahead < 0 or iterations < 0 or momentum < 0:
            raise ValueError("lookahead, iterations and momentum must be >= 0")
        self.n_fft, self.hop, self.window = n_fft, hop, window
        self.iterations, self.momentum, self.lookahead = iterations, momentum, lookahead
        self.seed = seed
        self.context = math.ceil(n_fft / hop) - 1
        self.reset()

    @property
    def latency(self) -> int:
        """Samples by which the output lags `(frames received − 1)·hop`:
        `n_fft // 2 − hop + lookahead·hop`."""
        return self.n_fft // 2 - self.hop + self.lookahead * self.hop

    def reset(self) -> None:
        """Forget all frames and reseed: the next `process` starts a new sound."""
        self._state: _StreamState | None = None
        self._generator = torch.Generator().manual_seed(self.seed)

    def process(
        self, magnitude: torch.Tensor, initial_phase: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Next frames `[batch, n_fft // 2 + 1, frames]` (linear |STFT|) → audio
        `[batch, samples]`. initial_phase (radians, magnitude's shape) replaces the
        phase-advance start for these frames."""
        _check_magnitude(magnitude, self.n_fft)
        if magnitude.dim() != 3:
            raise ValueError(
                f"magnitude must be [batch, bins, frames], got {list(magnitude.shape)}"
            )
        if initial_phase is not None and initial_phase.shape != magnitude.shape:
            raise ValueError(
                f"initial_phase shape {list(initial_phase.shape)} != magnitude shape "
                f"{list(magnitude.shape)}"
            )
        target = magnitude.transpose(1, 2).contiguous()
        if self._state is None:
            inverter = _Inverter(self.n_fft, self.hop, self.window, target.device, target.dtype)
            empty = torch.polar(target[:, :0], target[:, :0])
            self._state = _StreamState(inverter, empty, empty, target[:, :0], 0, self.n_fft // 2)
        state = self._state
        if target.shape[0] != state.pending.shape[0]:
            raise ValueError(
                f"batch size changed from {state.pending.shape[0]} to {target.shape[0]}; "
                "call reset() first"
            )
        phase = None if initial_phase is None else initial_phase.transpose(1, 2)
        start = torch.cat([state.pending, self._start_values(state, target, phase)], dim=1)
        target = torch.cat([state.pending_target, target], dim=1)
        return self._render(state, target, start, max(0, target.shape[1] - self.lookahead))

    def flush(self) -> torch.Tensor:
        """Commit the provisional frames, return the remaining audio `[batch, samples]` up to
        the last frame's centre (where `griffin_lim` ends), and `reset`. Unlike `griffin_lim`,
        the audio is not assumed silent after that centre. `[0, 0]` if nothing was processed."""
        state = self._state
        if state is None:
            return torch.zeros(0, 0)
        frames = state.pending.shape[1]
        audio = self._render(state, state.pending_target, state.pending, frames, final=True)
        self.reset()
        return audio

    def _start_values(
        self, state: _StreamState, target: torch.Tensor, phase: torch.Tensor | None
    ) -> torch.Tensor:
        """Starting complex frames for new magnitudes `[batch, frames, bins]`: the given
        phases, or the phase advance from the latest frame (random for the very first)."""
        if phase is not None:
            return polar(target, phase.to(target.dtype))
        previous = state.pending if state.pending.shape[1] else state.committed
        if previous.shape[1] == 0:
            shape = (target.shape[0], 1, target.shape[2])
            last = 2 * math.pi * torch.rand(shape, generator=self._generator)
            last = last.to(device=target.device, dtype=target.dtype)
            first = 0
        else:
            last = torch.angle(previous[:, -1:])
            first = 1
        bins = torch.arange(target.shape[2], device=target.device, dtype=target.dtype)
        steps = torch.arange(first, first + target.shape[1], device=target.device)
        advance = (2 * math.pi * self.hop / self.n_fft) * steps.to(target.dtype)[:, None] * bins
        return polar(target, last + advance)

    def _render(
        self,
        state: _StreamState,
        target: torch.Tensor,
        start: torch.Tensor,
        keep: int,
        final: bool = False,
    ) -> torch.Tensor:
        """Iterate on [committed frames (held fixed) | new frames], commit the first `keep` new
        frames and return the audio they complete (through the last frame's centre if final)."""
        inverter, held = state.inverter, state.committed.shape[1]
        target = torch.cat([state.committed.abs(), target], dim=1)
        start = torch.cat([state.committed, start], dim=1)
        frames = target.shape[1]
        if keep == 0 and (held == 0 or not final):  # nothing to commit yet
            state.pending, state.pending_target = start[:, held:], target[:, held:]
            return target.new_empty(target.shape[0], 0)
        origin = state.first * self.hop  # padded position of the window's first sample
        gain = inverter.gain(frames, origin, self.n_fft // 2, origin + inverter.span(frames))
        iterations = self.iterations if frames > held else 0
        angles = inverter.iterate(
            target, start, gain, iterations, self.momentum, held, job="realtime"
        )
        committed = angles[:, : held + keep]
        state.pending, state.pending_target = angles[:, held + keep :], target[:, held + keep :]
        signal = inverter.synthesize(committed, gain[: inverter.span(committed.shape[1])])
        last = state.first + committed.shape[1] - 1  # index of the last committed frame
        end = last * self.hop + self.n_fft // 2 if final else (last + 1) * self.hop
        audio = signal[:, max(0, state.emitted - origin) : max(0, end - origin)]
        state.emitted = max(state.emitted, end)
        drop = max(0, committed.shape[1] - self.context)
        state.committed = committed[:, drop:]
        state.first += drop
        return audio


@dataclass
class _StreamState:
    """A stream between blocks: `committed` holds the last frames already played (complex
    `[batch, ≤ context, bins]`, held fixed), `pending` the provisional look-ahead frames and
    `pending_target` their magnitudes; `first` is the frame index of `committed[:, 0]` and
    `emitted` the padded position of the next sample to return."""

    inverter: _Inverter
    committed: torch.Tensor
    pending: torch.Tensor
    pending_target: torch.Tensor
    first: int
    emitted: int
