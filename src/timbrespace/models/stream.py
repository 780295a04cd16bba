"""Streaming waveform VAE: a causal autoencoder of the waveform that runs block by block.

    audio [batch, channels, samples]                      (samples a multiple of `hop`)
      → causal frames of `n_fft` samples every `hop` → log |rFFT|   (frame k ends at (k+1)·hop)
      → causal dilated conv stack → VAE bottleneck → z [batch, latent_dim, samples // hop]
        (channel 0 of z is not learned: the frame's loudness, (dB re full scale + 50) / 25)
      → causal dilated conv stack → per frame a spectral shape (log-magnitude per bin),
        scaled to the loudness of channel 0, with phases locked to its peaks (`stream_phase`)
      → inverse rFFT × Hann window → overlap-add → audio [batch, channels, frames · hop]

Nothing looks ahead, so the stream needs no lookahead buffer: frame k is encoded and decoded as
soon as its hop has arrived, and a sample is finished once every window over it has been added,
`delay_samples = n_fft − hop` later (8.7 ms at 44.1 kHz for the `small` preset). The decoder is an
iSTFT head (Vocos, Siuzdenko et al. 2023): the network runs at the frame rate, which makes it
cheap enough for 128-sample blocks on one CPU thread; the phase is made causally from the
decoded magnitudes (a phase vocoder), not by Griffin-Lim iterations. Training scores the
waveform (multi-resolution STFT) and the decoded frames (`frame_loss`). Older bundles, with a
decoded phase and no loudness scaling, load with those settings (`legacy` below).

Streaming state is a flat list of tensors (`init_state(batch)`), taken and returned by
`encode_block`, `decode_block` and `forward_block`; `encode` and `decode` are the same block
functions run once from the zero state, so streamed and offline outputs agree: the blocks of
`forward_block`, joined, from sample `delay_samples` on equal `decode(encode(x))` up to its last
`delay_samples` (float rounding aside).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from timbrespace.models.base import (
    ConfigError,
    ConfiguredModel,
    ExportBlocks,
    InputKind,
    LatentKind,
    WaveformOutput,
    register_family,
)
from timbrespace.models.bottleneck import Bottleneck, build_bottleneck
from timbrespace.models.causal import BlockFunctions, CausalStack, causal_frames, overlap_add
from timbrespace.models.layers import check_common_fields
from timbrespace.models.stream_phase import accumulate_phase, locked_phase

State = list[torch.Tensor]
LOUDNESS_FLOOR = 1e-10
"""Power floor of the loudness channel (−100 dB)."""
LOUDNESS_CEILING = 2.24
"""Largest loudness a frame is scaled to, in the channel's units ((6 dB + 50) / 25): a latent
far outside the data cannot blow up."""
PHASE_MODES = ("free", "advance", "locked")
INITIAL_SCALE = -5.0
"""A VAE encoder starts with std ≈ softplus(−5) ≈ 0.007: the decoder learns from clean latents
first, and the KL widens them as training goes."""


@dataclass
class StreamModelConfig:
    """Hyper-parameters of the streaming waveform VAE; the defaults are the `small` preset.

    `hop`: samples per latent frame (the compression); `n_fft`: the analysis and synthesis
    window in samples (a multiple of `hop`, at least 2 hops; the delay is `n_fft − hop`).
    `encoder_dilations` / `decoder_dilations`: one causal residual unit each (kernel
    `kernel_size`), on `encoder_width` / `decoder_width` channels. `beta`: weight of the KL,
    summed over latent channels and frames. `max_log_magnitude`: the decoder's log-magnitude is
    bounded (tanh) to ± this, so a latent far outside the data cannot blow up. `clip_samples`:
    the training chunk (any length can be streamed)."""

    sample_rate: int = 44100
    channels: int = 1
    clip_samples: int = 22016
    latent_dim: int = 16
    hop: int = 128
    n_fft: int = 512
    encoder_width: int = 128
    encoder_dilations: tuple[int, ...] = (1,)
    decoder_width: int = 192
    decoder_dilations: tuple[int, ...] = (1, 4)
    kernel_size: int = 3
    activation: str = "leaky_relu"
    bottleneck: str = "vae"
    beta: float = 1e-5
    log_floor: float = 1e-5
    max_log_magnitude: float = 8.0
    train_samples: int = 8192
    """Samples of each clip a training step reconstructs, from a random start (0: all). The
    receptive field is far shorter than a clip, and 3× more steps per minute beat longer
    windows (a step on 1 s at 22.05 kHz: 190 ms; on 8192 samples: 70 ms)."""
    loudness_latent: bool = True
    """Latent channel 0 is the input frame's loudness (dB re full scale, (dB + 50) / 25), measured,
    not learned: the other `latent_dim − 1` channels carry the timbre, and a transfer keeps the
    input's loudness envelope by construction."""
    loudness_gain: bool = True
    """The decoder outputs each frame's spectral shape only, and the frame is scaled to the
    power that latent channel 0 names (needs `loudness_latent`): the rendering's frame loudness
    follows channel 0 whatever the other channels hold, so a transfer of sounds unlike the
    training data (drums through a melody model) keeps its envelope, and a loudness of −20 dB
    on the latent renders a −20 dB frame."""
    phase: str = "locked"
    """How each frame's phase is made (`models/stream_phase.py`): "free", the decoder outputs it;
    "advance", the decoder outputs a deviation from each bin's own advance over a hop, summed
    from frame to frame (a phase vocoder); "locked", from the decoded magnitudes alone (a phase
    vocoder locked to the spectral peaks), so the decoder outputs magnitudes only."""
    frame_loss: bool = True
    """Training also scores the frames the decoder synthesises against the input's frames
    (log-magnitude L1 + spectral convergence, the spectral family's loss), next to the
    waveform's multi-resolution STFT loss: magnitudes learn at the frame rate, as in the
    spectral family, and a locked phase keeps the rendered frames close to them."""
    n_descriptors: int = 0

    def __post_init__(self) -> None:
        if self.phase not in PHASE_MODES:
            raise ConfigError(f"phase must be one of {', '.join(PHASE_MODES)}, got {self.phase!r}")
        if self.hop < 1 or self.n_fft % self.hop or self.n_fft < 2 * self.hop:
            raise ConfigError(
                f"n_fft must be a multiple of hop and at least 2 hops, got n_fft={self.n_fft}, "
                f"hop={self.hop}"
            )
        check_common_fields(
            self, ("latent_dim", "channels", "sample_rate", "encoder_width", "decoder_width")
        )
        if (
            self.kernel_size < 1
            or min((*self.encoder_dilations, *self.decoder_dilations), default=1) < 1
        ):
            raise ConfigError("kernel_size and every dilation must be >= 1")
        if self.loudness_gain and self.max_log_magnitude > 40:
            raise ConfigError("loudness_gain needs max_log_magnitude <= 40 (float32 power)")
        if self.loudness_gain and not self.loudness_latent:
            raise ConfigError("loudness_gain needs loudness_latent (latent channel 0)")
        if self.clip_samples < self.hop:
            raise ConfigError(f"clip_samples must be >= hop ({self.hop}), got {self.clip_samples}")


STREAM_PRESETS: dict[str, dict] = {
    "tiny": {
        "sample_rate": 22050,
        "latent_dim": 8,
        "hop": 64,
        "n_fft": 256,
        "clip_samples": 8192,
        "encoder_width": 48,
        "encoder_dilations": (1, 2),
        "decoder_width": 64,
        "decoder_dilations": (1, 2),
    },
    "small": {},
    "full": {
        "sample_rate": 48000,
        "latent_dim": 32,
        "hop": 256,
        "n_fft": 1024,
        "clip_samples": 65536,
        "encoder_width": 384,
        "encoder_dilations": (1, 2, 4, 8),
        "decoder_width": 768,
        "decoder_dilations": (1, 2, 4, 8, 1, 2, 4, 8),
    },
}


def stream_analysis(
    x: torch.Tensor,
    past: torch.Tensor,
    window: torch.Tensor,
    n_fft: int,
    hop: int,
    log_floor: float,
    measured: bool,
    power_floor: float,
    loudness_offset: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Audio `[batch, channels, k·hop]` with the `n_fft − hop` samples before it (`past`) →
    log-magnitude rows `[batch, k, channels·bins]`, the measured loudness channel `[batch, 1,
    k]` (`[batch, 0, k]` unless `measured`) and the new past."""
    frames, past = causal_frames(x, past, n_fft, hop)
    # float64: a bin near the floor moves its log by 1e-7 / log_floor when a float32 FFT rounds
    # differently, which would make the latent depend on the FFT library (ONNX Runtime's)
    spectrum = torch.fft.rfft((frames * window).double(), dim=-1).abs()
    features = torch.log(spectrum + log_floor).to(x.dtype)  # [b, c, frames, bins]
    batch, channels, count, bins = features.shape
    rows = features.transpose(1, 2).reshape(batch, count, channels * bins)
    if not measured:
        return rows, features.new_zeros(batch, 0, count), past
    power = spectrum.square().mean(dim=(1, 3))[:, None]  # [batch, 1, frames]
    return rows, (torch.log10(power + power_floor) * 0.4 + loudness_offset).to(x.dtype), past


def scale_to_loudness(
    log_magnitude: torch.Tensor,
    loudness: torch.Tensor,
    log_power_offset: float,
    ceiling: float = LOUDNESS_CEILING,  # an argument: TorchScript reads no global
) -> torch.Tensor:
    """Log-magnitudes `[batch, channels, frames, bins]` (natural log) shifted per frame so that
    `log(mean over channels and bins of |·|²) = loudness · ln(10) / 0.4 + log_power_offset`,
    the loudness `[batch, frames]` in the loudness channel's units (clamped to `ceiling`)."""
    wanted = loudness.clamp(max=ceiling) * (math.log(10.0) / 0.4) + log_power_offset
    power = torch.log(torch.exp(2.0 * log_magnitude).mean(dim=(1, 3)))  # bounded: no overflow
    return log_magnitude + (0.5 * (wanted - power))[:, None, :, None]


def stream_synthesis(
    out: torch.Tensor,
    tail: torch.Tensor,
    synthesis_window: torch.Tensor,
    channels: int,
    hop: int,
    max_log_magnitude: float,
    previous_phase: torch.Tensor | None = None,
    phase_mode: int = 0,
    loudness: torch.Tensor | None = None,
    log_power_offset: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Decoder rows `[batch, k, channels·parts·bins]` → audio `[batch, channels, k·hop]`
    overlap-added onto `tail` `[batch, channels, n_fft − hop]`, the new tail, the new running
    phase `[batch, channels, bins]` (None for a free phase) and the frames' log-magnitudes
    `[batch, channels, k, bins]` (natural log of what the inverse FFT is given). Per bin the
    rows hold a bounded log-magnitude and (`phase_mode` 0, free) the phase or (1, advance) a
    phase deviation; with `phase_mode` 2 (locked) only the log-magnitude, the phase being made
    from the magnitudes (`stream_phase`). `previous_phase` is the running phase of the modes 1
    and 2. With a `loudness` `[batch, k]` the log-magnitudes are a shape, scaled per frame to
    it (`scale_to_loudness`)."""
    n_fft = int(synthesis_window.shape[0])
    bins = n_fft // 2 + 1
    parts = 1 if phase_mode == 2 else 2
    batch, count = out.shape[0], out.shape[1]
    out = out.reshape(batch, count, channels, parts, bins).permute(0, 2, 3, 1, 4)
    log_magnitude = max_log_magnitude * torch.tanh(out[:, :, 0] / max_log_magnitude)
    if loudness is not None:
        log_magnitude = scale_to_loudness(log_magnitude, loudness, log_power_offset)
    magnitude = torch.exp(log_magnitude)
    last_phase: torch.Tensor | None = None
    if phase_mode == 2 and previous_phase is not None:
        phase, last_phase = locked_phase(log_magnitude, previous_phase, hop, n_fft)
    elif phase_mode == 1 and previous_phase is not None:
        phase, last_phase = accumulate_phase(out[:, :, 1], previous_phase, hop, n_fft)
    else:
        phase = out[:, :, parts - 1]
    # the inverse real FFT reads only the real part of the DC and Nyquist bins
    frames = torch.fft.irfft(torch.polar(magnitude, phase), n=n_fft, dim=-1) * synthesis_window
    audio, new_tail = overlap_add(frames, tail, hop)
    return audio, new_tail, last_phase, log_magnitude


class StreamingVAE(BlockFunctions, ConfiguredModel):
    """The streaming waveform VAE; follows `timbrespace.models.base.LatentModel` with
    `hop_length = hop` (one latent frame per hop of audio)."""

    label: ClassVar[str] = "streaming"
    latent_kind: ClassVar[LatentKind] = "path"
    input_kind: ClassVar[InputKind] = "continuous"
    streaming: ClassVar[bool] = True
    window: torch.Tensor
    synthesis_window: torch.Tensor

    def __init__(self, config: StreamModelConfig | None = None) -> None:
        super().__init__()
        cfg = config if config is not None else StreamModelConfig()
        self._config = cfg
        self.bins = cfg.n_fft // 2 + 1
        bottleneck_kwargs = {"beta": cfg.beta} if cfg.bottleneck == "vae" else {}
        self.measured = 1 if cfg.loudness_latent else 0
        self.phase_mode = PHASE_MODES.index(cfg.phase)
        self.running_phase = 1 if self.phase_mode > 0 else 0
        self.bottleneck: Bottleneck = build_bottleneck(
            cfg.bottleneck, cfg.latent_dim - self.measured, **bottleneck_kwargs
        )
        self.encoder = CausalStack(
            cfg.channels * self.bins,
            cfg.encoder_width,
            self.bottleneck.input_dim,
            cfg.encoder_dilations,
            cfg.kernel_size,
            cfg.activation,
        )
        self.decoder = CausalStack(
            cfg.latent_dim,
            cfg.decoder_width,
            cfg.channels * (1 if cfg.phase == "locked" else 2) * self.bins,
            cfg.decoder_dilations,
            cfg.kernel_size,
            cfg.activation,
        )
        with torch.no_grad():
            self.decoder.output.weight.mul_(0.1)
            if self.bottleneck.input_multiplier == 2:  # a VAE starts with little sampling noise
                learned = self.bottleneck.latent_dim
                self.encoder.output.weight[learned:].mul_(0.1)
                self.encoder.output.bias[learned:].fill_(INITIAL_SCALE)
        window = torch.hann_window(cfg.n_fft, periodic=True)
        self.register_buffer("window", window, persistent=False)
        window_power = 3 * cfg.n_fft / 8  # Σ hann² of a periodic Hann window
        self.power_floor = LOUDNESS_FLOOR * window_power
        self.loudness_offset = 2.0 - 0.4 * math.log10(window_power)
        """(10·log10(power / Σw² + floor) + 50) / 25 = 0.4·log10(power + Σw²·floor) + this."""
        synthesis_window = window / (cfg.n_fft / (2 * cfg.hop))
        self.register_buffer("synthesis_window", synthesis_window, persistent=False)
        self.frame_gain = window_power / (cfg.n_fft / (2 * cfg.hop)) / cfg.hop  # Σ w·w_s / hop
        """A synthesised frame's magnitudes × this = the same frame analysed in the output."""
        self.log_power_offset = -math.log(10.0) / 0.4 * self.loudness_offset - 2 * math.log(
            self.frame_gain
        )
        """`scale_to_loudness` offset: a frame scaled to loudness l analyses at loudness l."""
        self.loudness_gain = cfg.loudness_gain
        self.descriptor_head: nn.Linear | None = (
            nn.Linear(cfg.latent_dim, cfg.n_descriptors) if cfg.n_descriptors > 0 else None
        )

    # ---- LatentModel -----------------------------------------------------------------------

    @property
    def hop_length(self) -> int:
        return self._config.hop

    @property
    def delay_samples(self) -> int:
        """Samples between a sample entering the stream and its rendering leaving it."""
        return self._config.n_fft - self._config.hop

    def latent_frames(self, samples: int) -> int:
        """Frames of `samples` of audio (the last hop zero-padded when incomplete)."""
        return max(1, math.ceil(int(samples) / self.hop_length))

    def decoded_samples(self, frames: int) -> int:
        return int(frames) * self.hop_length

    # ---- streaming state -------------------------------------------------------------------

    def init_encoder_state(self, batch: int = 1) -> State:
        """Zero state of the encoder: the `n_fft − hop` past samples `[batch, channels, ·]`,
        then one tensor per causal unit."""
        device = self.window.device
        past = torch.zeros(
            batch, self.channels, self._config.n_fft - self.hop_length, device=device
        )
        return [past, *self.encoder.init_state(batch, device)]

    def init_decoder_state(self, batch: int = 1) -> State:
        """Zero state of the decoder: one tensor per causal unit, the running phase `[batch,
        channels, bins]` unless the phase is free, then the overlap-add tail `[batch, channels,
        n_fft − hop]`."""
        device = self.window.device
        overlap = self._config.n_fft - self.hop_length
        tail = torch.zeros(batch, self.channels, overlap, device=device)
        phase = [torch.zeros(batch, self.channels, self.bins, device=device)] * self.running_phase
        return [*self.decoder.init_state(batch, device), *phase, tail]

    def init_state(self, batch: int = 1) -> State:
        """Encoder state then decoder state, for `forward_block`."""
        return [*self.init_encoder_state(batch), *self.init_decoder_state(batch)]

    @property
    def encoder_state_size(self) -> int:
        return 1 + len(self.encoder.units)

    # ---- block functions -------------------------------------------------------------------

    def _features(
        self, x: torch.Tensor, past: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Log-magnitude rows `[batch, frames, channels·bins]`, the loudness latent channel
        `[batch, 1, frames]` (empty without `loudness_latent`) and the new past samples."""
        cfg = self._config
        return stream_analysis(
            x, past, self.window, cfg.n_fft, cfg.hop, cfg.log_floor, self.measured > 0,
            self.power_floor, self.loudness_offset,
        )  # fmt: skip

    def _encode_block(
        self, x: torch.Tensor, state: State
    ) -> tuple[torch.Tensor, torch.Tensor, State, torch.Tensor]:
        """Latent (sampled in training), regularization, new state, analysed rows."""
        rows, loudness, past = self._features(x, state[0])
        h, units = self.encoder(rows, state[1:])
        out = self.bottleneck(h.transpose(1, 2))
        return torch.cat([loudness, out.z], dim=1), out.regularization, [past, *units], rows

    def encode_block(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Audio block `[batch, channels, k·hop]` → latent `[batch, latent_dim, k]` (the mean of
        a VAE, as `encode` in eval mode), new state."""
        self.check_block(int(x.shape[-1]))
        rows, loudness, past = self._features(self.check_audio(x), state[0])
        h, units = self.encoder(rows, state[1:])
        z = torch.cat([loudness, self.bottleneck.mean(h.transpose(1, 2))], dim=1)
        return z, [past, *units]

    def decode_block(self, z: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Latent block `[batch, latent_dim, k]` → audio `[batch, channels, k·hop]` (delayed by
        `delay_samples`), new state."""
        audio, state, _ = self._synthesise(z, state)
        return audio, state

    def _synthesise(
        self, z: torch.Tensor, state: State
    ) -> tuple[torch.Tensor, State, torch.Tensor]:
        """`decode_block`, and the frames' log-magnitudes `[batch, channels, k, bins]`."""
        cfg = self._config
        units_in = len(self.decoder.units)
        out, units = self.decoder(z.transpose(1, 2), state[:units_in])
        audio, tail, phase, log_magnitude = stream_synthesis(
            out, state[-1], self.synthesis_window, cfg.channels, cfg.hop, cfg.max_log_magnitude,
            state[units_in] if self.running_phase else None, self.phase_mode,
            z[:, 0] if self.loudness_gain else None, self.log_power_offset,
        )  # fmt: skip
        return audio, [*units, *([phase] if phase is not None else []), tail], log_magnitude

    def export_blocks(self, block: int = 0) -> ExportBlocks:
        """Any block length that is a multiple of the hop: `block` is not used."""
        from timbrespace.models.stream_blocks import StreamBlocks

        return StreamBlocks(self).eval()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Audio `[batch, channels, samples]` → latent path `[batch, latent_dim, ⌈samples /
        hop⌉]` (VAE: the mean in eval mode); frame k summarises samples up to (k + 1)·hop."""
        x = self._pad(self.check_audio(x).float())
        z, _, _, _ = self._encode_block(x, self.init_encoder_state(x.shape[0]))
        return z

    def decode(
        self, z: torch.Tensor, cond: torch.Tensor | None = None, *, gla_iters: int | None = None
    ) -> torch.Tensor:
        """Latent path `[batch, latent_dim, frames]` → audio `[batch, channels, frames·hop]`,
        aligned with the encoded input (the last `delay_samples` hold only the windows that
        reach them). Not bounded: clamp when writing."""
        if cond is not None:
            raise ValueError("the streaming model takes no conditioning; pass cond=None")
        if z.dim() != 3 or z.shape[1] != self.latent_dim:
            raise ValueError(
                f"expected latent [batch, {self.latent_dim}, frames], got shape {tuple(z.shape)}"
            )
        return self._decode_whole(z.float())[0]

    def _decode_whole(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`decode` from the zero state, and the synthesised frames' log-magnitudes `[batch,
        channels, frames, bins]` (natural log of what the inverse FFT is given)."""
        audio, state, log_magnitude = self._synthesise(z, self.init_decoder_state(z.shape[0]))
        whole = torch.cat([audio, state[-1]], dim=-1)[..., self.delay_samples :]
        return whole, log_magnitude

    def predict_descriptors(self, z: torch.Tensor) -> torch.Tensor | None:
        """Linear head on the frame-averaged latent → `[batch, n_descriptors]`, or None."""
        if self.descriptor_head is None:
            return None
        return self.descriptor_head(z.mean(dim=2))

    def forward(self, x: torch.Tensor) -> WaveformOutput:
        """Training pass on `[batch, channels, samples]` (in training mode on a random crop of
        `train_samples` of each clip, returned as `target`): the reconstruction aligned with
        its input; the last `delay_samples` miss the windows of frames after the end, so the
        trainer scores `valid_samples` only."""
        source = self.check_audio(x).float()
        keep = self._config.train_samples
        crop = None
        if self.training and 0 < keep < source.shape[-1]:
            starts = torch.randint(0, source.shape[-1] - keep + 1, (source.shape[0], 1, 1))
            index = starts.to(source.device) + torch.arange(keep, device=source.device)
            source = crop = torch.gather(source, -1, index.expand(-1, source.shape[1], -1))
        audio = self._pad(source)
        z, regularization, _, rows = self._encode_block(audio, self.init_encoder_state(len(x)))
        decoded, frames = self._decode_whole(z)
        predicted = target_frames = None
        if self._config.frame_loss:
            batch, count = rows.shape[0], rows.shape[1]
            target_frames = rows.reshape(batch, count, self.channels, self.bins).permute(0, 2, 3, 1)
            floor = self._config.log_floor
            predicted = torch.log(frames.exp() * self.frame_gain + floor).transpose(2, 3)
        return WaveformOutput(
            audio=decoded[..., : source.shape[-1]],
            z=z,
            regularization=regularization,
            descriptors_pred=self.predict_descriptors(z),
            valid_samples=max(self.hop_length, int(source.shape[-1]) - self.delay_samples),
            target=crop,
            frames_log_magnitude=predicted,
            target_frames_log_magnitude=target_frames,
        )


register_family(
    "stream",
    StreamModelConfig,
    StreamingVAE,
    presets=STREAM_PRESETS,
    legacy={
        "loudness_latent": False,
        "train_samples": 0,
        "loudness_gain": False,
        "phase": "free",
        "frame_loss": False,
    },
)
