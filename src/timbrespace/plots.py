"""PNG figures of a latent space (matplotlib, no display needed).

- `plot_analysis`: the 2-D PCA map coloured by pack and by each descriptor, explained-variance
  bars and probe R² bars;
- `contact_sheet`: one row per step of a control sweep: waveform and spectrogram, titled with the
  requested and the measured value.

Every figure is written atomically.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from timbrespace.atomic import atomic_path  # noqa: E402
from timbrespace.audio.descriptors import descriptor_scale, to_scale  # noqa: E402
from timbrespace.latent.analysis_file import Analysis  # noqa: E402
from timbrespace.latent.codebook import CodebookAnalysis  # noqa: E402
from timbrespace.numbers import format_reading  # noqa: E402
from timbrespace.space_results import SweepResult  # noqa: E402

SCALE_LABELS = {"semitones": "semitones re 440 Hz", "log": "log"}
PACK_PALETTE: tuple[str, ...] = (
    "#47c1bf", "#e0a14a", "#8f7ae5", "#ef6b73", "#7bc96f", "#5aa9e6", "#e57ac8", "#c9c36f",
    "#6fc9a8", "#e68a5a", "#a3a8b5", "#b38de0", "#5ae6d2", "#e6d25a", "#7f95ff", "#ff8f8f",
)  # fmt: skip
"""One colour per pack, in the analysis' pack order (cycling after 16): the studio's map uses
the same list (`PALETTE` in studio/static/js/map.js; tests/test_pack.py checks they agree)."""


def save_figure(figure: Figure, path: str | os.PathLike[str]) -> Path:
    """Write `figure` as PNG atomically and close it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        figure.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return target


def _map_axes(analysis: Analysis) -> tuple[np.ndarray, list[str]]:
    scores = analysis.pca.transform(analysis.latents).numpy()
    if scores.shape[1] == 1:
        scores = np.concatenate([scores, np.zeros_like(scores)], axis=1)
    ratio = analysis.pca.explained_variance_ratio.numpy()
    labels = [
        f"PCA {i + 1} ({100 * ratio[i]:.0f} % of variance)" if i < ratio.size else f"PCA {i + 1}"
        for i in range(2)
    ]
    return scores[:, :2], labels


def latent_map_by_pack(analysis: Analysis) -> Figure:
    """2-D PCA scatter of every analysed sound, one colour per pack (`PACK_PALETTE`, as in
    the studio), with a legend."""
    xy, labels = _map_axes(analysis)
    figure, axes = plt.subplots(figsize=(8, 6.5))
    packs = np.array(analysis.sound_packs)
    for i, pack in enumerate(analysis.packs):
        mask = packs == pack
        x, y = xy[mask].T
        colour = PACK_PALETTE[i % len(PACK_PALETTE)]
        axes.scatter(x, y, s=14, alpha=0.8, color=colour, label=pack)
    axes.set(xlabel=labels[0], ylabel=labels[1], title=f"Latent map by pack ({len(packs)} sounds)")
    axes.legend(fontsize=8, markerscale=1.5, loc="best", title="pack")
    axes.grid(alpha=0.3)
    return figure


def latent_map_by_descriptor(analysis: Analysis, name: str) -> Figure:
    """2-D PCA scatter coloured by one descriptor on its perceptual scale (grey: undefined)."""
    xy, labels = _map_axes(analysis)
    scale = descriptor_scale(name)
    values = to_scale(analysis.descriptor(name), scale)
    defined = np.isfinite(values)
    unit = analysis.descriptor_units.get(name, "")
    scale_note = SCALE_LABELS.get(scale)
    colour_label = f"{name} ({scale_note} of {unit})" if scale_note and unit else name
    if not scale_note and unit:
        colour_label = f"{name} ({unit})"
    figure, axes = plt.subplots(figsize=(8, 6.5))
    if (~defined).any():
        x, y = xy[~defined].T
        axes.scatter(x, y, s=10, color="0.8", label="undefined")
        axes.legend(fontsize=8, loc="best")
    x, y = xy[defined].T
    points = axes.scatter(x, y, s=14, c=values[defined], cmap="viridis")
    figure.colorbar(points, ax=axes, label=colour_label)
    axes.set(xlabel=labels[0], ylabel=labels[1], title=f"Latent map coloured by {name}")
    axes.grid(alpha=0.3)
    return figure


def explained_variance_bars(analysis: Analysis, max_axes: int = 16) -> Figure:
    """Bars of each principal axis' share of variance, with the cumulative share as a line."""
    ratio = analysis.pca.explained_variance_ratio.numpy()[:max_axes]
    axis_numbers = np.arange(1, ratio.size + 1)
    figure, axes = plt.subplots(figsize=(8, 4))
    axes.bar(axis_numbers, 100 * ratio, color="tab:blue", label="this axis")
    axes.plot(axis_numbers, 100 * np.cumsum(ratio), "o-", color="tab:orange", label="cumulative")
    axes.set(
        xlabel="principal axis",
        ylabel="% of latent variance",
        title="PCA explained variance",
        xticks=axis_numbers,
        ylim=(0, 105),
    )
    axes.legend()
    axes.grid(axis="y", alpha=0.3)
    return figure


def probe_r2_bars(analysis: Analysis) -> Figure:
    """Held-out R² of each linear descriptor probe (how linearly the latent encodes it)."""
    names = list(analysis.probes)
    held = [analysis.probes[n].r2_heldout for n in names]
    train = [analysis.probes[n].r2_train for n in names]
    positions = np.arange(len(names))
    figure, axes = plt.subplots(figsize=(max(6, 0.8 * len(names)), 4.5))
    axes.bar(positions - 0.2, train, width=0.4, color="0.7", label="training sounds")
    axes.bar(positions + 0.2, held, width=0.4, color="tab:green", label="held-out sounds")
    for x, value in zip(positions, held, strict=True):
        if math.isfinite(value):
            axes.text(x + 0.2, max(value, 0) + 0.02, f"{value:.2f}", ha="center", fontsize=8)
    axes.set_xticks(positions, names, rotation=30, ha="right")
    axes.set(ylabel="R²", ylim=(min(0.0, np.nanmin(held + train + [0.0])), 1.08))
    axes.set_title("Descriptor probes: R² of a linear read-out from the latent")
    axes.axhline(0, color="black", linewidth=0.8)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes.grid(axis="y", alpha=0.3)
    return figure


def plot_analysis(analysis: Analysis, out: str | os.PathLike[str]) -> list[Path]:
    """Write every analysis figure into folder `out`; returns the files written."""
    folder = Path(out)
    written = [
        save_figure(latent_map_by_pack(analysis), folder / "map_pack.png"),
        save_figure(explained_variance_bars(analysis), folder / "explained_variance.png"),
        save_figure(probe_r2_bars(analysis), folder / "probe_r2.png"),
    ]
    for name in analysis.descriptor_names:
        if np.isfinite(analysis.descriptor(name)).sum() >= 2:
            figure = latent_map_by_descriptor(analysis, name)
            written.append(save_figure(figure, folder / f"map_{name}.png"))
    return written


def codebook_map(codebook: CodebookAnalysis, name: str) -> Figure:
    """The codes on their first two principal axes, coloured by `name` measured on each code's
    decoded audio (its perceptual scale), sized by training use; grey: unused or undefined."""
    values = codebook.column(name)
    logarithmic = descriptor_scale(name) != "linear"
    shown = np.isfinite(values) & codebook.used() & (values > 0 if logarithmic else True)
    size = 6 + 40 * np.sqrt(codebook.usage / max(float(codebook.usage.max()), 1.0))
    unit = codebook.units.get(name, "")
    label = f"{name} ({unit}{', log scale' if logarithmic else ''})"
    norm = LogNorm() if logarithmic else None
    figure, axes = plt.subplots(figsize=(8, 6.5))
    x, y = codebook.map.T
    if (~shown).any():
        axes.scatter(x[~shown], y[~shown], s=size[~shown], color="0.8", label="unused / undefined")
        axes.legend(fontsize=8, loc="best")
    points = axes.scatter(
        x[shown], y[shown], s=size[shown], c=values[shown], cmap="viridis", norm=norm
    )
    figure.colorbar(points, ax=axes, label=label)
    used = int(codebook.used().sum()) if codebook.usage.any() else 0
    axes.set(
        xlabel="code PC 1",
        ylabel="code PC 2",
        title=f"Codebook map by {name} ({used} of {codebook.size} codes used in training)",
    )
    axes.grid(alpha=0.3)
    return figure


def plot_codebook(codebook: CodebookAnalysis, out: str | os.PathLike[str]) -> list[Path]:
    """Write the codebook map coloured by each measured descriptor into folder `out`."""
    folder = Path(out)
    return [
        save_figure(codebook_map(codebook, name), folder / f"codebook_{name}.png")
        for name in codebook.names
        if np.isfinite(codebook.column(name)[codebook.used()]).sum() >= 2
    ]


def _format(
    value: float, unit: str, descriptor: str | None = None, near: float | None = None
) -> str:
    """A sweep value as the CLI's table reads it (`numbers.format_reading`): a pitch with its
    note name (a measurement's against its request `near`), times under a second in ms."""
    if not math.isfinite(value):
        return "undefined"
    return format_reading(value, unit, pitch=descriptor == "f0" and unit == "Hz", near=near)


def contact_sheet(
    sweep: SweepResult, sample_rate: int, *, limited: Sequence[bool] | None = None
) -> Figure:
    """One row per sweep step: waveform (left) and log spectrogram (right), with the requested
    value and what the rendered audio measures (descriptor in its unit); a step that hit a limit
    (`limited`, default `sweep.limited`: clamped to the data range or to physics, or out of the
    closed loop's reach) is titled in red, "limit"."""
    steps = len(sweep.requested)
    if limited is None:
        limited = getattr(sweep, "limited", None) or [False] * steps
    figure, grid = plt.subplots(
        steps, 2, figsize=(11, 1.6 * steps + 0.8), squeeze=False, width_ratios=(1, 1.4)
    )
    for row, (audio, requested, measured) in enumerate(
        zip(sweep.audio, sweep.requested, sweep.measured, strict=True)
    ):
        mono = audio.mean(axis=0)
        seconds = np.arange(mono.size) / sample_rate
        wave_axes, spec_axes = grid[row]
        wave_axes.plot(seconds, mono, linewidth=0.6, color="tab:blue")
        wave_axes.set(ylim=(-1.05, 1.05), xlim=(0, seconds[-1] if mono.size > 1 else 1))
        text = f"{sweep.name} requested {_format(requested, sweep.unit, sweep.descriptor)}"
        if sweep.descriptor:
            shown = _format(measured, sweep.unit, sweep.descriptor, requested)
            text += f" → measured {sweep.descriptor} {shown}"
        if limited[row]:
            text += " · limit"
        wave_axes.set_title(
            text, fontsize=9, loc="left", color="tab:red" if limited[row] else "black"
        )
        spec_axes.set_facecolor("black")  # a gated tail is exact silence: -inf dB, not drawn
        with np.errstate(divide="ignore"):
            spec_axes.specgram(
                mono, NFFT=1024, Fs=sample_rate, noverlap=768, cmap="magma", vmin=-140
            )
        spec_axes.set(ylabel="Hz")
        spec_axes.set_yscale("symlog", linthresh=200)
        spec_axes.set_ylim(20, sample_rate / 2)
        if row < steps - 1:
            wave_axes.set_xticklabels([])
            spec_axes.set_xticklabels([])
    grid[-1, 0].set_xlabel("time (s)")
    grid[-1, 1].set_xlabel("time (s)")
    hits = sum(bool(v) for v in limited)
    limits = f" ({hits} hit a limit, in red)" if hits else ""
    figure.suptitle(f"Sweep of {sweep.name}: {steps} steps{limits}", y=1.0)
    figure.tight_layout()
    return figure
