"""SAM's interactive training recipe (the SAM paper, "Training algorithm" in its appendix).

Each object is segmented over `iterations` rounds (11 in the paper):

1. the first prompt is, with equal probability, one click drawn uniformly inside the object
   or its box with noise (each coordinate moved by N(0, (0.1 x the box side)^2), at most
   `max_box_noise` pixels);
2. each later round adds one click drawn uniformly from the error region of the previous
   prediction: positive if it falls where the object was missed, negative where the mask
   spilled over;
3. every round after the first feeds the previous round's low-res logits back as SAM's mask
   input (the output with the best predicted IoU when several were asked for);
4. two rounds add no click (the last one and one drawn among the others), so the model also
   learns to improve from its own mask alone.

A single click is ambiguous: that round asks for the three ambiguity masks and only the best of
them takes the mask loss (SAM's minimum-loss rule); rounds with a box or several clicks use the
single-mask output. Every round contributes SAM's loss (20 x focal + dice on the masks, MSE of
the IoU head against the IoU reached); the mask fed back is detached, as in SAM.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from samprompt.data.mask_prompts import box_of, error_click, random_click
from samprompt.errors import ConfigError
from samprompt.native.task import NativeBatch, native_batch, sam_mask_loss
from samprompt.training.task import Step, TrainingTask, encode_images


def noisy_box(mask: np.ndarray, rng: np.random.Generator, fraction: float = 0.1, max_noise: float = 20.0
              ) -> np.ndarray:
    """The mask's box, each coordinate moved by N(0, (fraction x side)^2) clipped to +/- max_noise px,
    then to the image; x0 <= x1 and y0 <= y1 kept."""
    box = box_of(mask)
    side = np.repeat(box[2:] - box[:2], 2)
    box = box + np.clip(rng.normal(0.0, 1.0, 4) * fraction * side, -max_noise, max_noise)
    h, w = mask.shape
    box = np.clip(box, 0, [w, h, w, h])
    return np.concatenate([np.minimum(box[:2], box[2:]), np.maximum(box[:2], box[2:])]).astype(np.float32)


@dataclass
class InteractiveTask(TrainingTask):
    """SAM's interactive training (see the module docstring) for the native prompts.

    Attributes:
        iterations: rounds per object (the paper: 11 = the first prompt, 8 clicks, 2 rounds
            without a click).
        box_probability: share of steps whose first prompt is a box (else a click).
        max_box_noise: the largest box-corner shift in pixels (the paper: 20).
    """

    iterations: int = 11
    box_probability: float = 0.5
    max_box_noise: float = 20.0

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise ConfigError(f"iterations must be >= 1, got {self.iterations}")
        if not 0.0 <= self.box_probability <= 1.0:
            raise ConfigError(f"box_probability must be in [0, 1], got {self.box_probability}")

    def sample(self, item: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        return {**item, "box": noisy_box(item["mask"], rng, max_noise=self.max_box_noise),
                "click": random_click(item["mask"], rng)}

    def collate(self, samples: list[dict[str, Any]]) -> NativeBatch:
        return native_batch(samples)

    def silent_rounds(self, step: Step) -> set[int]:
        """The rounds that add no click: the last one and one drawn among rounds 1 .. n-2."""
        if self.iterations < 2:
            return set()
        rounds = {self.iterations - 1}
        if self.iterations > 2:
            rounds.add(step.integers(1, self.iterations - 1))
        return rounds

    def batch_loss(self, step: Step, batch: NativeBatch) -> Tensor:
        rows = len(batch.ids)
        features = encode_images(step.model.core, batch.images, keep_intermediate=False)
        rng = np.random.default_rng(step.integers(0, 2**31 - 1))
        use_box = float(torch.rand((), generator=step.generator)) < self.box_probability
        clicks: list[list[tuple[float, float, int]]] = [[] if use_box else [(x, y, 1)]
                                                        for x, y in batch.clicks[:, 0].tolist()]
        silent = self.silent_rounds(step)
        masks_in: Tensor | None = None
        predicted: list[np.ndarray] = []
        total = torch.zeros(())
        for round_index in range(self.iterations):
            if round_index > 0 and round_index not in silent:
                for row in range(rows):
                    click = error_click(batch.masks[row], predicted[row], rng)
                    clicks[row].append(click if click is not None else (0.0, 0.0, -1))  # -1: not a point
            inputs: dict[str, Any] = {"boxes": batch.boxes} if use_box else {}
            if clicks[0]:
                inputs["points"] = torch.tensor([[(x, y) for x, y, _ in row] for row in clicks])
                inputs["labels"] = torch.tensor([[label for _, _, label in row] for row in clicks])
            if masks_in is not None:
                inputs["masks"] = masks_in
            multimask = not use_box and len(clicks[0]) == 1 and masks_in is None
            prediction = step.forward(features=features, multimask_output=multimask, **inputs)
            total = total + sam_mask_loss(prediction.logits, prediction.iou_predictions, batch.masks)
            best = prediction.iou_predictions.argmax(dim=1)
            picked = torch.arange(rows, device=best.device)
            masks_in = prediction.low_res_logits[picked, best].detach().unsqueeze(1)
            predicted = [(logits[int(b)] > 0).cpu().numpy() for logits, b in zip(prediction.logits, best)]
        return total / self.iterations
