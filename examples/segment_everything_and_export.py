"""Segment everything in a scene, name the masks, and run the prompt path from ONNX files.

    python examples/segment_everything_and_export.py --out out/segment_everything

1. `AutomaticMaskGenerator` on the shipped small core (with the settings chosen for it), its
   masks named by the shipped shapes CLIP, written as masks.json + label_map.png + overlay.png;
2. `export_onnx` of the same core, then one click answered by ONNX Runtime from the two files,
   compared with the core's own answer.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

import samprompt
from samprompt.automatic import AutomaticMaskGenerator
from samprompt.automatic.config import settings_for
from samprompt.automatic.labels import MaskLabeller
from samprompt.automatic.outputs import write_masks
from samprompt.clip import load_clip
from samprompt.data import SHAPE_CLASSES, ShapesInstances
from samprompt.export import export_onnx, onnx_session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="tiny", help="SAM variant (default: %(default)s, the shipped core)")
    parser.add_argument("--scene", type=int, default=3, help="shapes-world test scene (default: %(default)s)")
    parser.add_argument("--out", default="out/segment_everything")
    args = parser.parse_args()

    core = samprompt.build_sam(args.variant)
    item = ShapesInstances("test", size=args.scene + 1)[args.scene]
    image = item["image"]
    records = AutomaticMaskGenerator(core, **settings_for(core)).generate(image)
    classes = list(SHAPE_CLASSES) + ["background"]
    named = MaskLabeller(load_clip("shapes")).label(image, records, classes)
    write_masks(image, named, args.out, classes=classes, settings=settings_for(core))
    print(f"{len(records)} masks, {len(named)} named: {', '.join(r['label'] for r in named) or 'none'} "
          f"(the scene holds {', '.join(item['labels'])}); wrote {args.out}/overlay.png")

    manifest = export_onnx(core, f"{args.out}/onnx")
    encoder = onnx_session(f"{args.out}/onnx/encoder.onnx")
    decoder = onnx_session(f"{args.out}/onnx/prompt_decoder.onnx")
    batch, _, original_sizes = core.preprocess([image])
    embedding = encoder.run(None, {"images": batch.numpy()})[0]
    ys, xs = np.nonzero(item["masks"][0])
    click = np.array([[[xs.mean(), ys.mean()], [0.0, 0.0]]])    # a click and a padding point (label -1)
    coords = core.input_coords(click, original_sizes[0]).numpy()
    h, w = core.mask_input_size
    masks, iou = decoder.run(None, {"image_embeddings": embedding, "point_coords": coords,
                                    "point_labels": np.array([[1.0, -1.0]], np.float32),
                                    "mask_input": np.zeros((1, 1, h, w), np.float32),
                                    "has_mask_input": np.zeros(1, np.float32)})
    with torch.no_grad():
        features = core.encode([image], keep_intermediate=False)
        sparse, dense = core.embed_prompts(points=(torch.as_tensor(coords[:, :1]), torch.ones(1, 1, dtype=torch.int)))
        reference = core.decode(features, samprompt.Prompts(sparse, dense), upscale=False)
    print(f"ONNX Runtime vs PyTorch on one click: IoU predictions {np.round(iou[0], 3).tolist()} vs "
          f"{np.round(reference.iou_predictions[0].numpy(), 3).tolist()}; largest logit difference "
          f"{np.abs(masks - reference.low_res_logits.numpy()).max():.2g}; export checks "
          f"{manifest['graphs']['prompt_decoder']['largest_difference_to_pytorch']['example']}")


if __name__ == "__main__":
    main()
