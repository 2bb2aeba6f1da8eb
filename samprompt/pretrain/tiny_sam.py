"""Pretrain the shipped `tiny` SAM core from scratch on shapes world with SAM's own task.

    python -m samprompt.pretrain.tiny_sam --steps 2000 --out samprompt/weights

Every parameter trains (encoder, prompt encoder, decoder) on random boxes and clicks drawn
from shapes-world instance masks (`samprompt.native.task.NativeTask`). The weights are
written as float16 safetensors with a JSON record of the command, seed and test metrics.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

import samprompt
from samprompt import NativePrompts, PromptedSam
from samprompt.data import ShapesInteractive
from samprompt.native.task import NativeTask
from samprompt.training import TrainConfig, Trainer
from samprompt.utils.files import atomic_file

WEIGHTS_NAME = "sam_tiny.safetensors"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000, help="optimizer steps (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=16, help="items per step (default %(default)s)")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of init and batches (default %(default)s)")
    parser.add_argument("--eval-items", type=int, default=300, help="test-split objects to score (default %(default)s)")
    parser.add_argument("--out", default="samprompt/weights", help="output folder (default %(default)s)")
    parser.add_argument("--work-dir", default="out/pretrain_tiny_sam", help="checkpoints, to resume (default %(default)s)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    core = samprompt.build_sam("tiny", pretrained=False, frozen=False)
    model = PromptedSam(core, NativePrompts())
    task = NativeTask()
    config = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, weight_decay=0.01,
                         warmup_steps=min(100, args.steps // 10), checkpoint_every=250,
                         output_dir=args.work_dir, seed=args.seed)
    test_items = [ShapesInteractive("test", size=args.eval_items)[i] for i in range(args.eval_items)]
    start = time.time()
    trainer = Trainer(model, task, ShapesInteractive("train", size=10**6), config,
                      eval_fn=lambda m: task.evaluate(m, test_items))
    result = trainer.fit()
    metrics = result.evaluations[-1]
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in core.sam.state_dict().items()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_file(out / WEIGHTS_NAME) as staging:
        save_file(state, str(staging), metadata={"variant": "tiny", "format": "segment-anything state dict"})
    record = {"command": "python -m samprompt.pretrain.tiny_sam " + " ".join(argv if argv is not None else sys.argv[1:]),
              "args": vars(args), "metrics": metrics, "final_loss": result.losses[-1],
              "seconds": round(time.time() - start, 1)}
    (out / "sam_tiny.json").write_text(json.dumps(record, indent=2))
    print(json.dumps(record, indent=2))
    return metrics


if __name__ == "__main__":
    main()
