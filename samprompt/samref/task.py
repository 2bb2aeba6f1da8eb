"""SAM-REF training: frozen SAM on cached embeddings, simulated clicks, the previous mask fed back."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from samprompt.core.structures import ImageFeatures
from samprompt.data.mask_prompts import random_click
from samprompt.interactive.clicks import Click, click_tensors, next_click
from samprompt.samref.model import SAMRef
from samprompt.samref.refiner import RefinedPrediction
from samprompt.samref.window import crop
from samprompt.training.feature_cache import FeatureCache
from samprompt.training.losses import bce_loss, dice_loss, normalized_focal_loss


def mask_loss(logits: Tensor, targets: Tensor) -> Tensor:
    """NFL + dice on mask logits (N x 1 x S x S) against soft targets."""
    return normalized_focal_loss(logits, targets) + dice_loss(logits, targets)


def error_targets(coarse: Tensor, targets: Tensor) -> Tensor:
    """1 where the coarse logits' mask disagrees with the target, 0 elsewhere."""
    return ((coarse > 0) != (targets > 0.5)).to(coarse.dtype)


@dataclass
class SAMRefTask:
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

    def features(self, model: SAMRef, items: Sequence[dict[str, Any]]) -> ImageFeatures:
        images = [item["image"] for item in items]
        if self.cache is not None:
            if not self.cache.keep_images:
                raise ValueError("SAM-REF training needs the cache to keep the encoder input (keep_images=True)")
            # SBD has several objects per image: they share one cached encoder pass
            return self.cache.encode(images, [item.get("image_id", item["id"]) for item in items])
        return model.core.encode(images, keep_intermediate=False, keep_images=True)

    def first_clicks(self, items: Sequence[dict[str, Any]], rng: np.random.Generator) -> list[Click]:
        clicks = []
        for item in items:
            if rng.random() < self.random_first_click:
                x, y = random_click(item["mask"], rng)
                clicks.append(Click(int(x), int(y), True))
            else:
                clicks.append(next_click(item["mask"], np.zeros_like(item["mask"])))
        return clicks

    def _step(self, model: nn.Module, features: ImageFeatures, clicks: list[list[Click]],
              previous: RefinedPrediction | None) -> RefinedPrediction:
        points, labels = click_tensors(clicks, features.embeddings.device)
        inputs: dict[str, Any] = {"points": points, "labels": labels}
        if previous is not None:
            inputs.update(masks=previous.low_res_logits, previous_logits=previous.refined_logits,
                          previous_error_area=previous.error_area)
        return model(features=features, multimask_output=previous is None, **inputs)

    def loss(self, model: nn.Module, items: Sequence[dict[str, Any]]) -> Tensor:
        unwrapped = getattr(model, "module", model)
        rng = np.random.default_rng(int(torch.randint(2**31, ())))
        features = self.features(unwrapped, items)
        clicks = [[c] for c in self.first_clicks(items, rng)]
        previous = None
        with torch.no_grad():
            for _ in range(int(rng.integers(0, self.max_extra_clicks + 1))):
                previous = self._step(model, features, clicks, previous)
                for row, item in enumerate(items):
                    mask = previous.logits[row][0].cpu().numpy() > 0
                    click = next_click(item["mask"], mask, clicked=clicks[row])
                    clicks[row].append(click or clicks[row][-1])  # a perfect mask: repeat the last click
        prediction = self._step(model, features, clicks, previous)
        refiner = unwrapped.refiner
        targets = refiner.frame_targets([item["mask"] for item in items], features, prediction.batch_index)
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
