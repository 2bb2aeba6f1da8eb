"""Prompts drawn from a ground-truth mask: its box, a jittered box, a click inside it."""
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
