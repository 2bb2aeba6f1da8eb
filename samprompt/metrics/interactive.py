"""Interactive-segmentation metrics on per-click IoU curves: NoC, NoF, k-mIoU, mean curves.

The definitions follow RITM's evaluation code (`isegm/inference/utils.py`, `compute_noc_metric`),
which the interactive-segmentation literature (RITM, FocalClick, SimpleClick, SAM-REF) reports:

- NoC@t: per object, the 1-based index of the first click whose IoU is >= t, or the click
  budget (`max_clicks`, 20) when no click within it reaches t; averaged over objects.
- NoF@t (the published ">=20@t" column): the number of objects whose NoC@t equals the click
  budget, so an object that reaches t exactly at the last click counts as a failure too.
- k-mIoU: the mean over objects of the IoU after k clicks (a run that stopped early because its
  mask was perfect keeps its last IoU).
- An object with no pixel outside the ignore region has no IoU (RITM computes 0 / 0 = NaN): its
  IoU never reaches a threshold, so it counts the budget and a failure; it is left out of the
  mean IoU curves and k-mIoU and counted in "undefined_objects".
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from samprompt.errors import ConfigError, DatasetError

DEFAULT_THRESHOLDS = (0.85, 0.90, 0.95)


def check_protocol(max_clicks: int, thresholds: Sequence[float] = DEFAULT_THRESHOLDS, miou_at: int = 5) -> None:
    """A `ConfigError` naming the setting unless `max_clicks` and `miou_at` are positive ints and
    every threshold is a number in (0, 1] (a `miou_at` past the budget reads the last click)."""
    for name, value in (("max_clicks", max_clicks), ("miou_at", miou_at)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"{name} must be a positive int, got {value!r}")
    if isinstance(thresholds, (str, bytes)) or not isinstance(thresholds, Sequence) or not thresholds:
        raise ConfigError(f"thresholds must be a non-empty list of IoUs in (0, 1], got {thresholds!r}")
    for t in thresholds:
        if isinstance(t, bool) or not isinstance(t, (int, float, np.floating)) or not 0 < t <= 1:
            raise ConfigError(f"thresholds must be IoUs in (0, 1], got {t!r} in {list(thresholds)!r}")


def number_of_clicks(ious: Sequence[float], threshold: float, max_clicks: int = 20,
                     start_iou: float | None = None) -> int:
    """NoC: the 1-based index of the first click whose IoU is >= `threshold` (`max_clicks` if none
    within `max_clicks` is; an undefined IoU, NaN, never is); 0 when the mask a session started
    from (another prompt's, IoU `start_iou`) reaches it before any click."""
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
    """NoC@t (mean over objects), NoF@t (objects whose NoC@t is the budget `max_clicks`, RITM's
    count), `miou_at`-mIoU (mean IoU after that many clicks) and the mean IoU after each click
    (module docstring: the definitions and their reference). NaN curves are objects whose IoU is
    undefined (nothing outside the ignore region): failures, left out of the means.

    With `start_ious` (one per object: the IoU of the mask a session started from, e.g. a text
    prompt's, before any click), an object already at t counts 0 clicks, and "start_miou" is
    their mean: clicks are counted after the first prompt.
    """
    check_protocol(max_clicks, thresholds, miou_at)
    if not curves:
        raise ConfigError("curves must hold at least one object's IoU curve, got none")
    if start_ious is not None and len(start_ious) != len(curves):
        raise ConfigError(f"start_ious needs one IoU per curve ({len(curves)}), got {len(start_ious)}")
    starts = list(start_ious) if start_ious is not None else [None] * len(curves)
    padded = np.stack([padded_curve(c, max_clicks) for c in curves])
    defined = ~np.isnan(padded).all(1)
    if not defined.any():
        raise DatasetError(f"every object's IoU is undefined ({len(curves)} objects with no pixel outside "
                           "the ignore region): there is nothing to score")
    out: dict[str, float | int | list[float]] = {"objects": len(curves), "undefined_objects": int((~defined).sum())}
    for t in thresholds:
        name = f"{round(t * 100)}"
        counts = np.array([number_of_clicks(c, t, max_clicks, start) for c, start in zip(curves, starts)])
        out[f"NoC@{name}"] = float(counts.mean())
        out[f"NoF@{name}"] = int((counts == max_clicks).sum())
    out[f"{miou_at}-mIoU"] = float(padded[defined, min(miou_at, max_clicks) - 1].mean())
    out["miou_per_click"] = [round(float(v), 4) for v in padded[defined].mean(0)]
    if start_ious is not None:
        kept = [s for s, d in zip(start_ious, defined) if d]
        out["start_miou"] = float(np.mean(kept))
    return out
