"""The RITM click simulator: where a user would click next, given the ground truth and the mask."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from scipy.ndimage import distance_transform_edt
from torch import Tensor

from samprompt.errors import ImageFormatError


@dataclass(frozen=True)
class Click:
    """A click on pixel (x = column, y = row); positive clicks add to the object, negative ones remove."""

    x: int
    y: int
    positive: bool = True


def click_tensors(rows: Sequence[Sequence[Click]], device: torch.device | str) -> tuple[Tensor, Tensor]:
    """P rows of N clicks each -> SAM's point prompts: P x N x 2 (x, y) float32 and P x N labels
    (1 positive, 0 negative)."""
    points = torch.tensor([[[c.x, c.y] for c in row] for row in rows], dtype=torch.float32, device=device)
    labels = torch.tensor([[int(c.positive) for c in row] for row in rows], device=device)
    return points, labels


def _padded_distance(region: np.ndarray) -> np.ndarray:
    """Exact Euclidean distance of every pixel of `region` to the nearest pixel outside it,
    the image border counting as outside (the map is padded by one background pixel).

    Computed on the region's bounding box padded by one pixel: for a pixel inside the box, the
    nearest outside pixel is never beyond that ring of outside pixels (clamping any farther one
    onto the ring brings it closer), so the values are those of the whole map, at a fraction of
    the cost when the errors are small against the image."""
    depth = np.zeros(region.shape, dtype=np.float64)
    rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
    if not len(rows):
        return depth
    (top, bottom), (left, right) = (rows[0], rows[-1] + 1), (cols[0], cols[-1] + 1)
    depth[top:bottom, left:right] = distance_transform_edt(np.pad(region[top:bottom, left:right], 1))[1:-1, 1:-1]
    return depth


def next_click(gt: np.ndarray, pred: np.ndarray, *, clicked: Sequence[Click] = (),
               ignore: np.ndarray | None = None) -> Click | None:
    """The next simulated click (RITM protocol).

    False negatives fn = gt & ~pred and false positives fp = ~gt & pred (ignore pixels
    excluded) get an exact Euclidean distance transform on one-pixel padded maps; pixels
    already clicked are set to 0. The click is positive if the deepest false-negative pixel
    is strictly deeper than the deepest false-positive one (a tie clicks negative) and lands
    on the deepest pixel of its kind, the first in row-major order when several tie.

    Args:
        gt, pred: H x W boolean ground truth and current mask.
        clicked: clicks made so far.
        ignore: H x W boolean pixels that count for neither (e.g. GrabCut's boundary band).
    Returns:
        the `Click`, or None when no error is left to click on (the mask is perfect).
    """
    gt, pred = np.asarray(gt, dtype=bool), np.asarray(pred, dtype=bool)
    if gt.ndim != 2 or gt.shape != pred.shape:
        raise ImageFormatError(f"gt and pred must be H x W maps of one shape, got {gt.shape} and {pred.shape}")
    fn, fp = gt & ~pred, ~gt & pred
    if ignore is not None:
        fn &= ~ignore
        fp &= ~ignore
    fn_depth, fp_depth = _padded_distance(fn), _padded_distance(fp)
    for click in clicked:
        fn_depth[click.y, click.x] = 0
        fp_depth[click.y, click.x] = 0
    fn_max, fp_max = fn_depth.max(), fp_depth.max()
    if max(fn_max, fp_max) == 0:
        return None
    positive = bool(fn_max > fp_max)
    depth = fn_depth if positive else fp_depth
    y, x = np.argwhere(depth == depth.max())[0]
    return Click(int(x), int(y), positive)

