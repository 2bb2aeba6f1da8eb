"""Automatic mask generation: samprompt's generator against segment-anything's, same weights and image.

    python bench/automatic.py --variant vit_b --rounds 2 --out bench/results/automatic_vit_b.json

Paths, interleaved round by round (the median of the rounds is reported):
- `segment_anything`: `SamAutomaticMaskGenerator` on a plain `Sam` (its own attention);
- `samprompt_reference`: `samprompt.automatic.AutomaticMaskGenerator` on a core built with
  `fast_attention=False` (the pipeline's own gain: predicted IoU read before upscaling);
- `samprompt`: the same generator on the default core (fused attention in the encoder too);
- `samprompt_onnxruntime`: the default core's encoder, its prompt decoder exported to ONNX and
  run by ONNX Runtime (`backend="onnxruntime"`; export time not counted, it happens once).

Settings, each timed for every path:
- `default`: segment-anything's defaults (pred_iou_thresh 0.88, stability 0.95);
- `quarter`: pred_iou_thresh set to the 75th percentile of this model's predicted IoUs on the
  grid, so that a quarter of the masks reach the stability filter (random-init weights predict
  low IoUs, so the defaults keep almost nothing; a trained SAM keeps a share of this order);
- `keep_all`: both thresholds 0, every mask upscaled by every path (the floor of the gain).
All hold the same weights (random init for vit_b: no checkpoint is downloadable here; the time
spent does not depend on the values, only on how many masks pass each filter, which the JSON
records). The number of masks and whether the reference path's records equal
segment-anything's are checked in every setting.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from segment_anything import SamAutomaticMaskGenerator
from shared import machine, write_json

import samprompt
from samprompt.automatic import AutomaticMaskGenerator
from samprompt.automatic.grids import point_grid
from samprompt.core.structures import Prompts
from samprompt.data.shapes import ShapesConfig, ShapesWorld


def quarter_threshold(core: samprompt.SamCore, image: np.ndarray, points_per_side: int) -> float:
    """The 75th percentile of the predicted IoUs of the grid's masks (one decode of the whole grid)."""
    features = core.encode([image], keep_intermediate=False)
    points = point_grid(points_per_side) * np.array(image.shape[:2])[None, ::-1]
    coords = core.grid_coords(points, image.shape[:2])
    ious = []
    for chunk in coords.split(64):          # the generator's batch: a 1024-row decode would not fit in memory
        sparse, dense = core.embed_prompts(points=(chunk[:, None], torch.ones(len(chunk), 1, dtype=torch.int)))
        ious.append(core.decode(features, Prompts(sparse, dense), upscale=False).iou_predictions)
    return float(torch.quantile(torch.cat(ious).flatten().float(), 0.75))


def same_records(ours: list[dict], theirs: list[dict]) -> bool:
    return len(ours) == len(theirs) and all(
        np.array_equal(a["segmentation"], b["segmentation"]) and a["bbox"] == b["bbox"]
        and a["predicted_iou"] == b["predicted_iou"] for a, b in zip(ours, theirs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="vit_b")
    parser.add_argument("--points-per-side", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--settings", nargs="+", default=["default", "quarter", "keep_all"])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.manual_seed(0)
    fast = samprompt.build_sam(args.variant, pretrained=args.variant == "tiny")
    reference = samprompt.build_sam(args.variant, pretrained=False, fast_attention=False)
    reference.load_state_dict(fast.state_dict())
    plain = samprompt.build_sam(args.variant, pretrained=False, fast_attention=False).sam
    plain.load_state_dict(fast.sam.state_dict())
    side = fast.image_size
    image = np.ascontiguousarray(ShapesWorld(ShapesConfig(image_size=side)).scene(0).image[:side * 3 // 4])

    with torch.no_grad():
        thresholds = {"default": {}, "keep_all": {"pred_iou_thresh": 0.0, "stability_score_thresh": 0.0},
                      "quarter": {"pred_iou_thresh": quarter_threshold(reference, image, args.points_per_side)}}
    result = {"variant": args.variant, "image": list(image.shape[:2]), "points_per_side": args.points_per_side,
              "rounds": args.rounds, "device": machine(), "torch": torch.__version__, "settings": {}}
    print(f"{args.variant}, {image.shape[1]} x {image.shape[0]} image, {args.points_per_side}² points, "
          f"{result['device']}, median of {args.rounds} interleaved rounds")
    print(f"{'setting':<10}{'path':<24}{'seconds':>9}{'x SA':>7}{'masks':>7}  equal")
    for setting in args.settings:
        settings = {"points_per_side": args.points_per_side, **thresholds[setting]}
        paths = {"segment_anything": SamAutomaticMaskGenerator(plain, **settings),
                 "samprompt_reference": AutomaticMaskGenerator(reference, **settings),
                 "samprompt": AutomaticMaskGenerator(fast, **settings),
                 "samprompt_onnxruntime": AutomaticMaskGenerator(fast, backend="onnxruntime", **settings)}
        seconds: dict[str, list[float]] = {name: [] for name in paths}
        records: dict[str, list[dict]] = {}
        for round_index in range(args.rounds):
            for name in (list(paths) if round_index % 2 == 0 else list(reversed(paths))):
                start = time.perf_counter()
                records[name] = paths[name].generate(image)
                seconds[name].append(time.perf_counter() - start)
        medians = {name: statistics.median(values) for name, values in seconds.items()}
        entry = {"settings": settings, "seconds": medians, "all_seconds": seconds,
                 "speedup_vs_segment_anything": {n: medians["segment_anything"] / s for n, s in medians.items()},
                 "masks": {n: len(r) for n, r in records.items()},
                 "reference_equals_segment_anything": same_records(records["samprompt_reference"],
                                                                    records["segment_anything"])}
        result["settings"][setting] = entry
        for name in paths:
            print(f"{setting:<10}{name:<24}{medians[name]:>9.2f}{entry['speedup_vs_segment_anything'][name]:>7.2f}"
                  f"{entry['masks'][name]:>7}  {entry['reference_equals_segment_anything']}")
    write_json(args.out, result)


if __name__ == "__main__":
    main()
