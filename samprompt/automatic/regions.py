"""Removing small disconnected regions and holes from masks (segment-anything's post-processing,
with scipy's labelling in place of OpenCV's; both label 8-connected components in scan order)."""
from __future__ import annotations

import numpy as np
from scipy import ndimage

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


def remove_small_regions(mask: np.ndarray, min_area: float, mode: str) -> tuple[np.ndarray, bool]:
    """Fill holes (`mode="holes"`) or drop islands (`mode="islands"`) smaller than `min_area` pixels.

    A hole is an 8-connected component of the mask's complement; the largest island is kept
    when every island is small. Returns the mask (H x W bool) and whether it changed.
    """
    if mode not in ("holes", "islands"):
        raise ValueError(f"mode must be 'holes' or 'islands', got {mode!r}")
    holes = mode == "holes"
    labels, count = ndimage.label(mask != holes, structure=EIGHT_CONNECTED)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    small = np.flatnonzero(sizes < min_area) + 1
    if len(small) == 0:
        return mask, False
    if holes:
        return np.isin(labels, np.concatenate([[0], small])), True
    kept = np.setdiff1d(np.arange(1, count + 1), small)
    if len(kept) == 0:
        kept = np.array([int(np.argmax(sizes)) + 1])
    return np.isin(labels, kept), True
