from __future__ import annotations

import numpy as np
import pytest
import torch

from samprompt.metrics import ReferringScores


def test_miou_oiou_and_precision_by_hand():
    scores = ReferringScores()
    pred, true = np.zeros((4, 4), bool), np.zeros((4, 4), bool)
    pred[:2, :2] = True
    true[:2, :3] = True
    assert scores.add(pred, true) == pytest.approx(4 / 6)
    other = np.zeros((4, 4), bool)
    other[3, :] = True
    assert scores.add(torch.as_tensor(other), pred[:, ::-1].copy()) == 0.0   # 4 + 4 pixels, none shared
    summary = scores.summary()
    assert summary["miou"] == pytest.approx((4 / 6 + 0) / 2)
    assert summary["oiou"] == pytest.approx(4 / (6 + 8))
    assert summary["prec@0.5"] == 0.5 and summary["prec@0.7"] == 0.0 and summary["count"] == 2


def test_shapes_must_match():
    with pytest.raises(ValueError, match="differ in size"):
        ReferringScores().add(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="no predictions"):
        ReferringScores().summary()


def test_precision_counts_an_iou_equal_to_the_threshold_and_empty_on_empty_scores_zero():
    """LAVT's bookkeeping: `this_iou >= eval_seg_iou`, and `this_iou = 0` when U == 0."""
    scores = ReferringScores()
    pred, true = np.zeros((4, 4), bool), np.zeros((4, 4), bool)
    pred[0, :2] = True
    true[0, :4] = True
    assert scores.add(pred, true) == 0.5                                     # exactly at the threshold
    assert scores.add(np.zeros((4, 4), bool), np.zeros((4, 4), bool)) == 0.0  # U = 0
    summary = scores.summary()
    assert summary["prec@0.5"] == 0.5 and summary["prec@0.6"] == 0.0
    assert summary["miou"] == pytest.approx(0.25) and summary["oiou"] == pytest.approx(2 / 4)
    only_empty = ReferringScores()
    only_empty.add(np.zeros((2, 2)), np.zeros((2, 2)))
    assert only_empty.summary()["oiou"] == 0.0 and only_empty.summary()["miou"] == 0.0
