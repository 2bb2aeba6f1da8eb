"""SAM-REF in `samprompt demo`: the click refiner against SAM alone under the click protocol.

The refiner is trained on cached embeddings of the shipped core (which stays frozen), then
held-out objects are segmented click by click with the RITM simulator (up to 20 clicks): SAM
alone, SAM-REF on its own clicks, and SAM-REF replaying SAM's clicks (the same clicks for both),
with seconds per click in the decoder and in the refiner (one click at a time, on the first
objects).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from samprompt.data import ShapesInteractive
from samprompt.demo import HARDER_WORLD, PROTOCOL_BATCH, DemoSettings, aligned
from samprompt.interactive import compare_refiner
from samprompt.methods.saving import save
from samprompt.metrics.masks import binary_mask_iou
from samprompt.plots import plot_curves
from samprompt.samref.config import SAMRefConfig
from samprompt.samref.model import SAMRef
from samprompt.samref.task import SAMRefTask
from samprompt.training import FeatureCache, TrainConfig, Trainer
from samprompt.tuning import parameter_report
from samprompt.visualize import save_png, side_by_side

# SAM-REF at shapes scale: the global refiner sees the whole 128 px encoder input, the local one
# resamples its detail window to 64 px; about 0.18 M parameters (0.74 MB in float32).
DEMO_SAMREF = SAMRefConfig(local_size=64, click_radius=3.0)
# The seconds per click come from the first 10 objects clicked one at a time (a click's latency);
# the figures from all of them clicked `PROTOCOL_BATCH` at a time.
LATENCY_OBJECTS = 10
SAMREF_RUNS = {"sam_alone": "SAM alone", "samref": "SAM-REF", "samref_on_sam_clicks": "SAM-REF, SAM's clicks"}


def samref_demo(out: Path, steps: int, settings: DemoSettings) -> dict[str, Any]:
    """The SAM-REF refiner vs SAM alone under the click protocol, on held-out objects."""
    torch.manual_seed(settings.seed)
    core = settings.build_core()
    model = SAMRef(core, DEMO_SAMREF)
    task = SAMRefTask(cache=FeatureCache(core, keep_intermediate=False, keep_images=True))
    config = TrainConfig(steps=steps, batch_size=8, lr=1e-3, warmup_steps=20, seed=settings.seed,
                         progress=settings.progress, output_dir=str(out / "samref"))
    started = time.time()
    history = Trainer(model, task, ShapesInteractive("train", settings.train_images, HARDER_WORLD), config).fit()
    report = parameter_report(model)
    training = {"steps": steps, "seconds": round(time.time() - started, 1),
                "first_loss": history.losses[0], "last_loss": history.losses[-1],
                "trainable_parameters": report.trainable, "total_parameters": report.total}
    save(model, out / "samref" / "trained")
    model.eval()
    count = max(settings.eval_items // 2, 1)
    items = [ShapesInteractive("test", count, HARDER_WORLD)[i] for i in range(count)]
    compared = compare_refiner(model, items, progress=settings.progress, batch_size=PROTOCOL_BATCH)
    timed = compare_refiner(model, items[:LATENCY_OBJECTS])     # one click at a time: its latency
    sam_runs = compared["sam_alone"][1]
    results: dict[str, Any] = {"training": training}
    for key, name in (("sam_alone", "sam_alone"), ("samref", "refined"),
                      ("samref_on_sam_clicks", "refined_on_sam_clicks")):
        results[key] = {**compared[name][0], "seconds_per_click": timed[name][0]["seconds_per_click"],
                        "seconds_per_click_objects": len(timed[name][1])}
    plot_curves({SAMREF_RUNS[key]: results[key]["miou_per_click"] for key in SAMREF_RUNS},
                out / "plots" / "samref_iou_per_click.png", title="Click protocol (RITM clicks): mean IoU per click",
                xlabel="clicks", ylabel="mean IoU", ylim=(0.0, 1.0))
    plot_curves({"SAM-REF refiner": history.losses}, out / "plots" / "samref_loss.png",
                title="SAM-REF: training loss (NFL + dice + error BCE)", xlabel="step", ylabel="loss", smooth=10)
    for i, item in enumerate(items[:settings.overlays]):
        session = model.session(item["image"])
        clicks = sam_runs[i].clicks[:3]
        for click in clicks:
            session.click(click.x, click.y, click.positive)
        marks = [(c.x, c.y, c.positive) for c in clicks]
        rows = [side_by_side(item["image"], mask, item["mask"], clicks=marks,
                             text=f"{label} after {len(clicks)} clicks · IoU {binary_mask_iou(mask, item['mask']):.2f}")
                for label, mask in (("SAM alone", session.steps[-1].sam_mask), ("SAM-REF", session.mask))]
        save_png(np.concatenate(rows, axis=0), out / "overlays" / f"samref_{i}_sam_top_refined_bottom.png")
    return results


def samref_table(results: dict[str, Any]) -> str:
    rows = [("module", "model", "NoC@85", "NoC@90", "NoF@90", "5-mIoU", "decoder ms/click", "refiner ms/click")]
    for key, label in SAMREF_RUNS.items():
        v = results[key]
        spc = v["seconds_per_click"]
        rows.append(("samref_clicks", label, f"{v['NoC@85']:.2f}", f"{v['NoC@90']:.2f}", str(v["NoF@90"]),
                     f"{v['5-mIoU']:.3f}", f"{1000 * spc['decoder']:.1f}", f"{1000 * spc['refiner']:.1f}"))
    return aligned(rows)
