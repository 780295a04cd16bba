"""DDSP instrument (Engel et al. 2020): f0 and loudness in, a harmonic-plus-noise synth with a
learned reverb out, causal so it streams.

    audio [batch, 1, samples]                                       (samples: a multiple of hop)
      → causal frames ending at each hop → f0 (YIN, or CREPE-tiny), voicing, A-weighted loudness
      → latent path z [batch, 3 + z_dim, frames]: channel 0 the pitch (MIDI number, unvoiced
        frames hold the last voiced pitch), 1 the loudness (dB re a full-scale sine), 2 the
        voicing (tracker confidence, 0..1), then an optional timbre latent
      → MLP → GRU → MLP → harmonic amplitudes (× a voicing gate), noise band gains
      → harmonic oscillators + filtered noise (`audio.synth`) → + learned reverb (bypassable)

The features are measured, not learned: a MIDI file, a drawn curve or another instrument's
recording gives the same three channels (`encode` is the one tracker, used at training and at
play time). Frame k's controls are reached at the end of hop k (the synth ramps from frame
k − 1), so nothing looks ahead: a stream adds no delay to `decode(encode(x))`
(`delay_samples == 0`); the f0 estimate trails its input by the tracker's window
(`tracker_lag_samples`).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

from timbrespace.audio.pitch import (
    PitchSettings,
    a_weighting_table,
    causal_frames,
    hold_voiced,
    loudness_frames,
    yin_frames,
)
from timbrespace.audio.synth import (
    convolution_size,
    convolve_block,
    exp_sigmoid,
    fir_noise_block,
    harmonic_block,
    noise_table,
    partition_spectra,
    partitioned_block,
)
from timbrespace.models.base import (
    ConfiguredModel,
    ExportBlocks,
    InputKind,
    LatentKind,
    WaveformOutput,
    register_family,
)
from timbrespace.models.causal import BlockFunctions, CausalStack
from timbrespace.models.ddsp_config import (
    DDSP_PRESETS,
    FEATURES,
    LOUDNESS,
    MIN_DB,
    NOISE_SAMPLES,
    PITCH,
    VOICED,
    VOICING,
    DdspConfig,
    decaying_noise,
    hz_to_midi,
    midi_to_hz,
    update_ranges,
    voicing_gate,
)

State = list[torch.Tensor]
CHUNK_FRAMES = 512
"""Offline renders run as a stream of blocks of this many frames (the same result): a whole
minute's `[harmonics, samples]` would not fit in a cache (35 s: 42× → 75× real time)."""
EXPORT_BLOCK = 128
"""Samples per block of an export by default (rounded up to a whole number of hops)."""


def _mlp(inputs: int, width: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inputs, width),
        nn.LayerNorm(width),
        nn.LeakyReLU(0.2),
        nn.Linear(width, width),
        nn.LayerNorm(width),
        nn.LeakyReLU(0.2),
    )


class DdspInstrument(BlockFunctions, ConfiguredModel):
    """The DDSP instrument; follows `timbrespace.models.base.LatentModel` and
    `StreamingModel` with `hop_length = hop`. Condition "reverb": the wet level `[batch]`
    (1 = as trained, 0 = dry)."""

    label: ClassVar[str] = "ddsp"
    latent_kind: ClassVar[LatentKind] = "path"
    input_kind: ClassVar[InputKind] = "f0_loudness"
    conditions: ClassVar[tuple[str, ...]] = ("reverb",)
    streaming: ClassVar[bool] = True
    a_weights: torch.Tensor
    noise: torch.Tensor
    pitch_range: torch.Tensor
    loudness_range: torch.Tensor

    def __init__(self, config: DdspConfig | None = None) -> None:
        super().__init__()
        cfg = config if config is not None else DdspConfig()
        self._config = cfg
        self.pitch = PitchSettings(cfg.sample_rate, cfg.hop, cfg.fmin, cfg.fmax)
        self.frame_length = max(self.pitch.frame_length, self._crepe_length())
        self.register_buffer(
            "a_weights", a_weighting_table(cfg.sample_rate, self.pitch.loudness_length), False
        )
        self.register_buffer("noise", noise_table(NOISE_SAMPLES), persistent=False)
        self.register_buffer("pitch_range", torch.full((2,), math.nan))
        """5th and 95th percentiles of the voiced pitch seen in training (MIDI numbers)."""
        self.register_buffer("loudness_range", torch.full((2,), math.nan))
        """5th and 95th percentiles of the voiced loudness seen in training (dB)."""
        inputs = FEATURES + cfg.z_dim
        self.input_mlp = _mlp(inputs, cfg.hidden_width)
        self.gru: nn.GRU | None = None
        self.stack: CausalStack | None = None
        if cfg.network == "gru":
            self.gru = nn.GRU(cfg.hidden_width, cfg.gru_width, batch_first=True)
            recurrent = cfg.gru_width
        else:
            self.stack = CausalStack(
                cfg.hidden_width,
                cfg.hidden_width,
                cfg.hidden_width,
                cfg.dilations,
                cfg.kernel_size,
                "leaky_relu",
            )
            recurrent = cfg.hidden_width
        self.output_mlp = _mlp(recurrent + cfg.hidden_width, cfg.hidden_width)
        self.head = nn.Linear(cfg.hidden_width, 1 + cfg.n_harmonics + cfg.noise_bands)
        self.z_encoder: nn.ModuleDict | None = None
        if cfg.z_dim:
            bins = self.pitch.loudness_length // 2 + 1
            self.z_encoder = nn.ModuleDict(
                {
                    "input": nn.Linear(bins, cfg.hidden_width),
                    "gru": nn.GRU(cfg.hidden_width, cfg.hidden_width, batch_first=True),
                    "output": nn.Linear(cfg.hidden_width, cfg.z_dim),
                }
            )
        reverb = round(cfg.reverb_seconds * cfg.sample_rate)
        self.reverb_length = reverb if reverb > 1 else 0
        self.reverb_gain = nn.Parameter(torch.tensor(-3.0))
        """The impulse's level: sigmoid of this (starts at 0.05)."""
        self.reverb_decay = nn.Parameter(torch.tensor(0.0))
        """The decay time: T60 = softplus(this) · `reverb_seconds` / 3 (starts near 0.12 s)."""
        self._reverb_spectra: dict[tuple[int, float, float], torch.Tensor] = {}

    @property
    def reverb(self) -> torch.Tensor | None:
        """The learned reverb's impulse response `[reverb_length]` (None without one); see
        `ddsp_config.decaying_noise`."""
        if not self.reverb_length:
            return None
        return decaying_noise(
            self.noise[: self.reverb_length],
            torch.sigmoid(self.reverb_gain),
            nn.functional.softplus(self.reverb_decay) * self._config.reverb_seconds / 3,
            self.sample_rate,
        )

    def train(self, mode: bool = True) -> DdspInstrument:
        self._reverb_spectra.clear()
        return super().train(mode)

    def _crepe_length(self) -> int:
        if self._config.tracker != "crepe-tiny":
            return 0
        from timbrespace.audio.crepe import crepe_frame_length

        return crepe_frame_length(self._config.sample_rate)

    # ---- LatentModel -----------------------------------------------------------------------

    @property
    def hop_length(self) -> int:
        return self._config.hop

    @property
    def latent_dim(self) -> int:
        return FEATURES + self._config.z_dim

    @property
    def delay_samples(self) -> int:
        """A stream equals `decode(encode(x))` with no delay (nothing looks ahead)."""
        return 0

    @property
    def input_latency_samples(self) -> float:
        """How late the output follows what it plays, beyond the block: the tracker's lag
        plus the noise filter's delay (half its impulse response)."""
        return self.tracker_lag_samples + (self._config.noise_bands - 1)

    @property
    def tracker_lag_samples(self) -> float:
        """How far behind its input the f0 estimate is: half the tracker's frame."""
        if self._config.tracker == "crepe-tiny":
            return self._crepe_length() / 2
        return self.pitch.lag_samples

    def latent_frames(self, samples: int) -> int:
        return max(1, math.ceil(int(samples) / self.hop_length))

    def decoded_samples(self, frames: int) -> int:
        return int(frames) * self.hop_length

    # ---- FeatureModel ------------------------------------------------------------------------

    @property
    def tracker_range(self) -> tuple[float, float]:
        return (self._config.fmin, self._config.fmax)

    def features_latent(
        self, f0: torch.Tensor, loudness: torch.Tensor, voicing: torch.Tensor
    ) -> torch.Tensor:
        """Curves `[batch, frames]` (Hz, dB, 0..1) → latent `[batch, latent_dim, frames]`
        (a timbre latent, when the model has one, at zero: its training mean is near it)."""
        features = torch.stack([hz_to_midi(f0), loudness.clamp_min(MIN_DB), voicing], dim=1)
        extra = features.new_zeros(features.shape[0], self._config.z_dim, features.shape[-1])
        return torch.cat([features.float(), extra], dim=1)

    def feature_curves(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return z[:, PITCH], z[:, LOUDNESS], z[:, VOICING]

    def shift_features(self, z: torch.Tensor, semitones: float, gain_db: float) -> torch.Tensor:
        shifted = z.clone()
        shifted[:, PITCH] += semitones
        shifted[:, LOUDNESS] = (shifted[:, LOUDNESS] + gain_db).clamp_min(MIN_DB)
        return shifted

    def trained_range(self) -> tuple[tuple[float, float], tuple[float, float]] | None:
        if bool(torch.isnan(self.pitch_range).any() | torch.isnan(self.loudness_range).any()):
            return None
        low, high = self.pitch_range.tolist()
        quiet, loud = self.loudness_range.tolist()
        return (low, high), (quiet, loud)

    # ---- features ----------------------------------------------------------------------------

    def _track(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self._config.tracker == "crepe-tiny":
            from timbrespace.audio.crepe import crepe_track

            batch, count, length = frames.shape
            f0, confidence = crepe_track(frames.reshape(-1, length), self.sample_rate)
            return f0.reshape(batch, count), confidence.reshape(batch, count)
        return yin_frames(frames, self.pitch)

    def _features(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, torch.Tensor, State]:
        """Audio `[batch, 1, k·hop]` → features `[batch, 3, k]`, the loudness frames' spectra
        `[batch, k, bins]` (for the timbre encoder, else empty), new tracker state."""
        frames, past = causal_frames(x[:, 0], state[0], self.frame_length, self.hop_length)
        with torch.no_grad():
            f0, voicing = self._track(frames)
            loudness = loudness_frames(frames, self.a_weights, self.pitch.loudness_length)
            held, last = hold_voiced(f0, voicing >= VOICED, state[1])
        pitch = hz_to_midi(held)
        features = torch.stack([pitch, loudness.clamp_min(MIN_DB), voicing], dim=1)
        spectra = frames.new_zeros(0)
        if self.z_encoder is not None:
            n_fft = self.pitch.loudness_length
            recent = frames[..., -n_fft:] * torch.hann_window(n_fft, device=frames.device)
            spectra = torch.log(torch.fft.rfft(recent, dim=-1).abs() + 1e-5)
        return features, spectra, [past, last]

    def init_encoder_state(self, batch: int = 1) -> State:
        """Zero state of the tracker: the `frame_length − hop` past samples `[batch, ·]`, the
        last voiced f0 `[batch]` (Hz; before any, the middle of the tracker's range: YIN's f0
        of silence is arbitrary and would steer the oscillator's phase), then the timbre
        encoder's GRU state."""
        device, (low, high) = self.noise.device, self.tracker_range
        past = torch.zeros(batch, self.frame_length - self.hop_length, device=device)
        state = [past, torch.full((batch,), math.sqrt(low * high), device=device)]
        if self.z_encoder is not None:
            state.append(torch.zeros(1, batch, self._config.hidden_width, device=device))
        return state

    @property
    def encoder_state_size(self) -> int:
        return 2 + (self.z_encoder is not None)

    def encode_block(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Audio block `[batch, 1, k·hop]` → latent `[batch, latent_dim, k]`, new state."""
        self.check_block(int(x.shape[-1]))
        features, spectra, tracker = self._features(self.check_audio(x).float(), state)
        if self.z_encoder is None:
            return features, tracker
        encoder = self.z_encoder
        h, hidden = encoder["gru"](encoder["input"](spectra), state[2])
        z = encoder["output"](h).transpose(1, 2)
        return torch.cat([features, z], dim=1), [*tracker, hidden]

    # ---- synthesis ---------------------------------------------------------------------------

    def init_decoder_state(self, batch: int = 1) -> State:
        """Zero state of the synth: GRU `[1, batch, gru]`, previous f0 `[batch]` (Hz; NaN:
        none yet) and harmonic amplitudes `[batch, harmonics]`, oscillator phase `[batch]`
        (float64), noise position `[batch]` (int64) and filter tail, the reverb's tail (blocks
        longer than an eighth of its impulse) or its partitioned history and previous block
        (shorter blocks; shaped by the first such block: a stream keeps one block length)."""
        cfg, device = self._config, self.noise.device
        reverb = max(0, self.reverb_length - 1)
        return [
            *self._network_state(batch),
            torch.full((batch,), math.nan, device=device),
            torch.zeros(batch, cfg.n_harmonics, device=device),
            torch.zeros(batch, dtype=torch.float64, device=device),
            torch.zeros(batch, dtype=torch.long, device=device),
            torch.zeros(batch, 2 * (cfg.noise_bands - 1) - 1, device=device),
            torch.zeros(batch, reverb, device=device),
            torch.zeros(batch, 0, 0, 2, device=device),
            torch.zeros(batch, 0, device=device),
        ]

    def _network_state(self, batch: int) -> State:
        device = self.noise.device
        if self.stack is not None:
            return self.stack.init_state(batch, device)
        return [torch.zeros(1, batch, self._config.gru_width, device=device)]

    def init_state(self, batch: int = 1) -> State:
        return [*self.init_encoder_state(batch), *self.init_decoder_state(batch)]

    def controls(
        self, z: torch.Tensor, network: State
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, State]:
        """Latent `[batch, latent_dim, k]` → f0 `[batch, k]` (Hz), harmonic amplitudes
        `[batch, harmonics, k]`, noise gains `[batch, bands, k]`, new network state."""
        cfg = self._config
        pitch, loudness, voicing = z[:, PITCH], z[:, LOUDNESS], z[:, VOICING]
        inputs = torch.stack(
            [(pitch - 60.0) / 24.0, (loudness.clamp_min(MIN_DB) + 40.0) / 20.0, voicing], dim=-1
        )
        if z.shape[1] > FEATURES:
            inputs = torch.cat([inputs, z[:, FEATURES:].transpose(1, 2)], dim=-1)
        h = self.input_mlp(inputs)
        if self.stack is not None:
            g, network = self.stack(h, network)
        else:
            assert self.gru is not None
            g, hidden = self.gru(h, network[0])
            network = [hidden]
        out = self.head(self.output_mlp(torch.cat([g, h], dim=-1))).transpose(1, 2)
        f0 = midi_to_hz(pitch)
        amplitude = exp_sigmoid(out[:, :1])
        numbers = torch.arange(1, cfg.n_harmonics + 1, device=z.device, dtype=z.dtype)
        audible = (numbers[None, :, None] * f0[:, None]) < cfg.sample_rate / 2
        distribution = exp_sigmoid(out[:, 1 : 1 + cfg.n_harmonics]) * audible
        distribution = distribution / distribution.sum(dim=1, keepdim=True).clamp_min(1e-7)
        harmonics = amplitude * distribution * voicing_gate(voicing)[:, None]
        noise = exp_sigmoid(out[:, 1 + cfg.n_harmonics :] - 5.0)
        return f0, harmonics, noise, network

    def reverb_spectrum(self, impulse: torch.Tensor, samples: int) -> torch.Tensor:
        """The impulse's spectrum for a block of `samples` (`convolve_block`): whole for long
        blocks, partitioned for short ones; kept between calls unless gradients flow."""
        length = int(impulse.shape[-1])
        if torch.is_grad_enabled():
            return torch.fft.rfft(impulse, n=convolution_size(samples, length))
        partitioned = samples * 8 <= length
        size = convolution_size(samples, length)
        key = (samples, float(self.reverb_gain), float(self.reverb_decay))
        cached = self._reverb_spectra.get(key)
        if cached is None or cached.device != impulse.device:
            cached = (
                partition_spectra(impulse, samples)
                if partitioned
                else torch.fft.rfft(impulse, n=size)
            )
            if len(self._reverb_spectra) > 8:
                self._reverb_spectra.clear()
            self._reverb_spectra[key] = cached
        return cached

    def decode_block(
        self,
        z: torch.Tensor,
        state: State,
        reverb: torch.Tensor | None = None,
        spectrum: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, State]:
        """Latent block `[batch, latent_dim, k]` → audio `[batch, 1, k·hop]`, new state;
        `reverb` `[batch]`: wet level (None: 1, as trained); `spectrum`: the reverb's
        `reverb_spectrum` for this block length when the caller keeps it."""
        hop, sample_rate = self.hop_length, self.sample_rate
        split = len(state) - 8
        network = state[:split]
        last_f0, last_amplitudes, phase, position, noise_tail = state[split : split + 5]
        reverb_tail, reverb_history, reverb_previous = state[split + 5 :]
        f0, harmonics, noise_gains, network = self.controls(z.float(), network)
        previous = torch.where(torch.isnan(last_f0), f0[:, 0], last_f0)
        f0_ramp = torch.cat([previous[:, None], f0], dim=-1)
        amplitude_ramp = torch.cat([last_amplitudes[..., None], harmonics], dim=-1)
        harmonic, phase = harmonic_block(
            f0_ramp, amplitude_ramp, phase, sample_rate=sample_rate, hop=hop
        )
        noise, position, noise_tail = fir_noise_block(
            noise_gains, self.noise, position, noise_tail, hop
        )
        dry = harmonic + noise
        audio = dry
        impulse = self.reverb
        if impulse is not None:
            if spectrum is None:
                spectrum = self.reverb_spectrum(impulse, int(dry.shape[-1]))
            if spectrum.dim() == 2:  # a short block: the stream's partitioned convolution
                wet, reverb_history, reverb_previous = partitioned_block(
                    dry, spectrum, reverb_history, reverb_previous
                )
            else:
                wet, reverb_tail = convolve_block(dry, impulse, reverb_tail, spectrum)
            level = 1.0 if reverb is None else reverb.to(dry.dtype)[:, None]
            audio = dry + level * wet
        new_state = [
            *network,
            f0[:, -1],
            harmonics[..., -1],
            phase,
            position,
            noise_tail,
            reverb_tail,
            reverb_history,
            reverb_previous,
        ]
        return audio[:, None], new_state

    def export_blocks(self, block: int = 0) -> ExportBlocks:
        """Blocks of exactly `block` samples (0: the first multiple of the hop from 128)."""
        from timbrespace.models.ddsp_blocks import DdspBlocks

        return DdspBlocks(self, block or -(-EXPORT_BLOCK // self.hop_length) * self.hop_length)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Audio `[batch, 1, samples]` → features and timbre `[batch, latent_dim,
        ⌈samples / hop⌉]` (frame k describes the samples up to (k + 1)·hop)."""
        x = self._pad(self.check_audio(x).float())
        state, parts = self.init_encoder_state(x.shape[0]), []
        step = CHUNK_FRAMES * self.hop_length
        for start in range(0, max(1, int(x.shape[-1])), step):
            z, state = self.encode_block(x[..., start : start + step], state)
            parts.append(z)
        return torch.cat(parts, dim=-1)

    def decode(
        self, z: torch.Tensor, cond: torch.Tensor | None = None, *, gla_iters: int | None = None
    ) -> torch.Tensor:
        """Latent path `[batch, latent_dim, frames]` → audio `[batch, 1, frames·hop]`; cond
        `[batch]` or `[batch, 1]`: the reverb's wet level (None: as trained). Not bounded:
        clamp when writing."""
        if z.dim() != 3 or z.shape[1] != self.latent_dim:
            raise ValueError(
                f"expected latent [batch, {self.latent_dim}, frames], got shape {tuple(z.shape)}"
            )
        level = None if cond is None else cond.reshape(z.shape[0]).float()
        state, parts = self.init_decoder_state(z.shape[0]), []
        for start in range(0, max(1, int(z.shape[-1])), CHUNK_FRAMES):
            audio, state = self.decode_block(
                z[..., start : start + CHUNK_FRAMES].float(), state, level
            )
            parts.append(audio)
        return torch.cat(parts, dim=-1)

    def forward(self, x: torch.Tensor) -> WaveformOutput:
        """Training pass on chunks `[batch, 1, samples]`: in training mode a random
        hop-aligned crop of `train_samples` (tracked with the chunk's own past before it, as a
        stream would have it) rendered from the zero synth state and returned as `target`."""
        source = self._pad(self.check_audio(x).float())
        keep, hop = self._config.train_samples, self.hop_length
        if not (self.training and 0 < keep < source.shape[-1]):
            z = self.encode(source)
            if self.training:
                with torch.no_grad():
                    update_ranges(self.pitch_range, self.loudness_range, z)
            return WaveformOutput(audio=self.decode(z), z=z, regularization=source.new_zeros(()))
        history = self.frame_length - hop
        padded = nn.functional.pad(source[:, 0], (history, 0))
        batch, device = source.shape[0], source.device
        starts = torch.randint(0, (source.shape[-1] - keep) // hop + 1, (batch, 1), device=device)
        index = starts * hop + torch.arange(history + keep, device=device)
        segment = torch.gather(padded, -1, index)
        state = self.init_encoder_state(batch)
        state[0] = segment[:, :history]
        z, _ = self.encode_block(segment[:, None, history:], state)
        with torch.no_grad():
            update_ranges(self.pitch_range, self.loudness_range, z)
        target = segment[:, None, history:]
        return WaveformOutput(
            audio=self.decode(z), z=z, regularization=source.new_zeros(()), target=target
        )


register_family("ddsp", DdspConfig, DdspInstrument, presets=DDSP_PRESETS)
