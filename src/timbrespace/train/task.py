"""The LightningModule that trains any autoencoding family on reconstruction.

The model (a plain `nn.Module` from `timbrespace.models`) returns an output with `audio`,
`regularization` (already weighted by its bottleneck, e.g. β·KL) and optional `descriptors`
(the joint linear head). The loss is the attack-weighted multi-resolution STFT loss, plus the
regularization, plus `descriptor_weight` × masked MSE of the head against standardised targets.
"""

from __future__ import annotations

import math

import lightning as L
import torch
from typing_extensions import override

from timbrespace.errors import TimbrespaceError
from timbrespace.losses.spectral import ReconstructionLoss
from timbrespace.train.config import TrainConfig
from timbrespace.train.targets import masked_mse


class NonFiniteLossError(TimbrespaceError):
    """The loss became NaN or infinite; the run stops and keeps its last good checkpoint."""


class ReconstructionTask(L.LightningModule):
    def __init__(self, model: torch.nn.Module, config: TrainConfig) -> None:
        super().__init__()
        self.model = model
        self.config = config
        self.reconstruction = ReconstructionLoss(
            sample_rate=model.sample_rate,
            weights={"stft": 1.0, "wave": config.wave_l1_weight, "env": config.envelope_weight},
            k=config.attack_k,
            tau=config.attack_tau,
        )

    def _losses(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        target = batch["audio"]
        output = self.model(target)
        terms = dict(self.reconstruction(output.audio, target))
        total = terms.pop("loss") + output.regularization
        terms["reg/loss"] = output.regularization.detach()
        prediction = output.descriptors_pred
        if prediction is not None and self.config.descriptor_weight > 0:
            head = masked_mse(prediction, batch["targets"])
            terms["desc/loss"] = head.detach()
            total = total + self.config.descriptor_weight * head
        terms["loss"] = total
        return terms

    @override
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        terms = self._losses(batch)
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
        terms = self._losses(batch)
        self.log_dict(
            {f"val/{k}": v.detach() for k, v in terms.items()},
            sync_dist=True,
            batch_size=batch["audio"].shape[0],
        )

    @override
    def configure_optimizers(self):  # noqa: ANN201 - Lightning's union return type
        optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=self.config.learning_rate, weight_decay=0.0
        )
        floor = self.config.lr_min_factor
        total = max(1, self.config.max_steps)

        def cosine(step: int) -> float:
            progress = min(1.0, step / total)
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
