"""Where automatic mask generation looks: the point grid of each crop layer and the crop boxes.

The layout is segment-anything's (`SamAutomaticMaskGenerator`), so that the same settings ask
the model the same questions:

- a grid of n x n points, the centres of an n x n tiling of [0, 1]², x varying fastest;
- crop layer i (0 is the whole image) holds (2^i)² crops of one size whose neighbours overlap by
  `overlap_ratio` x the image's short side x 2 / 2^i pixels (floored), with
  crop length = ceil((overlap x (n - 1) + image length) / n) for n = 2^i crops per side;
- layer i's grid has floor(points_per_side / downscale_factor^i) points per side.
"""
from __future__ import annotations

import math

import numpy as np


def point_grid(points_per_side: int) -> np.ndarray:
    """points_per_side² x 2 (x, y) points in (0, 1), the centres of a square tiling, row by row (float64)."""
    half_step = 1 / (2 * points_per_side)
    axis = np.linspace(half_step, 1 - half_step, points_per_side)
    xs, ys = np.meshgrid(axis, axis, indexing="xy")
    return np.stack([xs, ys], axis=-1).reshape(-1, 2)


def layer_point_grids(points_per_side: int, crop_n_layers: int, downscale_factor: int) -> list[np.ndarray]:
    """One normalised point grid per crop layer (layer 0: the whole image)."""
    return [point_grid(int(points_per_side / downscale_factor ** layer)) for layer in range(crop_n_layers + 1)]


def crop_boxes(image_size: tuple[int, int], crop_n_layers: int, overlap_ratio: float
               ) -> tuple[list[list[int]], list[int]]:
    """Crop boxes [x0, y0, x1, y1] (pixels, x1 / y1 exclusive) of every layer and each box's layer.

    Args:
        image_size: (H, W).
        crop_n_layers: layers beyond the whole image; layer i has (2^i)² crops.
        overlap_ratio: overlap of neighbouring crops in the first layer, as a share of the short side.
    """
    height, width = image_size
    boxes, layers = [[0, 0, width, height]], [0]
    for layer in range(1, crop_n_layers + 1):
        per_side = 2 ** layer
        overlap = int(overlap_ratio * min(height, width) * 2 / per_side)
        crop_w = math.ceil((overlap * (per_side - 1) + width) / per_side)
        crop_h = math.ceil((overlap * (per_side - 1) + height) / per_side)
        x_starts = [int((crop_w - overlap) * i) for i in range(per_side)]
        y_starts = [int((crop_h - overlap) * i) for i in range(per_side)]
        for x0 in x_starts:       # x-major order, as segment-anything lists its crops
            for y0 in y_starts:
                boxes.append([x0, y0, min(x0 + crop_w, width), min(y0 + crop_h, height)])
                layers.append(layer)
    return boxes, layers
