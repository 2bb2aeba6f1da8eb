"""Mix and match in `samprompt demo`: text, clicks and class names on one frozen core, composed.

On the shipped core (frozen; no adapter is switched on unless a row says so):
- RefSAM's text prompt and SAM's click in one prompt (`RefSAMWithClicks`, with its own LoRA
  adapter on SAM's decoder), its text part started from the RefSAM prompt that the demo's
  referring section trained on text alone, then trained with the text or the click dropped at
  random and with corrective clicks over interactive rounds, scored as text alone, click alone
  and both on the same held-out objects and the same click, and as the click through SAM alone
  whose mask, among SAM's three, the text mask chooses (no training: `start_role="choice"`);
- the RITM click protocol started from nothing (clicks alone), from the text mask (text, then
  corrective clicks: either SAM alone with the text mask as its mask input, or the text + click
  model with the text kept in every prompt, with and without the SAM-REF refiner of the demo's
  own SAM-REF section after it), from nothing with the text mask choosing SAM's first mask,
  and from the class-name mask (class names, then SAM's clicks),
  on the first half of the held-out objects (20 clicks each);
  the class prompts (with their decoder LoRA, switched on for their rows only) come from the
  demo's class-prompt section. Sections missing from the output folder are run first.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from samprompt.data import ShapesReferring, ShapesSemantic
from samprompt.demo import PROTOCOL_BATCH, DemoSettings, aligned, decoder_lrs
from samprompt.interactive import evaluate_interactive
from samprompt.methods.registry import get_method
from samprompt.methods.saving import load, save
from samprompt.metrics.masks import binary_mask_iou
from samprompt.model import BASE_CORE, PromptedSam
from samprompt.plots import plot_curves
from samprompt.prompts.native import NativePrompts
from samprompt.refsam.clicks import RefSAMWithClicks, TextClickTask
from samprompt.refsam.config import RefSAMConfig
from samprompt.text import load_text_encoder
from samprompt.training import FeatureCache, TrainConfig, Trainer
from samprompt.tuning import LoraSettings, add_lora
from samprompt.visualize import save_png, side_by_side

DEMO_TEXT_CLICK = RefSAMConfig(adapters=None, tracking=False)
# The text + click model tunes SAM's decoder through its own LoRA adapter (named, switched on for
# its rows only), so that SAM alone, SAM-REF and the class prompts share the same frozen core.
TEXT_CLICK_ADAPTER = "text_click"
DEMO_LORA = LoraSettings(targets=("decoder.attn", "decoder.mlp"), rank=8)
# A quarter of the text + click rows train with another object's text: the model learns to follow
# the click where the text points elsewhere (without it, text + click tied the click alone).
DEMO_WRONG_TEXT = 0.25
PROTOCOLS = {
    "clicks": "clicks alone (SAM)",
    "clicks_refined": "clicks alone (SAM-REF)",
    "text_mask_then_sam": "text mask, then SAM's clicks",
    "text_then_clicks": "text, then clicks (text kept)",
    "text_then_clicks_refined": "text, then clicks (text kept, SAM-REF)",
    "text_chooses_then_clicks": "clicks, the text choosing SAM's first mask",
    "classes_then_clicks": "class names, then clicks (SAM)",
}
STARTED = ("text_mask_then_sam", "text_then_clicks", "text_then_clicks_refined", "text_chooses_then_clicks",
           "classes_then_clicks")


def section_model(out: Path, method: str, settings: DemoSettings, core: Any, **load_options: Any) -> Any:
    """The model another demo section trained into `out/<method>/trained`, on `core` (that section
    is run first when this output folder has none)."""
    folder = out / method / "trained"
    if not (folder / "adapter_config.json").is_file():
        spec = get_method(method)
        spec.demo(out, settings.steps_of(spec), settings)
    return load(folder, core=core, **load_options)


def start_text_from_refsam(model: RefSAMWithClicks, out: Path, settings: DemoSettings) -> None:
    """Copy the referring section's trained RefSAM prompt (Cross-Modal MLP and dense attention;
    the same architecture, trained on text alone) into `model`'s text part: the mixed training
    then starts from a text prompt that already finds the object, instead of learning text and
    clicks from nothing at once (where the click, easier to use, wins and the text is ignored)."""
    referring = section_model(out, "refsam", settings, core=None)   # its own core: it tunes SAM's decoder
    state = {k: v for k, v in referring.generator.state_dict().items() if not k.startswith("tracker.")}
    model.text_prompt.load_state_dict(state)


def train_text_click(core: Any, steps: int, settings: DemoSettings, out: Path) -> tuple[RefSAMWithClicks, dict]:
    torch.manual_seed(settings.seed)
    add_lora(core, DEMO_LORA, name=TEXT_CLICK_ADAPTER)
    model = RefSAMWithClicks(core, load_text_encoder("shapes"), DEMO_TEXT_CLICK, text_encoder_spec="shapes")
    start_text_from_refsam(model, out, settings)
    model.adapter = TEXT_CLICK_ADAPTER
    task = TextClickTask(cache=FeatureCache(core), wrong_text=DEMO_WRONG_TEXT)
    config = TrainConfig(steps=steps, batch_size=8, lr=3e-3, warmup_steps=20, seed=settings.seed,
                         module_lrs=decoder_lrs(core, 1e-3),
                         progress=settings.progress, output_dir=str(out / "mix"))
    started = time.time()
    history = Trainer(model, task, ShapesReferring("train", settings.train_images), config).fit()
    save(model, out / "mix" / "trained")
    plot_curves({"text + click (parts dropped)": history.losses}, out / "plots" / "mix_loss.png",
                title="Text + click prompt: training loss (focal + dice)", xlabel="step", ylabel="loss", smooth=25)
    return model.eval(), {"steps": steps, "seconds": round(time.time() - started, 1),
                          "first_loss": history.losses[0], "last_loss": history.losses[-1]}


def mix_demo(out: Path, steps: int, settings: DemoSettings) -> dict[str, Any]:
    """Every kind of prompt on one frozen core, alone and composed, on held-out referring objects."""
    count = settings.eval_items
    items = [ShapesReferring("test", count)[i] for i in range(count)]
    classes = list(ShapesSemantic("test", 1).classes)
    core = settings.build_core()
    text_click, training = train_text_click(core, steps, settings, out)
    task = TextClickTask(cache=FeatureCache(core))
    kinds = task.evaluate_kinds(text_click, items, seed=settings.seed)

    refiner = section_model(out, "samref", settings, core)
    refiner.adapter = BASE_CORE
    class_model = section_model(out, "classes", settings, core, adapter="classes")
    clicks = PromptedSam(core, NativePrompts())
    clicks.adapter = BASE_CORE
    kinds["sam_click"] = task.evaluate_sam_click(clicks, items, seed=settings.seed)
    kinds["text_choice"] = task.evaluate_sam_click(clicks, items, seed=settings.seed, chooser=text_click)
    text_start: Callable[[dict], dict] = lambda item: {"text": [item["text"]]}  # noqa: E731
    class_start: Callable[[dict], dict] = lambda item: {"classes": classes}  # noqa: E731
    class_row: Callable[[dict], int] = lambda item: classes.index(item["class"])  # noqa: E731
    protocols: dict[str, Any] = {}
    runs: dict[str, Any] = {}
    text_refined = PromptedSam(core, text_click.generator, refiner.refiner)   # text + clicks, then SAM-REF
    text_refined.adapter = TEXT_CLICK_ADAPTER
    from_text = {"start_with": text_click, "start_inputs": text_start}
    for key, click_model, start in (
            ("clicks", clicks, {}),
            ("clicks_refined", refiner, {}),
            ("text_mask_then_sam", clicks, from_text),
            ("text_then_clicks", text_click, {**from_text, "keep_start": True}),
            ("text_then_clicks_refined", text_refined, {**from_text, "keep_start": True}),
            ("text_chooses_then_clicks", clicks, {**from_text, "start_role": "choice"}),
            ("classes_then_clicks", clicks, {"start_with": class_model, "start_inputs": class_start,
                                             "start_row": class_row})):
        protocols[key], runs[key] = evaluate_interactive(click_model, items[:max(count // 2, 1)],
                                                         progress=settings.progress, batch_size=PROTOCOL_BATCH,
                                                         **start)
    for key in STARTED:
        plain = "clicks_refined" if key.endswith("refined") else "clicks"
        protocols[key]["clicks_saved"] = {t: protocols[plain][f"NoC@{t}"] - protocols[key][f"NoC@{t}"]
                                          for t in ("85", "90")}
    curves = {PROTOCOLS[key]: [value.get("start_miou", 0.0)] + value["miou_per_click"]
              for key, value in protocols.items()}
    plot_curves(curves, out / "plots" / "mix_iou_per_click.png", start=0, ylim=(0.0, 1.0), xlabel="clicks",
                ylabel="mean IoU", title="Clicks after nothing, after text, after class names (0: before any click)")
    write_overlays(out, items[:settings.overlays], text_click, runs["text_then_clicks"])
    return {"training": training, "single_prompt": kinds, "protocols": protocols}


def write_overlays(out: Path, items: list[dict[str, Any]], text_model: RefSAMWithClicks, runs: list[Any]) -> None:
    """Per object: the text mask, then the mask after each of the first two corrective clicks (text kept)."""
    for i, (item, run) in enumerate(zip(items, runs)):
        session = text_model.session(item["image"], text=[item["text"]])
        rows = [side_by_side(item["image"], session.mask, item["mask"],
                             text=f"text: \"{item['text']}\" · IoU {binary_mask_iou(session.mask, item['mask']):.2f}")]
        for k, click in enumerate(run.clicks[:2]):
            mask = session.click(click.x, click.y, click.positive)
            marks = [(c.x, c.y, c.positive) for c in run.clicks[:k + 1]]
            rows.append(side_by_side(item["image"], mask, item["mask"], clicks=marks,
                                     text=f"text + {k + 1} corrective click(s) · IoU "
                                          f"{binary_mask_iou(mask, item['mask']):.2f}"))
        save_png(np.concatenate(rows, axis=0), out / "overlays" / f"mix_{i}_text_then_clicks.png")


def mix_table(results: dict[str, Any]) -> str:
    kinds, protocols = results["single_prompt"], results["protocols"]
    rows = [("module", "prompt", "mIoU", "NoC@85", "NoC@90", "NoF@90", "5-mIoU")]

    def protocol_cells(key: str) -> tuple[str, ...]:
        v = protocols[key]
        return (f"{v['NoC@85']:.2f}", f"{v['NoC@90']:.2f}", str(v["NoF@90"]), f"{v['5-mIoU']:.3f}")

    for kind, label, protocol in (("click", "click only (one click)", None), ("text", "text only", None),
                                  ("text+click", "text + click (one prompt)", None),
                                  ("sam_click", "click through SAM alone", "clicks"),
                                  ("text_choice", "click, the text choosing SAM's mask", "text_chooses_then_clicks")):
        cells = ("-",) * 4 if protocol is None else protocol_cells(protocol)
        rows.append(("mix_and_match", label, f"{kinds[kind]['miou']:.3f}", *cells))
    for key in ("clicks_refined", *STARTED):
        if key == "text_chooses_then_clicks":
            continue
        start = protocols[key].get("start_miou")
        rows.append(("mix_and_match", PROTOCOLS[key], "-" if start is None else f"{start:.3f}", *protocol_cells(key)))
    return aligned(rows)
