"""Run-length encodings of binary masks, in the COCO formats `SamAutomaticMaskGenerator` writes.

- **uncompressed RLE**: `{"size": [H, W], "counts": [...]}`, the mask read in column-major
  (Fortran) order as alternating runs of 0 and 1, starting with a run of 0 (of length 0 when the
  first pixel is set) — pycocotools' `frPyObjects` input.
- **COCO RLE**: the same counts compressed to a string as pycocotools' `rleToString` does: each
  count (from the third on, minus the count two before it) written as 5-bit groups, low bits
  first, with 0x20 set on every group but the last and 48 added to each, as ASCII.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor


def masks_to_rle(masks: Tensor) -> list[dict[str, Any]]:
    """B x H x W boolean masks -> B uncompressed RLEs (column-major runs, a 0-run first)."""
    count, height, width = masks.shape
    flat = masks.transpose(1, 2).flatten(1)
    changes = (flat[:, 1:] ^ flat[:, :-1]).nonzero()
    rows = changes[:, 0].cpu()
    positions = changes[:, 1].cpu()
    starts = torch.searchsorted(rows, torch.arange(count + 1))
    first_set = flat[:, 0].cpu().tolist()
    encoded = []
    for i in range(count):
        bounds = torch.cat([torch.tensor([0]), positions[starts[i]:starts[i + 1]] + 1, torch.tensor([height * width])])
        runs = (bounds[1:] - bounds[:-1]).tolist()
        encoded.append({"size": [height, width], "counts": ([0] if first_set[i] else []) + runs})
    return encoded


def rle_to_mask(rle: dict[str, Any]) -> np.ndarray:
    """Uncompressed RLE -> H x W bool array."""
    height, width = rle["size"]
    counts = np.asarray(rle["counts"], dtype=np.int64)
    values = np.arange(len(counts)) % 2 == 1
    return np.repeat(values, counts).reshape(width, height).T.copy()


def rle_area(rle: dict[str, Any]) -> int:
    """Pixels set in an uncompressed RLE (the sum of its 1-runs)."""
    return int(sum(rle["counts"][1::2]))


def rle_to_coco(rle: dict[str, Any]) -> dict[str, Any]:
    """Uncompressed RLE -> COCO's compressed RLE, `{"size": [H, W], "counts": str}` (module docstring)."""
    counts = list(rle["counts"])
    chars = []
    for i, count in enumerate(counts):
        value = count - counts[i - 2] if i > 2 else count
        more = True
        while more:
            group = value & 0x1F
            value >>= 5
            more = not ((value == 0 and not group & 0x10) or (value == -1 and group & 0x10))
            chars.append(chr(group + (0x20 if more else 0) + 48))
    return {"size": list(rle["size"]), "counts": "".join(chars)}
