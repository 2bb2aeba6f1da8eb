"""How much the embedding cache saves when the encoder is frozen.

    python bench/feature_cache.py --steps 12 --images 64 --out bench/results/feature_cache.json

Trains decoder LoRA on the shipped tiny core for the same steps twice per round, once
encoding every batch and once through `FeatureCache`, alternating the order each round so
that machine noise hits both alike. Reports seconds per step and their ratio.
"""
from __future__ import annotations

import argparse
import time

import torch
from accelerate.state import AcceleratorState
from shared import machine, write_json

import samprompt
from samprompt.data import ShapesInteractive
from samprompt.native.task import NativeTask
from samprompt.training import FeatureCache, TrainConfig, Trainer
from samprompt.tuning import LoraSettings, add_lora


def run(cached: bool, steps: int, images: int) -> float:
    AcceleratorState._reset_state(reset_partial_state=True)
    torch.manual_seed(0)
    core = samprompt.build_sam("tiny")
    add_lora(core, LoraSettings(targets=("decoder.attn", "decoder.mlp"), rank=4))
    model = samprompt.PromptedSam(core, samprompt.NativePrompts())
    task = NativeTask(cache=FeatureCache(core) if cached else None)
    trainer = Trainer(model, task, ShapesInteractive("train", images),
                      TrainConfig(steps=steps, batch_size=16, progress=False))
    start = time.perf_counter()
    trainer.fit()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--images", type=int, default=64, help="distinct images (steps x 16 / images = epochs)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default="bench/results/feature_cache.json")
    args = parser.parse_args()
    times: dict[str, list[float]] = {"encode_every_step": [], "cached": []}
    for round_index in range(args.rounds):
        order = [False, True] if round_index % 2 == 0 else [True, False]
        for cached in order:
            times["cached" if cached else "encode_every_step"].append(run(cached, args.steps, args.images))
    plain, cached = min(times["encode_every_step"]), min(times["cached"])
    result = {"seconds_per_step": {k: min(v) for k, v in times.items()}, "all_runs": times,
              "speedup": plain / cached, "epochs": args.steps * 16 / args.images, "steps": args.steps,
              "machine": machine(),
              "torch": torch.__version__}
    write_json(args.out, result)
    print(f"{'path':<20} {'s/step':>8}\n{'encode every step':<20} {plain:>8.3f}\n{'feature cache':<20} {cached:>8.3f}")
    print(f"cache speed-up {plain / cached:.2f}x over {result['epochs']:.1f} epochs")


if __name__ == "__main__":
    main()
