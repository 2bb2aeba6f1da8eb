"""Class-name prompts in `samprompt demo`: CLIP's pseudo prompts on SAM's own decoder.

The generator's class token and pseudo-mask scale are trained on shapes scenes together with a
LoRA adapter on SAM's mask decoder (the core's own weights stay frozen: with the adapter
switched off, or another one switched on, the same core answers clicks as before), then scored
on held-out scenes as a semantic map (per-class SAM masks, background where no mask
covers a pixel) and per class mask, against the raw CLIP-correlation argmax that seeds it.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from samprompt.classes.method import class_prompted_sam
from samprompt.classes.task import ClassPromptTask, evaluate_classes
from samprompt.data import ShapesSemantic
from samprompt.demo import DemoSettings, aligned
from samprompt.methods.saving import save
from samprompt.metrics.semantic import ConfusionMatrix
from samprompt.plots import plot_curves
from samprompt.prompts.classes import class_logits, semantic_map
from samprompt.training import FeatureCache, TrainConfig, Trainer
from samprompt.tuning import LoraSettings, add_lora, parameter_report
from samprompt.visualize import save_png, semantic_panels

DEMO_CLASSES = {"image_size": 128, "templates": ["a {}", "a photo of a {}"]}
DEMO_LORA = LoraSettings(targets=("decoder.attn", "decoder.mlp"), rank=8)


def correlation_scores(model: Any, items: list[dict[str, Any]], classes: tuple[str, ...]) -> dict[str, Any]:
    """mIoU of the raw correlation argmax of the generator's own CLIP (what it starts from)."""
    matrix = ConfusionMatrix(len(classes), ignore_index=255)
    with torch.no_grad():
        for item in items:
            image = torch.from_numpy(item["image"]).permute(2, 0, 1)[None]
            matrix.add(model.generator.clip.correlation_map(image, classes).argmax(1)[0].cpu().numpy(), item["label"])
    return matrix.summary(classes)


def classes_demo(out: Path, steps: int, settings: DemoSettings) -> dict[str, Any]:
    """The class-name generator on the frozen shipped core vs the raw CLIP correlation."""
    train = ShapesSemantic("train", settings.train_images)
    test = ShapesSemantic("test", settings.eval_items)
    items = [test[i] for i in range(settings.eval_items)]
    torch.manual_seed(settings.seed)
    core = settings.build_core()
    model = class_prompted_sam(core, DEMO_CLASSES)
    untrained = evaluate_classes(model, items, test.classes)
    add_lora(core, DEMO_LORA)
    task = ClassPromptTask(train.classes, FeatureCache(core, keep_intermediate=False, keep_images=True))
    config = TrainConfig(steps=steps, batch_size=4, lr=2e-3, warmup_steps=10, seed=settings.seed,
                         progress=settings.progress, output_dir=str(out / "classes"))
    started = time.time()
    history = Trainer(model, task, train, config).fit()
    report = parameter_report(model)
    training = {"steps": steps, "seconds": round(time.time() - started, 1), "first_loss": history.losses[0],
                "last_loss": history.losses[-1], "trainable_parameters": report.trainable}
    save(model, out / "classes" / "trained")
    results = {"training": training, "class_prompts": evaluate_classes(model, items, test.classes),
               "untrained_class_prompts": untrained,
               "clip_correlation": correlation_scores(model, items, test.classes)}
    plot_curves({"class prompts": history.losses}, out / "plots" / "classes_loss.png",
                title="Class prompts on SAM's decoder: training loss", xlabel="step", ylabel="loss", smooth=10)
    model.eval()
    with torch.no_grad():
        for i, item in enumerate(items[:settings.overlays]):
            prediction = model([item["image"]], classes=list(test.classes), multimask_output=False)
            logits = class_logits(prediction, len(test.classes))
            semantic = semantic_map(logits, test.classes)[0].cpu().numpy().astype(np.uint8)
            single = ConfusionMatrix(len(test.classes), ignore_index=255)
            single.add(semantic, item["label"])
            text = f"class prompts on SAM's decoder, one SAM mask per class name · mIoU {single.summary()['miou']:.2f}"
            save_png(semantic_panels(item["image"], semantic, item["label"], test.classes, text=text),
                     out / "overlays" / f"classes_{i}.png")
    return results


def classes_table(results: dict[str, Any]) -> str:
    rows = [("module", "model", "semantic mIoU", "class-mask mIoU")]
    for key, label in (("clip_correlation", "CLIP correlation argmax"),
                       ("untrained_class_prompts", "class prompts, untrained"),
                       ("class_prompts", "class prompts, trained")):
        values = results[key]
        mask = f"{values['mask_miou']:.3f}" if "mask_miou" in values else "-"
        rows.append(("classes_on_sam", label, f"{values['miou']:.3f}", mask))
    return aligned(rows)
