"""Interactive-segmentation metrics on per-click IoU curves: NoC, NoF, k-mIoU, mean curves."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from samprompt.errors import ConfigError

DEFAULT_THRESHOLDS = (0.85, 0.90, 0.95)


def number_of_clicks(ious: Sequence[float], threshold: float, max_clicks: int = 20) -> int:
    """NoC: the 1-based index of the first click whose IoU reaches `threshold` (`max_clicks` if none does)."""
    for k, iou in enumerate(ious[:max_clicks]):
        if iou >= threshold:
            return k + 1
    return max_clicks


def padded_curve(ious: Sequence[float], max_clicks: int) -> np.ndarray:
    """A curve of exactly `max_clicks` values: a run that stopped early (perfect mask) keeps its last IoU."""
    if not len(ious):
        raise ConfigError("ious must hold at least one click's IoU, got an empty curve")
    curve = np.asarray(list(ious[:max_clicks]), dtype=np.float64)
    return np.concatenate([curve, np.full(max_clicks - len(curve), curve[-1])])


def summarize(curves: Sequence[Sequence[float]], thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
              max_clicks: int = 20, miou_at: int = 5) -> dict[str, float | int | list[float]]:
    """NoC@t (mean over objects), NoF@t (objects that never reach t within `max_clicks`),
    `miou_at`-mIoU (mean IoU after that many clicks) and the mean IoU after each click."""
    if not curves:
        raise ConfigError("curves must hold at least one object's IoU curve, got none")
    padded = np.stack([padded_curve(c, max_clicks) for c in curves])
    out: dict[str, float | int | list[float]] = {"objects": len(curves)}
    for t in thresholds:
        name = f"{round(t * 100)}"
        counts = [number_of_clicks(c, t, max_clicks) for c in curves]
        out[f"NoC@{name}"] = float(np.mean(counts))
        out[f"NoF@{name}"] = int(sum(not any(v >= t for v in c[:max_clicks]) for c in curves))
    out[f"{miou_at}-mIoU"] = float(padded[:, min(miou_at, max_clicks) - 1].mean())
    out["miou_per_click"] = [round(float(v), 4) for v in padded.mean(0)]
    return out
