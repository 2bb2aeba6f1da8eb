"""Referring video segmentation with RefSAM on shapes world: train briefly (or load), then track.

    python examples/refer_and_track.py --steps 300 --out out/track
    python examples/refer_and_track.py --weights out/demo/refsam/trained --out out/track

Trains RefSAM's prompt modules (text from the shipped CLIP) on the shipped `tiny` core, or
loads weights saved by `RefSAM.save` / `samprompt demo`, then follows the object an expression
names through a held-out clip, online, and writes one overlay per frame with J / F / J&F.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch.utils.data import ConcatDataset

import samprompt
from samprompt.data import ShapesConfig, ShapesReferring, ShapesVideo
from samprompt.metrics import video_scores
from samprompt.refsam import RefSAM, RefSAMConfig, RefSAMVideoTracker
from samprompt.refsam.task import RefSAMTask
from samprompt.text import load_text_encoder
from samprompt.training import FeatureCache, TrainConfig, Trainer
from samprompt.visualize import overlay, save_png


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="tiny", help="SAM variant (%(default)s)")
    parser.add_argument("--weights", help="a trained RefSAM folder; without it, train for --steps")
    parser.add_argument("--steps", type=int, default=300, help="training steps without --weights (%(default)s)")
    parser.add_argument("--image-size", type=int, default=128, help="shapes-world image side (%(default)s)")
    parser.add_argument("--clip", type=int, default=0, help="which held-out clip to track (%(default)s)")
    parser.add_argument("--out", default="out/track", help="output folder (%(default)s)")
    args = parser.parse_args()

    torch.manual_seed(0)
    world = ShapesConfig(image_size=args.image_size)
    core = samprompt.build_sam(args.variant)
    if args.weights:
        model = samprompt.load(args.weights, core)
    else:
        model = RefSAM(core, load_text_encoder("shapes"), RefSAMConfig(adapters=None, train_decoder=True),
                       text_encoder_spec="shapes")
        data = ConcatDataset([ShapesReferring("train", 400, world), ShapesVideo("train", 200, 3, world)])
        config = TrainConfig(steps=args.steps, batch_size=8, lr=3e-3, warmup_steps=min(20, args.steps - 1),
                             module_lrs={"core.sam.mask_decoder": 2e-4}, progress=False)
        Trainer(model, RefSAMTask(cache=FeatureCache(core)), data, config).fit()
    model.eval()

    clip = ShapesVideo("test", args.clip + 1, frames=6, config=world)[args.clip]
    tracker = RefSAMVideoTracker(model, [clip["text"]])
    predictions = []
    out = Path(args.out)
    for t, masks in enumerate(tracker.run(clip["frames"])):
        predictions.append(masks[0].cpu().numpy())
        save_png(overlay(clip["frames"][t], predictions[-1]), out / f"frame_{t}.png")
    scores = video_scores(predictions, list(clip["masks"]))
    print(f"'{clip['text']}': J {scores['J']:.3f}  F {scores['F']:.3f}  J&F {scores['J&F']:.3f}; "
          f"{len(predictions)} overlays in {out}")


if __name__ == "__main__":
    main()
