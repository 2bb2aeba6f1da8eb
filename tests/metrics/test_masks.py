import numpy as np
import pytest
import torch

from samprompt.errors import ImageFormatError
from samprompt.metrics import binary_mask_iou, intersection_union, region_similarity


def square(size: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    mask = np.zeros((size, size), dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_binary_mask_iou_with_ignore_band():
    gt = square(4, 0, 2, 0, 4)                  # 8 pixels
    pred = square(4, 0, 3, 0, 4)                # 12 pixels: 4 false positives in row 2
    assert binary_mask_iou(pred, gt) == pytest.approx(8 / 12)
    ignore = square(4, 2, 3, 0, 4)
    assert binary_mask_iou(pred, gt, ignore) == 1.0
    assert intersection_union(pred, gt, ignore) == (8, 8)
    assert binary_mask_iou(np.zeros((2, 2), bool), np.zeros((2, 2), bool)) == 1.0


def test_binary_mask_iou_takes_torch_and_0_1_masks_and_is_davis_j():
    gt, pred = square(4, 0, 2, 0, 4), square(4, 0, 3, 0, 4)
    assert binary_mask_iou(torch.from_numpy(pred), gt.astype(np.uint8)) == pytest.approx(8 / 12)
    assert region_similarity(pred, gt) == binary_mask_iou(pred, gt)


def test_binary_mask_iou_refuses_bad_shapes():
    with pytest.raises(ImageFormatError, match="differ in size"):
        binary_mask_iou(np.zeros((4, 4), bool), np.zeros((4, 5), bool))
    with pytest.raises(ImageFormatError, match="ignore"):
        binary_mask_iou(np.zeros((4, 4), bool), np.zeros((4, 4), bool), np.zeros((2, 2), bool))
    with pytest.raises(ImageFormatError, match="H x W"):
        binary_mask_iou(np.zeros((1, 4, 4), bool), np.zeros((1, 4, 4), bool))
