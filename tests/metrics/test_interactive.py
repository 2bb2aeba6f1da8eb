import pytest

from samprompt.errors import ConfigError
from samprompt.metrics.interactive import number_of_clicks, padded_curve, summarize


def test_number_of_clicks_by_hand():
    curve = [0.5, 0.86, 0.91, 0.96]
    assert number_of_clicks(curve, 0.85) == 2
    assert number_of_clicks(curve, 0.90) == 3
    assert number_of_clicks(curve, 0.95) == 4
    assert number_of_clicks(curve, 0.99, max_clicks=20) == 20
    assert number_of_clicks([0.5, 0.6, 0.99], 0.9, max_clicks=2) == 2  # reached only after the limit


def test_summary_by_hand():
    a = [0.5, 0.86, 0.91, 0.96, 0.97]
    b = [0.1, 0.2, 0.3, 0.4, 0.88]
    c = [1.0]                                   # perfect after one click: the run stopped there
    summary = summarize([a, b, c], thresholds=(0.85, 0.90), max_clicks=5)
    assert summary["NoC@85"] == pytest.approx((2 + 5 + 1) / 3)
    assert summary["NoC@90"] == pytest.approx((3 + 5 + 1) / 3)
    assert summary["NoF@85"] == 1        # b reaches 0.85 only at the last click: RITM counts NoC == budget
    assert summary["NoF@90"] == 1
    assert summary["5-mIoU"] == pytest.approx((0.97 + 0.88 + 1.0) / 3)
    assert summary["miou_per_click"][0] == pytest.approx((0.5 + 0.1 + 1.0) / 3, abs=1e-4)
    assert summary["objects"] == 3


def test_padded_curve_and_empty_input():
    assert padded_curve([0.2, 0.7], 4).tolist() == [0.2, 0.7, 0.7, 0.7]
    with pytest.raises(ValueError):
        summarize([])


def test_a_start_mask_that_reaches_the_threshold_counts_zero_clicks():
    curves = [[0.5, 0.95], [0.5, 0.6]]
    plain = summarize(curves, thresholds=(0.9,), max_clicks=2)
    started = summarize(curves, thresholds=(0.9,), max_clicks=2, start_ious=[0.2, 0.93])
    assert plain["NoC@90"] == pytest.approx((2 + 2) / 2) and plain["NoF@90"] == 2
    assert started["NoC@90"] == pytest.approx((2 + 0) / 2) and started["NoF@90"] == 1   # the first at the budget
    assert started["start_miou"] == pytest.approx(0.565)
    assert number_of_clicks([0.95], 0.9, start_iou=0.91) == 0 and number_of_clicks([0.95], 0.9, start_iou=0.5) == 1
    with pytest.raises(ConfigError, match="start_ious"):
        summarize(curves, start_ious=[0.1])


def test_nof_is_ritms_count_of_objects_at_the_click_budget():
    """RITM's compute_noc_metric: over_max = (NoC == max_clicks).sum(), so [0.5] x 19 + [0.95]
    is a failure at 85 and 90 (reached exactly at click 20), and at 95 (never reached)."""
    summary = summarize([[0.5] * 19 + [0.95], [0.9] * 20], thresholds=(0.85, 0.90, 0.95), max_clicks=20)
    assert summary["NoF@85"] == 1 and summary["NoF@90"] == 1 and summary["NoF@95"] == 2
    assert summary["NoC@85"] == pytest.approx((20 + 1) / 2) == summary["NoC@90"]


def test_an_object_without_pixels_outside_the_ignore_region_fails_and_leaves_the_means():
    nan = float("nan")
    summary = summarize([[nan], [0.5, 0.95]], thresholds=(0.9,), max_clicks=3)
    assert summary["NoC@90"] == pytest.approx((3 + 2) / 2) and summary["NoF@90"] == 1
    assert summary["undefined_objects"] == 1 and summary["miou_per_click"] == [0.5, 0.95, 0.95]
    assert summary["5-mIoU"] == pytest.approx(0.95)
    with pytest.raises(ValueError, match="every object's IoU is undefined"):
        summarize([[nan], [nan]])
