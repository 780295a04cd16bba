"""Attack and release by construction for the one-shot synth (`OneShotConfig.envelope`).

Each is a linear readout of the latent, as the pitch is (`EnvelopeReadouts`):
- **release**: the decoder's control frames after the level's peak are read at a stretched
  time, frame t reading the canonical frame `peak + (t − peak) / s` (linear interpolation),
  `s = 2^(w·z + b)`, and gated to silence `release_reference` canonical seconds after the
  peak (`release_gate`); the pitch bend is not stretched (stretched, a 4-minute demo model's
  small bend errors became glides of 50–80 cents over a pluck);
- **attack**: the control frames before the level's peak hold the peak's values, and the
  render is multiplied by a linear fade-in whose 10–90 % rise is `e^(w·z + b)` seconds (the
  ramp lasts that / 0.8), so the fade-in alone makes the onset (without the hold, the
  decoder's own onset added to the fade-in: a 4-minute demo model's attack-time error was
  18.8 ms against 3.2 ms with it, PCA's 5.9 ms).
The rest of the decoder sees the latent with its components along these readouts removed, so a
move along one changes the render's decay (or onset), and only that, by exactly its factor.
The gain (`models.oneshot_gain`) is a readout of the same kind.
Training pulls each readout towards the input's measured value (`envelope_release`,
`envelope_attack`): `log2 s` towards `log2(release / reference)`, so `reference · s` is the
release in seconds and the canonical frames of every sound decay in about `reference`; the
attack towards the input's rise time, so the decoder learns sounds that start at once.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
import torch
from torch import nn

from timbrespace.audio.descriptor_measures import ATTACK_HIGH, ATTACK_LOW, attack_time
from timbrespace.audio.descriptor_signal import BOUND_LIFT
from timbrespace.models.base import ConfigError
from timbrespace.models.oneshot_gain import GAIN_DB_PER_UNIT, GAIN_REFERENCE_DB, gain_target

RELEASE_FLOOR_DB = -40.0
"""The level (dB re the peak) below which a sound has ended: the release descriptor's."""
RAMP_RISE = ATTACK_HIGH - ATTACK_LOW
"""The 10–90 % rise of a linear ramp, as a fraction of its length."""
ENVELOPES = ("none", "release", "attack", "both")
"""The readouts an `OneShotConfig.envelope` setting names (`oneshot_synth.envelope_names`)."""
RELEASE_FADE = 0.1
"""The release gate fades over this fraction of the canonical release (`release_gate`)."""
PEAK_DB = 0.5
"""A frame within this many dB of the loudest counts as the peak (`level_peak`)."""
MIN_ATTACK_S = 2e-4
RELEASE_INIT_S = 0.25
ATTACK_INIT_S = 0.002


def check_envelope(envelope: str, release_reference: float, target_weight: float) -> None:
    """The envelope fields of a `OneShotConfig`: a `ConfigError` naming the wrong one."""
    if envelope not in ENVELOPES:
        raise ConfigError(
            f"OneShotConfig.envelope '{envelope}' unknown; valid: {', '.join(ENVELOPES)}"
        )
    if release_reference <= 0 or target_weight < 0:
        raise ConfigError(
            "OneShotConfig: need release_reference > 0 and envelope_target_weight >= 0"
        )


def frame_power(audio: torch.Tensor, hop: int) -> torch.Tensor:
    """Mean power of audio `[batch, channels, samples]` in frames of `hop` samples (channels
    averaged): `[batch, samples // hop]`."""
    batch, frames = audio.shape[0], audio.shape[-1] // hop
    return audio[..., : frames * hop].reshape(batch, -1, frames, hop).square().mean(dim=(1, 3))


def envelope_release(audio: torch.Tensor, hop: int, sample_rate: int) -> torch.Tensor:
    """Release time (s) of audio `[batch, channels, samples]` `[batch]`: from the peak of the
    frame-RMS envelope (frames of `hop` samples) to the end of the last frame above −40 dB re
    the peak; at least one frame (silence: one). Not differentiable (a training target)."""
    with torch.no_grad():
        power = frame_power(audio, hop)
        peak_power, peak = power.max(dim=1)
        floor = peak_power[:, None] * 10.0 ** (RELEASE_FLOOR_DB / 10.0)
        index = torch.arange(power.shape[1], device=audio.device)
        after = index[None, :] >= peak[:, None]
        above = ((power > floor) & after) | (index[None, :] == peak[:, None])
        last = torch.where(above, index[None, :], torch.zeros_like(index)[None, :]).amax(dim=1)
        return ((last - peak + 1) * hop / sample_rate).to(audio.dtype)


def envelope_attack(audio: torch.Tensor, block: int, sample_rate: int) -> torch.Tensor:
    """10–90 % rise time (s) `[batch]` of audio `[batch, channels, samples]`, as the attack
    descriptor reads it (`fine_envelope`, `descriptor_measures.attack_time`), its levels taken
    from the peak of that envelope smoothed over ~10 ms; at least `MIN_ATTACK_S`. Not
    differentiable (a target)."""
    with torch.no_grad():
        envelope = fine_envelope(audio.mean(dim=1), block)
        width = max(1, round(0.01 * sample_rate / block)) | 1
        smooth = torch.nn.functional.avg_pool1d(
            envelope[:, None], width, stride=1, padding=width // 2, count_include_pad=False
        )[:, 0]
        peaks = smooth.amax(dim=1).double().cpu().numpy()
        frames = np.arange(envelope.shape[1], dtype=np.float64)
        rises = [
            attack_time(row, frames, peak)
            for row, peak in zip(envelope.double().cpu().numpy(), peaks, strict=True)
        ]
        seconds = np.nan_to_num(np.array(rises) * block / sample_rate, nan=MIN_ATTACK_S)
        return torch.from_numpy(seconds).clamp_min(MIN_ATTACK_S).to(audio.device, audio.dtype)


def fine_envelope(mono: torch.Tensor, block: int) -> torch.Tensor:
    """Analytic-signal magnitude of `mono` `[batch, samples]` averaged over blocks of `block`
    samples `[batch, samples // block]`, bounded by the running peak of |mono| until the sound has
    started, as `audio.descriptor_signal.amplitude_envelope` computes it: the FFT is zero-padded
    by half the length, so a sound still ringing at the clip's end does not wrap into its start."""
    n = mono.shape[-1]
    n_fft = scipy.fft.next_fast_len(n + n // 2 + 1, real=True)
    spectrum = torch.fft.rfft(mono, n=n_fft)
    spectrum[:, 0] = 0
    if n_fft % 2 == 0:
        spectrum[:, -1] = 0
    quadrature = torch.fft.irfft(spectrum * -1j, n=n_fft)[:, :n]
    magnitude = torch.sqrt(mono.square() + quadrature.square())
    blocks = n // block
    means = magnitude[:, : blocks * block].reshape(mono.shape[0], blocks, block).mean(dim=-1)
    running_peak = torch.cummax(mono[:, : blocks * block].abs(), dim=1).values
    running_peak = running_peak[:, block - 1 :: block]
    started = running_peak >= BOUND_LIFT * running_peak.amax(dim=1, keepdim=True)
    return torch.where(started, means, torch.minimum(means, running_peak))


def stretched_positions(n: int, peak: torch.Tensor, log2_factor: torch.Tensor) -> torch.Tensor:
    """The canonical frame `[batch, n]` each of `n` frames reads when the part after `peak`
    `[batch]` (frame index) is stretched in time by `2^log2_factor` `[batch]`: frame t reads
    `peak + (t − peak)·2^−f`, frames up to the peak themselves (not clamped)."""
    t = torch.arange(n, device=log2_factor.device, dtype=log2_factor.dtype)[None, :]
    start = peak.to(log2_factor.dtype)[:, None]
    rate = torch.exp2(-log2_factor)[:, None]
    return torch.where(t <= start, t, start + (t - start) * rate)


def release_gate(position: torch.Tensor, peak: torch.Tensor, frames: float) -> torch.Tensor:
    """Gains `[batch, n]` that end a sound `frames` canonical frames after its `peak` `[batch]`:
    1 until `RELEASE_FADE` of that before the end, then a linear fade to 0 at the end, 0 after,
    for canonical `position`s `[batch, n]` (`stretched_positions`). A stretched render then
    ends where its release readout says, and never reads canonical frames past that end, which
    a sound still ringing at the clip's end never trained."""
    end = peak.to(position.dtype)[:, None] + frames
    return ((end - position) / (RELEASE_FADE * frames)).clamp(0.0, 1.0)


def stretch_after_peak(
    frames: torch.Tensor, peak: torch.Tensor, log2_factor: torch.Tensor
) -> torch.Tensor:
    """Frames `[batch, channels, n]` read at `stretched_positions` (linearly interpolated,
    clamped to the last frame): the part after `peak` `[batch]` stretched by `2^log2_factor`."""
    n = frames.shape[-1]
    position = stretched_positions(n, peak, log2_factor.to(frames.dtype)).clamp(0.0, n - 1.0)
    left = position.detach().floor().clamp(max=n - 2).long()
    weight = (position - left.to(frames.dtype))[:, None, :]
    index = left[:, None, :].expand(-1, frames.shape[1], -1)
    before = torch.gather(frames, 2, index)
    after = torch.gather(frames, 2, index + 1)
    return before + (after - before) * weight


def fade_in(samples: int, attack_s: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Linear fade-ins `[batch, samples]` whose 10–90 % rise is `attack_s` `[batch]` (s):
    sample i is `min((i + 1) / length, 1)`, length = attack / 0.8 in samples (at least 1)."""
    length = (attack_s * (sample_rate / RAMP_RISE)).clamp_min(1.0)[:, None]
    i = torch.arange(1, samples + 1, device=attack_s.device, dtype=attack_s.dtype)[None, :]
    return (i / length).clamp(max=1.0)


def hold_before(values: torch.Tensor, peak: torch.Tensor) -> torch.Tensor:
    """Frame values `[batch, ..., frames]` with every frame before `peak` `[batch]` set to the
    peak frame's: the decoder's own onset is flat, so the fade-in alone sets the attack."""
    shape = (values.shape[0],) + (1,) * (values.dim() - 1)
    index = peak.view(shape).expand(*values.shape[:-1], 1)
    at_peak = values.gather(-1, index)
    t = torch.arange(values.shape[-1], device=values.device).view((1,) * (values.dim() - 1) + (-1,))
    return torch.where(t < peak.view(shape), at_peak, values)


def frame_level(level: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """A control frame's loudness `[batch, channels, frames]`: the harmonic level `[batch,
    channels, 1, frames]` plus the mean noise band gain `[batch, channels, bands, frames]`."""
    return level[:, :, 0] + noise.mean(dim=2)


def cap_after_peak(level: torch.Tensor, peak: torch.Tensor) -> torch.Tensor:
    """Gains `[batch, channels, frames]` that keep levels `[batch, channels, frames]` after
    `peak` `[batch]` at most the peak frame's level (1 elsewhere): the onset is the loudest
    moment, so the attack ends where the fade-in does. Without it, a crash rendered with a flat
    sustain a hair louder later measured a 125 ms attack (true: 8.6 ms): the attack descriptor
    takes its peak wherever the smoothed envelope is highest."""
    index = peak.view(-1, 1, 1).expand(-1, level.shape[1], 1)
    at_peak = level.gather(-1, index)
    after = torch.arange(level.shape[-1], device=level.device).view(1, 1, -1) > peak.view(-1, 1, 1)
    gain = (at_peak / level.clamp_min(1e-12)).clamp(max=1.0)
    return torch.where(after, gain, torch.ones_like(gain))


def level_peak(level: torch.Tensor) -> torch.Tensor:
    """The first control frame within `PEAK_DB` of the loudest `[batch]`, of levels `[batch,
    channels, frames]` (channels summed; not differentiable): a sustained sound's peak is where
    it reaches its level, not wherever its level is largest by a hair."""
    total = level.detach().sum(dim=1)
    near = total >= total.amax(dim=-1, keepdim=True) * 10.0 ** (-PEAK_DB / 20.0)
    return near.to(torch.uint8).argmax(dim=-1)


class EnvelopeReadouts(nn.Module):
    """Release stretch and attack time as linear readouts of latents `[batch, latent_dim]`
    (see the module docstring), the spectral tilt (`models.oneshot_tilt`) and the gain
    (`models.oneshot_gain`); `names`: the ones this decoder has, of "release", "attack",
    "tilt", "gain"."""

    def __init__(self, latent_dim: int, names: tuple[str, ...], release_reference: float) -> None:
        super().__init__()
        self.names, self.release_reference = names, float(release_reference)
        self.linear = nn.Linear(latent_dim, len(names))
        with torch.no_grad():
            self.linear.weight.mul_(0.1)
            for i, name in enumerate(names):
                self.linear.bias[i] = math.log(ATTACK_INIT_S) if name == "attack" else 0.0

    def weights(self) -> torch.Tensor:
        """The readouts' weights `[readouts, latent_dim]`, made orthogonal (Gram–Schmidt in
        order, norms kept from the layer): a move along one leaves the others."""
        rows: list[torch.Tensor] = []
        for w in self.linear.weight:
            for q in rows:
                w = w - (w @ q) / (q @ q).clamp_min(1e-12) * q
            rows.append(w)
        return torch.stack(rows)

    def split(self, z: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The readouts' values of latents `[batch, latent_dim]` (per readout `[batch]`:
        "release" log2 of the stretch, "attack" ln of the rise in s, "tilt" `oneshot_tilt`'s
        readout, "gain" `oneshot_gain`'s in units of `GAIN_DB_PER_UNIT`) and `z` without its
        projection on their weights."""
        w = self.weights()
        projections = z @ w.T  # [batch, readouts]
        out = projections + self.linear.bias
        values = {name: out[:, i] for i, name in enumerate(self.names)}
        return values, z - (projections / (w * w).sum(dim=1).clamp_min(1e-12)) @ w

    def values(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per readout `[batch]`: "release" log2 of the stretch, "attack" ln of the rise (s),
        "tilt" the tilt's readout (`oneshot_tilt.tilt_slope`), "gain" the gain's (units of
        `GAIN_DB_PER_UNIT`)."""
        return self.split(z)[0]

    def without(self, z: torch.Tensor) -> torch.Tensor:
        """`z` `[batch, latent_dim]` minus its projection on the readouts' weights."""
        return self.split(z)[1]

    def readouts(self) -> dict[str, tuple[torch.Tensor, float]]:
        """Each readout as a linear function of the latent on its descriptor's scale, keyed by
        the descriptor: `{"release_time" | "attack_time": (weights [latent_dim], bias)}` in
        natural-log seconds, "loudness" in dB (the gain above the level the rest of the decoder
        is trained to render at, `GAIN_REFERENCE_DB`; not the tilt: `tilt_readout`)."""
        result = {}
        weights = self.weights().detach().double().cpu()
        for i, name in enumerate(self.names):
            w = weights[i]
            b = float(self.linear.bias.detach().double()[i])
            if name == "release":
                result["release_time"] = (
                    math.log(2.0) * w,
                    math.log(2.0) * b + math.log(self.release_reference),
                )
            elif name == "attack":
                result["attack_time"] = (w, b)
            elif name == "gain":
                result["loudness"] = (
                    GAIN_DB_PER_UNIT * w,
                    GAIN_DB_PER_UNIT * b + GAIN_REFERENCE_DB,
                )
        return result

    def tilt_readout(self) -> tuple[torch.Tensor, float] | None:
        """The tilt's readout `(weights [latent_dim], bias)` (`oneshot_tilt.tilt_slope` of
        `w·z + b` is the slope), or None without one."""
        if "tilt" not in self.names:
            return None
        i = self.names.index("tilt")
        return self.weights().detach().double().cpu()[i], float(self.linear.bias.detach()[i])

    def gain_readout(self) -> tuple[torch.Tensor, float] | None:
        """The gain's readout in dB before its soft limit `(weights [latent_dim], bias)`
        (`oneshot_gain.gain_db` of `w·z + b` is the gain), or None without one."""
        if "gain" not in self.names:
            return None
        i = self.names.index("gain")
        weights = self.weights().detach().double().cpu()[i]
        return GAIN_DB_PER_UNIT * weights, GAIN_DB_PER_UNIT * float(self.linear.bias.detach()[i])

    def target_loss(
        self, values: dict[str, torch.Tensor], audio: torch.Tensor, hop: int, sample_rate: int
    ) -> dict[str, torch.Tensor]:
        """Squared errors (octaves², ln² for the attack, `GAIN_DB_PER_UNIT`² for the gain) of
        `values` against the input audio's measured release, attack and loudness `[batch,
        channels, samples]`."""
        losses = {}
        if "release" in values:
            release = envelope_release(audio, hop, sample_rate)
            wanted = torch.log2(release.clamp_min(1e-4) / self.release_reference)
            losses["release"] = (values["release"] - wanted).square().mean()
        if "attack" in values:
            attack = envelope_attack(audio, max(1, round(0.001 * sample_rate)), sample_rate)
            losses["attack"] = (values["attack"] - attack.log()).square().mean()
        if "gain" in values:
            wanted = gain_target(audio, sample_rate).to(values["gain"])
            losses["gain"] = (values["gain"] - wanted).square().mean()
        return losses
