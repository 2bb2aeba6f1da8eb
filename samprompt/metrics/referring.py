"""Referring image segmentation scores: mIoU, oIoU and precision at IoU thresholds."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PRECISION_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)


def as_bool_mask(mask: object, name: str = "mask") -> np.ndarray:
    """An H x W boolean numpy array (from numpy or torch, bool or 0/1)."""
    if hasattr(mask, "detach"):
        mask = mask.detach().cpu().numpy()  # type: ignore[union-attr]
    array = np.asarray(mask)
    if array.ndim != 2:
        raise ValueError(f"{name} must be H x W, got shape {array.shape}")
    return array.astype(bool)


def intersection_union(prediction: object, target: object) -> tuple[int, int]:
    """Pixel counts of prediction AND target, prediction OR target (same H x W)."""
    pred, true = as_bool_mask(prediction, "prediction"), as_bool_mask(target, "target")
    if pred.shape != true.shape:
        raise ValueError(f"prediction {pred.shape} and target {true.shape} differ in size")
    return int(np.logical_and(pred, true).sum()), int(np.logical_or(pred, true).sum())


@dataclass
class ReferringScores:
    """Accumulates one (prediction, target) pair per expression.

    - mIoU: mean over expressions of IoU (an empty prediction of an empty target counts 1);
    - oIoU: total intersection / total union over the whole set;
    - prec@t: fraction of expressions with IoU > t.
    """

    intersections: list[int] = field(default_factory=list)
    unions: list[int] = field(default_factory=list)

    def add(self, prediction: object, target: object) -> float:
        """Record one pair; returns its IoU."""
        inter, union = intersection_union(prediction, target)
        self.intersections.append(inter)
        self.unions.append(union)
        return inter / union if union else 1.0

    def __len__(self) -> int:
        return len(self.unions)

    def summary(self) -> dict[str, float]:
        if not self.unions:
            raise ValueError("no predictions were scored")
        inter, union = np.array(self.intersections, float), np.array(self.unions, float)
        ious = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
        scores = {"miou": float(ious.mean()), "oiou": float(inter.sum() / union.sum()) if union.sum() else 1.0}
        for t in PRECISION_THRESHOLDS:
            scores[f"prec@{t:.1f}"] = float((ious > t).mean())
        scores["count"] = float(len(ious))
        return scores
