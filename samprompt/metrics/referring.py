"""Referring image segmentation scores: mIoU, oIoU and precision at IoU thresholds."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from samprompt.errors import ConfigError
from samprompt.metrics.masks import intersection_union, iou_from_counts

PRECISION_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)


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
        return iou_from_counts(inter, union)

    def __len__(self) -> int:
        return len(self.unions)

    def summary(self) -> dict[str, float]:
        if not self.unions:
            raise ConfigError("no predictions were scored: call add(prediction, target) before summary()")
        inter, union = np.array(self.intersections, float), np.array(self.unions, float)
        ious = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
        scores = {"miou": float(ious.mean()), "oiou": float(inter.sum() / union.sum()) if union.sum() else 1.0}
        for t in PRECISION_THRESHOLDS:
            scores[f"prec@{t:.1f}"] = float((ious > t).mean())
        scores["count"] = float(len(ious))
        return scores
