"""SAM-REF training: frozen SAM on cached embeddings, simulated clicks, the previous mask fed back."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from samprompt.core.sam_core import SamCore
from samprompt.core.structures import ImageFeatures
from samprompt.data.mask_prompts import random_click
from samprompt.interactive.clicks import Click, click_tensors, next_click
from samprompt.samref.refiner import RefinedPrediction
from samprompt.samref.window import crop
from samprompt.training.feature_cache import FeatureCache
from samprompt.training.losses import bce_loss, dice_loss, normalized_focal_loss
from samprompt.training.task import Step, TrainingTask, encode_images


def mask_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """NFL + dice on mask logits (N x 1 x S x S) against soft targets."""
    return normalized_focal_loss(logits, targets) + dice_loss(logits, targets)


def error_targets(coarse: Tensor, targets: Tensor) -> Tensor:
    """1 where the coarse logits' mask disagrees with the target, 0 elsewhere."""
    return ((coarse > 0) != (targets > 0.5)).to(coarse.dtype)


@dataclass
class SAMRefBatch:
    """images / masks: per object, H x W x 3 uint8 and H x W bool; image_ids: cache keys (objects of
    one image share one encoder pass); first_clicks: each object's first click."""

    images: list[np.ndarray]
    masks: list[np.ndarray]
    image_ids: list[str]
    first_clicks: list[Click]


@dataclass
class SAMRefTask(TrainingTask):
    """Each step: a first click (at the object's deepest point or, with probability
    `random_first_click`, anywhere inside it), then 0 to `max_extra_clicks` clicks simulated on the
    current result's errors without gradient (SAM's logits fed back, the refiner's previous
    result and error area passed on), then the trained click.

    Loss on the refiner's frame: NFL + dice on the global and the final blended masks, BCE of the
    global error map against where SAM's mask is wrong, and the same on the local refiner's
    windows (`local_weight`).
    """

    cache: FeatureCache | None = None
    max_extra_clicks: int = 4
    random_first_click: float = 0.5
    local_weight: float = 1.0

    def features(self, core: SamCore, images: Sequence[np.ndarray], image_ids: Sequence[str]) -> ImageFeatures:
        return encode_images(core, images, image_ids, self.cache, keep_intermediate=False, keep_images=True)

    def first_click(self, mask: np.ndarray, rng: np.random.Generator) -> Click:
        if rng.random() < self.random_first_click:
            x, y = random_click(mask, rng)
            return Click(int(x), int(y), True)
        return next_click(mask, np.zeros_like(mask))

    def sample(self, item: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        return {**item, "first_click": self.first_click(item["mask"], rng)}

    def collate(self, samples: list[dict[str, Any]]) -> SAMRefBatch:
        # SBD has several objects per image: they share one cached encoder pass
        return SAMRefBatch([s["image"] for s in samples], [s["mask"] for s in samples],
                           [s.get("image_id", s["id"]) for s in samples], [s["first_click"] for s in samples])

    def _step(self, forward: Callable[..., Any], features: ImageFeatures, clicks: list[list[Click]],
              previous: RefinedPrediction | None) -> RefinedPrediction:
        points, labels = click_tensors(clicks, features.embeddings.device)
        inputs: dict[str, Any] = {"points": points, "labels": labels}
        if previous is not None:
            inputs.update(masks=previous.low_res_logits, previous_logits=previous.refined_logits,
                          previous_error_area=previous.error_area)
        return forward(features=features, multimask_output=previous is None, **inputs)

    def batch_loss(self, step: Step, batch: SAMRefBatch) -> Tensor:
        features = self.features(step.model.core, batch.images, batch.image_ids)
        clicks = [[c] for c in batch.first_clicks]
        previous = None
        with torch.no_grad():
            for _ in range(step.integers(0, self.max_extra_clicks + 1)):
                previous = self._step(step.forward, features, clicks, previous)
                for row, mask in enumerate(batch.masks):
                    predicted = previous.logits[row][0].cpu().numpy() > 0
                    click = next_click(mask, predicted, clicked=clicks[row])
                    clicks[row].append(click or clicks[row][-1])  # a perfect mask: repeat the last click
        prediction = self._step(step.forward, features, clicks, previous)
        targets = step.model.refiner.frame_targets(batch.masks, features, prediction.batch_index)
        out = prediction.global_output
        total = (mask_loss(out.blended, targets) + mask_loss(prediction.refined_logits, targets)
                 + bce_loss(out.error, error_targets(prediction.coarse_logits, targets)))
        if prediction.local_output is not None:
            rows = prediction.local_rows
            local = prediction.local_output
            size = local.blended.shape[-1]
            local_targets = crop(targets, prediction.windows[rows], rows, size)
            local_coarse = crop(out.blended.detach(), prediction.windows[rows], rows, size)
            total = total + self.local_weight * (mask_loss(local.blended, local_targets)
                                                 + bce_loss(local.error, error_targets(local_coarse, local_targets)))
        return total
