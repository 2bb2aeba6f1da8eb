"""Segment an image with a click and a box on a SAM core, and save the masks as PNGs.

    python examples/segment_with_prompts.py --out out/example
    python examples/segment_with_prompts.py --variant vit_b --checkpoint sam_vit_b_01ec64.pth \
        --image photo.jpg --point 320 240 --box 100 80 500 400 --out out/photo

Without --image a synthetic picture (a disk and a square on noise) is drawn; without
--checkpoint the core has random weights, so the masks show the plumbing, not quality.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import samprompt
from samprompt.visualize import overlay


def synthetic_image(size: int = 160, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = rng.integers(60, 110, (size, size, 3), dtype=np.uint8)
    y, x = np.mgrid[:size, :size]
    image[(x - 55) ** 2 + (y - 60) ** 2 < 30 ** 2] = (220, 40, 40)
    image[100:145, 90:140] = (40, 80, 220)
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="tiny", help="SAM variant (%(default)s); see samprompt.available_variants()")
    parser.add_argument("--checkpoint", help="local SAM checkpoint (.pth official format or .safetensors)")
    parser.add_argument("--image", help="an RGB image file; default: a synthetic picture")
    parser.add_argument("--point", type=float, nargs=2, default=(55, 60), metavar=("X", "Y"),
                        help="a foreground click, in pixels (default: %(default)s)")
    parser.add_argument("--box", type=float, nargs=4, default=(85, 95, 145, 150), metavar=("X0", "Y0", "X1", "Y1"),
                        help="a box, in pixels (default: %(default)s)")
    parser.add_argument("--out", default="out/example", help="output folder (default: %(default)s)")
    args = parser.parse_args()

    torch.manual_seed(0)
    core = samprompt.build_sam(args.variant, checkpoint=args.checkpoint)
    image = np.asarray(Image.open(args.image).convert("RGB")) if args.image else synthetic_image()
    predictor = samprompt.Predictor(core)
    predictor.set_image(image)
    point_masks, point_scores, _ = predictor.predict(point_coords=np.array([args.point]), point_labels=np.array([1]))
    box_masks, box_scores, _ = predictor.predict(box=np.array(args.box), multimask_output=False)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    best = int(point_scores.argmax())
    Image.fromarray(image).save(out / "image.png")
    Image.fromarray(overlay(image, point_masks[best])).save(out / "point_overlay.png")
    Image.fromarray(overlay(image, box_masks[0], (0, 220, 255))).save(out / "box_overlay.png")
    print(f"core {core.variant}: point mask covers {point_masks[best].mean():.1%} of the image "
          f"(predicted IoU {point_scores[best]:.2f}); box mask {box_masks[0].mean():.1%} "
          f"(predicted IoU {box_scores[0]:.2f}); PNGs in {out}")


if __name__ == "__main__":
    main()
