"""Pretrain a shipped small core (`tiny`, or SAM 2's `sam2_tiny`) from scratch on shapes world
with SAM's own task.

    python -m samprompt.pretrain.tiny_sam --steps 2000 --out samprompt/weights
    python -m samprompt.pretrain.tiny_sam --recipe interactive --iterations 11 --steps 2000 --out ...
    python -m samprompt.pretrain.tiny_sam --variant sam2_tiny --decoder-from-tiny --steps 1500 --out ...

Every parameter trains (encoder, prompt encoder, decoder) on prompts drawn from shapes-world
instance masks: `--recipe single` gives one random box or click per object
(`samprompt.native.task.NativeTask`); `--recipe interactive` is SAM's interactive recipe, a box
or a click followed by clicks on the errors with the previous logits fed back
(`samprompt.native.interactive.InteractiveTask`). The weights are written as float16
safetensors with a JSON record of the command, seed and test metrics: one box and one click
mIoU, and SAM alone under the RITM click protocol (NoC@85/90/95, mean IoU after each click).

`--decoder-from-tiny` starts `sam2_tiny`'s mask decoder and prompt encoder from the shipped SAM 1
`tiny` core's (`samprompt.core.decoder_start`): trained from random init, sam2_tiny's decoder
learns to ignore the prompt (docs/models.md).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

import samprompt
from samprompt import NativePrompts, PromptedSam
from samprompt.core.decoder_start import start_decoder_from_sam1
from samprompt.core.registry import get_variant, shipped_weights_path
from samprompt.data import ShapesInteractive
from samprompt.errors import SamPromptError
from samprompt.interactive import evaluate_interactive
from samprompt.native.interactive import InteractiveTask
from samprompt.native.task import NativeTask
from samprompt.pretrain import earlier_record
from samprompt.training import TrainConfig, Trainer
from samprompt.utils.files import atomic_file, save_tensors

SMALL_CORES = {"tiny": "sam_tiny", "sam2_tiny": "sam2_tiny"}   # variant -> name of its shipped files


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", choices=tuple(SMALL_CORES), default="tiny",
                        help="the small core to train: SAM's tiny or SAM 2's sam2_tiny (default %(default)s)")
    parser.add_argument("--steps", type=int, default=2000, help="optimizer steps (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=16, help="items per step (default %(default)s)")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of init and batches (default %(default)s)")
    parser.add_argument("--eval-items", type=int, default=300, help="test-split objects to score (default %(default)s)")
    parser.add_argument("--out", default="samprompt/weights", help="output folder (default %(default)s)")
    parser.add_argument("--work-dir", default="out/pretrain_tiny_sam",
                        help="checkpoints, to resume (default %(default)s)")
    parser.add_argument("--recipe", choices=("single", "interactive"), default="single",
                        help="one prompt per object, or SAM's interactive rounds (default %(default)s)")
    parser.add_argument("--iterations", type=int, default=11,
                        help="interactive rounds per object (default %(default)s)")
    parser.add_argument("--click-items", type=int, default=100,
                        help="test-split objects for the click protocol (default %(default)s)")
    parser.add_argument("--init", default=None,
                        help="start from weights of the same variant (a .safetensors or .pth state dict) "
                             "instead of random init")
    parser.add_argument("--decoder-from-tiny", action="store_true",
                        help="sam2_tiny only: start the mask decoder and prompt encoder from the shipped SAM 1 "
                             "tiny core's (the rest from random init)")
    args = parser.parse_args(argv)
    if args.decoder_from_tiny and (args.variant != "sam2_tiny" or args.init is not None):
        parser.error("--decoder-from-tiny starts a fresh sam2_tiny: use it with --variant sam2_tiny and without --init")
    return args


def click_protocol(core: Any, items: list[dict[str, Any]]) -> dict[str, Any]:
    """SAM alone under the RITM click protocol: NoC / NoF and mean IoU per click."""
    clicks, _ = evaluate_interactive(core, items, refine=False)
    return {k: v for k, v in clicks.items() if k != "seconds_per_click"}


def image_scores(core: Any, eval_items: int, click_items: int) -> dict[str, Any]:
    """A core's image-path figures on the shapes-world test split: one box / one click mIoU
    (`NativeTask.evaluate`) and the click protocol on the first `click_items` objects."""
    items = [ShapesInteractive("test", size=eval_items)[i] for i in range(eval_items)]
    with torch.no_grad():
        scores = NativeTask().evaluate(PromptedSam(core, NativePrompts()).eval(), items)
    return {**scores, "click_protocol": click_protocol(core, items[:click_items])}


def write_small_core(core: Any, variant: str, out: Path, record: dict[str, Any]) -> None:
    """The core's weights as float16 safetensors (`<name>.safetensors`, the official model's state
    dict) and the JSON record of how they were made (`<name>.json`) in `out`."""
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in core.sam.state_dict().items()}
    out.mkdir(parents=True, exist_ok=True)
    name = SMALL_CORES[variant]
    official = "segment-anything" if core.family == "sam" else "sam2 (SAM2Base)"
    with atomic_file(out / f"{name}.safetensors") as staging:
        save_tensors(state, staging, metadata={"variant": variant, "format": f"{official} state dict"})
    (out / f"{name}.json").write_text(json.dumps(record, indent=2))


def init_record(init: str | None) -> dict | None:
    """The JSON record written beside the `--init` weights (how they were made), if there is one."""
    if init is None:
        return None
    return earlier_record(Path(init).with_suffix(".json"), init)


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    core = samprompt.build_sam(args.variant, checkpoint=args.init, pretrained=False, frozen=False)
    decoder_start = None
    if args.decoder_from_tiny:
        tiny_file = shipped_weights_path(get_variant("tiny"))
        if tiny_file is None:
            raise SamPromptError("--decoder-from-tiny: the shipped SAM 1 tiny weights are not installed "
                                 "(samprompt/weights/sam_tiny.safetensors); reinstall the package")
        tiny = samprompt.build_sam("tiny")
        start_decoder_from_sam1(core, tiny)
        decoder_start = {"core": tiny.describe().to_dict(),
                         "record": earlier_record(tiny_file.with_suffix(".json"), str(tiny_file))}
    model = PromptedSam(core, NativePrompts())
    task = NativeTask()
    train_task = task if args.recipe == "single" else InteractiveTask(iterations=args.iterations)
    config = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, weight_decay=0.01,
                         warmup_steps=min(100, args.steps // 10), checkpoint_every=250,
                         output_dir=args.work_dir, seed=args.seed)
    test_items = [ShapesInteractive("test", size=args.eval_items)[i] for i in range(args.eval_items)]
    start = time.time()
    trainer = Trainer(model, train_task, ShapesInteractive("train", size=10**6), config,
                      eval_fn=lambda m: task.evaluate(m, test_items))
    result = trainer.fit()
    model.eval()
    metrics = {**result.evaluations[-1], "click_protocol": click_protocol(core, test_items[:args.click_items])}
    command = " ".join(argv if argv is not None else sys.argv[1:])
    record = {"command": f"python -m samprompt.pretrain.tiny_sam {command}",
              "args": vars(args), "init_record": init_record(args.init),
              "decoder_start": decoder_start, "metrics": metrics,
              "final_loss": result.losses[-1],
              "seconds": round(time.time() - start, 1)}
    write_small_core(core, args.variant, Path(args.out), record)
    print(json.dumps(record, indent=2))
    return metrics


if __name__ == "__main__":
    main()
