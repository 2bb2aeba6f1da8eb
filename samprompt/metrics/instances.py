"""Instance segmentation scores of labelled masks against instance masks.

- **matched IoU** (class-aware): for every ground-truth instance, the largest IoU of a predicted
  mask carrying its class (0 when there is none); the mean over all instances of the dataset.
  The class-agnostic variant ignores the labels: how well the masks alone cover the instances.
- **mask AP**: COCO's segmentation average precision, computed by pycocotools' own `COCOeval`
  (iouType "segm"; AP over IoU 0.50:0.05:0.95 and AP50), the evaluator detectron2's
  `COCOEvaluator` wraps for CAT-Seg-style instance results. Needs pycocotools installed.
"""
from __future__ import annotations

import contextlib
import io
from typing import Sequence

import numpy as np

from samprompt.errors import SamPromptError


def mask_ious(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """N x H x W and M x H x W boolean masks -> N x M IoUs (0 where both are empty)."""
    p = predicted.reshape(len(predicted), -1).astype(np.float64)
    t = truth.reshape(len(truth), -1).astype(np.float64)
    inter = p @ t.T
    union = p.sum(1)[:, None] + t.sum(1)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def matched_ious(predicted: np.ndarray, predicted_labels: Sequence[str], truth: np.ndarray,
                 truth_labels: Sequence[str], *, class_aware: bool = True) -> list[float]:
    """Per ground-truth instance, the best IoU of a predicted mask (of its class when `class_aware`)."""
    if len(truth) == 0:
        return []
    if len(predicted) == 0:
        return [0.0] * len(truth)
    ious = mask_ious(predicted, truth)
    if class_aware:
        same = np.asarray(predicted_labels, dtype=object)[:, None] == np.asarray(truth_labels, dtype=object)[None, :]
        ious = np.where(same, ious, 0.0)
    return ious.max(axis=0).tolist()


def mask_average_precision(images: Sequence[dict]) -> dict[str, float]:
    """COCO mask AP and AP50 with pycocotools' `COCOeval`.

    Args:
        images: per image {"truth": M x H x W bool, "truth_labels": M names, "predicted": N x H x W
            bool, "predicted_labels": N names, "scores": N confidences}.
    Returns:
        {"AP": ..., "AP50": ...} on a 0-1 scale (-1 where pycocotools finds nothing to score).
    """
    try:
        from pycocotools import mask as coco_mask
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as error:
        raise SamPromptError(f"mask AP is computed by pycocotools, which is not installed: pip install pycocotools "
                             f"({error})") from None
    names = sorted({n for image in images for n in list(image["truth_labels"]) + list(image["predicted_labels"])})
    category = {name: i + 1 for i, name in enumerate(names)}
    ground_truth = {"images": [], "annotations": [], "categories": [{"id": i, "name": n} for n, i in category.items()]}
    detections = []

    def encode(mask: np.ndarray) -> dict:
        rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
        rle["counts"] = rle["counts"].decode()
        return rle

    for image_id, image in enumerate(images, start=1):
        height, width = image["truth"].shape[1:] if len(image["truth"]) else image["predicted"].shape[1:]
        ground_truth["images"].append({"id": image_id, "height": int(height), "width": int(width)})
        for mask, name in zip(image["truth"], image["truth_labels"]):
            rle = encode(mask)
            ground_truth["annotations"].append({
                "id": len(ground_truth["annotations"]) + 1, "image_id": image_id, "category_id": category[name],
                "segmentation": rle, "area": float(mask.sum()), "bbox": list(coco_mask.toBbox(rle)), "iscrowd": 0})
        for mask, name, score in zip(image["predicted"], image["predicted_labels"], image["scores"]):
            detections.append({"image_id": image_id, "category_id": category[name], "segmentation": encode(mask),
                               "score": float(score)})
    if not detections:
        return {"AP": 0.0, "AP50": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):      # pycocotools reports progress on stdout
        coco = COCO()
        coco.dataset = ground_truth
        coco.createIndex()
        evaluation = COCOeval(coco, coco.loadRes(detections), iouType="segm")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return {"AP": float(evaluation.stats[0]), "AP50": float(evaluation.stats[1])}
