"""What `samprompt predict` writes for a mask-producing model: shared by every method whose model
returns a `MaskPrediction` (clicks, boxes, text)."""
from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from samprompt.data.registry import get_dataset
from samprompt.errors import SamPromptError
from samprompt.methods.registry import EvalRequest, PredictRequest
from samprompt.visualize import save_png, semantic_panels, side_by_side


def click_and_box_inputs(inputs: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """`points` ([(x, y, label), ...]) and `box` ((x0, y0, x1, y1)) -> one prompt row of model inputs."""
    tensors: dict[str, torch.Tensor] = {}
    if inputs.get("points"):
        tensors["points"] = torch.tensor([[[x, y] for x, y, _ in inputs["points"]]], dtype=torch.float32)
        tensors["labels"] = torch.tensor([[label for _, _, label in inputs["points"]]])
    if inputs.get("box"):
        tensors["boxes"] = torch.tensor([list(inputs["box"])], dtype=torch.float32)
    return tensors


def write_best_mask(model: nn.Module, request: PredictRequest, **model_inputs: Any) -> dict[str, Any]:
    """Run `model([image], **model_inputs)` and write the best mask (by predicted IoU) as mask.png (the
    image's size) and overlay.png (image + prompt | prediction, enlarged, the clicks numbered, the box
    drawn, the prompt and the predicted IoU in a caption); a single click asks for SAM's three
    ambiguity masks."""
    points = request.inputs.get("points") or []
    multimask = len(points) == 1 and not request.inputs.get("box") and "text" not in request.inputs
    with torch.no_grad():
        prediction = model([request.image], multimask_output=multimask, **model_inputs)
    best = int(prediction.iou_predictions[0].argmax())
    mask = prediction.masks[0][best].cpu().numpy()
    save_png(mask, request.out / "mask.png")
    clicks = [(x, y, bool(label)) for x, y, label in request.inputs.get("points") or []]
    asked = " + ".join(part for part, given in ((f"\"{request.inputs.get('text')}\"", "text" in request.inputs),
                                                (f"{len(clicks)} click(s)", clicks),
                                                ("a box", request.inputs.get("box"))) if given)
    text = f"prompt: {asked} · predicted IoU {float(prediction.iou_predictions[0, best]):.2f}"
    save_png(side_by_side(request.image, mask, text=text, clicks=clicks, box=request.inputs.get("box")),
             request.out / "overlay.png")
    result = {"mask": str(request.out / "mask.png"), "overlay": str(request.out / "overlay.png"),
              "predicted_iou": float(prediction.iou_predictions[0, best]), "area_fraction": float(mask.mean())}
    print(json.dumps(result, indent=2))
    return result


def write_semantic_map(request: PredictRequest, semantic: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Write an H x W class-index map as semantic.png and its coloured, legended panels as classes.png;
    print and return the paths and each class's share of the image."""
    save_png(semantic.astype(np.uint8), request.out / "semantic.png")
    save_png(semantic_panels(request.image, semantic, None, classes, text=f"classes: {', '.join(classes)}"),
             request.out / "classes.png")
    result = {"semantic": str(request.out / "semantic.png"), "colours": str(request.out / "classes.png"),
              "class_share": {name: float((semantic == k).mean()) for k, name in enumerate(classes)}}
    print(json.dumps(result, indent=2))
    return result


def semantic_eval_dataset(request: EvalRequest, kind: str, shapes: Any) -> tuple[Any, int]:
    """The dataset `samprompt eval` names for a semantic method, and how many of its items to score:
    `shapes` (a `ShapesSemantic` builder) for shapes world, else a registered dataset of `kind`,
    which needs --root and --split."""
    if request.dataset == "shapes":
        dataset = shapes("test", request.items)
        return dataset, min(request.items, len(dataset))
    spec = get_dataset(request.dataset, kind)
    if not request.root or not request.split:
        raise SamPromptError(f"--dataset {request.dataset} needs --root (the dataset folder) and --split")
    dataset = spec(root=request.root, split=request.split)
    return dataset, len(dataset)
