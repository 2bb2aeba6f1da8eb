"""Semantic scores against confusion matrices worked out by hand."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from samprompt.metrics import ConfusionMatrix, format_iou_table


def test_confusion_matrix_and_scores_by_hand():
    label = np.array([[0, 0, 1, 1],
                      [0, 0, 1, 255],
                      [2, 2, 2, 255]])
    pred = np.array([[0, 1, 1, 1],
                     [0, 0, 0, 2],
                     [2, 2, 1, 0]])
    matrix = ConfusionMatrix(4)
    matrix.add(pred, torch.as_tensor(label))
    # rows: truth 0 -> pred (0,1,0,0 | 0,0) = [3, 1, 0]; truth 1 -> [1, 2, 0]; truth 2 -> [0, 1, 2]
    np.testing.assert_array_equal(matrix.counts[:3, :3], [[3, 1, 0], [1, 2, 0], [0, 1, 2]])
    summary = matrix.summary(["sky", "tree", "road", "boat"])
    iou = {"sky": 3 / (4 + 4 - 3), "tree": 2 / (3 + 4 - 2), "road": 2 / (3 + 2 - 2)}
    assert summary["per_class_iou"]["boat"] is None          # absent everywhere: not averaged
    for name, value in iou.items():
        assert summary["per_class_iou"][name] == pytest.approx(value)
    assert summary["miou"] == pytest.approx(np.mean(list(iou.values())))
    assert summary["fwiou"] == pytest.approx(4 / 10 * iou["sky"] + 3 / 10 * iou["tree"] + 3 / 10 * iou["road"])
    assert summary["pixel_accuracy"] == pytest.approx(7 / 10)
    table = format_iou_table(summary["per_class_iou"]).splitlines()
    assert table[0].startswith("road") and table[-1].startswith("boat") and table[-1].endswith("-")


def test_the_two_mean_iou_conventions_by_name():
    """Prediction [0, 0, 1, 2] vs labels [0, 0, 1, 1] over 3 classes: detectron2's evaluator leaves
    class 2 (predicted, never labelled) out of the mean, mmsegmentation scores it 0."""
    matrix = ConfusionMatrix(3)
    matrix.add(np.array([0, 0, 1, 2]), np.array([0, 0, 1, 1]))
    detectron2, mmseg = matrix.summary(), matrix.summary(convention="mmseg")
    assert detectron2["miou"] == pytest.approx(0.75) and detectron2["convention"] == "detectron2"
    assert mmseg["miou"] == pytest.approx(0.5) and mmseg["convention"] == "mmseg"
    assert detectron2["per_class_iou"]["2"] is None and mmseg["per_class_iou"]["2"] == 0.0
    assert detectron2["macc"] == pytest.approx((1 + 0.5) / 2) == mmseg["macc"]
    assert detectron2["fwiou"] == pytest.approx(2 / 4 * 1 + 2 / 4 * 0.5)
    with pytest.raises(ValueError, match="convention must be one of"):
        matrix.summary(convention="ade")


def test_bad_inputs_are_named():
    matrix = ConfusionMatrix(3)
    with pytest.raises(ValueError, match="differ in size"):
        matrix.add(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"label values \[7\]"):
        matrix.add(np.zeros((2, 2)), np.full((2, 2), 7))
    with pytest.raises(ValueError, match="predicted classes"):
        matrix.add(np.full((2, 2), 3), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="no labelled pixels"):
        matrix.summary()
