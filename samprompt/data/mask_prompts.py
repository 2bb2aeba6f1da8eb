"""Prompts drawn from a ground-truth mask: its box, a jittered box, a click inside it, a click on an error."""
from __future__ import annotations

import numpy as np


def box_of(mask: np.ndarray) -> np.ndarray:
    """The tight (x0, y0, x1, y1) box of a boolean mask."""
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float32)


def random_box(mask: np.ndarray, rng: np.random.Generator, jitter: float = 0.1) -> np.ndarray:
    """The mask's box with each side moved by up to `jitter` x its length, clipped to the image."""
    box = box_of(mask)
    size = np.repeat(box[2:] - box[:2], 2)
    box = box + rng.uniform(-jitter, jitter, 4) * size
    h, w = mask.shape
    return np.clip(box, 0, [w, h, w, h]).astype(np.float32)


def random_click(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniformly drawn (x, y) pixel centre inside the mask."""
    ys, xs = np.nonzero(mask)
    k = rng.integers(len(xs))
    return np.array([xs[k], ys[k]], dtype=np.float32)


def error_click(truth: np.ndarray, predicted: np.ndarray, rng: np.random.Generator
                ) -> tuple[float, float, int] | None:
    """A click drawn uniformly from the pixels where `predicted` disagrees with `truth` (both H x W bool):
    (x, y, 1) in a missed pixel, (x, y, 0) in a spilled one; None when they agree everywhere."""
    ys, xs = np.nonzero(truth != predicted)
    if not len(xs):
        return None
    k = int(rng.integers(len(xs)))
    return float(xs[k]), float(ys[k]), int(truth[ys[k], xs[k]])
