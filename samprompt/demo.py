"""`samprompt demo`: fine-tune and evaluate every prompt module on shapes world, offline, on CPU.

Native points / boxes: the shipped `tiny` core is adapted with LoRA to a harder shapes world
(noisier backgrounds, smaller objects) than the one it was pretrained on, and scored on
held-out scenes of that world against two baselines with the same prompts: a random-init
core (what "untrained" gives) and the shipped core before fine-tuning.

RefSAM (text): the RefSAM prompt modules are trained on the shipped core and the shipped
CLIP's text tower, on referring images (as pseudo-clips) and moving clips, then scored on
held-out images (mIoU, oIoU, prec@) and clips (J, F, J&F, online with the track token)
against text-free baselines: a learned constant prompt trained the same way, a click at the
image centre and the whole image as a box. The best of them is what RefSAM must beat for
the text to matter.

ESC-Net (class names): trained on shapes scenes from which one class ("star") is removed,
then scored on held-out scenes with every class, against the raw CLIP-correlation argmax
(what the shipped CLIP alone gives); the held-out class's IoU measures open vocabulary.

SAM-REF (clicks): the refiner is trained on cached embeddings of the shipped core (which stays
frozen), then held-out objects are segmented click by click with the RITM simulator (up to 20
clicks): SAM alone, SAM-REF on its own clicks, and SAM-REF replaying SAM's clicks (the same
clicks for both), with seconds per click in the decoder and in the refiner.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import ConcatDataset

import samprompt
from samprompt.clip import load_clip
from samprompt.data import SHAPE_CLASSES, ShapesConfig, ShapesInteractive, ShapesReferring, ShapesSemantic, ShapesVideo
from samprompt.escnet import ESCNet, ESCNetConfig
from samprompt.interactive import compare_refiner
from samprompt.metrics.semantic import ConfusionMatrix
from samprompt.model import PromptedSam
from samprompt.prompts.fixed import FixedNativePrompt, LearnedConstantPrompt
from samprompt.prompts.native import NativePrompts
from samprompt.refsam import RefSAM, RefSAMConfig
from samprompt.samref import SAMRef, SAMRefConfig
from samprompt.tasks.escnet import ESCNetTask, correlation_predictor, evaluate_semantic, model_predictor
from samprompt.tasks.native import NativeTask, box_of
from samprompt.tasks.refsam import RefSAMTask
from samprompt.tasks.samref import SAMRefTask
from samprompt.text import load_text_encoder
from samprompt.training import FeatureCache, TrainConfig, Trainer
from samprompt.tuning import LoraSettings, add_lora, parameter_report, save_trained
from samprompt.utils.files import atomic_file
from samprompt.visualize import save_png, semantic_panels, side_by_side

HARDER_WORLD = ShapesConfig(noise=40.0, radius_fraction=(0.05, 0.14), max_objects=6)


@dataclass
class DemoSettings:
    steps: int = 150
    refsam_steps: int = 600
    escnet_steps: int = 400
    samref_steps: int = 300
    train_images: int = 400
    eval_items: int = 200
    overlays: int = 6
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("steps", "refsam_steps", "escnet_steps", "samref_steps", "train_images", "eval_items"):
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


# RefSAM on the tiny core: prompt modules plus the mask decoder (the decoder was trained for
# clicks and boxes only, so it adapts to text prompts at a lower learning rate).
DEMO_REFSAM = RefSAMConfig(adapters=None, train_decoder=True)
DEMO_REFSAM_LRS = {"core.sam.mask_decoder": 2e-4}


def train_referring(model: PromptedSam, task: RefSAMTask, settings: DemoSettings, out: Path, name: str
                    ) -> dict[str, Any]:
    data = ConcatDataset([ShapesReferring("train", settings.train_images),
                          ShapesVideo("train", max(settings.train_images // 2, 1), frames=3)])
    config = TrainConfig(steps=settings.refsam_steps, batch_size=8, lr=3e-3, warmup_steps=20, seed=settings.seed,
                         module_lrs=DEMO_REFSAM_LRS,
                         progress=settings.progress, output_dir=str(out / name))
    started = time.time()
    history = Trainer(model, task.loss, data, config).fit()
    return {"steps": settings.refsam_steps, "seconds": round(time.time() - started, 1),
            "first_loss": history.losses[0], "last_loss": history.losses[-1]}


def refsam_demo(out: Path, settings: DemoSettings) -> dict[str, Any]:
    """RefSAM vs text-free baselines on held-out referring images and clips."""
    images = [ShapesReferring("test", settings.eval_items)[i] for i in range(settings.eval_items)]
    clip_count = max(settings.eval_items // 4, 1)
    clips = [ShapesVideo("test", clip_count, frames=4)[i] for i in range(clip_count)]
    results: dict[str, Any] = {}
    core = samprompt.build_sam("tiny")
    for name, generator in (("centre_click", FixedNativePrompt(point=(0.5, 0.5))),
                            ("whole_image_box", FixedNativePrompt(box=(0.0, 0.0, 1.0, 1.0)))):
        results[name] = RefSAMTask(cache=FeatureCache(core)).evaluate(PromptedSam(core, generator), images, clips)

    torch.manual_seed(settings.seed)
    constant_core = samprompt.build_sam("tiny")
    for parameter in constant_core.sam.mask_decoder.parameters():
        parameter.requires_grad_(True)
    constant = PromptedSam(constant_core, LearnedConstantPrompt(constant_core.prompt_dim))
    task = RefSAMTask(frames=2, cache=FeatureCache(constant_core))
    training = {"constant_prompt": train_referring(constant, task, settings, out, "constant_prompt")}
    results["constant_prompt"] = task.evaluate(constant, images, clips)

    torch.manual_seed(settings.seed)
    refsam_core = samprompt.build_sam("tiny")
    model = RefSAM(refsam_core, load_text_encoder("shapes"), DEMO_REFSAM, text_encoder_spec="shapes")
    task = RefSAMTask(frames=2, cache=FeatureCache(refsam_core))
    training["refsam"] = train_referring(model, task, settings, out, "refsam")
    results["refsam"] = task.evaluate(model, images, clips)
    report = parameter_report(model)
    training["refsam"].update(trainable_parameters=report.trainable, total_parameters=report.total)
    model.save(out / "refsam" / "trained")

    baselines = [k for k in results if k != "refsam"]
    best = max(baselines, key=lambda k: results[k]["images"]["miou"] + results[k]["videos"]["J&F"])
    results["best_text_free_baseline"] = best
    results["training"] = training

    model.eval()
    with torch.no_grad():
        for i, item in enumerate(images[:settings.overlays]):
            mask = model([item["image"]], text=[item["text"]]).masks[0][0].cpu().numpy()
            save_png(side_by_side(item["image"], mask, item["mask"]),
                     out / "overlays" / f"refsam_{i}_{item['text'].replace(' ', '_')}.png")
    return results


# ESC-Net at shapes scale: CLIP at 128 px (16 x 16 patches), two ESC blocks, CLIP frozen (tuning its
# attention fitted the seen shapes better but lost the held-out one); SAM blocks at 1/25 of the base
# learning rate (the paper: 2e-6 vs 2e-4).
DEMO_ESCNET = ESCNetConfig(clip_image_size=128, templates=("a {}", "a photo of a {}"), blocks=2,
                           decoder_dims=(32, 16))
HELD_OUT_CLASS = "star"


def semantic_scores(matrix: ConfusionMatrix, classes: tuple[str, ...]) -> dict[str, Any]:
    summary = matrix.summary(classes)
    seen = [v for k, v in summary["per_class_iou"].items() if k != HELD_OUT_CLASS and v is not None]
    return {**summary, "seen_miou": sum(seen) / len(seen), "held_out_iou": summary["per_class_iou"][HELD_OUT_CLASS]}


def escnet_demo(out: Path, settings: DemoSettings) -> dict[str, Any]:
    """ESC-Net vs the raw CLIP-correlation argmax on held-out scenes, one class unseen in training."""
    seen_world = ShapesConfig(classes=tuple(c for c in SHAPE_CLASSES if c != HELD_OUT_CLASS))
    train = ShapesSemantic("train", settings.train_images * 4, seen_world)
    test = ShapesSemantic("test", settings.eval_items)
    items = [test[i] for i in range(settings.eval_items)]
    torch.manual_seed(settings.seed)
    model = ESCNet(samprompt.build_sam("tiny"), load_clip("shapes"), DEMO_ESCNET, clip_spec={"name": "shapes"})
    lrs = model.module_lrs(sam_lr=2e-5)
    config = TrainConfig(steps=settings.escnet_steps, batch_size=4, lr=5e-4, warmup_steps=20, module_lrs=lrs,
                         seed=settings.seed, progress=settings.progress, output_dir=str(out / "escnet"))
    started = time.time()
    history = Trainer(model, ESCNetTask(train.classes).loss, train, config).fit()
    training = {"steps": settings.escnet_steps, "seconds": round(time.time() - started, 1),
                "first_loss": history.losses[0], "last_loss": history.losses[-1],
                "trained_classes": list(train.classes), "held_out_class": HELD_OUT_CLASS}
    report = parameter_report(model)
    training.update(trainable_parameters=report.trainable, total_parameters=report.total)
    model.eval()
    results: dict[str, Any] = {"training": training}
    for name, predict in (("clip_correlation", correlation_predictor(model)), ("escnet", model_predictor(model))):
        results[name] = semantic_scores(evaluate_semantic(predict, items, test.classes), test.classes)
    model.save(out / "escnet" / "trained")
    with torch.no_grad():
        for i, item in enumerate(items[:settings.overlays]):
            semantic = model([item["image"]], test.classes).semantic[0].cpu().numpy()
            save_png(semantic_panels(item["image"], semantic, item["label"]), out / "overlays" / f"escnet_{i}.png")
    return results


# SAM-REF at shapes scale: the global refiner sees the whole 128 px encoder input, the local one
# resamples its detail window to 64 px; about 0.18 M parameters (0.74 MB in float32).
DEMO_SAMREF = SAMRefConfig(local_size=64, click_radius=3.0)
SAMREF_RUNS = {"sam_alone": "SAM alone", "samref": "SAM-REF", "samref_on_sam_clicks": "SAM-REF, SAM's clicks"}


def samref_demo(out: Path, settings: DemoSettings) -> dict[str, Any]:
    """The SAM-REF refiner vs SAM alone under the click protocol, on held-out objects."""
    torch.manual_seed(settings.seed)
    core = samprompt.build_sam("tiny")
    model = SAMRef(core, DEMO_SAMREF)
    task = SAMRefTask(cache=FeatureCache(core, keep_intermediate=False, keep_images=True))
    config = TrainConfig(steps=settings.samref_steps, batch_size=8, lr=1e-3, warmup_steps=20, seed=settings.seed,
                         progress=settings.progress, output_dir=str(out / "samref"))
    started = time.time()
    history = Trainer(model, task.loss, ShapesInteractive("train", settings.train_images, HARDER_WORLD), config).fit()
    report = parameter_report(model)
    training = {"steps": settings.samref_steps, "seconds": round(time.time() - started, 1),
                "first_loss": history.losses[0], "last_loss": history.losses[-1],
                "trainable_parameters": report.trainable, "total_parameters": report.total}
    model.save(out / "samref" / "trained")
    model.eval()
    count = max(settings.eval_items // 2, 1)
    items = [ShapesInteractive("test", count, HARDER_WORLD)[i] for i in range(count)]
    compared = compare_refiner(model, items, progress=settings.progress)
    sam_runs = compared["sam_alone"][1]
    results: dict[str, Any] = {"training": training, "sam_alone": compared["sam_alone"][0],
                               "samref": compared["refined"][0],
                               "samref_on_sam_clicks": compared["refined_on_sam_clicks"][0]}
    for i, item in enumerate(items[:settings.overlays]):
        session = model.session(item["image"])
        for click in sam_runs[i].clicks[:3]:
            session.click(click.x, click.y, click.positive)
        rows = [side_by_side(item["image"], mask, item["mask"]) for mask in (session.steps[-1].sam_mask, session.mask)]
        save_png(np.concatenate(rows, axis=0), out / "overlays" / f"samref_{i}_sam_top_refined_bottom.png")
    return results


def format_table(metrics: dict[str, Any]) -> str:
    rows = [("module", "model", "box mIoU", "click mIoU")]
    for module, models in metrics["modules"].items():
        for name, values in models.items():
            if isinstance(values, dict) and "box_miou" in values:
                rows.append((module, name, f"{values['box_miou']:.3f}", f"{values['point_miou']:.3f}"))
    table = [_aligned(rows)]
    refsam = metrics["modules"].get("refsam_text")
    if refsam:
        rows = [("module", "model", "image mIoU", "oIoU", "prec@0.5", "video J", "F", "J&F")]
        for name, values in refsam.items():
            if isinstance(values, dict) and "images" in values:
                im, vid = values["images"], values["videos"]
                rows.append(("refsam_text", name, *(f"{v:.3f}" for v in (im["miou"], im["oiou"], im["prec@0.5"],
                                                                          vid["J"], vid["F"], vid["J&F"]))))
        table.append(_aligned(rows))
    escnet = metrics["modules"].get("escnet_classes")
    if escnet:
        rows = [("module", "model", "mIoU", "seen mIoU", f"{HELD_OUT_CLASS} IoU (unseen)", "fwIoU", "pixel acc")]
        for name in ("clip_correlation", "escnet"):
            v = escnet[name]
            held = "-" if v["held_out_iou"] is None else f"{v['held_out_iou']:.3f}"
            rows.append(("escnet_classes", name, f"{v['miou']:.3f}", f"{v['seen_miou']:.3f}", held,
                         f"{v['fwiou']:.3f}", f"{v['pixel_accuracy']:.3f}"))
        table.append(_aligned(rows))
    samref = metrics["modules"].get("samref_clicks")
    if samref:
        rows = [("module", "model", "NoC@85", "NoC@90", "NoF@90", "5-mIoU", "decoder ms/click", "refiner ms/click")]
        for key, label in SAMREF_RUNS.items():
            v = samref[key]
            spc = v["seconds_per_click"]
            rows.append(("samref_clicks", label, f"{v['NoC@85']:.2f}", f"{v['NoC@90']:.2f}", str(v["NoF@90"]),
                         f"{v['5-mIoU']:.3f}", f"{1000 * spc['decoder']:.1f}", f"{1000 * spc['refiner']:.1f}"))
        table.append(_aligned(rows))
    return "\n\n".join(table)


def _aligned(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows)


def run_demo(out: str | Path, settings: DemoSettings = DemoSettings()) -> dict[str, Any]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    metrics: dict[str, Any] = {"samprompt": samprompt.__version__, "core": "tiny (shipped)",
                               "settings": vars(settings), "modules": {}}
    metrics["modules"]["native_points_boxes"] = native_demo(out, settings)
    metrics["modules"]["refsam_text"] = refsam_demo(out, settings)
    metrics["modules"]["escnet_classes"] = escnet_demo(out, settings)
    metrics["modules"]["samref_clicks"] = samref_demo(out, settings)
    metrics["seconds"] = round(time.time() - started, 1)
    with atomic_file(out / "metrics.json") as staging:
        staging.write_text(json.dumps(metrics, indent=2))
    print(format_table(metrics))
    print(f"metrics: {out / 'metrics.json'}; overlays (image | prediction | ground truth): {out / 'overlays'}")
    return metrics
