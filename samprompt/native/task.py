"""SAM's own task on dataset items: random clicks / boxes from a ground-truth mask -> mask."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from samprompt.core.sam_core import SamCore
from samprompt.core.structures import ImageFeatures
from samprompt.data.mask_prompts import random_box, random_click
from samprompt.model import PromptedSam
from samprompt.training.feature_cache import FeatureCache
from samprompt.training.losses import dice_loss, iou_head_loss, logits_iou, sigmoid_focal_loss
from samprompt.training.task import Step, TrainingTask, encode_images


def sam_mask_loss(logits: Sequence[Tensor], iou_predictions: Tensor, masks: Sequence[np.ndarray]) -> Tensor:
    """SAM's loss, the mean over P rows: the smallest 20 x focal + dice among the row's M masks
    (M x H x W logits against its H x W mask; the minimum-loss rule for ambiguous prompts), plus
    the MSE of the IoU head (P x M) against the IoU each mask reaches."""
    total = torch.zeros((), device=iou_predictions.device)
    for row_logits, iou, mask in zip(logits, iou_predictions, masks):
        target = torch.as_tensor(mask, device=row_logits.device)[None].float()
        per_mask = torch.stack([20 * sigmoid_focal_loss(m[None], target) + dice_loss(m[None], target)
                                for m in row_logits])
        total = total + per_mask.min() + iou_head_loss(iou, row_logits, target.expand_as(row_logits))
    return total / len(masks)


def mask_targets(items: Sequence[dict[str, Any]], device: torch.device) -> list[Tensor]:
    return [torch.as_tensor(item["mask"], device=device) for item in items]


@dataclass
class NativeBatch:
    """Items with both prompts drawn: the step picks boxes or clicks for the whole batch.

    Attributes:
        images / masks / ids: per item, H x W x 3 uint8, H x W bool, its cache key.
        boxes: P x 4 jittered boxes (x0, y0, x1, y1); clicks: P x 1 x 2 clicks inside the masks.
    """

    images: list[np.ndarray]
    masks: list[np.ndarray]
    ids: list[str]
    boxes: Tensor
    clicks: Tensor


def native_batch(samples: list[dict[str, Any]]) -> NativeBatch:
    """Samples {"image", "mask", "id", "box" (4,), "click" (2,)} -> a `NativeBatch`."""
    return NativeBatch([s["image"] for s in samples], [s["mask"] for s in samples], [s["id"] for s in samples],
                       torch.as_tensor(np.stack([s["box"] for s in samples])),
                       torch.as_tensor(np.stack([s["click"] for s in samples]))[:, None])


@dataclass
class NativeTask(TrainingTask):
    """Prompts drawn from each item's mask: a box with probability `box_probability`, else a click.

    The loss is SAM's: 20 x focal + dice + IoU-head MSE, on the single-mask output.
    """

    cache: FeatureCache | None = None
    box_probability: float = 0.5

    def features(self, core: SamCore, items: Sequence[dict[str, Any]]) -> ImageFeatures:
        return encode_images(core, [item["image"] for item in items], [item["id"] for item in items], self.cache,
                             keep_intermediate=False)

    def prompt_inputs(self, items: Sequence[dict[str, Any]], rng: np.random.Generator,
                      use_boxes: bool | None = None) -> dict[str, Tensor]:
        """Either `boxes` (P x 4) or `points` + `labels` (P x 1 x 2, P x 1) for the items."""
        boxes = use_boxes if use_boxes is not None else bool(rng.random() < self.box_probability)
        if boxes:
            return {"boxes": torch.as_tensor(np.stack([random_box(item["mask"], rng) for item in items]))}
        points = np.stack([random_click(item["mask"], rng) for item in items])[:, None]
        return {"points": torch.as_tensor(points), "labels": torch.ones(len(items), 1, dtype=torch.int)}

    def sample(self, item: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        return {**item, "box": random_box(item["mask"], rng), "click": random_click(item["mask"], rng)}

    def collate(self, samples: list[dict[str, Any]]) -> NativeBatch:
        return native_batch(samples)

    def batch_loss(self, step: Step, batch: NativeBatch) -> Tensor:
        """SAM's recipe: a single click trains the three ambiguity masks (the best one takes the
        mask loss), a box trains the single-mask output; the IoU head learns every output."""
        features = encode_images(step.model.core, batch.images, batch.ids, self.cache, keep_intermediate=False)
        if float(torch.rand((), generator=step.generator)) < self.box_probability:
            inputs = {"boxes": batch.boxes}
        else:
            inputs = {"points": batch.clicks, "labels": torch.ones(len(batch.ids), 1, dtype=torch.int)}
        multimask = "points" in inputs
        prediction = step.forward(features=features, multimask_output=multimask, **inputs)
        return sam_mask_loss(prediction.logits, prediction.iou_predictions, batch.masks)

    @torch.no_grad()
    def evaluate(self, model: PromptedSam, items: Sequence[dict[str, Any]], batch_size: int = 16,
                 seed: int = 0) -> dict[str, float]:
        """Mean IoU with one box and with one click per object (the same prompts for every model)."""
        model.eval()
        scores: dict[str, list[float]] = {"box_miou": [], "point_miou": []}
        for use_boxes, key in ((True, "box_miou"), (False, "point_miou")):
            rng = np.random.default_rng(seed)
            for start in range(0, len(items), batch_size):
                chunk = items[start:start + batch_size]
                features = self.features(model.core, chunk)
                # A click is ambiguous: as SAM users do, take the mask with the best predicted IoU.
                prediction = model(features=features, multimask_output=not use_boxes,
                                   **self.prompt_inputs(chunk, rng, use_boxes))
                targets = mask_targets(chunk, prediction.low_res_logits.device)
                for logits, iou, target in zip(prediction.logits, prediction.iou_predictions, targets):
                    best = int(iou.argmax())
                    scores[key].append(float(logits_iou(logits[best:best + 1], target[None].float())))
        return {key: float(np.mean(values)) for key, values in scores.items()}
