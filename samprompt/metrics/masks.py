"""Binary-mask primitives shared by every metric: boolean H x W masks and their IoU.

`binary_mask_iou` is the one IoU of boolean (or 0/1) masks in samprompt; the IoU of logits
against float targets, used in training, is `samprompt.training.losses.logits_iou`.
"""
from __future__ import annotations

import numpy as np

from samprompt.errors import ImageFormatError


def as_bool_mask(mask: object, name: str = "mask") -> np.ndarray:
    """An H x W boolean numpy array (from numpy or torch, bool or 0/1)."""
    if hasattr(mask, "detach"):
        mask = mask.detach().cpu().numpy()  # type: ignore[union-attr]
    array = np.asarray(mask)
    if array.ndim != 2:
        raise ImageFormatError(f"{name} must be an H x W mask, got shape {array.shape}")
    return array.astype(bool)


def intersection_union(prediction: object, target: object, ignore: object | None = None) -> tuple[int, int]:
    """Pixel counts of prediction AND target, prediction OR target (same H x W), over the pixels
    that `ignore` (an H x W boolean mask, optional) does not mark."""
    pred, true = as_bool_mask(prediction, "prediction"), as_bool_mask(target, "target")
    if pred.shape != true.shape:
        raise ImageFormatError(f"prediction {pred.shape} and target {true.shape} differ in size (expected one H x W)")
    inter, union = pred & true, pred | true
    if ignore is not None:
        skip = as_bool_mask(ignore, "ignore")
        if skip.shape != pred.shape:
            raise ImageFormatError(f"ignore {skip.shape} must have the masks' shape {pred.shape}")
        inter, union = inter & ~skip, union & ~skip
    return int(inter.sum()), int(union.sum())


def iou_from_counts(intersection: int, union: int) -> float:
    """intersection / union, 1.0 when the union is empty (an empty prediction of an empty target)."""
    return intersection / union if union else 1.0


def binary_mask_iou(prediction: object, target: object, ignore: object | None = None) -> float:
    """IoU of two H x W boolean (or 0/1, numpy or torch) masks over the pixels not in `ignore`
    (e.g. GrabCut's boundary band); 1.0 when both are empty there."""
    return iou_from_counts(*intersection_union(prediction, target, ignore))
