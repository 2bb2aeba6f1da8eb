"""Labelled automatic masks scored as instance segmentation (`samprompt.metrics.instances`)."""
from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from samprompt.automatic.generator import AutomaticMaskGenerator
from samprompt.automatic.labels import MaskLabeller, record_mask
from samprompt.metrics.instances import mask_average_precision, matched_ious


def evaluate_labelled_masks(generator: AutomaticMaskGenerator, labeller: MaskLabeller,
                            items: Sequence[dict[str, Any]], classes: Sequence[str], *,
                            average_precision: bool = True) -> dict[str, Any]:
    """Generate, label and score masks on `items`.

    Args:
        items: {"image": H x W x 3 uint8, "masks": M x H x W bool instances, "labels": M names}
            (e.g. `samprompt.data.ShapesInstances`).
        classes: the names to label with (a background name among them drops background masks).
        average_precision: also compute COCO mask AP with pycocotools.
    Returns:
        matched_iou (class-aware), matched_iou_any_class, masks_per_image (generated, then kept
        after labelling), AP / AP50 (with `average_precision`), seconds_per_image.
    """
    aware: list[float] = []
    agnostic: list[float] = []
    generated: list[int] = []
    scored: list[dict[str, Any]] = []
    start = time.perf_counter()
    for item in items:
        image, truth, truth_labels = item["image"], np.asarray(item["masks"], bool), list(item["labels"])
        records = generator.generate(image)
        generated.append(len(records))
        labelled = labeller.label(image, records, classes)
        masks = np.stack([record_mask(r) for r in labelled]) if labelled else np.zeros((0, *image.shape[:2]), bool)
        names = [r["label"] for r in labelled]
        aware += matched_ious(masks, names, truth, truth_labels)
        agnostic += matched_ious(masks, names, truth, truth_labels, class_aware=False)
        scored.append({"truth": truth, "truth_labels": truth_labels, "predicted": masks, "predicted_labels": names,
                       "scores": [r["label_score"] * r["predicted_iou"] for r in labelled]})
    seconds = (time.perf_counter() - start) / max(len(items), 1)
    result: dict[str, Any] = {
        "images": len(items), "instances": len(aware),
        "matched_iou": float(np.mean(aware)) if aware else 0.0,
        "matched_iou_any_class": float(np.mean(agnostic)) if agnostic else 0.0,
        "masks_per_image": {"generated": float(np.mean(generated)) if generated else 0.0,
                            "labelled": float(np.mean([len(s["predicted"]) for s in scored])) if scored else 0.0},
        "seconds_per_image": seconds,
    }
    if average_precision:
        result.update(mask_average_precision(scored))
    return result
