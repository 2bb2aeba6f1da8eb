"""Class-name prompts on the core: the training loss and the evaluation on labelled semantic items."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from samprompt.metrics.masks import binary_mask_iou
from samprompt.metrics.semantic import ConfusionMatrix
from samprompt.model import PromptedSam
from samprompt.prompts.classes import class_logits, semantic_map
from samprompt.training.feature_cache import FeatureCache
from samprompt.training.losses import dice_loss, iou_head_loss
from samprompt.training.task import Step, TrainingTask, encode_images

IGNORE = 255


@dataclass
class ClassBatch:
    """images: per item H x W x 3 uint8; labels: per item H x W class indexes (255 ignored); ids: cache keys."""

    images: list[np.ndarray]
    labels: list[np.ndarray]
    ids: list[str]


def class_rows(labels: Sequence[np.ndarray], count: int, limit: int, rng: np.random.Generator) -> list[int]:
    """The class indexes one step prompts for: every class present in the batch, then absent ones
    drawn at random, `limit` in all (all `count` classes when `limit` >= `count`), sorted."""
    if limit >= count:
        return list(range(count))
    present = sorted({int(c) for label in labels for c in np.unique(label) if c != IGNORE and c < count})
    present = list(rng.permutation(present)[:limit]) if len(present) > limit else present
    absent = [c for c in range(count) if c not in present]
    extra = list(rng.choice(absent, size=min(limit - len(present), len(absent)), replace=False)) if absent else []
    return sorted(int(c) for c in present + extra)


@dataclass
class ClassPromptTask(TrainingTask):
    """One SAM mask per (image, class name) row against that class's pixels.

    The loss reads an image's K mask logits as class scores: per-pixel cross-entropy against the
    label (what the semantic map is read from; ignored pixels and classes not prompted this step
    left out), plus, for each class present in the image, dice on its mask and the IoU head's
    MSE (SAM's mask terms). A per-row sigmoid loss alone (SAM's 20 x focal + dice) teaches every
    mask to vanish when the pseudo prompts of absent classes land on objects: the rows cannot
    tell absent from present, and the absent ones are the more numerous. Items of one step must
    share a size (shapes-world scenes do; resize others).

    Attributes:
        classes: the dataset's class names; item labels index into this list.
        cache: encoder features by item id (kept with the encoder input: the generator reads pixels).
        classes_per_step: how many classes one step prompts (present ones first).
    """

    classes: Sequence[str]
    cache: FeatureCache | None = None
    classes_per_step: int = 16

    def sample(self, item: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        return item

    def collate(self, samples: list[dict[str, Any]]) -> ClassBatch:
        return ClassBatch([s["image"] for s in samples], [s["label"] for s in samples], [s["id"] for s in samples])

    def batch_loss(self, step: Step, batch: ClassBatch) -> Tensor:
        core = step.model.core
        features = encode_images(core, batch.images, batch.ids, self.cache, keep_intermediate=False, keep_images=True)
        seed = int(torch.randint(0, 2 ** 31 - 1, (), generator=step.generator))
        chosen = class_rows(batch.labels, len(self.classes), self.classes_per_step, np.random.default_rng(seed))
        prediction = step.forward(features=features, classes=[self.classes[c] for c in chosen],
                                  multimask_output=False)
        k = len(chosen)
        logits = class_logits(prediction, k)                                         # B x K x H x W
        labels = torch.as_tensor(np.stack(batch.labels), device=logits.device).long()
        # label -> row of its class this step; ignored pixels and classes not prompted map to -100 (left out)
        index = torch.full((256,), -100, dtype=torch.long, device=logits.device)
        index[torch.as_tensor(chosen, device=logits.device)] = torch.arange(k, device=logits.device)
        total = F.cross_entropy(logits.float(), index[labels.clamp(0, 255)], ignore_index=-100)
        present = []
        for row in range(len(prediction.logits)):
            target = (labels[row // k] == chosen[row % k])[None].float()
            valid = (labels[row // k] != IGNORE)[None]
            if bool((target * valid).any()):
                row_logits = prediction.logits[row]
                present.append(dice_loss(row_logits, target, valid=valid)
                               + iou_head_loss(prediction.iou_predictions[row], row_logits, target))
        return total + (torch.stack(present).mean() if present else 0.0)


@torch.no_grad()
def evaluate_classes(model: PromptedSam, items: Iterable[dict[str, Any]], classes: Sequence[str],
                     background: str | None = "background", convention: str = "detectron2") -> dict[str, Any]:
    """Score a class-name prompted model on labelled items, two ways.

    - As a semantic map: per-class SAM masks -> `semantic_map` (argmax, `background` where no
      mask covers a pixel) -> confusion matrix -> mIoU (`ConfusionMatrix.summary` under
      `convention`: "detectron2", as ESC-Net reports, or "mmseg").
    - As masks: the IoU of each (image, class present in the image) row's SAM mask with that
      class's pixels (ignored pixels left out), averaged over rows ("mask_miou"; None when no
      scored image holds a class of the list).
    """
    model.eval()
    matrix = ConfusionMatrix(len(classes), ignore_index=IGNORE)
    ious: list[float] = []
    for item in items:
        prediction = model([item["image"]], classes=list(classes), multimask_output=False)
        logits = class_logits(prediction, len(classes))                         # 1 x K x H x W
        label = item["label"]
        matrix.add(semantic_map(logits, classes, background)[0].cpu().numpy(), label)
        valid = label != IGNORE
        for k in np.unique(label[valid]):
            if k < len(classes):
                ious.append(binary_mask_iou((logits[0, k] > 0).cpu().numpy(), label == k, ignore=~valid))
    return {**matrix.summary(classes, convention), "mask_miou": float(np.mean(ious)) if ious else None,
            "mask_rows": len(ious)}
