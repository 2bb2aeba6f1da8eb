"""RefSAM in `samprompt demo`: text prompts on the shipped core, against text-free baselines.

The RefSAM prompt modules are trained on the shipped core and the shipped CLIP's text tower, on
referring images (as pseudo-clips) and moving clips, then scored on held-out images (mIoU,
oIoU, prec@) and clips (J, F, J&F, online with the track token) against text-free baselines: a
learned constant prompt trained the same way, a click at the image centre and the whole image
as a box. The best of them is what RefSAM must beat for the text to matter.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import ConcatDataset

from samprompt.data import ShapesReferring, ShapesVideo
from samprompt.demo import DemoSettings, aligned, decoder_lrs
from samprompt.methods.saving import save
from samprompt.metrics.masks import binary_mask_iou
from samprompt.model import PromptedSam
from samprompt.plots import plot_curves
from samprompt.prompts.fixed import FixedNativePrompt, LearnedConstantPrompt
from samprompt.refsam.config import RefSAMConfig
from samprompt.refsam.memory import compare_video_paths
from samprompt.refsam.model import RefSAM
from samprompt.refsam.task import RefSAMTask
from samprompt.text import load_text_encoder
from samprompt.training import FeatureCache, TrainConfig, Trainer
from samprompt.tuning import parameter_report
from samprompt.visualize import save_png, side_by_side

# RefSAM on the tiny core: prompt modules plus the mask decoder (the decoder was trained for
# clicks and boxes only, so it adapts to text prompts at a lower learning rate).
DEMO_REFSAM = RefSAMConfig(adapters=None, train_decoder=True)
DEMO_REFSAM_DECODER_LR = 2e-4


def train_referring(model: PromptedSam, task: RefSAMTask, steps: int, settings: DemoSettings, out: Path, name: str
                    ) -> tuple[dict[str, Any], list[float]]:
    """Train `model` on referring images and clips; (what the run took, its loss curve)."""
    data = ConcatDataset([ShapesReferring("train", settings.train_images),
                          ShapesVideo("train", max(settings.train_images // 2, 1), frames=3)])
    config = TrainConfig(steps=steps, batch_size=8, lr=3e-3, warmup_steps=20, seed=settings.seed,
                         module_lrs=decoder_lrs(model.core, DEMO_REFSAM_DECODER_LR),
                         progress=settings.progress, output_dir=str(out / name))
    started = time.time()
    history = Trainer(model, task, data, config).fit()
    return ({"steps": steps, "seconds": round(time.time() - started, 1),
             "first_loss": history.losses[0], "last_loss": history.losses[-1]}, history.losses)


def refsam_demo(out: Path, steps: int, settings: DemoSettings) -> dict[str, Any]:
    """RefSAM vs text-free baselines on held-out referring images and clips."""
    images = [ShapesReferring("test", settings.eval_items)[i] for i in range(settings.eval_items)]
    clip_count = max(settings.eval_items // 4, 1)
    clips = [ShapesVideo("test", clip_count, frames=4)[i] for i in range(clip_count)]
    results: dict[str, Any] = {}
    core = settings.build_core()
    # Every model here runs on a fresh copy of the shipped core with its encoder frozen: one store of
    # encoder features serves them all (each image encoded once in the section, not once per model).
    cache = FeatureCache(core)
    for name, generator in (("centre_click", FixedNativePrompt(point=(0.5, 0.5))),
                            ("whole_image_box", FixedNativePrompt(box=(0.0, 0.0, 1.0, 1.0)))):
        results[name] = RefSAMTask(cache=cache).evaluate(PromptedSam(core, generator), images, clips)

    torch.manual_seed(settings.seed)
    constant_core = settings.build_core()
    for parameter in constant_core.mask_decoder.parameters():
        parameter.requires_grad_(True)
    constant = PromptedSam(constant_core, LearnedConstantPrompt(constant_core.prompt_dim))
    task = RefSAMTask(frames=2, cache=cache.for_core(constant_core))
    training, losses = {}, {}
    training["constant_prompt"], losses["learned constant prompt"] = train_referring(
        constant, task, steps, settings, out, "constant_prompt")
    results["constant_prompt"] = task.evaluate(constant, images, clips)

    torch.manual_seed(settings.seed)
    refsam_core = settings.build_core()
    model = RefSAM(refsam_core, load_text_encoder("shapes"), DEMO_REFSAM, text_encoder_spec="shapes")
    task = RefSAMTask(frames=2, cache=cache.for_core(refsam_core))
    training["refsam"], losses["RefSAM"] = train_referring(model, task, steps, settings, out, "refsam")
    plot_curves(losses, out / "plots" / "refsam_loss.png", title="RefSAM: training loss (focal + dice)",
                xlabel="step", ylabel="loss", smooth=25)
    results["refsam"] = task.evaluate(model, images, clips)
    report = parameter_report(model)
    training["refsam"].update(trainable_parameters=report.trainable, total_parameters=report.total)
    save(model, out / "refsam" / "trained")

    baselines = [k for k in results if k != "refsam"]
    best = max(baselines, key=lambda k: results[k]["images"]["miou"] + results[k]["videos"]["J&F"])
    results["best_text_free_baseline"] = best
    results["training"] = training
    if refsam_core.family == "sam2":   # the same clips tracked by SAM 2's memory from RefSAM's first frame
        results["video_paths"] = compare_video_paths(model, clips)

    model.eval()
    with torch.no_grad():
        for i, item in enumerate(images[:settings.overlays]):
            mask = model([item["image"]], text=[item["text"]]).masks[0][0].cpu().numpy()
            text = [f"RefSAM, text prompt: \"{item['text']}\"", f"IoU {binary_mask_iou(mask, item['mask']):.2f}"]
            save_png(side_by_side(item["image"], mask, item["mask"], text=text),
                     out / "overlays" / f"refsam_{i}_{item['text'].replace(' ', '_')}.png")
    return results


VIDEO_PATHS = {"track_token": "RefSAM's track token", "sam2_memory": "SAM 2's memory"}


def refsam_table(results: dict[str, Any]) -> str:
    rows = [("module", "model", "image mIoU", "oIoU", "prec@0.5", "video J", "F", "J&F")]
    for name, values in results.items():
        if isinstance(values, dict) and "images" in values:
            im, vid = values["images"], values["videos"]
            rows.append(("refsam_text", name, *(f"{v:.3f}" for v in (im["miou"], im["oiou"], im["prec@0.5"],
                                                                      vid["J"], vid["F"], vid["J&F"]))))
    table = aligned(rows)
    if "video_paths" in results:
        paths = [("video path (RefSAM on frame 1)", "J", "F", "J&F", "ms / frame")]
        for name, v in results["video_paths"].items():
            paths.append((VIDEO_PATHS[name], *(f"{v[k]:.3f}" for k in ("J", "F", "J&F")),
                          f"{1000 * v['seconds_per_frame']:.1f}"))
        table += "\n\n" + aligned(paths)
    return table
