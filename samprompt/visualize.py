"""Pictures of results: mask overlays and side-by-side panels."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from samprompt.utils.files import atomic_file


def overlay(image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int] = (255, 200, 0),
            alpha: float = 0.5) -> np.ndarray:
    """H x W x 3 uint8: `image` with `mask` (H x W bool) tinted in `colour`."""
    out = image.astype(np.float32)
    out[mask] = (1 - alpha) * out[mask] + alpha * np.asarray(colour, np.float32)
    return out.astype(np.uint8)


def side_by_side(image: np.ndarray, prediction: np.ndarray, truth: np.ndarray | None = None) -> np.ndarray:
    """Image | prediction overlay | ground-truth overlay (if given), with 4-pixel gaps."""
    panels = [image, overlay(image, prediction)]
    if truth is not None:
        panels.append(overlay(image, truth, (0, 220, 120)))
    return _row(panels)


def _row(panels: list[np.ndarray]) -> np.ndarray:
    """Same-height H x W x 3 panels side by side with 4-pixel white gaps."""
    gap = np.full((panels[0].shape[0], 4, 3), 255, np.uint8)
    row = [panels[0]]
    for panel in panels[1:]:
        row += [gap, panel]
    return np.concatenate(row, axis=1)


def colour_labels(labels: np.ndarray, ignore_index: int = 255) -> np.ndarray:
    """H x W class indexes -> H x W x 3 uint8, a fixed distinct colour per class (ignore: black)."""
    index = labels.astype(np.int64)
    palette = np.stack([(index * 97 + 40) % 256, (index * 57 + 140) % 256, (index * 151 + 90) % 256], axis=-1)
    palette[index == ignore_index] = 0
    return palette.astype(np.uint8)


def semantic_panels(image: np.ndarray, prediction: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Image | predicted class map | ground-truth class map, with 4-pixel gaps."""
    return _row([image, colour_labels(prediction), colour_labels(truth)])


def save_png(array: np.ndarray, path: str | Path) -> Path:
    """Write a uint8 array (H x W or H x W x 3) or a bool mask as a PNG, atomically."""
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    with atomic_file(path) as staging:
        Image.fromarray(array).save(staging, format="PNG")
    return Path(path)
