"""Plots where a curve says more than a table: IoU per click, per-class IoU, training losses.

Drawn with matplotlib's file-only backend (no screen needed) and written atomically as PNG.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from samprompt.utils.files import atomic_file  # noqa: E402


def _save(figure: plt.Figure, path: str | Path) -> Path:
    with atomic_file(path) as staging:
        figure.savefig(staging, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return Path(path)


def plot_curves(curves: Mapping[str, Sequence[float]], path: str | Path, *, title: str, xlabel: str, ylabel: str,
                start: int = 1, ylim: tuple[float, float] | None = None, smooth: int = 1) -> Path:
    """One line per named curve (x from `start`); `smooth` > 1 draws a moving average over that many
    points over the faint raw curve (for noisy training losses)."""
    figure, axes = plt.subplots(figsize=(6.4, 4.0))
    for name, values in curves.items():
        y = np.asarray(values, dtype=float)
        x = np.arange(start, start + len(y))
        if smooth > 1 and len(y) >= smooth:
            line, = axes.plot(x, y, alpha=0.25, linewidth=1)
            kernel = np.ones(smooth) / smooth
            axes.plot(x[smooth - 1:], np.convolve(y, kernel, mode="valid"), color=line.get_color(), label=name)
        else:
            axes.plot(x, y, marker="o" if len(y) <= 30 else None, markersize=3, label=name)
    axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if ylim is not None:
        axes.set_ylim(*ylim)
    axes.grid(alpha=0.3)
    axes.legend()
    return _save(figure, path)


def plot_bars(groups: Mapping[str, Mapping[str, float | None]], path: str | Path, *, title: str,
              ylabel: str) -> Path:
    """Grouped bars: one group per category (the keys of the inner mappings), one bar per named series;
    a missing value (None) is left out."""
    categories = list(next(iter(groups.values())))
    figure, axes = plt.subplots(figsize=(max(6.4, 0.9 * len(categories) + 2), 4.0))
    width = 0.8 / len(groups)
    for i, (name, values) in enumerate(groups.items()):
        heights = [np.nan if values.get(c) is None else float(values[c]) for c in categories]
        axes.bar(np.arange(len(categories)) + (i - (len(groups) - 1) / 2) * width, heights, width, label=name)
    axes.set_xticks(np.arange(len(categories)), categories, rotation=30, ha="right")
    axes.set(title=title, ylabel=ylabel)
    axes.set_ylim(0, 1)
    axes.grid(axis="y", alpha=0.3)
    axes.legend()
    return _save(figure, path)
