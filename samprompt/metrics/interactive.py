"""Interactive-segmentation metrics on per-click IoU curves: NoC, NoF, k-mIoU, mean curves."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from samprompt.errors import ConfigError

DEFAULT_THRESHOLDS = (0.85, 0.90, 0.95)


def number_of_clicks(ious: Sequence[float], threshold: float, max_clicks: int = 20,
                     start_iou: float | None = None) -> int:
    """NoC: the 1-based index of the first click whose IoU reaches `threshold` (`max_clicks` if none does);
    0 when the mask a session started from (another prompt's, IoU `start_iou`) reaches it before any click."""
    if start_iou is not None and start_iou >= threshold:
        return 0
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
              max_clicks: int = 20, miou_at: int = 5, start_ious: Sequence[float] | None = None
              ) -> dict[str, float | int | list[float]]:
    """NoC@t (mean over objects), NoF@t (objects that never reach t within `max_clicks`),
    `miou_at`-mIoU (mean IoU after that many clicks) and the mean IoU after each click.

    With `start_ious` (one per object: the IoU of the mask a session started from, e.g. a text
    prompt's, before any click), an object already at t counts 0 clicks, and "start_miou" is
    their mean: clicks are counted after the first prompt.
    """
    if not curves:
        raise ConfigError("curves must hold at least one object's IoU curve, got none")
    if start_ious is not None and len(start_ious) != len(curves):
        raise ConfigError(f"start_ious needs one IoU per curve ({len(curves)}), got {len(start_ious)}")
    starts = list(start_ious) if start_ious is not None else [None] * len(curves)
    padded = np.stack([padded_curve(c, max_clicks) for c in curves])
    out: dict[str, float | int | list[float]] = {"objects": len(curves)}
    for t in thresholds:
        name = f"{round(t * 100)}"
        counts = [number_of_clicks(c, t, max_clicks, start) for c, start in zip(curves, starts)]
        out[f"NoC@{name}"] = float(np.mean(counts))
        out[f"NoF@{name}"] = int(sum(not any(v >= t for v in c[:max_clicks]) and not (start is not None and start >= t)
                                     for c, start in zip(curves, starts)))
    out[f"{miou_at}-mIoU"] = float(padded[:, min(miou_at, max_clicks) - 1].mean())
    out["miou_per_click"] = [round(float(v), 4) for v in padded.mean(0)]
    if start_ious is not None:
        out["start_miou"] = float(np.mean(start_ious))
    return out
