"""Mask losses as small functions on logits and binary targets of the same shape (... x H x W).

Each returns the mean over the leading dimensions (one value per mask, then averaged), computed
in float32 whatever the input dtype, so that bf16 autocast does not cost the loss its precision.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from samprompt.errors import ImageFormatError


def _flat(logits: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    if logits.shape != targets.shape:
        raise ImageFormatError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} differ in shape "
                               "(expected one ... x H x W shape)")
    return logits.flatten(-2).float(), targets.flatten(-2).to(torch.float32)


def _valid(valid: Tensor | None, targets: Tensor) -> Tensor:
    """The ... x HW float weights of the pixels that count (all of them when `valid` is None)."""
    if valid is None:
        return torch.ones_like(targets)
    if valid.flatten(-2).shape != targets.shape:
        raise ImageFormatError(f"valid {tuple(valid.shape)} must have the shape of the targets")
    return valid.flatten(-2).to(targets.dtype)


def dice_loss(logits: Tensor, targets: Tensor, smooth: float = 1.0, valid: Tensor | None = None) -> Tensor:
    """1 - (2|P∩T| + s) / (|P| + |T| + s) with soft predictions P = sigmoid(logits), over the
    pixels where `valid` (same shape, bool) is True (all by default; e.g. not an ignore label)."""
    logits, targets = _flat(logits, targets)
    weight = _valid(valid, targets)
    probs = logits.sigmoid() * weight
    numerator = 2 * (probs * targets).sum(-1) + smooth
    denominator = probs.sum(-1) + (targets * weight).sum(-1) + smooth
    return (1 - numerator / denominator).mean()


def sigmoid_focal_loss(logits: Tensor, targets: Tensor, alpha: float = 0.25, gamma: float = 2.0,
                       valid: Tensor | None = None) -> Tensor:
    """Focal loss (Lin et al.) per pixel, averaged over the pixels where `valid` is True (all by
    default): alpha-weighted BCE scaled by (1 - p_t)^gamma. alpha < 0 turns the class weighting off.
    """
    logits, targets = _flat(logits, targets)
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    probs = logits.sigmoid()
    p_t = probs * targets + (1 - probs) * (1 - targets)
    loss = bce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = loss * (alpha * targets + (1 - alpha) * (1 - targets))
    if valid is None:
        return loss.mean()
    weight = _valid(valid, targets)
    return ((loss * weight).sum(-1) / weight.sum(-1).clamp(min=1)).mean()


def normalized_focal_loss(logits: Tensor, targets: Tensor, gamma: float = 2.0, eps: float = 1e-8) -> Tensor:
    """Normalised focal loss (RITM / SAM-REF): focal weights rescaled to sum to the pixel count per mask."""
    logits, targets = _flat(logits, targets)
    probs = logits.sigmoid()
    p_t = probs * targets + (1 - probs) * (1 - targets)
    weight = (1 - p_t) ** gamma
    weight = weight / (weight.sum(-1, keepdim=True).detach() + eps) * weight.shape[-1]
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return (weight * bce).mean()


def bce_loss(logits: Tensor, targets: Tensor) -> Tensor:
    logits, targets = _flat(logits, targets)
    return F.binary_cross_entropy_with_logits(logits, targets)


def logits_iou(logits: Tensor, targets: Tensor, threshold: float = 0.0) -> Tensor:
    """IoU of the logits thresholded at `threshold` with the float targets (> 0.5 is object), per mask
    (... shape); empty/empty = 1. The IoU of boolean masks is `samprompt.metrics.binary_mask_iou`."""
    logits, targets = _flat(logits, targets)
    predicted = logits > threshold
    truth = targets > 0.5
    intersection = (predicted & truth).sum(-1).float()
    union = (predicted | truth).sum(-1).float()
    return torch.where(union > 0, intersection / union.clamp(min=1), torch.ones_like(union))


def iou_head_loss(iou_predictions: Tensor, logits: Tensor, targets: Tensor) -> Tensor:
    """MSE between SAM's predicted IoU and the IoU its mask actually reaches."""
    actual = logits_iou(logits.detach(), targets)
    return F.mse_loss(iou_predictions.float(), actual)

