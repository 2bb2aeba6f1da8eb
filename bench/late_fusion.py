"""Late fusion: k prompts on one image share one encoder pass.

    python bench/late_fusion.py --rounds 5 --out bench/results/late_fusion.json

For each generator on the shipped tiny core (native clicks; RefSAM text, random-init prompt
modules on the shipped CLIP text tower; SAM-REF clicks, random-init refiner) and k = 1, 4, 16,
64 prompts on one image, times, interleaved round by round (median reported):
- `batched`: one encoder pass, then all k prompt rows in one decoder call;
- `loop`: one encoder pass, then k single-row calls (a Python loop);
- `re_encode`: every prompt encodes the image again (what an early-fusion model costs).
Reports seconds per prompt and the ratios re_encode / batched and loop / batched.
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, Callable

import numpy as np
import torch
from shared import machine, write_json

import samprompt
from samprompt.refsam import RefSAM, refsam_preset
from samprompt.samref import SAMRef, SAMRefConfig
from samprompt.text import load_text_encoder

WORDS = ["the red circle", "the small blue square", "the triangle on the left", "a large green ring"]


def prompt_inputs(name: str, k: int, rng: np.random.Generator, side: int) -> dict[str, Any]:
    if name == "refsam":
        return {"text": [[WORDS[i % len(WORDS)] for i in range(k)]]}
    points = torch.as_tensor(rng.uniform(0, side - 1, (k, 1, 2)), dtype=torch.float32)
    return {"points": points, "labels": torch.ones(k, 1, dtype=torch.int)}


def row(inputs: dict[str, Any], i: int) -> dict[str, Any]:
    if "text" in inputs:
        return {"text": [[inputs["text"][0][i]]]}
    return {"points": inputs["points"][i:i + 1], "labels": inputs["labels"][i:i + 1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.manual_seed(0)
    core = samprompt.build_sam("tiny")
    models = {
        "native": samprompt.PromptedSam(core, samprompt.NativePrompts()),
        "refsam": RefSAM(core, load_text_encoder("shapes"), refsam_preset("prompts_only")),
        "samref": SAMRef(core, SAMRefConfig(local_size=64, click_radius=3.0)),
    }
    for model in models.values():
        model.eval()
    rng = np.random.default_rng(0)
    side = 128
    image = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    times: dict[str, dict[int, dict[str, list[float]]]] = {
        n: {k: {"batched": [], "loop": [], "re_encode": []} for k in args.ks} for n in models}
    with torch.no_grad():
        for round_index in range(args.rounds + 1):                      # round 0 warms up
            for name, model in models.items():
                keep = model.refiner is not None
                for k in args.ks:
                    inputs = prompt_inputs(name, k, rng, side)
                    runs: dict[str, Callable[[], object]] = {
                        "batched": lambda: model(features=model.core.encode([image], keep_images=keep), **inputs),
                        "loop": lambda: [model(features=features, **row(inputs, i))
                                         for features in [model.core.encode([image], keep_images=keep)]
                                         for i in range(k)],
                        "re_encode": lambda: [model([image], **row(inputs, i)) for i in range(k)],
                    }
                    order = list(runs) if round_index % 2 else list(reversed(runs))
                    for path in order:
                        start = time.perf_counter()
                        runs[path]()
                        if round_index:
                            times[name][k][path].append((time.perf_counter() - start) / k)
    result: dict[str, Any] = {
        "machine": machine(),
        "torch": torch.__version__, "core": "tiny (128 px)", "rounds": args.rounds, "seconds_per_prompt": {},
    }
    print(f"{'generator':<9}{'k':>4}{'batched ms':>12}{'loop ms':>10}{'re-encode ms':>14}{'re-enc/batch':>14}"
          f"{'loop/batch':>12}")
    for name in models:
        result["seconds_per_prompt"][name] = {}
        for k in args.ks:
            median = {path: statistics.median(v) for path, v in times[name][k].items()}
            median["re_encode_over_batched"] = median["re_encode"] / median["batched"]
            median["loop_over_batched"] = median["loop"] / median["batched"]
            result["seconds_per_prompt"][name][k] = median
            print(f"{name:<9}{k:>4}{1000 * median['batched']:>12.2f}{1000 * median['loop']:>10.2f}"
                  f"{1000 * median['re_encode']:>14.2f}{median['re_encode_over_batched']:>14.2f}"
                  f"{median['loop_over_batched']:>12.2f}")
    write_json(args.out, result)


if __name__ == "__main__":
    main()
