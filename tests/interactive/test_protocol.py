"""The click protocol over objects, with RITM's treatment of the ignore region."""
import math

import numpy as np

from samprompt.interactive import evaluate_interactive


def test_an_object_entirely_in_the_ignore_region_has_no_iou_and_counts_as_a_failure(core, image):
    gt = np.zeros(image.shape[:2], bool)                                   # image: H x W x 3
    gt[4:12, 4:12] = True
    ignored = {"image": image, "mask": gt, "ignore": gt.copy()}          # RITM: IoU = 0 / 0
    visible = {"image": image, "mask": gt}
    summary, runs = evaluate_interactive(core, [ignored, visible], refine=False, max_clicks=3)
    assert math.isnan(runs[0].ious[0]) and not runs[0].clicks
    assert summary["undefined_objects"] == 1 and summary["NoF@85"] >= 1
    assert summary["miou_per_click"][0] == round(runs[1].ious[0], 4)    # the means are the visible object's
