"""The LightningModule that trains any autoencoding family on reconstruction.

The model (a plain `nn.Module` from `timbrespace.models`) returns an output with `audio`
(or, for models that predict spectra, `audio=None` with `log_magnitude` and
`target_log_magnitude`, scored by `FrameSpectrumLoss`), `regularization` (already weighted by its bottleneck, e.g. β·KL) and optional `descriptors`
(the joint linear head). The loss is the multi-resolution STFT loss (attack-weighted for clip
models, whose clips start at an onset; plain for continuous chunks), plus the
regularization, plus `descriptor_weight` × masked MSE of the head against standardised targets,
plus, for decoders with an explicit pitch (`output.f0`, the ddsp synth), `f0_weight` × the absolute
error in octaves against the cache's f0 curve on voiced frames (`batch["f0_curve"]`).
With `adversarial_after` > 0, a waveform family trains against multi-scale / multi-period
discriminators (hinge loss + feature matching, `timbrespace.losses.adversarial`) from that
step on; the discriminators update inside the training step with their own optimizer, so a step
is still one generator update. With `precision` "bf16" (or "auto" on a CPU with AMX) the one-shot encoder's conv stack runs in
bfloat16 while training (`timbrespace.train.precision`); everything else stays float32.
"""

from __future__ import annotations

import math

import lightning as L
import torch
from lightning.pytorch.callbacks import Timer
from typing_extensions import override

from timbrespace.errors import TimbrespaceError
from timbrespace.losses.adversarial import (
    Discriminators,
    discriminator_hinge,
    feature_matching,
    generator_hinge,
)
from timbrespace.losses.spectral import DEFAULT_EPS, FrameSpectrumLoss, ReconstructionLoss
from timbrespace.models.base import ConfiguredModel, SpectrumOutput, WaveformOutput
from timbrespace.train.config import TrainConfig
from timbrespace.train.precision import autocast_conv_stacks
from timbrespace.train.targets import masked_mse


def clip_pitch(f0_curve: torch.Tensor) -> torch.Tensor:
    """Each clip's median voiced f0 `[batch]` (Hz; NaN where no frame is voiced) of f0 curves
    `[batch, frames]` (Hz, NaN or ≤ 0 where unvoiced)."""
    voiced = torch.where(f0_curve > 0, f0_curve, torch.nan)
    return torch.nanmedian(voiced, dim=1).values


class NonFiniteLossError(TimbrespaceError):
    """The loss became NaN or infinite; the run stops and keeps its last good checkpoint."""


def f0_loss(
    f0: torch.Tensor,
    hop: int,
    target: torch.Tensor,
    target_hop: int,
    base_pitch: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean absolute error in octaves between a predicted pitch `[batch, channels, frames]` (Hz,
    frame i at sample i·hop) and a target curve `[batch, target_frames]` (Hz, frame j at sample
    j·target_hop, NaN where unvoiced), on the target's voiced frames: absolute, not squared, so
    a note 30 cents out pulls as hard per frame as a kick's sweep 2 semitones out (squared, the
    kicks' large errors set a shared glide that left a 469-step demo model's plucks 60 cents
    sharp, 200 cents over their first 50 ms). With no voiced frame the
    loss is a zero that still reaches every pitch parameter, so that all DDP ranks reduce the
    same gradients whatever their batch holds.

    base_pitch `[batch, channels]` (octaves re 440 Hz): when given, it is also pulled towards
    each clip's median voiced pitch (squared error), so that the part of the pitch linear in the latent carries
    the note and the bend only its movement."""
    voiced = torch.isfinite(target) & (target > 0)
    if not bool(voiced.any()):
        zero = f0.sum() * 0.0
        return zero if base_pitch is None else zero + base_pitch.sum() * 0.0
    log_f0 = torch.log2(f0.mean(dim=1))
    position = torch.arange(target.shape[1], device=f0.device) * (target_hop / hop)
    position = position.clamp(max=log_f0.shape[1] - 1)
    left = position.floor().long().clamp(max=log_f0.shape[1] - 2)
    weight = (position - left).to(log_f0.dtype)
    predicted = log_f0[:, left] * (1 - weight) + log_f0[:, left + 1] * weight
    wanted = torch.log2(torch.where(voiced, target, torch.ones_like(target)))
    loss = (predicted - wanted)[voiced].abs().mean()
    if base_pitch is not None:
        has_note = voiced.any(dim=1)
        note = torch.nanmedian(torch.where(voiced, wanted, torch.nan), dim=1).values - math.log2(
            440
        )
        loss = loss + (base_pitch.mean(dim=1) - note)[has_note].square().mean()
    return loss


class ReconstructionTask(L.LightningModule):
    def __init__(
        self, model: ConfiguredModel, config: TrainConfig, *, descriptor_hop: int = 512
    ) -> None:
        super().__init__()
        self.model: ConfiguredModel = model
        self.config = config
        self.descriptor_hop = descriptor_hop
        self.reconstruction = ReconstructionLoss(
            sample_rate=model.sample_rate,
            weights={"stft": 1.0, "wave": config.wave_l1_weight, "env": config.envelope_weight},
            k=config.attack_k if model.input_kind == "clip" else 0.0,
            tau=config.attack_tau,
            eps=float(getattr(model.config, "stft_eps", DEFAULT_EPS)),
        )
        self.frame_spectrum = FrameSpectrumLoss(
            floor=float(getattr(model.config, "log_floor", 1e-5))
        )
        self.bf16_modules = autocast_conv_stacks(model, config.precision)
        self.time_progress = 0.0
        """Share of the run's time budget spent (`time_progress`), refreshed every batch."""
        self.discriminators: Discriminators | None = None
        self.discriminator_optimizer: torch.optim.Optimizer | None = None
        if config.adversarial_after > 0:
            self.discriminators = Discriminators(model.channels, config.discriminators)
            self.discriminator_optimizer = torch.optim.AdamW(
                self.discriminators.parameters(), lr=config.discriminator_lr, betas=(0.5, 0.9)
            )
            self.strict_loading = False  # a run may turn the phase on when it resumes

    @property
    def adversarial_phase(self) -> bool:
        """Whether this step trains against the discriminators."""
        after = self.config.adversarial_after
        return self.discriminators is not None and self.global_step >= after

    @override
    def on_train_start(self) -> None:
        if self.discriminators is not None and self.trainer.world_size > 1:
            raise TimbrespaceError(
                "the adversarial phase (adversarial_after) trains on one device; drop --devices "
                "or set adversarial_after=0"
            )

    @override
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self.discriminator_optimizer is not None:
            checkpoint["discriminator_optimizer"] = self.discriminator_optimizer.state_dict()

    @override
    def on_load_checkpoint(self, checkpoint: dict) -> None:
        saved = checkpoint.get("discriminator_optimizer")
        if saved is not None and self.discriminator_optimizer is not None:
            self.discriminator_optimizer.load_state_dict(saved)

    def _losses(
        self, batch: dict[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], WaveformOutput | SpectrumOutput]:
        target = batch["audio"]
        if self.model.input_kind == "notes":  # a note model reads its labels too
            output = self.model(target, batch["note"], self.global_step)
        elif getattr(self.model, "takes_pitch", False) and "f0_curve" in batch:
            output = self.model(target, clip_pitch(batch["f0_curve"]))
        else:
            output = self.model(target)
        if isinstance(output, WaveformOutput):
            target = target if output.target is None else output.target
            valid = output.valid_samples or target.shape[-1]
            terms = dict(self.reconstruction(output.audio[..., :valid], target[..., :valid]))
            predicted, wanted = output.frames_log_magnitude, output.target_frames_log_magnitude
            if predicted is not None and wanted is not None:
                frames = self.frame_spectrum(predicted, wanted)
                terms["loss"] = terms["loss"] + frames.pop("loss")
                terms.update(frames)
        elif isinstance(output, SpectrumOutput):
            terms = self.frame_spectrum(output.log_magnitude, output.target_log_magnitude)
        else:
            raise TypeError(f"{type(output).__name__}: not a WaveformOutput or SpectrumOutput")
        total = terms.pop("loss") + output.regularization
        terms["reg/loss"] = output.regularization.detach()
        terms.update({f"reg/{name}": value.detach() for name, value in output.logs.items()})
        prediction = output.descriptors_pred
        if prediction is not None and self.config.descriptor_weight > 0:
            head = masked_mse(prediction, batch["targets"])
            terms["desc/loss"] = head.detach()
            total = total + self.config.descriptor_weight * head
        if output.f0 is not None and "f0_curve" in batch and self.config.f0_weight > 0:
            pitch = f0_loss(
                output.f0, output.f0_hop, batch["f0_curve"], self.descriptor_hop, output.base_pitch
            )
            terms["f0/loss"] = pitch.detach()
            total = total + self.config.f0_weight * pitch
        terms["loss"] = total
        return terms, output

    def _adversarial(
        self, fake: torch.Tensor, real: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """One discriminator update on `real` vs `fake` audio `[batch, channels, samples]`, then
        the generator's adversarial and feature-matching terms (logged) and their weighted sum."""
        assert self.discriminators is not None and self.discriminator_optimizer is not None
        real_features = self.discriminators(real)
        d_loss = discriminator_hinge(real_features, self.discriminators(fake.detach()))
        self.discriminator_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        self.discriminator_optimizer.step()
        with torch.no_grad():
            real_features = self.discriminators(real)
        fake_features = self.discriminators(fake)
        g_loss = generator_hinge(fake_features)
        matching = feature_matching(real_features, fake_features)
        terms = {
            "adv/discriminator": d_loss.detach(),
            "adv/generator": g_loss.detach(),
            "adv/feature_matching": matching.detach(),
        }
        config = self.config
        return terms, config.adversarial_weight * g_loss + config.feature_matching_weight * matching

    @override
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        terms, output = self._losses(batch)
        if self.adversarial_phase and isinstance(output, WaveformOutput):
            real = batch["audio"] if output.target is None else output.target
            valid = output.valid_samples or real.shape[-1]
            adversarial, extra = self._adversarial(output.audio[..., :valid], real[..., :valid])
            terms.update(adversarial)
            terms["loss"] = terms["loss"] + extra
        loss = terms["loss"]
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"loss became {loss.item()} at step {self.global_step}; training stopped, the last "
                "good checkpoint is kept (lower --lr, or resume with --resume)"
            )
        self.log_dict(
            {f"train/{k}": v.detach() for k, v in terms.items()},
            prog_bar=False,
            batch_size=batch["audio"].shape[0],
        )
        self.log("loss", loss.detach(), prog_bar=True, logger=False)
        return loss

    @override
    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        terms, _ = self._losses(batch)
        self.log_dict(
            {f"val/{k}": v.detach() for k, v in terms.items()},
            sync_dist=True,
            batch_size=batch["audio"].shape[0],
        )

    @override
    def on_train_batch_start(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.time_progress = time_progress(self.trainer, self.config.max_minutes)

    @override
    def configure_optimizers(self):  # noqa: ANN201 - Lightning's union return type
        optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=self.config.learning_rate, weight_decay=0.0
        )
        total = max(1, self.config.max_steps)

        def factor(step: int) -> float:
            return cosine_factor(max(step / total, self.time_progress), self.config.lr_min_factor)

        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def cosine_factor(progress: float, floor: float) -> float:
    """The learning rate's multiplier at `progress` (0 → 1, the share of the run's budget
    spent; clamped): a half cosine from 1 down to `floor`."""
    progress = min(1.0, max(0.0, progress))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def time_progress(trainer: L.Trainer, minutes: float | None) -> float:
    """The share of a budget of `minutes` of training spent (0 without one), as rank 0 measures
    it: every rank must set the same learning rate. Lightning's `Timer` (there when the trainer
    has a `max_time`) keeps the time of earlier sessions of a resumed run."""
    timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)  # type: ignore[attr-defined]
    if timer is None or not minutes:
        return 0.0
    return float(trainer.strategy.broadcast(timer.time_elapsed() / (60.0 * minutes), src=0))
