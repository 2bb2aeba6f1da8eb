"""Clicks drawn as disks: the dense prompt maps both SAM-REF refiners read."""
from __future__ import annotations

import torch
from torch import Tensor

from samprompt.errors import PromptError


def click_maps(points: Tensor, labels: Tensor, size: tuple[int, int], radius: float) -> Tensor:
    """Positive and negative click disks.

    Args:
        points: P x N x 2 (x, y) click positions in the map's continuous frame (pixel u
            covers [u, u + 1)), e.g. a pixel index + 0.5.
        labels: P x N, 1 positive, 0 negative, anything else (SAM's -1 padding) ignored.
        size: (H, W) of the maps.
        radius: disk radius in map pixels (a pixel belongs to a disk when its centre does).
    Returns:
        P x 2 x H x W float maps in the points' dtype (channel 0 positive, 1 negative).
    """
    if points.ndim != 3 or points.shape[-1] != 2 or labels.shape != points.shape[:2]:
        raise PromptError(f"points must be P x N x 2 and labels P x N, got {tuple(points.shape)} "
                          f"and {tuple(labels.shape)}")
    h, w = size
    dtype = points.dtype if points.is_floating_point() else torch.float32
    ys = torch.arange(h, device=points.device, dtype=dtype) + 0.5
    xs = torch.arange(w, device=points.device, dtype=dtype) + 0.5
    dx = xs.view(1, 1, 1, w) - points[..., 0, None, None].to(dtype)       # P x N x 1 x W
    dy = ys.view(1, 1, h, 1) - points[..., 1, None, None].to(dtype)       # P x N x H x 1
    inside = dx.square() + dy.square() <= radius ** 2                     # P x N x H x W
    maps = [(inside & (labels == value)[..., None, None]).any(1) for value in (1, 0)]
    return torch.stack(maps, dim=1).to(dtype)
