"""Video object segmentation scores as the DAVIS 2017 benchmark defines them.

- J (region similarity): IoU of the masks; 1 when both are empty.
- F (contour accuracy): F-measure of boundary precision and recall, where a boundary pixel
  counts as matched if the other mask's boundary lies within a disk of radius
  ceil(0.008 x image diagonal) around it. Edge cases as in the benchmark: both boundaries
  empty -> P = R = 1; only the prediction empty -> P = 1, R = 0; only the target empty ->
  P = 0, R = 1; F = 0 when P + R = 0.
- J&F: the mean of the two (per object, the means over frames).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from samprompt.errors import ConfigError, ImageFormatError
from samprompt.metrics.masks import as_bool_mask, binary_mask_iou

BOUNDARY_TOLERANCE = 0.008


def region_similarity(prediction: object, target: object) -> float:
    """J: the IoU of two H x W masks, 1.0 when both are empty (`binary_mask_iou` under DAVIS's name)."""
    return binary_mask_iou(prediction, target)


def boundary_map(mask: object) -> np.ndarray:
    """H x W bool: pixels whose east, south or south-east neighbour has the other label.

    The last row compares only with the east neighbour, the last column only with the south
    one, and the bottom-right pixel is never a boundary (the DAVIS convention).
    """
    m = as_bool_mask(mask)
    east, south, south_east = np.zeros_like(m), np.zeros_like(m), np.zeros_like(m)
    east[:, :-1] = m[:, 1:]
    south[:-1, :] = m[1:, :]
    south_east[:-1, :-1] = m[1:, 1:]
    boundary = (m ^ east) | (m ^ south) | (m ^ south_east)
    boundary[-1, :] = m[-1, :] ^ east[-1, :]
    boundary[:, -1] = m[:, -1] ^ south[:, -1]
    boundary[-1, -1] = False
    return boundary


def disk(radius: int) -> np.ndarray:
    """(2r+1) x (2r+1) bool disk: offsets with dx^2 + dy^2 <= r^2."""
    offsets = np.arange(-radius, radius + 1)
    return offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius ** 2


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation of an H x W mask by a disk of `radius` pixels."""
    if radius <= 0 or not mask.any():
        return mask.copy()
    kernel = torch.from_numpy(disk(radius).astype(np.float32))[None, None]
    image = torch.from_numpy(mask.astype(np.float32))[None, None]
    spread = torch.nn.functional.conv2d(image, kernel, padding=radius)
    return (spread[0, 0] > 0.5).numpy()


def boundary_radius(shape: tuple[int, int], tolerance: float = BOUNDARY_TOLERANCE) -> int:
    """The matching radius in pixels: `tolerance` itself if >= 1, else ceil(tolerance x diagonal)."""
    return int(tolerance) if tolerance >= 1 else int(math.ceil(tolerance * math.hypot(*shape)))


def contour_accuracy(prediction: object, target: object, tolerance: float = BOUNDARY_TOLERANCE) -> float:
    """F: the boundary F-measure of two H x W masks."""
    pred, true = as_bool_mask(prediction, "prediction"), as_bool_mask(target, "target")
    if pred.shape != true.shape:
        raise ImageFormatError(f"prediction {pred.shape} and target {true.shape} differ in size (expected one H x W)")
    radius = boundary_radius(pred.shape, tolerance)
    pred_boundary, true_boundary = boundary_map(pred), boundary_map(true)
    n_pred, n_true = int(pred_boundary.sum()), int(true_boundary.sum())
    if n_pred == 0 and n_true == 0:
        precision, recall = 1.0, 1.0
    elif n_pred == 0:
        precision, recall = 1.0, 0.0
    elif n_true == 0:
        precision, recall = 0.0, 1.0
    else:
        precision = float((pred_boundary & dilate(true_boundary, radius)).sum()) / n_pred
        recall = float((true_boundary & dilate(pred_boundary, radius)).sum()) / n_true
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def video_scores(predictions: Sequence[object], targets: Sequence[object]) -> dict[str, float]:
    """Mean J, mean F and J&F of one object over the frames of a video."""
    if len(predictions) != len(targets) or not targets:
        raise ConfigError(f"need one prediction per target frame, got {len(predictions)} predictions and "
                          f"{len(targets)} targets")
    j = float(np.mean([region_similarity(p, t) for p, t in zip(predictions, targets)]))
    f = float(np.mean([contour_accuracy(p, t) for p, t in zip(predictions, targets)]))
    return {"J": j, "F": f, "J&F": (j + f) / 2}


def mean_video_scores(per_video: Sequence[dict[str, float]]) -> dict[str, float]:
    """Dataset scores: the mean over (video, expression) pairs of J, F and J&F."""
    if not per_video:
        raise ConfigError("per_video must hold at least one video's scores, got none")
    scores = {key: float(np.mean([v[key] for v in per_video])) for key in ("J", "F", "J&F")}
    scores["count"] = float(len(per_video))
    return scores
