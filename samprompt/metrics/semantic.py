"""Semantic segmentation scores from a confusion matrix: mIoU, fwIoU, pixel accuracy, per-class IoU.

Pixels labelled `ignore_index` (255 in ADE20K, COCO-Stuff, Pascal Context, VOC) are left out.
The counts are accumulated over the whole evaluation set, then per class
IoU = TP / (TP + FP + FN). Which classes enter the mean is a convention, named in every summary:

- "detectron2" (the default): detectron2's `SemSegEvaluator` (since mid-2022), which CAT-Seg
  and ESC-Net evaluate with. A class with no ground-truth pixel in the whole set has no IoU
  and no accuracy and is left out of mIoU and mACC, even when it is predicted.
- "mmseg": mmsegmentation's `IoUMetric`. A class is left out only when it appears neither in
  the labels nor in the predictions; one that is only predicted scores IoU 0.

Example: prediction [0, 0, 1, 2] against labels [0, 0, 1, 1] over 3 classes: detectron2 mIoU
(1 + 0.5) / 2 = 0.75, mmseg (1 + 0.5 + 0) / 3 = 0.50. Pixel accuracy = trace / labelled pixels;
fwIoU weighs each scored class's IoU by its share of the labelled pixels (detectron2's).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from samprompt.errors import ConfigError, DatasetError, ImageFormatError

IGNORE_INDEX = 255
CONVENTIONS = ("detectron2", "mmseg")


@dataclass
class ConfusionMatrix:
    """K x K counts: rows are ground-truth classes, columns predicted classes."""

    num_classes: int
    ignore_index: int = IGNORE_INDEX
    counts: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if self.num_classes <= 0:
            raise ConfigError(f"num_classes must be positive, got {self.num_classes}")
        self.counts = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def add(self, prediction: object, label: object) -> None:
        """Count one H x W prediction (class indexes) against its H x W label map."""
        pred = torch.as_tensor(np.asarray(prediction.cpu() if hasattr(prediction, "cpu") else prediction))
        true = torch.as_tensor(np.asarray(label.cpu() if hasattr(label, "cpu") else label))
        if pred.shape != true.shape:
            raise ImageFormatError(f"prediction {tuple(pred.shape)} and label {tuple(true.shape)} differ in size "
                                   "(expected one H x W)")
        pred, true = pred.long().flatten(), true.long().flatten()
        keep = true != self.ignore_index
        pred, true = pred[keep], true[keep]
        bad = true[(true < 0) | (true >= self.num_classes)]
        if bad.numel():
            raise DatasetError(f"label values {sorted(set(bad.tolist()))[:5]} are not classes "
                               f"0..{self.num_classes - 1} or the ignore index {self.ignore_index}")
        if pred.numel() and (int(pred.min()) < 0 or int(pred.max()) >= self.num_classes):
            raise ConfigError(f"predicted classes must be in 0..{self.num_classes - 1} (num_classes), got "
                              f"{int(pred.min())}..{int(pred.max())}")
        flat = torch.bincount(true * self.num_classes + pred, minlength=self.num_classes ** 2)
        self.counts += flat.view(self.num_classes, self.num_classes).numpy()

    def class_iou(self, convention: str = "detectron2") -> np.ndarray:
        """K IoUs, NaN for a class the convention leaves out (module docstring): with "detectron2"
        every class without a ground-truth pixel, with "mmseg" a class absent from both labels
        and predictions."""
        if convention not in CONVENTIONS:
            raise ConfigError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
        hits = np.diag(self.counts).astype(float)
        labelled, predicted = self.counts.sum(1), self.counts.sum(0)
        union = labelled + predicted - hits
        scored = labelled > 0 if convention == "detectron2" else union > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(scored, hits / union, np.nan)

    def summary(self, class_names: Sequence[str] | None = None, convention: str = "detectron2") -> dict[str, object]:
        """mIoU, mean class accuracy, frequency-weighted IoU, pixel accuracy and the per-class IoU
        table under `convention` ("detectron2" or "mmseg", named in the result as "convention")."""
        total = self.counts.sum()
        if total == 0:
            raise ConfigError("no labelled pixels were counted: add() was not called, or every label was the ignore "
                              f"index {self.ignore_index}")
        iou = self.class_iou(convention)
        labelled = self.counts.sum(1)
        frequency = labelled / total
        present = ~np.isnan(iou)
        names = list(class_names) if class_names is not None else [str(k) for k in range(self.num_classes)]
        if len(names) != self.num_classes:
            raise ConfigError(f"class_names has {len(names)} names, expected one per class ({self.num_classes})")
        has_pixels = labelled > 0
        return {
            "miou": float(np.mean(iou[present])),
            "macc": float(np.mean(np.diag(self.counts)[has_pixels] / labelled[has_pixels])),
            "fwiou": float(np.sum(frequency[present] * iou[present])),
            "pixel_accuracy": float(np.trace(self.counts) / total),
            "per_class_iou": {name: (None if np.isnan(v) else float(v)) for name, v in zip(names, iou)},
            "convention": convention,
        }


def format_iou_table(per_class_iou: dict[str, float | None]) -> str:
    """A two-column text table, best classes first, absent classes last."""
    rows = sorted(per_class_iou.items(), key=lambda kv: float("inf") if kv[1] is None else -kv[1])
    width = max(len(name) for name in per_class_iou)
    return "\n".join(f"{name.ljust(width)}  {'-' if v is None else f'{v:.3f}'}" for name, v in rows)
