"""`samprompt demo`: fine-tune and evaluate every prompt module on shapes world, offline, on CPU.

For the native point/box path: the shipped `tiny` core is adapted with LoRA to a harder
shapes world (noisier backgrounds, smaller objects) than the one it was pretrained on, and
scored on held-out scenes of that world against two baselines with the same prompts: a
random-init core (what "untrained" gives) and the shipped core before fine-tuning.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import samprompt
from samprompt.data import ShapesConfig, ShapesInteractive
from samprompt.model import PromptedSam
from samprompt.prompts.native import NativePrompts
from samprompt.tasks.native import NativeTask, box_of
from samprompt.training import FeatureCache, TrainConfig, Trainer
from samprompt.tuning import LoraSettings, add_lora, parameter_report, save_trained
from samprompt.utils.files import atomic_file
from samprompt.visualize import save_png, side_by_side

HARDER_WORLD = ShapesConfig(noise=40.0, radius_fraction=(0.05, 0.14), max_objects=6)


@dataclass
class DemoSettings:
    steps: int = 150
    train_images: int = 400
    eval_items: int = 200
    overlays: int = 6
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("steps", "train_images", "eval_items"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


def native_demo(out: Path, settings: DemoSettings) -> dict[str, Any]:
    """LoRA on the shipped core for points / boxes; returns the metrics of each model."""
    task = NativeTask()
    test_items = [ShapesInteractive("test", settings.eval_items, HARDER_WORLD)[i] for i in range(settings.eval_items)]
    results: dict[str, Any] = {}

    torch.manual_seed(settings.seed)
    random_model = PromptedSam(samprompt.build_sam("tiny", pretrained=False), NativePrompts())
    results["random_init"] = task.evaluate(random_model, test_items, seed=settings.seed)

    core = samprompt.build_sam("tiny")
    model = PromptedSam(core, NativePrompts())
    results["shipped"] = task.evaluate(model, test_items, seed=settings.seed)

    add_lora(core, LoraSettings(targets=("encoder.qkv", "decoder.attn", "decoder.mlp"), rank=8, alpha=16,
                                encoder_blocks="second_half"))
    # The encoder LoRA makes embeddings trainable; the cache notices and encodes every step.
    train_task = NativeTask(cache=FeatureCache(core))
    config = TrainConfig(steps=settings.steps, batch_size=8, lr=2e-3, warmup_steps=10, seed=settings.seed,
                         progress=settings.progress, output_dir=str(out / "native_lora"))
    train_data = ShapesInteractive("train", settings.train_images, HARDER_WORLD)
    started = time.time()
    history = Trainer(model, train_task.loss, train_data, config).fit()
    results["lora_finetuned"] = task.evaluate(model, test_items, seed=settings.seed)
    report = parameter_report(model)
    results["training"] = {"steps": settings.steps, "seconds": round(time.time() - started, 1),
                           "first_loss": history.losses[0], "last_loss": history.losses[-1],
                           "trainable_parameters": report.trainable, "total_parameters": report.total}
    save_trained(model, out / "native_lora" / "trained")

    model.eval()
    with torch.no_grad():
        for i, item in enumerate(test_items[:settings.overlays]):
            prediction = model([item["image"]], boxes=torch.as_tensor(box_of(item["mask"]))[None],
                               multimask_output=False)
            mask = prediction.masks[0][0].cpu().numpy()
            save_png(side_by_side(item["image"], mask, item["mask"]), out / "overlays" / f"native_box_{i}.png")
    return results


def format_table(metrics: dict[str, Any]) -> str:
    rows = [("module", "model", "box mIoU", "click mIoU")]
    for module, models in metrics["modules"].items():
        for name, values in models.items():
            if "box_miou" in values:
                rows.append((module, name, f"{values['box_miou']:.3f}", f"{values['point_miou']:.3f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows)


def run_demo(out: str | Path, settings: DemoSettings = DemoSettings()) -> dict[str, Any]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    metrics: dict[str, Any] = {"samprompt": samprompt.__version__, "core": "tiny (shipped)",
                               "settings": vars(settings), "modules": {}}
    metrics["modules"]["native_points_boxes"] = native_demo(out, settings)
    metrics["seconds"] = round(time.time() - started, 1)
    with atomic_file(out / "metrics.json") as staging:
        staging.write_text(json.dumps(metrics, indent=2))
    print(format_table(metrics))
    print(f"metrics: {out / 'metrics.json'}; overlays (image | prediction | ground truth): {out / 'overlays'}")
    return metrics
