"""The parts of automatic mask generation against segment-anything's own helpers and pycocotools."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from pycocotools import mask as coco_mask
from segment_anything.utils import amg

from samprompt.automatic.geometry import mask_boxes, near_crop_edge
from samprompt.automatic.grids import crop_boxes, layer_point_grids
from samprompt.automatic.regions import remove_small_regions
from samprompt.automatic.rle import masks_to_rle, rle_area, rle_to_coco, rle_to_mask


def random_masks(count: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.RandomState(seed)
    blobs = rng.rand(count, height // 4 + 1, width // 4 + 1) > 0.6
    masks = np.kron(blobs, np.ones((4, 4), dtype=bool))[:, :height, :width] ^ (rng.rand(count, height, width) > 0.97)
    masks[0] = False            # an empty mask
    masks[1, 0, 0] = True       # a mask whose first pixel is set
    return torch.as_tensor(masks)


@pytest.mark.parametrize("points, layers, factor", [(32, 0, 1), (10, 2, 2), (7, 1, 1)])
def test_point_grids_are_segment_anythings(points: int, layers: int, factor: int) -> None:
    for ours, theirs in zip(layer_point_grids(points, layers, factor),
                            amg.build_all_layer_point_grids(points, layers, factor), strict=True):
        assert np.array_equal(ours, theirs)


@pytest.mark.parametrize("size, layers, overlap",
                         [((480, 640), 2, 512 / 1500), ((101, 57), 1, 0.3), ((64, 64), 0, 0.1)])
def test_crop_boxes_are_segment_anythings(size: tuple[int, int], layers: int, overlap: float) -> None:
    assert crop_boxes(size, layers, overlap) == amg.generate_crop_boxes(size, layers, overlap)


def test_rle_matches_segment_anything_and_round_trips() -> None:
    masks = random_masks(6, 37, 29)
    ours = masks_to_rle(masks)
    assert ours == amg.mask_to_rle_pytorch(masks)
    for rle, mask in zip(ours, masks.numpy()):
        assert np.array_equal(rle_to_mask(rle), mask)
        assert rle_area(rle) == int(mask.sum()) == amg.area_from_rle(rle)


def test_coco_rle_matches_pycocotools() -> None:
    for rle in masks_to_rle(random_masks(6, 41, 33, seed=1)):
        theirs = coco_mask.frPyObjects(rle, *rle["size"])
        assert rle_to_coco(rle) == {"size": rle["size"], "counts": theirs["counts"].decode()}
        assert np.array_equal(coco_mask.decode(theirs).astype(bool), rle_to_mask(rle))


def test_boxes_match_segment_anything() -> None:
    masks = random_masks(8, 30, 44, seed=2)
    assert torch.equal(mask_boxes(masks), amg.batched_mask_to_box(masks))
    crop = [10, 5, 40, 30]
    assert torch.equal(near_crop_edge(mask_boxes(masks), crop, [0, 0, 100, 80]),
                       amg.is_box_near_crop_edge(amg.batched_mask_to_box(masks), crop, [0, 0, 100, 80]))


@pytest.mark.parametrize("mode", ["holes", "islands"])
@pytest.mark.parametrize("area", [3, 20, 10_000])
def test_region_removal_matches_segment_anythings_opencv_version(mode: str, area: int) -> None:
    pytest.importorskip("cv2", reason="segment-anything's version needs OpenCV (the test extra installs it)")
    changed_any = False
    for mask in random_masks(6, 40, 40, seed=3).numpy():
        ours, changed = remove_small_regions(mask, area, mode)
        theirs, their_changed = amg.remove_small_regions(mask, area, mode)
        assert changed == their_changed and np.array_equal(ours, theirs)
        changed_any |= changed
    assert changed_any
