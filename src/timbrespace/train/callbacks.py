"""Lightning plumbing: atomic checkpoints, audio/spectrogram previews, the training thread policy."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import lightning as L
import numpy as np
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from typing_extensions import override

from timbrespace import runtime
from timbrespace.atomic import atomic_path
from timbrespace.audio.io import save_audio
from timbrespace.inference import reconstruct

if TYPE_CHECKING:
    from timbrespace.train.task import ReconstructionTask


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints are written to a temporary name and renamed: a kill never leaves half a file."""

    @override
    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None
    ) -> None:
        with atomic_path(path) as tmp:
            super().save_checkpoint(checkpoint, tmp, storage_options)


def spectrogram_image(audio: np.ndarray, n_fft: int = 1024, hop: int = 256) -> np.ndarray:
    """Log-magnitude spectrogram of `[samples]` as uint8 `[freq, frames]`, low frequencies at bottom."""
    window = np.hanning(n_fft).astype(np.float32)
    padded = np.pad(audio, (n_fft // 2, n_fft // 2))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop] * window
    magnitude = np.abs(np.fft.rfft(frames, axis=1)).T
    db = 20 * np.log10(np.maximum(magnitude, 1e-5))
    db = np.clip(db - db.max(), -80, 0)
    return ((db + 80) / 80 * 255).astype(np.uint8)[::-1]


def preview_png(target: np.ndarray, output: np.ndarray, sample_rate: int) -> bytes:
    """A PNG with the target and output waveforms and spectrograms side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 2, figsize=(9, 5), constrained_layout=True)
    time = np.arange(target.size) / sample_rate
    for column, (name, audio) in enumerate((("target", target), ("output", output))):
        axes[0, column].plot(time, audio, linewidth=0.5)
        axes[0, column].set(title=name, xlabel="time (s)", ylim=(-1, 1))
        axes[1, column].imshow(
            spectrogram_image(audio),
            aspect="auto",
            cmap="magma",
            extent=(0, time[-1], 0, sample_rate / 2000),
        )
        axes[1, column].set(xlabel="time (s)", ylabel="kHz")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    return buffer.getvalue()


class PreviewCallback(L.Callback):
    """Every `every_n_steps`, reconstruct a few fixed validation clips and log/save them.

    Writes `RUN/previews/step_XXXXXXX/{i}_target.wav, {i}_output.wav, {i}.png` and, with a
    TensorBoard logger, audio and spectrogram images. `cond`: the clips' conditions for a
    family that decodes with them (a note model's labels), else None.
    """

    def __init__(
        self,
        clips: torch.Tensor,
        out_dir: Path,
        every_n_steps: int,
        cond: torch.Tensor | None = None,
    ) -> None:
        self.clips = clips
        self.cond = cond
        self.out_dir = Path(out_dir)
        self.every_n_steps = every_n_steps

    @override
    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        step = trainer.global_step
        if not trainer.is_global_zero or self.every_n_steps <= 0 or step % self.every_n_steps:
            return
        self.write(trainer, pl_module, step)

    def write(self, trainer: L.Trainer, pl_module: L.LightningModule, step: int) -> None:
        model = cast("ReconstructionTask", pl_module).model
        was_training = model.training
        model.eval()
        outputs = reconstruct(model, self.clips.to(pl_module.device), cond=self.cond)
        model.train(was_training)
        folder = self.out_dir / f"step_{step:07d}"
        sample_rate = model.sample_rate
        experiment = getattr(trainer.logger, "experiment", None)
        for i, (target, output) in enumerate(zip(self.clips, outputs, strict=True)):
            save_audio(folder / f"{i}_target.wav", target.numpy(), sample_rate)
            save_audio(folder / f"{i}_output.wav", output.numpy(), sample_rate)
            png = preview_png(target[0].numpy(), output[0].numpy(), sample_rate)
            with atomic_path(folder / f"{i}.png") as tmp:
                tmp.write_bytes(png)
            if experiment is not None and hasattr(experiment, "add_audio"):
                experiment.add_audio(f"preview/{i}", output[0].clamp(-1, 1), step, sample_rate)
                experiment.add_image(
                    f"spectrogram/{i}",
                    spectrogram_image(output[0].numpy())[None],
                    step,
                    dataformats="CHW",
                )


def training_threads(requested: int = 0, processes: int = 1) -> int:
    """Intra-op torch threads for one of `processes` training processes: `requested` when > 0,
    else `runtime`'s `train` policy (the cores other processes leave idle, measured) within this
    process's share of the usable cores, at least 1.

    On a shared machine OpenMP threads that wait for a core at every operation cost far more
    than they bring: with other work running on these 2 cores a training step took 2.5–3× longer
    on 2 threads than on 1 (issue 14 measured the same for decoding), while on a quiet machine
    2 threads are faster.
    """
    if requested > 0:
        return requested
    share = max(1, runtime.usable_cores() // max(1, processes))
    return max(1, min(share, runtime.threads_for("train")))


class ThreadPolicy(L.Callback):
    """Sets torch's intra-op threads when training starts and every `every_n_steps` steps
    (`training_threads`: fixed when `threads` > 0, else following the machine's load)."""

    def __init__(self, threads: int = 0, every_n_steps: int = 50) -> None:
        self.threads = threads
        self.every_n_steps = every_n_steps

    def apply(self, trainer: L.Trainer) -> None:
        wanted = training_threads(self.threads, trainer.world_size)
        if wanted != torch.get_num_threads():
            torch.set_num_threads(wanted)

    @override
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.apply(trainer)

    @override
    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self.threads <= 0 and trainer.global_step % self.every_n_steps == 0:
            self.apply(trainer)
