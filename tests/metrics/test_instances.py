"""Instance segmentation scores: matched IoU and COCO mask AP through pycocotools."""
from __future__ import annotations

import numpy as np
import pytest

from samprompt.metrics.instances import mask_average_precision, mask_ious, matched_ious


def boxes_mask(shape: tuple[int, int], *boxes: tuple[int, int, int, int]) -> np.ndarray:
    mask = np.zeros(shape, bool)
    for x0, y0, x1, y1 in boxes:
        mask[y0:y1, x0:x1] = True
    return mask


def test_mask_ious_and_matching() -> None:
    truth = np.stack([boxes_mask((20, 20), (0, 0, 10, 10)), boxes_mask((20, 20), (10, 10, 20, 20))])
    predicted = np.stack([boxes_mask((20, 20), (0, 0, 10, 5)), boxes_mask((20, 20), (10, 10, 20, 20)),
                          np.zeros((20, 20), bool)])
    ious = mask_ious(predicted, truth)
    assert np.allclose(ious, [[0.5, 0.0], [0.0, 1.0], [0.0, 0.0]])
    assert matched_ious(predicted, ["a", "b", "a"], truth, ["a", "b"]) == [0.5, 1.0]
    assert matched_ious(predicted, ["b", "a", "a"], truth, ["a", "b"]) == [0.0, 0.0]
    assert matched_ious(predicted, ["b", "a", "a"], truth, ["a", "b"], class_aware=False) == [0.5, 1.0]
    assert matched_ious(predicted[:0], [], truth, ["a", "b"]) == [0.0, 0.0]


def test_mask_ap_perfect_wrong_and_half() -> None:
    truth = np.stack([boxes_mask((40, 40), (0, 0, 20, 20)), boxes_mask((40, 40), (20, 20, 40, 40))])
    image = {"truth": truth, "truth_labels": ["a", "b"]}
    perfect = mask_average_precision([{**image, "predicted": truth, "predicted_labels": ["a", "b"],
                                       "scores": [0.9, 0.8]}])
    assert perfect["AP"] == pytest.approx(1.0) and perfect["AP50"] == pytest.approx(1.0)
    swapped = mask_average_precision([{**image, "predicted": truth, "predicted_labels": ["b", "a"],
                                       "scores": [0.9, 0.8]}])
    assert swapped["AP"] == pytest.approx(0.0)
    half = mask_average_precision([{**image, "predicted": truth[:1], "predicted_labels": ["a"], "scores": [0.9]}])
    assert half["AP"] == pytest.approx(0.5)       # class a found, class b missed: the mean over classes
    assert mask_average_precision([{**image, "predicted": truth[:0], "predicted_labels": [], "scores": []}]) == \
        {"AP": 0.0, "AP50": 0.0}
