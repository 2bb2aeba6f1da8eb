"""Zero-shot crop accuracy of shapes CLIPs on many held-out test scenes, paired between models.

    python -m samprompt.pretrain.clip_accuracy samprompt/weights/shapes_clip OTHER_DIR \
        --first-scene 150 --scenes 3000

The record of each CLIP (`shapes_clip.evaluate`) counts 504 crops of the first 150 test scenes:
enough to see a large change, not one crop in 504. This scores every CLIP folder given (the
shipped open_clip local-dir format) on the object crops of other test scenes (from
`--first-scene`, `--scenes` of them; the crops' framing drawn from `--seed`), all models on the
same crops, with the record's prompts ("a photo of a {shape}", "a {colour} shape"). For two
models it adds the paired comparison: the crops only the first gets right, those only the second
gets right, and the exact two-sided McNemar p-value (a binomial test on those discordant crops,
as `scipy.stats.binomtest` computes it).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from scipy.stats import binomtest

from samprompt.clip import load_clip
from samprompt.clip.models import shapes_clip_config
from samprompt.pretrain.shapes_clip import held_out_crops, zero_shot_hits


def paired(first: np.ndarray, second: np.ndarray) -> dict[str, float]:
    """Two models' hits on the same N crops: the discordant counts and McNemar's exact p-value."""
    only_first, only_second = int((first & ~second).sum()), int((~first & second).sum())
    p_value = binomtest(only_first, only_first + only_second).pvalue if only_first + only_second else 1.0
    return {"only_first_right": only_first, "only_second_right": only_second, "mcnemar_p": float(p_value)}


def compare(directories: Sequence[str | Path], first_scene: int = 150, scenes: int = 3000,
            seed: int = 777) -> dict[str, Any]:
    """Accuracy of every CLIP in `directories` on the same held-out crops; paired for two."""
    size = shapes_clip_config()["vision_cfg"]["image_size"]
    crops = held_out_crops(range(first_scene, first_scene + scenes), size, seed)
    hits = {}
    for directory in directories:
        bundle = load_clip("shapes", pretrained=directory)
        hits[str(directory)] = zero_shot_hits(bundle.model, bundle.tokenizer, crops)
    result: dict[str, Any] = {"crops": len(crops), "scenes": [first_scene, first_scene + scenes], "models": {
        name: {"shape": float(shape.mean()), "colour": float(colour.mean())} for name, (shape, colour) in hits.items()}}
    if len(hits) == 2:
        (shape_a, colour_a), (shape_b, colour_b) = hits.values()
        result["paired"] = {"shape": paired(shape_a, shape_b), "colour": paired(colour_a, colour_b)}
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", nargs="+", help="shapes CLIP folders (open_clip_config.json + weights)")
    parser.add_argument("--first-scene", type=int, default=150,
                        help="first test scene (default %(default)s: after the 150 the records count)")
    parser.add_argument("--scenes", type=int, default=3000, help="test scenes (default %(default)s)")
    parser.add_argument("--seed", type=int, default=777, help="seed of the crops' framing (default %(default)s)")
    args = parser.parse_args(argv)
    if args.first_scene < 0 or args.scenes <= 0:
        parser.error(f"--first-scene must be >= 0 and --scenes > 0; got {args.first_scene} and {args.scenes}")
    result = compare(args.clips, args.first_scene, args.scenes, args.seed)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
