"""Naming automatic masks with CLIP, and scoring them as instance segmentation on shapes world."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import samprompt
from samprompt.automatic import AutomaticMaskGenerator
from samprompt.automatic.config import SHIPPED_CORE_SETTINGS, settings_for
from samprompt.automatic.evaluate import evaluate_labelled_masks
from samprompt.automatic.labels import MaskLabeller, mask_crop_box
from samprompt.clip.models import load_clip
from samprompt.data import SHAPE_CLASSES, ShapesInstances
from samprompt.errors import ConfigError, PromptError

CLASSES = list(SHAPE_CLASSES) + ["background"]


@pytest.fixture(scope="module")
def labeller() -> MaskLabeller:
    return MaskLabeller(load_clip("shapes"))


def test_ground_truth_masks_get_their_classes(labeller: MaskLabeller) -> None:
    """The shipped shapes CLIP names most true instance masks right (chance: 1 in 7)."""
    items = [ShapesInstances("test", size=12)[i] for i in range(12)]
    right = total = 0
    for item in items:
        records = [{"segmentation": m, "predicted_iou": 1.0} for m in item["masks"]]
        named = labeller.label(item["image"], records, CLASSES)
        probabilities = labeller.probabilities(item["image"], item["masks"], CLASSES)
        assert torch.allclose(probabilities.sum(1), torch.ones(len(item["masks"])), atol=1e-5)
        right += sum(CLASSES[int(p.argmax())] == label for p, label in zip(probabilities, item["labels"]))
        total += len(item["labels"])
        assert all(r["label"] in SHAPE_CLASSES and 0 < r["label_score"] <= 1 for r in named)
    assert right / total > 0.7


def test_background_masks_are_dropped_and_text_matching_keeps_its_class(labeller: MaskLabeller) -> None:
    item = ShapesInstances("test", size=4)[0]
    free = ~item["masks"].any(0)
    y, x = next((y, x) for y in range(0, 100, 4) for x in range(0, 100, 4) if free[y:y + 28, x:x + 28].all())
    background = np.zeros_like(free)
    background[y:y + 28, x:x + 28] = True            # a patch of background only
    records = [{"segmentation": m} for m in [background, *item["masks"]]]
    named = labeller.label(item["image"], records, CLASSES)
    assert not any(r["segmentation"] is background for r in named)
    target = item["labels"][0]
    others = [c for c in SHAPE_CLASSES if c != target]
    kept = labeller.matching(item["image"], records, target, others=["background", *others])
    assert any(np.array_equal(r["segmentation"], item["masks"][0]) for r in kept)
    assert all(r["label"] == target for r in kept)


def test_crop_box_is_a_clipped_square_around_the_mask() -> None:
    mask = np.zeros((50, 80), bool)
    mask[20:30, 30:50] = True                    # 20 wide, 10 high
    x0, y0, x1, y1 = mask_crop_box(mask, 1.5)
    assert (x1 - x0) == (y1 - y0) >= 30 and x0 <= 30 and x1 >= 50 and y0 <= 20 and y1 >= 30
    corner = np.zeros((50, 80), bool)
    corner[0:4, 0:4] = True
    assert mask_crop_box(corner, 2.0)[:2] == (0, 0)
    assert mask_crop_box(np.zeros((5, 6), bool), 1.3) == (0, 0, 6, 5)


def test_labeller_errors(labeller: MaskLabeller) -> None:
    image = ShapesInstances("test", size=1)[0]["image"]
    with pytest.raises(PromptError, match="masks must be N x 128 x 128"):
        labeller.probabilities(image, np.zeros((2, 10, 10), bool), CLASSES)
    with pytest.raises(PromptError):
        labeller.label(image, [{"segmentation": np.zeros((128, 128), bool)}], "circle")   # a string, not a list
    with pytest.raises(PromptError, match="text"):
        labeller.matching(image, [], "  ")
    with pytest.raises(ConfigError, match="coco_rle"):
        labeller.label(image, [{"segmentation": {"size": [128, 128], "counts": "abc"}}], CLASSES)
    with pytest.raises(ConfigError, match="margin"):
        MaskLabeller(labeller.clip, margin=0.5)
    with pytest.raises(ConfigError, match="ClipBundle"):
        MaskLabeller(torch.nn.Linear(1, 1))
    assert labeller.label(image, [], CLASSES) == []


def test_shipped_core_settings_apply_to_the_shipped_core_only() -> None:
    assert settings_for(samprompt.build_sam("tiny")) == SHIPPED_CORE_SETTINGS
    assert settings_for(samprompt.build_sam("micro")) == {}


def test_labelled_masks_score_as_instance_segmentation(labeller: MaskLabeller) -> None:
    """On 8 test scenes with the shipped core and CLIP: well above what unnamed or empty output
    scores (0), and the class-aware score can only lose to the class-agnostic one."""
    items = [ShapesInstances("test", size=8)[i] for i in range(8)]
    generator = AutomaticMaskGenerator(samprompt.build_sam("tiny"), **SHIPPED_CORE_SETTINGS)
    scores = evaluate_labelled_masks(generator, labeller, items, CLASSES)
    assert scores["instances"] == sum(len(i["labels"]) for i in items)
    assert 0.3 < scores["matched_iou"] <= scores["matched_iou_any_class"] <= 1
    assert 0.2 < scores["AP"] <= scores["AP50"] <= 1
    assert scores["masks_per_image"]["labelled"] <= scores["masks_per_image"]["generated"]
