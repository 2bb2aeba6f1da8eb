"""The detail window: where the new mask differs most from the previous one, cropped and pasted back."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import Tensor
from torchvision.ops import roi_align


def largest_region_box(region: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1), end-exclusive, of the largest 8-connected component of a boolean map."""
    labelled, count = ndimage.label(region, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return None
    sizes = np.bincount(labelled.ravel())[1:]
    ys, xs = np.nonzero(labelled == int(sizes.argmax()) + 1)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def square_window(box: tuple[int, int, int, int], limits: tuple[int, int], margin: float, min_side: int
                  ) -> tuple[int, int, int, int]:
    """A square around `box` grown by `margin` x its side on each side (at least `min_side`),
    shifted to lie inside [0, W) x [0, H) with `limits` = (H, W) (and cut where it cannot fit)."""
    x0, y0, x1, y1 = box
    h_limit, w_limit = limits
    side = max(x1 - x0, y1 - y0)
    side = max(int(round(side * (1 + 2 * margin))), min_side)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    edges = []
    for centre, limit in ((cx, w_limit), (cy, h_limit)):
        length = min(side, limit)
        start = int(round(centre - length / 2))
        start = min(max(start, 0), limit - length)
        edges.append((start, start + length))
    (wx0, wx1), (wy0, wy1) = edges
    return wx0, wy0, wx1, wy1


def detail_windows(current: Tensor, previous: Tensor | None, valid: Tensor, margin: float, min_side: int
                   ) -> Tensor:
    """One detail window per row: the square around the largest region where the current mask
    differs from the previous one (from the empty mask at the first click).

    Args:
        current: P x 1 x S x S logits.
        previous: P x 1 x S x S logits, or None.
        valid: P x 2 (H, W) of the image inside the padded frame (the rest is padding).
    Returns:
        P x 4 long (x0, y0, x1, y1) end-exclusive windows; rows without a difference get -1s.
    """
    changed = current[:, 0] > 0
    if previous is not None:
        changed = changed ^ (previous[:, 0] > 0)
    changed = changed.cpu().numpy()
    windows = torch.full((current.shape[0], 4), -1, dtype=torch.long)
    for row, (h, w) in enumerate(valid.tolist()):
        box = largest_region_box(changed[row, :h, :w])
        if box is not None:
            windows[row] = torch.tensor(square_window(box, (h, w), margin, min_side))
    return windows.to(current.device)


def crop(maps: Tensor, windows: Tensor, rows: Tensor, size: int, scale: float = 1.0) -> Tensor:
    """Bilinear crops of `maps` (N x C x H x W) resampled to size x size.

    `windows` (K x 4, x0 y0 x1 y1) times `scale` are `maps` pixels (a window given in a 256
    frame cropping a 1024 map has scale 4); `rows` (K) pick the map of each window.
    """
    boxes = torch.cat([rows[:, None].to(maps.device, torch.float32), windows.to(maps.device, torch.float32)], dim=1)
    out = roi_align(maps.float(), boxes, output_size=size, spatial_scale=scale, sampling_ratio=-1, aligned=True)
    return out.to(maps.dtype)


def paste(base: Tensor, patches: Tensor, windows: Tensor, rows: Tensor) -> Tensor:
    """`base` (P x C x S x S) with each patch (K x C x L x L) resized into its window on row `rows[k]`."""
    out = base.clone()
    for patch, (x0, y0, x1, y1), row in zip(patches, windows.tolist(), rows.tolist()):
        out[row, :, y0:y1, x0:x1] = F.interpolate(patch[None], size=(y1 - y0, x1 - x0), mode="bilinear",
                                                  align_corners=False)[0].to(out.dtype)
    return out
