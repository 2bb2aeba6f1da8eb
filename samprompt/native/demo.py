"""The native method in `samprompt demo`: LoRA on the shipped `tiny` core for points and boxes.

The core is adapted to a harder shapes world (noisier backgrounds, smaller objects) than the one
it was pretrained on, and scored on held-out scenes of that world against two baselines with
the same prompts: a random-init core (what "untrained" gives) and the shipped core before
fine-tuning.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from samprompt.data import ShapesInteractive
from samprompt.data.mask_prompts import box_of
from samprompt.demo import HARDER_WORLD, DemoSettings, aligned
from samprompt.methods.saving import save
from samprompt.metrics.masks import binary_mask_iou
from samprompt.model import PromptedSam
from samprompt.native.task import NativeTask
from samprompt.plots import plot_curves
from samprompt.prompts.native import NativePrompts
from samprompt.training import FeatureCache, TrainConfig, Trainer
from samprompt.tuning import LoraSettings, add_lora, parameter_report
from samprompt.visualize import save_png, side_by_side


def native_demo(out: Path, steps: int, settings: DemoSettings) -> dict[str, Any]:
    """LoRA on the shipped core for points / boxes; returns the metrics of each model."""
    task = NativeTask()
    test_items = [ShapesInteractive("test", settings.eval_items, HARDER_WORLD)[i] for i in range(settings.eval_items)]
    results: dict[str, Any] = {}

    torch.manual_seed(settings.seed)
    random_model = PromptedSam(settings.build_core(pretrained=False), NativePrompts())
    results["random_init"] = task.evaluate(random_model, test_items, seed=settings.seed)

    core = settings.build_core()
    model = PromptedSam(core, NativePrompts())
    results["shipped"] = task.evaluate(model, test_items, seed=settings.seed)

    add_lora(core, LoraSettings(targets=("encoder.qkv", "decoder.attn", "decoder.mlp"), rank=8, alpha=16,
                                encoder_blocks="second_half"))
    # The encoder LoRA makes embeddings trainable; the cache notices and encodes every step.
    train_task = NativeTask(cache=FeatureCache(core))
    config = TrainConfig(steps=steps, batch_size=8, lr=2e-3, warmup_steps=10, seed=settings.seed,
                         progress=settings.progress, output_dir=str(out / "native_lora"))
    train_data = ShapesInteractive("train", settings.train_images, HARDER_WORLD)
    started = time.time()
    history = Trainer(model, train_task, train_data, config).fit()
    results["lora_finetuned"] = task.evaluate(model, test_items, seed=settings.seed)
    report = parameter_report(model)
    results["training"] = {"steps": steps, "seconds": round(time.time() - started, 1),
                           "first_loss": history.losses[0], "last_loss": history.losses[-1],
                           "trainable_parameters": report.trainable, "total_parameters": report.total}
    save(model, out / "native_lora" / "trained")

    plot_curves({"LoRA on the shipped core": history.losses}, out / "plots" / "native_loss.png",
                title="native: training loss (20 x focal + dice + IoU head)", xlabel="step", ylabel="loss",
                smooth=10)

    model.eval()
    with torch.no_grad():
        for i, item in enumerate(test_items[:settings.overlays]):
            box = box_of(item["mask"])
            prediction = model([item["image"]], boxes=torch.as_tensor(box)[None], multimask_output=False)
            mask = prediction.masks[0][0].cpu().numpy()
            text = f"native: one box, shipped core + LoRA · IoU {binary_mask_iou(mask, item['mask']):.2f}"
            save_png(side_by_side(item["image"], mask, item["mask"], text=text, box=box),
                     out / "overlays" / f"native_box_{i}.png")
    return results


def native_table(results: dict[str, Any]) -> str:
    rows = [("module", "model", "box mIoU", "click mIoU")]
    for name, values in results.items():
        if isinstance(values, dict) and "box_miou" in values:
            rows.append(("native_points_boxes", name, f"{values['box_miou']:.3f}", f"{values['point_miou']:.3f}"))
    return aligned(rows)
