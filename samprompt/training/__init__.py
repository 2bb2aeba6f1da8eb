"""Training: losses, the accelerate-based trainer, the embedding cache."""
from samprompt.training.feature_cache import FeatureCache, encoder_is_frozen
from samprompt.training.losses import (
    bce_loss,
    dice_loss,
    iou_head_loss,
    mask_iou,
    normalized_focal_loss,
    sigmoid_focal_loss,
)
from samprompt.training.trainer import TrainConfig, Trainer, TrainResult, parameter_groups

__all__ = [
    "FeatureCache", "TrainConfig", "TrainResult", "Trainer", "bce_loss", "dice_loss", "encoder_is_frozen",
    "iou_head_loss", "mask_iou", "normalized_focal_loss", "parameter_groups", "sigmoid_focal_loss",
]
