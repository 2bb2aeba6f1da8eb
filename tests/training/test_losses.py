import math

import pytest
import torch

from samprompt.errors import ImageFormatError
from samprompt.training.losses import (
    bce_loss,
    dice_loss,
    iou_head_loss,
    logits_iou,
    normalized_focal_loss,
    sigmoid_focal_loss,
)

BIG = 30.0


def test_dice_matches_hand_computation():
    target = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
    perfect = (target * 2 - 1) * BIG
    assert dice_loss(perfect, target).item() == pytest.approx(0.0, abs=1e-6)
    half = torch.zeros(1, 2, 2)  # p = 0.5 everywhere: 1 - (2*1 + 1) / (2 + 2 + 1)
    assert dice_loss(half, target).item() == pytest.approx(1 - 3 / 5)


def test_focal_matches_hand_computation_for_one_pixel():
    logit, target = torch.tensor([[[0.0]]]), torch.tensor([[[1.0]]])
    # p = 0.5: bce = ln 2, (1 - p_t)^2 = 0.25, alpha = 0.25
    assert sigmoid_focal_loss(logit, target).item() == pytest.approx(math.log(2) * 0.25 * 0.25)
    assert sigmoid_focal_loss(logit, 1 - target).item() == pytest.approx(math.log(2) * 0.25 * 0.75)


def test_normalized_focal_and_bce_vanish_on_confident_correct_predictions():
    target = (torch.rand(2, 8, 8) > 0.5).float()
    logits = (target * 2 - 1) * BIG
    assert normalized_focal_loss(logits, target).item() < 1e-6
    assert bce_loss(logits, target).item() < 1e-6
    assert bce_loss(torch.zeros(2, 8, 8), target).item() == pytest.approx(math.log(2), rel=1e-5)


def test_logits_iou_and_iou_head_loss():
    target = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
    logits = torch.tensor([[[1.0, -1.0], [1.0, -1.0]]])  # predicts the left column
    assert logits_iou(logits, target).tolist() == [pytest.approx(1 / 3)]
    assert logits_iou(-torch.ones(1, 2, 2), torch.zeros(1, 2, 2)).tolist() == [1.0]
    assert iou_head_loss(torch.tensor([1 / 3]), logits, target).item() == pytest.approx(0.0, abs=1e-7)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ in shape"):
        dice_loss(torch.zeros(1, 4, 4), torch.zeros(1, 4, 5))


def test_valid_pixels_restrict_focal_and_dice_to_what_counts():
    torch.manual_seed(0)
    logits, target = torch.randn(2, 4, 6), (torch.rand(2, 4, 6) > 0.5).float()
    valid = torch.ones(2, 4, 6, dtype=torch.bool)
    valid[:, :, 3:] = False                                         # the right half is an ignore region
    assert torch.allclose(sigmoid_focal_loss(logits, target, valid=valid),
                          sigmoid_focal_loss(logits[..., :3], target[..., :3]))
    assert torch.allclose(dice_loss(logits, target, valid=valid), dice_loss(logits[..., :3], target[..., :3]))
    assert torch.allclose(dice_loss(logits, target, valid=torch.ones_like(valid)), dice_loss(logits, target))
    with pytest.raises(ImageFormatError, match="valid"):
        dice_loss(logits, target, valid=valid[..., :5])
