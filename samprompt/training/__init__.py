"""Training: the task contract, losses, the accelerate-based trainer, the embedding cache."""
from samprompt.training.feature_cache import FeatureCache, encoder_is_frozen
from samprompt.training.losses import (
    bce_loss,
    dice_loss,
    iou_head_loss,
    logits_iou,
    normalized_focal_loss,
    sigmoid_focal_loss,
)
from samprompt.training.task import FunctionTask, Step, TrainingTask, encode_images
from samprompt.training.trainer import TrainConfig, Trainer, TrainResult, parameter_groups

__all__ = [
    "FeatureCache", "FunctionTask", "Step", "TrainConfig", "TrainResult", "Trainer", "TrainingTask", "bce_loss",
    "dice_loss", "encode_images", "encoder_is_frozen", "iou_head_loss", "logits_iou", "normalized_focal_loss",
    "parameter_groups", "sigmoid_focal_loss",
]
