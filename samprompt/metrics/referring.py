"""Referring image segmentation scores: mIoU, oIoU and precision at IoU thresholds.

The bookkeeping is that of the referring-segmentation benchmarks' evaluation code as LAVT
(`test.py`, `computeIoU`) and the RefSAM / ReferFormer lineage after it run it: per expression
I and U are pixel counts of prediction AND target and prediction OR target.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from samprompt.errors import ConfigError
from samprompt.metrics.masks import intersection_union

PRECISION_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass
class ReferringScores:
    """Accumulates one (prediction, target) pair per expression.

    - mIoU: mean over expressions of IoU = I / U, where an empty prediction of an empty
      target (U = 0) scores 0, as in LAVT (`this_iou = 0.0 if U == 0`);
    - oIoU (LAVT's "overall IoU"): sum of I / sum of U over the whole set (0 when every U is 0);
    - prec@t: fraction of expressions with IoU >= t (LAVT's `this_iou >= eval_seg_iou`).
    """

    intersections: list[int] = field(default_factory=list)
    unions: list[int] = field(default_factory=list)

    def add(self, prediction: object, target: object) -> float:
        """Record one pair; returns its IoU (0 for an empty prediction of an empty target)."""
        inter, union = intersection_union(prediction, target)
        self.intersections.append(inter)
        self.unions.append(union)
        return inter / union if union else 0.0

    def __len__(self) -> int:
        return len(self.unions)

    def summary(self) -> dict[str, float]:
        if not self.unions:
            raise ConfigError("no predictions were scored: call add(prediction, target) before summary()")
        inter, union = np.array(self.intersections, float), np.array(self.unions, float)
        ious = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
        scores = {"miou": float(ious.mean()), "oiou": float(inter.sum() / union.sum()) if union.sum() else 0.0}
        for t in PRECISION_THRESHOLDS:
            scores[f"prec@{t:.1f}"] = float((ious >= t).mean())
        scores["count"] = float(len(ious))
        return scores
