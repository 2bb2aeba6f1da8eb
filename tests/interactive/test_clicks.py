import numpy as np
import pytest

from samprompt.interactive.clicks import Click, next_click


def square(size: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    mask = np.zeros((size, size), dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_first_click_is_the_centre_of_the_object():
    gt = square(9, 1, 8, 1, 8)  # 7 x 7: the centre pixel is 4 away from the background
    assert next_click(gt, np.zeros_like(gt)) == Click(4, 4, True)


def test_object_touching_the_border_is_measured_from_the_padding():
    gt = np.ones((5, 5), dtype=bool)  # no background pixel at all: the padding is the only outside
    assert next_click(gt, np.zeros_like(gt)) == Click(2, 2, True)


def test_false_positive_region_deeper_gives_a_negative_click():
    gt = square(12, 1, 4, 1, 4)                 # 3 x 3 object, found
    pred = gt | square(12, 5, 12, 5, 12)        # plus a 7 x 7 false positive touching the border
    click = next_click(gt, pred)
    assert click.positive is False
    assert (click.x, click.y) == (8, 8)         # its deepest pixel (distance 4 from the padding / background)


def test_a_tie_in_depth_clicks_negative():
    gt = square(10, 1, 4, 1, 4)                 # 3 x 3 missed object, depth 2 at (2, 2)
    pred = square(10, 1, 4, 6, 9)               # 3 x 3 false positive, depth 2 at (7, 2)
    assert next_click(gt, pred) == Click(7, 2, False)


def test_a_tie_inside_one_region_takes_the_first_pixel_in_row_major_order():
    gt = square(8, 3, 5, 2, 6)                  # 2 x 4: every pixel is at distance 1
    assert next_click(gt, np.zeros_like(gt)) == Click(2, 3, True)


def test_clicked_pixels_are_excluded():
    gt = square(9, 2, 5, 2, 5)                  # 3 x 3: centre (3, 3) at depth 2, the ring at depth 1
    first = next_click(gt, np.zeros_like(gt))
    assert first == Click(3, 3, True)
    assert next_click(gt, np.zeros_like(gt), clicked=[first]) == Click(2, 2, True)


def test_perfect_mask_gives_no_click():
    gt = square(6, 1, 4, 1, 4)
    assert next_click(gt, gt.copy()) is None


def test_ignored_pixels_are_not_errors():
    gt = square(9, 1, 8, 1, 8)
    ignore = square(9, 0, 9, 0, 5)              # the left part of the object does not count
    click = next_click(gt, np.zeros_like(gt), ignore=ignore)
    assert click.positive and click.x >= 5
    assert next_click(gt, gt & ~ignore, ignore=ignore) is None


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="one shape"):
        next_click(np.zeros((4, 4), bool), np.zeros((4, 5), bool))


def test_the_distance_on_the_regions_box_equals_the_distance_on_the_whole_map():
    from scipy.ndimage import distance_transform_edt

    from samprompt.interactive.clicks import _padded_distance

    rng = np.random.default_rng(0)
    regions = [np.zeros((9, 7), bool), np.ones((9, 7), bool)]
    for _ in range(60):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        if rng.random() < 0.5:
            regions.append(rng.random((h, w)) < rng.random())          # scattered, often touching the border
        else:
            region = np.zeros((h, w), bool)
            y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
            region[y:y + int(rng.integers(1, 20)), x:x + int(rng.integers(1, 20))] = True
            regions.append(region)
    for region in regions:
        whole = distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
        assert np.array_equal(_padded_distance(region), whole)
