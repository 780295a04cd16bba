"""The one-shot model's DDSP decoder (`OneShotConfig.synth = "ddsp"`): a latent point →
frame-rate synth controls → harmonic oscillators plus filtered noise (Engel et al. 2020), with a
`TransientHead` for the sample-exact onset.

    audio, controls = decoder.synthesise(z)  # z [batch, latent_dim] → audio, SynthControls
    audio == decoder(z)

The pitch is `w·z + b` octaves plus a bend of at most ±`PITCH_BEND_OCTAVES` whose mean,
weighted by the harmonic level, is zero (`centred_bend`): explicit, continuous and linear in the
latent, and the base pitch is the sound's level-weighted mean pitch, so a reconstruction tuned
to its source's pitch is in tune whatever the bend learned, and a pitch slider transposes
exactly. The DSP itself is `timbrespace.audio.synth`, testable without training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
from torch import nn

from timbrespace.audio.synth import (
    control_frames,
    exp_sigmoid,
    filtered_noise,
    frames_to_blocks,
    harmonic_synth,
)
from timbrespace.models.layers import (
    SubPixelUpsample,
    init_layer,
    make_activation,
    residual_stack,
)
from timbrespace.models.oneshot_bend import GlideBend
from timbrespace.models.oneshot_envelope import (
    EnvelopeReadouts,
    cap_after_peak,
    fade_in,
    frame_level,
    hold_before,
    level_peak,
    release_gate,
    stretch_after_peak,
    stretched_positions,
)
from timbrespace.models.oneshot_gain import GAIN_DB_PER_UNIT, GainStage, apply_gain
from timbrespace.models.oneshot_partials import PARTIAL_FIELDS, OneShotPartials, PartialControls
from timbrespace.models.oneshot_tilt import TiltStage, spectral_tilt

PITCH_BEND_OCTAVES = 2.0
"""Largest pitch bend over time, in octaves either side of the latent's base pitch."""
PITCH_BENDS = ("frames", "glides")
"""The bend's forms: one value per control frame from the head, or decaying glides."""


@dataclass
class SynthControls:
    """Frame-rate controls of the ddsp decoder, per audio channel: f0 `[batch, channels, frames]`
    (Hz), harmonics `[batch, channels, n_harmonics, frames]` and noise
    `[batch, channels, noise_bands, frames]` (linear amplitudes)."""

    f0: torch.Tensor
    harmonics: torch.Tensor
    noise: torch.Tensor
    base_pitch: torch.Tensor
    """`[batch, channels]` in octaves re 440 Hz: the part of the pitch linear in the latent."""
    partials: PartialControls | None = None
    """Chord voices or free partials at ratios of the base pitch (`OneShotPartials`), or None."""
    envelope: dict[str, torch.Tensor] = field(default_factory=dict)
    """`EnvelopeReadouts.values` `[batch]` each (release stretch, attack), or empty."""
    readout_pitch: torch.Tensor | None = None
    """`[batch, channels]`: the latent's own base pitch (octaves re 440 Hz) where a given
    pitch replaced it in `base_pitch` (training on the input's measured pitch), else None."""


class OneShotSynthDecoder(nn.Module):
    """Latent `[batch, latent_dim]` -> DDSP controls -> audio `[batch, channels, clip_samples]`.

    A dense layer gives `[synth_widths[0], frames0]`; per stage, residual dilated blocks and a
    sub-pixel upsampling conv reach the control rate (one frame per `hop` samples); a last
    residual stack and a 1×1 conv give, per channel, a pitch bend, a harmonic level and
    distribution (softmax) and noise band gains (`exp_sigmoid`, as in DDSP). The pitch is
    `440 · 2^(w·z + b + 2·tanh(bend) − c)` Hz, clamped to `f0_range`, where `c` makes the bend's
    mean weighted by the harmonic level zero (`centred_bend`; 0 in bundles from before): a base
    pitch *linear in the latent* plus a bend over time (a kick's sweep), so moving the latent
    along `w` transposes the sound by exactly that many octaves. Audio = harmonic oscillators +
    filtered noise (`timbrespace.audio.synth`): pitch is an explicit output, so it moves
    continuously instead of snapping to the harmonics of the decoder's frame rate.
    Noise is seeded per call in eval mode, so a latent always decodes to the same sound.
    `harmonic_rolloff`: the harmonics start with amplitudes ∝ 1/k^rolloff (0: all equal);
    `bend_octaves`: the largest bend either side of the base pitch.
    Measured on GM notes with the pitch given (the fader family): from equal amplitudes the
    harmonic level fell to ~1e-6 within 20 steps and never came back (all noise); from 1/k²
    it stayed at ~0.2 and the first loss was 1.35 instead of 2.0.
    """

    def __init__(
        self,
        channels: int = 1,
        sample_rate: int = 44100,
        clip_samples: int = 44100,
        latent_dim: int = 24,
        hop: int = 128,
        n_harmonics: int = 48,
        noise_bands: int = 64,
        widths: tuple[int, ...] = (256, 192, 128, 96),
        strides: tuple[int, ...] = (4, 4, 4),
        res_blocks: tuple[int, ...] = (1, 2, 2, 1),
        kernel_size: int = 7,
        upsample_kernel_size: int = 3,
        dilations: tuple[int, ...] = (1, 3, 9),
        activation: str = "leaky_relu",
        use_weight_norm: bool = True,
        f0_range: tuple[float, float] = (20.0, 4000.0),
        transient_samples: int = 0,
        noise_seed: int = 0,
        centred_bend: bool = True,
        smooth_controls: bool = True,
        smooth_bend: bool = False,
        partials: str = "none",
        n_partials: int = 32,
        n_voices: int = 3,
        voice_harmonics: int = 16,
        harmonic_rolloff: float = 0.0,
        bend_octaves: float = PITCH_BEND_OCTAVES,
        pitch_bend: str = "frames",
        envelope: tuple[str, ...] = (),
        release_reference: float = 0.25,
    ) -> None:
        super().__init__()
        self.transient = TransientHead(latent_dim, channels, transient_samples)
        self.channels, self.sample_rate, self.clip_samples = channels, sample_rate, clip_samples
        self.hop, self.n_harmonics, self.noise_bands = hop, n_harmonics, noise_bands
        self.octave_range = (math.log2(f0_range[0] / 440.0), math.log2(f0_range[1] / 440.0))
        self.pitch = nn.Linear(latent_dim, channels)
        with torch.no_grad():
            self.pitch.weight.mul_(0.1)
            self.pitch.bias.fill_(math.log2(200.0 / 440.0))
        self.noise_seed = noise_seed
        self.bend_octaves = bend_octaves
        self.centred_bend = centred_bend
        self.smooth_controls = smooth_controls
        self.bend_period = strides[-1] if smooth_bend and strides else 1
        self.frames = control_frames(clip_samples, hop)
        self.frames0 = math.ceil(self.frames / math.prod(strides))
        if pitch_bend not in PITCH_BENDS:
            raise ValueError(f"pitch_bend must be one of {PITCH_BENDS}, got {pitch_bend!r}")
        self.glides = (
            GlideBend(latent_dim, channels, self.frames, hop, sample_rate)
            if pitch_bend == "glides"
            else None
        )
        """The bend as decaying glides (`models.oneshot_bend`), or None: the head's channel 0."""
        self.width0 = widths[0]
        self.dense = init_layer(nn.Linear(latent_dim, widths[0] * self.frames0))
        layers: list[nn.Module] = []
        for i, stride in enumerate(strides):
            layers += residual_stack(
                widths[i], res_blocks[i], kernel_size, dilations, activation, use_weight_norm
            )
            layers += [
                make_activation(activation),
                SubPixelUpsample(
                    widths[i],
                    widths[i + 1],
                    stride,
                    upsample_kernel_size,
                    gain=1.0,
                    use_weight_norm=use_weight_norm,
                ),
            ]
        layers += residual_stack(
            widths[-1], res_blocks[-1], kernel_size, dilations, activation, use_weight_norm
        )
        layers.append(make_activation(activation))
        self.net = nn.Sequential(*layers)
        per_channel = 2 + n_harmonics + noise_bands
        self.head = nn.Conv1d(widths[-1], channels * per_channel, 1)
        with torch.no_grad():
            self.head.weight.mul_(0.1)
            assert self.head.bias is not None  # nn.Conv1d's default bias=True
            bias = self.head.bias.view(channels, per_channel)
            bias.zero_()
            bias[:, 1] = -1.0  # harmonic level starts quiet
            bias[:, 2 + n_harmonics :] = -5.0  # noise starts quieter still (DDSP's init)
            harmonic = torch.arange(1, n_harmonics + 1, dtype=bias.dtype)
            bias[:, 2 : 2 + n_harmonics] = -harmonic_rolloff * torch.log(harmonic)
        self.envelope = (
            EnvelopeReadouts(latent_dim, envelope, release_reference) if envelope else None
        )
        """Release stretch and attack ramp linear in the latent (`models.oneshot_envelope`)."""
        self.film: nn.Module | None = None
        """A module `(features [batch, width, frames], z [batch, latent_dim]) → features` applied
        before the head (a conditioned family's FiLM), or None."""
        self.spectrum: nn.Module | None = None
        """A module `(z [batch, latent_dim], base pitch [batch, channels] octaves) → [batch,
        channels, 2 + n_harmonics + noise_bands]` added to the head's logits (a conditioned
        family's `ConditionedSpectrum`), or None."""
        self.partials = OneShotPartials(
            partials, latent_dim=latent_dim, width=widths[-1], channels=channels,
            sample_rate=sample_rate, clip_samples=clip_samples, hop=hop, n_partials=n_partials,
            n_voices=n_voices, voice_harmonics=voice_harmonics, octave_range=self.octave_range,
        )  # fmt: skip

    def controls(self, z: torch.Tensor, pitch_hz: torch.Tensor | None = None) -> SynthControls:
        """Frame-rate controls for latents `[batch, latent_dim]`; `pitch_hz` `[batch]` (Hz, NaN:
        the latent's own): a base pitch that replaces the latent's (training on the input's
        measured pitch, so the harmonics are learned around the true f0 from the first step)."""
        envelope: dict[str, torch.Tensor] = {}
        if self.envelope is not None:
            envelope, z = self.envelope.split(z)
        h = self.dense(z).view(z.shape[0], self.width0, self.frames0)
        features = self.net(h)[..., : self.frames]
        if self.smooth_controls:
            features = smooth_frames(features)
        if self.film is not None:
            features = self.film(features, z)
        raw = self.head(features).view(z.shape[0], self.channels, -1, self.frames)
        readout = base = self.pitch(z)
        if self.spectrum is not None:
            raw = raw + self.spectrum(z, base)[..., None]
        raw_bend = raw[:, :, 0]  # the pitch bend is not stretched: a kick's sweep keeps its time
        gate = peak = None
        if "release" in envelope or "attack" in envelope:
            noise = exp_sigmoid(raw[:, :, 2 + self.n_harmonics :])
            peak = level_peak(frame_level(exp_sigmoid(raw[:, :, 1:2]), noise))
        if "release" in envelope and self.envelope is not None and peak is not None:
            # the head is a 1×1 convolution: stretching its output equals running it again
            # on the stretched features; the partials read the features themselves
            stretch = envelope["release"]
            raw = stretch_after_peak(raw.flatten(1, 2), peak, stretch).view_as(raw)
            if self.partials.kind != "none":
                features = stretch_after_peak(features, peak, stretch)
            position = stretched_positions(self.frames, peak, envelope["release"])
            reference = self.envelope.release_reference * self.sample_rate / self.hop
            gate = release_gate(position, peak, reference)[:, None, None, :]
        if pitch_hz is not None:
            given = torch.log2(pitch_hz.to(base.dtype) / 440.0)[:, None].expand_as(base)
            base = torch.where(torch.isfinite(given), given, base)
        level = exp_sigmoid(raw[:, :, 1:2])
        noise = exp_sigmoid(raw[:, :, 2 + self.n_harmonics :])
        if "attack" in envelope and peak is not None:  # the fade-in is the whole attack
            level, noise = hold_before(level, peak), hold_before(noise, peak)
            cap = cap_after_peak(frame_level(level, noise), peak)
            level, noise = level * cap[:, :, None], noise * cap[:, :, None]
        if gate is not None:
            level, noise = level * gate, noise * gate
        pitch_weight = self.pitch.weight  # the pitch direction the latent is read along
        if self.envelope is not None:
            pitch_weight = self.envelope.without(pitch_weight)
        if self.glides is not None:
            raw_bend = self.glides(z, pitch_weight)
        else:
            raw_bend = null_period(raw_bend, self.bend_period)
        bend = self.bend_octaves * torch.tanh(raw_bend)
        if self.centred_bend:  # centred on what is heard
            bend = bend - centre_of(bend, level[:, :, 0].detach())
        f0 = 440.0 * torch.exp2((base[..., None] + bend).clamp(*self.octave_range))
        distribution = torch.softmax(raw[:, :, 2 : 2 + self.n_harmonics], dim=2)
        partials = self.partials.controls(z, features, pitch_weight)
        if gate is not None and partials is not None:
            partials = PartialControls(partials.ratios, partials.amplitudes * gate)
        return SynthControls(
            f0, level * distribution, noise, base, partials, envelope,
            None if pitch_hz is None else readout,
        )  # fmt: skip

    def render(self, controls: SynthControls) -> torch.Tensor:
        """Audio `[batch, channels, clip_samples]` from `controls`."""
        batch, channels, frames = controls.f0.shape
        generator = None
        if not self.training:
            generator = torch.Generator(device=controls.f0.device).manual_seed(self.noise_seed)
        harmonic = harmonic_synth(
            controls.f0.reshape(batch * channels, frames),
            controls.harmonics.reshape(batch * channels, self.n_harmonics, frames),
            sample_rate=self.sample_rate,
            samples=self.clip_samples,
            hop=self.hop,
        )
        gains = controls.noise.reshape(batch * channels, self.noise_bands, frames)
        # the filter's STFT window (4 hops) would smear a drum's attack: filter with the
        # spectral shape only and apply the level per sample, at the control rate's resolution
        level = gains.mean(dim=1)
        shaped = filtered_noise(
            gains / level.clamp_min(1e-12)[:, None],
            samples=self.clip_samples,
            hop=self.hop,
            generator=generator,
            distinct_rows=None if generator is None else channels,
        )
        envelope = frames_to_blocks(level, self.hop).reshape(batch * channels, -1)
        noise = shaped * envelope[:, : self.clip_samples]
        partials = self.partials.render(controls.partials, controls.base_pitch)
        return (harmonic + noise + partials).view(batch, channels, self.clip_samples)

    def synthesise(
        self, z: torch.Tensor, pitch_hz: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, SynthControls]:
        """Audio `[batch, channels, clip_samples]` of latents `[batch, latent_dim]` (and
        `pitch_hz`, see `controls`), and the controls it was rendered from."""
        controls = self.controls(z, pitch_hz)
        rest = z if self.envelope is None else self.envelope.without(z)
        audio = self.transient.add_to(self.render(controls), rest)
        if "tilt" in controls.envelope:  # before the fade-in, which then stays exact
            audio = spectral_tilt(audio, controls.envelope["tilt"], self.sample_rate)
        if "attack" in controls.envelope:
            ramp = fade_in(self.clip_samples, controls.envelope["attack"].exp(), self.sample_rate)
            audio = audio * ramp[:, None, :]
        if "gain" in controls.envelope:  # last: a level only
            audio = apply_gain(audio, GAIN_DB_PER_UNIT * controls.envelope["gain"])
        return audio, controls

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.synthesise(z)[0]

    def attack_fade(self, samples: int, attack_s: torch.Tensor) -> torch.Tensor | None:
        """The fade-in gains `[n, samples]` `synthesise` multiplies its render by at attacks
        `attack_s` `[n]` (s), set by the attack readout and nothing else; None without one."""
        if self.envelope is None or "attack" not in self.envelope.names:
            return None
        return fade_in(samples, attack_s.double(), self.sample_rate)

    def tilt_stage(self) -> TiltStage | None:
        """The spectral tilt `synthesise` applies before its fade-in (`models.oneshot_tilt`),
        or None without the tilt readout."""
        found = None if self.envelope is None else self.envelope.tilt_readout()
        if found is None:
            return None
        return TiltStage(*found, partial(spectral_tilt, sample_rate=self.sample_rate))

    def gain_stage(self) -> GainStage | None:
        """The gain `synthesise` applies last (`models.oneshot_gain`), or None without the
        gain readout."""
        found = None if self.envelope is None else self.envelope.gain_readout()
        return None if found is None else GainStage(*found)


def synth_decoder_from(cfg: Any, inputs: int, **options: Any) -> OneShotSynthDecoder:
    """The DDSP decoder of a config with the one-shot's synth fields, reading `inputs` numbers
    per sound (the latent, and a conditioned family's conditions); `options`: the decoder's
    other arguments."""
    return OneShotSynthDecoder(
        channels=cfg.channels,
        sample_rate=cfg.sample_rate,
        clip_samples=cfg.clip_samples,
        latent_dim=inputs,
        hop=cfg.hop,
        n_harmonics=cfg.n_harmonics,
        noise_bands=cfg.noise_bands,
        widths=cfg.synth_widths,
        strides=cfg.synth_strides,
        res_blocks=cfg.synth_res_blocks,
        kernel_size=cfg.kernel_size,
        upsample_kernel_size=cfg.upsample_kernel_size,
        dilations=cfg.dilations,
        activation=cfg.activation,
        use_weight_norm=cfg.weight_norm,
        f0_range=cfg.f0_range,
        transient_samples=round(cfg.transient_ms * cfg.sample_rate / 1000),
        **options,
    )


def oneshot_options(cfg: Any) -> dict[str, Any]:
    """The decoder options of a `OneShotConfig` beyond `synth_decoder_from`'s shared fields:
    the bend's centring and smoothing, the control smoothing, the harmonics' start, partials."""
    return {
        "centred_bend": cfg.centred_bend,
        "smooth_controls": cfg.smooth_controls,
        "smooth_bend": smooth_bend_for(cfg.sample_rate, cfg.smooth_bend),
        "pitch_bend": cfg.pitch_bend,
        "harmonic_rolloff": rolloff_for(cfg.sample_rate, cfg.harmonic_rolloff),
        "envelope": envelope_names(cfg.envelope)
        + (("tilt",) if cfg.tilt else ())
        + (("gain",) if cfg.gain else ()),
        "release_reference": cfg.release_reference,
        **{name: getattr(cfg, name) for name in PARTIAL_FIELDS},
    }


def envelope_names(envelope: str) -> tuple[str, ...]:
    """The readouts of an `OneShotConfig.envelope` setting (one of `ENVELOPES`)."""
    return {"none": (), "release": ("release",), "attack": ("attack",)}.get(
        envelope, ("release", "attack")
    )


def rolloff_for(sample_rate: int, rolloff: float | None = None) -> float:
    """The harmonics' starting rolloff (`rolloff` when given): 0 (all equal) up to 32 kHz,
    1 above. Measured on the demo pack (`small`, seed 0): at 44.1 kHz with all equal, the
    harmonic part held < 1 % of the plucks' energy after 1, 4 and 12 minutes (an all-noise model,
    out of tune by construction), and 68–98 % with 1/k; at 22.05 kHz, 1/k cost 8 points of the
    MR-STFT gain over PCA (46 % → 38 %) and 1/k² 12 points, so equal stays there."""
    if rolloff is not None:
        return float(rolloff)
    return 1.0 if sample_rate > 32000 else 0.0


def smooth_bend_for(sample_rate: int, smooth_bend: bool | None = None) -> bool:
    """Whether the bend is smoothed by `null_period` (`smooth_bend` when given): above 32 kHz.
    Measured on `timbrespace demo` (`small`, 4 min): at 44.1 kHz it took the period-4 vibrato
    of far pitch moves from 100–250 cents to under 10, the plucks' tuning within ±50 cents
    (pyin) from 60 % to 100 % and the slider p95 from 60 to 32 ms; at 22.05 kHz, where no such
    vibrato shows on plucks, two runs with it drifted more over the note (median 10 and 18 cents
    between the first third and the whole, against 2–3 in three runs without; pluck tuning 21
    and 26 cents against 0.6), so it stays off there."""
    if smooth_bend is not None:
        return bool(smooth_bend)
    return sample_rate > 32000


def smooth_frames(features: torch.Tensor) -> torch.Tensor:
    """Features `[batch, channels, frames]` filtered over time by [¼, ½, ¼] (edges repeated):
    the sub-pixel upsampling leaves every other control frame louder than its neighbours, an
    amplitude modulation at half the control rate (172 Hz at 22.05 kHz) that a pitch tracker
    hears as the note; this filter's gain there is exactly zero."""
    padded = torch.nn.functional.pad(features, (1, 1), mode="replicate")
    return 0.25 * padded[..., :-2] + 0.5 * padded[..., 1:-1] + 0.25 * padded[..., 2:]


def null_period(curve: torch.Tensor, period: int) -> torch.Tensor:
    """`curve` `[..., frames]` smoothed by a symmetric moving average whose gain is exactly zero
    at every frequency with a period dividing `period` frames (`period` frames, then [½, ½] when
    even; edges repeated); 1 returns it as it is. The bend's pattern repeating every `period`
    frames (the last sub-pixel upsampling's stride) is a frequency modulation at the control
    rate / `period` (86 Hz at 44.1 kHz): measured on the 44.1 kHz demo model, ±1–4 semitones far
    from the data, which a pitch tracker hears as a note two octaves down."""
    if period <= 1:
        return curve
    taps = torch.ones(period, dtype=curve.dtype, device=curve.device) / period
    if period % 2 == 0:
        taps = torch.nn.functional.pad(taps, (0, 1)) / 2 + torch.nn.functional.pad(taps, (1, 0)) / 2
    half = (taps.numel() - 1) // 2
    flat = curve.reshape(-1, 1, curve.shape[-1])
    padded = torch.nn.functional.pad(flat, (half, half), mode="replicate")
    return torch.nn.functional.conv1d(padded, taps.view(1, 1, -1)).reshape(curve.shape)


def centre_of(curve: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted mean over the last axis, kept as a length-1 axis: `[..., frames]` → `[..., 1]`
    (the plain mean where every weight is zero)."""
    total = weight.sum(dim=-1, keepdim=True)
    weighted = (curve * weight).sum(dim=-1, keepdim=True) / total.clamp_min(1e-12)
    return torch.where(total > 0, weighted, curve.mean(dim=-1, keepdim=True))


class TransientHead(nn.Module):
    """The first `samples` samples of a sound as a linear function of the latent, faded out
    by a half cosine: the sample-exact onset (a click, a stick, a pick) that a synth driven at
    a ~3 ms control rate smears. `samples = 0` adds nothing."""

    def __init__(self, latent_dim: int, channels: int, samples: int) -> None:
        super().__init__()
        self.channels, self.samples = channels, samples
        if samples > 0:
            self.linear = nn.Linear(latent_dim, channels * samples)
            with torch.no_grad():
                self.linear.weight.mul_(0.01)
                self.linear.bias.zero_()
            fade = 0.5 * (1 + torch.cos(torch.linspace(0, math.pi, samples)))
            self.register_buffer("fade", fade, persistent=False)

    def add_to(self, audio: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """`audio [batch, channels, samples]` plus the transient of `z [batch, latent_dim]`."""
        if self.samples == 0:
            return audio
        onset = self.linear(z).view(z.shape[0], self.channels, self.samples) * self.fade
        return torch.cat([audio[..., : self.samples] + onset, audio[..., self.samples :]], dim=-1)
