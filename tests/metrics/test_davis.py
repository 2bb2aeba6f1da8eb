"""J and F against values worked out by hand on tiny masks."""
from __future__ import annotations

import numpy as np
import pytest

from samprompt.metrics import boundary_map, contour_accuracy, mean_video_scores, region_similarity, video_scores
from samprompt.metrics.davis import boundary_radius, dilate


def pixel(shape, row, col):
    mask = np.zeros(shape, bool)
    mask[row, col] = True
    return mask


def test_region_similarity_by_hand():
    pred, true = np.zeros((4, 4), bool), np.zeros((4, 4), bool)
    pred[:2, :2] = True
    true[:2, :3] = True
    assert region_similarity(pred, true) == pytest.approx(4 / 6)
    assert region_similarity(np.zeros((4, 4)), np.zeros((4, 4))) == 1.0   # both empty
    assert region_similarity(np.zeros((4, 4)), true) == 0.0               # missed object
    assert region_similarity(pred, np.zeros((4, 4))) == 0.0               # object absent


def test_boundary_of_a_single_pixel():
    # a pixel is a boundary, and so are its west, north and north-west neighbours
    assert sorted(zip(*np.nonzero(boundary_map(pixel((6, 6), 2, 2))))) == [(1, 1), (1, 2), (2, 1), (2, 2)]
    # bottom-right corner pixel: the DAVIS convention never marks it
    assert not boundary_map(pixel((3, 3), 2, 2))[2, 2]


def test_contour_accuracy_by_hand():
    true, pred = pixel((8, 8), 2, 2), pixel((8, 8), 2, 4)
    # boundaries {(1,1),(1,2),(2,1),(2,2)} and {(1,3),(1,4),(2,3),(2,4)}: within radius 1 half of
    # each side's pixels are matched (P = R = 1/2); within radius 2 all are.
    assert boundary_radius((8, 8)) == 1                       # ceil(0.008 x 11.3)
    assert contour_accuracy(pred, true) == pytest.approx(0.5)
    assert contour_accuracy(pred, true, tolerance=2) == pytest.approx(1.0)
    far = pixel((8, 8), 6, 7)
    assert contour_accuracy(far, true) == 0.0                 # P + R = 0


def test_contour_accuracy_empty_masks():
    empty, obj = np.zeros((8, 8), bool), pixel((8, 8), 3, 3)
    assert contour_accuracy(empty, empty) == 1.0   # P = R = 1
    assert contour_accuracy(empty, obj) == 0.0     # P = 1, R = 0
    assert contour_accuracy(obj, empty) == 0.0     # P = 0, R = 1


def test_dilation_is_a_disk():
    grown = dilate(pixel((9, 9), 4, 4), 2)
    assert grown.sum() == 13                      # offsets with dx^2 + dy^2 <= 4
    assert grown[4, 6] and grown[2, 4] and not grown[2, 2]


def test_video_scores_average_frames_then_videos():
    true = [pixel((8, 8), 2, 2), np.zeros((8, 8), bool)]
    pred = [pixel((8, 8), 2, 2), np.zeros((8, 8), bool)]
    assert video_scores(pred, true) == {"J": 1.0, "F": 1.0, "J&F": 1.0}
    half = video_scores([pixel((8, 8), 2, 4), np.zeros((8, 8), bool)], true)
    assert half == {"J": 0.5, "F": 0.75, "J&F": 0.625}
    assert mean_video_scores([half, {"J": 1.0, "F": 1.0, "J&F": 1.0}])["J&F"] == pytest.approx(0.8125)
    with pytest.raises(ValueError, match="one prediction per target"):
        video_scores(pred[:1], true)
