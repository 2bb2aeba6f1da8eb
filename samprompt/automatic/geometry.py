"""Boxes of masks and the crop bookkeeping of automatic mask generation (segment-anything's rules)."""
from __future__ import annotations

import torch
from torch import Tensor


def mask_boxes(masks: Tensor) -> Tensor:
    """B x H x W boolean masks -> B x 4 int64 boxes (x0, y0, x1, y1), inclusive pixel indices of
    the extreme set pixels; [0, 0, 0, 0] for an empty mask."""
    if masks.numel() == 0:
        return torch.zeros(masks.shape[0], 4, dtype=torch.long, device=masks.device)
    height, width = masks.shape[-2:]
    rows, cols = masks.any(dim=2), masks.any(dim=1)
    row_index = torch.arange(height, device=masks.device)
    col_index = torch.arange(width, device=masks.device)
    top = torch.where(rows, row_index, height).amin(dim=1)
    bottom = torch.where(rows, row_index, -1).amax(dim=1)
    left = torch.where(cols, col_index, width).amin(dim=1)
    right = torch.where(cols, col_index, -1).amax(dim=1)
    boxes = torch.stack([left, top, right, bottom], dim=1)
    return torch.where(rows.any(dim=1)[:, None], boxes, torch.zeros_like(boxes))


def near_crop_edge(boxes: Tensor, crop_box: list[int], image_box: list[int], tolerance: float = 20.0) -> Tensor:
    """B boolean: a box (in crop coordinates) lies within `tolerance` px of an edge of its crop
    that is not also an edge of the image (such masks are likely cut off by the crop)."""
    crop = torch.as_tensor(crop_box, dtype=torch.float, device=boxes.device)
    image = torch.as_tensor(image_box, dtype=torch.float, device=boxes.device)
    placed = shift_boxes(boxes, crop_box).float()
    at_crop = (placed - crop).abs() <= tolerance
    at_image = (placed - image).abs() <= tolerance
    return (at_crop & ~at_image).any(dim=1)


def shift_boxes(boxes: Tensor, crop_box: list[int]) -> Tensor:
    """B x 4 boxes from a crop's coordinates to the image's."""
    x0, y0 = crop_box[:2]
    return boxes + torch.tensor([[x0, y0, x0, y0]], device=boxes.device)


def shift_points(points: Tensor, crop_box: list[int]) -> Tensor:
    """B x 2 points from a crop's coordinates to the image's."""
    return points + torch.tensor([crop_box[:2]], device=points.device)


def place_masks(masks: Tensor, crop_box: list[int], image_size: tuple[int, int]) -> Tensor:
    """B x h x w masks of a crop -> B x H x W masks of the image (zeros outside the crop)."""
    x0, y0, x1, y1 = crop_box
    height, width = image_size
    if (x0, y0, x1, y1) == (0, 0, width, height):
        return masks
    return torch.nn.functional.pad(masks, (x0, width - x1, y0, height - y1), value=0)


def box_xywh(box: list) -> list:
    """[x0, y0, x1, y1] -> [x0, y0, w, h] (a list of the same number type)."""
    x0, y0, x1, y1 = box
    return [x0, y0, x1 - x0, y1 - y0]
