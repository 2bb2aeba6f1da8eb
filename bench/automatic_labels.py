"""Automatic masks with class names, scored as instance segmentation on shapes-world test scenes.

    python bench/automatic_labels.py --scenes 100 --out bench/results/automatic_labels_shapes.json

On the shipped tiny core and the shipped shapes CLIP, classes = the six shapes + "background":
`samprompt.automatic.evaluate.evaluate_labelled_masks` (matched IoU with and without the names,
COCO mask AP by pycocotools; definitions in `samprompt.metrics.instances`) for two generator
settings, run in one process one after the other so that their seconds per scene compare:
- `shipped`: `SHIPPED_CORE_SETTINGS`, the settings chosen for the small core on the val split;
- `segment_anything_defaults`: segment-anything's own defaults.
"""
from __future__ import annotations

import argparse
import json

import torch
from shared import machine, write_json

from samprompt.automatic import AutomaticMaskGenerator
from samprompt.automatic.config import SHIPPED_CORE_SETTINGS
from samprompt.automatic.evaluate import evaluate_labelled_masks
from samprompt.automatic.labels import MaskLabeller
from samprompt.clip import load_clip
from samprompt.core.registry import build_sam
from samprompt.data.shapes import SHAPE_CLASSES
from samprompt.data.shapes_datasets import ShapesInstances


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=100)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    core = build_sam("tiny")
    labeller = MaskLabeller(load_clip("shapes"))
    test = ShapesInstances("test", args.scenes)
    items = [test[i] for i in range(args.scenes)]
    classes = list(SHAPE_CLASSES) + ["background"]
    result = {"machine": machine(), "classes": classes}
    with torch.inference_mode():
        for name, settings in (("shipped", SHIPPED_CORE_SETTINGS), ("segment_anything_defaults", {})):
            scores = evaluate_labelled_masks(AutomaticMaskGenerator(core, **settings), labeller, items, classes)
            result[name] = {"settings": settings, **scores}
    print(json.dumps(result, indent=2))
    write_json(args.out, result)


if __name__ == "__main__":
    main()
