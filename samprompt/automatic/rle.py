"""Run-length encodings of binary masks, in the COCO formats `SamAutomaticMaskGenerator` writes.

- **uncompressed RLE**: `{"size": [H, W], "counts": [...]}`, the mask read in column-major
  (Fortran) order as alternating runs of 0 and 1, starting with a run of 0 (of length 0 when the
  first pixel is set) — pycocotools' `frPyObjects` input.
- **COCO RLE**: the same counts compressed to a string as pycocotools' `rleToString` does
  (`samprompt.data.coco_masks.encode_rle_counts`, beside the decoder the dataset loaders use).

Decoding either form is `samprompt.data.coco_masks.rle_to_mask`, re-exported here.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from samprompt.data.coco_masks import encode_rle_counts, rle_to_mask

__all__ = ["masks_to_rle", "rle_area", "rle_to_coco", "rle_to_mask"]


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


def rle_area(rle: dict[str, Any]) -> int:
    """Pixels set in an uncompressed RLE (the sum of its 1-runs)."""
    return int(sum(rle["counts"][1::2]))


def rle_to_coco(rle: dict[str, Any]) -> dict[str, Any]:
    """Uncompressed RLE -> COCO's compressed RLE, `{"size": [H, W], "counts": str}`."""
    return {"size": list(rle["size"]), "counts": encode_rle_counts(list(rle["counts"]))}
