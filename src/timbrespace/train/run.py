"""Train a model family on a prepared cache and write its bundle.

Run folder layout:
- `run.json`: family, preset, resolved model and training configs, cache identity, targets.
- `checkpoints/last.ckpt`: Lightning checkpoint for `--resume` (stays inside the run).
- `logs/`: TensorBoard logs; `previews/`: audio previews and spectrogram PNGs.
- `bundle/`: the shareable result (see `timbrespace.bundle`).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch

from timbrespace.atomic import write_json_atomic
from timbrespace.bundle import save_bundle
from timbrespace.data.cache import SoundCache
from timbrespace.data.split import split_cache
from timbrespace.errors import TimbrespaceError
from timbrespace.inference import encode_batches
from timbrespace.models.base import build_model, config_to_dict, get_family, resolve_config
from timbrespace.train.config import TrainConfig, train_config
from timbrespace.train.targets import DescriptorTargets

RUN_FORMAT_VERSION = 1


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    bundle: Path | None
    steps: int
    metrics: dict[str, float]
    start_step: int = 0


def _model_config_for_cache(
    family: str, preset: str, cache: SoundCache, n_targets: int, overrides: dict[str, Any] | None
) -> Any:
    data_fields: dict[str, Any] = {
        "sample_rate": cache.sample_rate,
        "channels": cache.channels,
        "clip_samples": cache.clip_samples,
        "n_descriptors": n_targets,
    }
    if get_family(family).model_cls.input_kind == "notes":
        labels = cache.require_note_labels()
        data_fields["styles"] = tuple(labels.style_names)
        data_fields["pitch_range"] = (int(labels.pitch.min()), int(labels.pitch.max()))
        data_fields["velocity_range"] = (int(labels.velocity.min()), int(labels.velocity.max()))
    return resolve_config(family, preset, {**data_fields, **(overrides or {})})


def _new_run(
    run_dir: Path,
    cache: SoundCache,
    family: str,
    preset: str,
    model_overrides: dict[str, Any] | None,
    train_overrides: dict[str, Any],
) -> dict:
    config = train_config(preset, **train_overrides)
    names = [name for name in config.head_descriptors if name in cache.descriptor_names]
    split = split_cache(cache, config.val_fraction, config.seed)
    columns = (
        np.stack([cache.descriptor(name) for name in names], axis=1)
        if names
        else np.zeros((len(cache), 0))
    )
    targets = DescriptorTargets.fit(names, columns[split.train])
    model_config = _model_config_for_cache(family, preset, cache, len(names), model_overrides)
    return {
        "format_version": RUN_FORMAT_VERSION,
        "family": family,
        "preset": preset,
        "model_config": config_to_dict(model_config),
        "train_config": asdict(config),
        "targets": targets.to_dict(),
        "cache": {
            "path": str(cache.root.resolve()),
            "fingerprint": cache.fingerprint,
            "sample_rate": cache.sample_rate,
            "clips": len(cache),
        },
    }


def _load_run(run_dir: Path, cache: SoundCache, train_overrides: dict[str, Any]) -> dict:
    path = run_dir / "run.json"
    if not path.is_file():
        raise TimbrespaceError(f"{run_dir}: nothing to resume (no run.json); drop --resume")
    spec = json.loads(path.read_text("utf-8"))
    if spec["cache"]["fingerprint"] != cache.fingerprint:
        raise TimbrespaceError(
            f"{cache.root}: the cache changed since {run_dir} started (fingerprint "
            f"{cache.fingerprint} ≠ {spec['cache']['fingerprint']}); start a new run"
        )
    for key in ("max_steps", "max_minutes"):
        if train_overrides.get(key) is not None:
            spec["train_config"][key] = train_overrides[key]
    return spec


def _rows(array: np.ndarray | None, indices: np.ndarray) -> np.ndarray | None:
    return None if array is None else array[indices]


def note_rows(cache: SoundCache, model: Any) -> np.ndarray:
    """Labels `[clips, 3]` (style index in the model's styles, MIDI pitch, velocity) of a note
    cache; refuses a cache without them, or with a style the model was not built for."""
    labels = cache.require_note_labels()
    styles = list(model.config.styles)
    missing = [name for name in labels.style_names if name not in styles]
    if missing:
        raise TimbrespaceError(
            f"{cache.root}: style {missing[0]!r} is not one of the run's styles ({', '.join(styles)})"
        )
    index = np.array([styles.index(name) for name in labels.style_names])
    return np.stack([index[labels.style], labels.pitch, labels.velocity], axis=1).astype(np.float32)


def note_conditions(
    cache: SoundCache, model: Any, rows: np.ndarray | None = None
) -> torch.Tensor | None:
    """A note model's conditions `[clips, styles + 2]` for the clips `rows` of a note cache
    (all without): each note's own style, pitch and velocity; None for other models."""
    if model.input_kind != "notes":
        return None
    from timbrespace.models.fader import label_conditions

    labels = note_rows(cache, model)
    labels = labels if rows is None else labels[rows]
    return label_conditions(torch.from_numpy(labels), len(model.config.styles))


def _not_a_tip(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("💡 Tip")


def _quiet_lightning() -> None:
    """Keep Lightning's advertisements and its own deprecations off a musician's terminal (a
    `make demo` printed a cloud-logging tip and torch's LeafSpec notice)."""
    for name in ("lightning.pytorch", "lightning.pytorch.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if _not_a_tip not in logger.filters:
            logger.addFilter(_not_a_tip)
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


def train(
    cache_path: str | os.PathLike[str],
    run_dir: str | os.PathLike[str],
    *,
    family: str = "oneshot",
    preset: str = "small",
    model_overrides: dict[str, Any] | None = None,
    train_overrides: dict[str, Any] | None = None,
    resume: bool = False,
    accelerator: str = "auto",
    devices: int | str = "auto",
    strategy: str = "auto",
    logger: str = "tensorboard",
    progress: bool | None = None,
) -> TrainResult:
    """Train `family` on the cache, checkpointing into `run_dir`, then write `run_dir/bundle`."""
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint

    from timbrespace.models.fader import label_conditions
    from timbrespace.train.callbacks import AtomicCheckpointIO, PreviewCallback, ThreadPolicy
    from timbrespace.train.dataset import ClipDataset
    from timbrespace.train.task import ReconstructionTask

    cache = SoundCache(cache_path)
    run = Path(run_dir)
    train_overrides = dict(train_overrides or {})
    checkpoint = run / "checkpoints" / "last.ckpt"
    if resume:
        spec = _load_run(run, cache, train_overrides)
    else:
        if checkpoint.exists():
            raise TimbrespaceError(
                f"{run}: a run is already there; pass --resume to continue it or choose another --out"
            )
        spec = _new_run(run, cache, family, preset, model_overrides, train_overrides)
    family = spec["family"]
    config = TrainConfig.from_dict(spec["train_config"])
    targets = DescriptorTargets(**{k: tuple(v) for k, v in spec["targets"].items()})
    if int(os.environ.get("LOCAL_RANK", "0")) == 0:
        write_json_atomic(run / "run.json", spec)

    L.seed_everything(config.seed, workers=True, verbose=False)
    model = build_model(family, spec["model_config"])
    split = split_cache(cache, config.val_fraction, config.seed)
    columns = (
        np.stack([cache.descriptor(name) for name in targets.names], axis=1)
        if targets.names
        else np.zeros((len(cache), 0))
    )
    standardised = targets.transform(columns) if targets.names else columns.astype(np.float32)
    f0_curves = None
    if config.f0_weight > 0 and "f0" in cache.descriptor_names:
        f0_curves = np.asarray(cache.curves[:, cache.descriptor_names.index("f0")])
    notes = note_rows(cache, model) if model.input_kind == "notes" else None
    train_set = ClipDataset(
        cache,
        split.train,
        standardised[split.train],
        _rows(f0_curves, split.train),
        _rows(notes, split.train),
    )
    val_set = ClipDataset(
        cache,
        split.val,
        standardised[split.val],
        _rows(f0_curves, split.val),
        _rows(notes, split.val),
    )
    if len(train_set) == 0:
        raise TimbrespaceError(f"{cache.root}: no training clips")
    loader_options: dict[str, Any] = {
        "num_workers": config.num_workers,
        "persistent_workers": config.num_workers > 0,
    }
    train_loader = torch.utils.data.DataLoader(
        train_set,
        batch_size=min(config.batch_size, len(train_set)),
        shuffle=True,
        drop_last=True,
        **loader_options,
    )
    val_loader = (
        torch.utils.data.DataLoader(
            val_set,
            batch_size=config.batch_size,
            shuffle=False,
            **loader_options,
        )
        if len(val_set)
        else None
    )

    preview_source = val_set if len(val_set) else train_set
    count = min(config.preview_count, len(preview_source))
    preview_clips = torch.stack([preview_source[i]["audio"] for i in range(count)])
    preview_cond = None
    if notes is not None:
        labels = torch.stack([preview_source[i]["note"] for i in range(count)])
        preview_cond = label_conditions(labels, len(model.config.styles))
    callbacks = [
        ModelCheckpoint(
            dirpath=run / "checkpoints",
            save_last=True,
            save_top_k=0,
            every_n_train_steps=config.checkpoint_every,
        ),
        PreviewCallback(preview_clips, run / "previews", config.preview_every, preview_cond),
        ThreadPolicy(config.threads),
    ]
    if logger == "tensorboard":
        from lightning.pytorch.loggers import TensorBoardLogger

        run_logger: Any = TensorBoardLogger(save_dir=str(run), name="logs", version="")
    elif logger == "wandb":
        try:
            from lightning.pytorch.loggers import WandbLogger
        except ImportError as error:
            raise TimbrespaceError(
                "--logger wandb needs `pip install timbrespace[wandb]`"
            ) from error
        run_logger = WandbLogger(save_dir=str(run), project="timbrespace")
    elif logger == "none":
        run_logger = False
    else:
        raise TimbrespaceError(f"--logger: unknown {logger!r}; choose tensorboard, wandb or none")
    if progress is None:
        progress = sys.stderr.isatty() and not os.environ.get("CI")
    _quiet_lightning()
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=devices,
        strategy=strategy,
        max_steps=config.max_steps,
        max_time=timedelta(minutes=config.max_minutes) if config.max_minutes else None,
        val_check_interval=config.val_every if val_loader is not None else None,
        check_val_every_n_epoch=None,
        limit_val_batches=None if val_loader is not None else 0,
        gradient_clip_val=config.gradient_clip or None,
        callbacks=callbacks,
        logger=run_logger,
        plugins=[AtomicCheckpointIO()],
        enable_progress_bar=progress,
        enable_model_summary=False,
        log_every_n_steps=10,
        default_root_dir=str(run),
        num_sanity_val_steps=0,
    )
    task = ReconstructionTask(model, config, descriptor_hop=int(cache.config["hop_length"]))
    ckpt_path = str(checkpoint) if resume and checkpoint.exists() else None
    start_step = 0
    if ckpt_path is not None:
        state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        start_step = int(state["global_step"])
        if trainer.is_global_zero:
            print(f"resumed from step {start_step} ({checkpoint})", flush=True)
    trainer.fit(task, train_loader, val_loader, ckpt_path=ckpt_path, weights_only=True)
    if trainer.interrupted:
        raise TimbrespaceError(
            f"training interrupted at step {trainer.global_step}; "
            f"continue with --resume (checkpoint: {checkpoint})"
        )
    trainer.save_checkpoint(checkpoint, weights_only=False)
    metrics = {
        key: float(value) for key, value in trainer.callback_metrics.items() if value.numel() == 1
    }
    bundle_path = None
    if trainer.is_global_zero:
        model = task.model.cpu().eval()
        latents = encode_batches(model, cache.audio, indices=split.train)
        bundle_path = save_bundle(
            run / "bundle",
            task.model,
            family,
            training={
                "cache": spec["cache"],
                "labels": cache.label_names,
                "split": {
                    "val_fraction": config.val_fraction,
                    "seed": config.seed,
                    "train_clips": len(split.train),
                    "val_clips": len(split.val),
                },
                "steps": int(trainer.global_step),
                "targets": spec["targets"],
                "preset": spec["preset"],
                "train_config": spec["train_config"],
                "metrics": metrics,
                "prepare_config": cache.config,
            },
            latents=latents,
        )
    return TrainResult(run, bundle_path, int(trainer.global_step), metrics, start_step)
