"""Semantic segmentation with a class list: ESC-Net's training loss and its evaluation."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from samprompt.escnet.model import ESCNet, as_image_batch
from samprompt.escnet.sliding import sliding_window_logits
from samprompt.metrics.semantic import ConfusionMatrix
from samprompt.training.task import Step, TrainingTask

IGNORE = 255
Predict = Callable[[Tensor, Sequence[str]], Tensor]


def resize_item(item: dict[str, Any], size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """An item's image (bilinear) and label map (nearest) resized to size x size (None: as is)."""
    image, label = item["image"], item["label"]
    if size is None or image.shape[:2] == (size, size):
        return image, label
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).round().clamp(0, 255)
    y = torch.from_numpy(label.astype(np.int64))[None, None].float()
    y = F.interpolate(y, size=(size, size), mode="nearest")
    return x[0].permute(1, 2, 0).to(torch.uint8).numpy(), y[0, 0].to(torch.uint8).numpy()


@dataclass
class ESCNetBatch:
    """images: B x 3 x S x S uint8; labels: B x S x S class indexes (255: ignored)."""

    images: Tensor
    labels: Tensor


@dataclass
class ESCNetTask(TrainingTask):
    """Per-pixel cross-entropy over the class list (ignore label 255).

    Attributes:
        classes: the training class names; item labels index into this list.
        size: training items are resized to size x size (None: they must share a size).
    """

    classes: Sequence[str]
    size: int | None = None

    def sample(self, item: dict[str, Any], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return resize_item(item, self.size)

    def collate(self, samples: list[tuple[np.ndarray, np.ndarray]]) -> ESCNetBatch:
        return ESCNetBatch(as_image_batch([image for image, _ in samples]),
                           torch.from_numpy(np.stack([label for _, label in samples]).astype(np.int64)))

    def batch_loss(self, step: Step, batch: ESCNetBatch) -> Tensor:
        device = next(p for p in step.model.parameters() if p.requires_grad).device
        logits = step.forward(batch.images.to(device), self.classes).logits
        return F.cross_entropy(logits.float(), batch.labels.to(device), ignore_index=IGNORE)


def model_predictor(model: ESCNet, window: int | None = None, overlap: float = 1 / 3) -> Predict:
    """images B x 3 x H x W, classes -> B x K x H x W logits (optionally by sliding windows)."""
    def predict(images: Tensor, classes: Sequence[str]) -> Tensor:
        if window is None:
            return model(images, classes).logits
        return sliding_window_logits(lambda crops: model(crops, classes).logits, images, window, overlap)
    return predict


def correlation_predictor(model: ESCNet) -> Predict:
    """The baseline: raw CLIP patch-text correlation, bilinearly upsampled (argmax = its map)."""
    return model.clip.correlation_map


@torch.no_grad()
def evaluate_semantic(predict: Predict, items: Iterable[dict[str, Any]], classes: Sequence[str],
                      batch_size: int = 8, device: torch.device | str = "cpu") -> ConfusionMatrix:
    """Run `predict` over labelled items -> the confusion matrix. Items stream through: consecutive
    items of one size are batched (up to `batch_size`), nothing else is kept."""
    matrix = ConfusionMatrix(len(classes), ignore_index=IGNORE)
    pending: list[dict[str, Any]] = []

    def flush() -> None:
        images = as_image_batch([item["image"] for item in pending]).to(device)
        for prediction, item in zip(predict(images, classes).argmax(dim=1).cpu().numpy(), pending):
            matrix.add(prediction, item["label"])
        pending.clear()

    for item in items:
        if pending and (len(pending) == batch_size or item["image"].shape != pending[0]["image"].shape):
            flush()
        pending.append(item)
    if pending:
        flush()
    return matrix
