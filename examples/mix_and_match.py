"""Mix and match prompt modules on one frozen SAM core: text, class names and clicks.

    python examples/mix_and_match.py --steps 150 --out out/mix_example

1. trains a text + click prompt (RefSAM's text prompt and SAM's clicks in one prompt, with its
   own LoRA adapter on SAM's decoder) and class-name prompts (CLIP pseudo prompts, their own
   LoRA adapter), each on its own copy of the shipped core, and saves them;
2. loads both onto ONE core under adapter names ("text", "classes"), switched per call;
3. segments text rows, class rows and click rows of two images in one decoder call over one
   encoder pass per image (`StackedPrompts`);
4. opens a session from a referring expression, corrects it with clicks, undoes one.

It prints the IoU of each step and the number of encoder passes, and writes captioned pictures.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

import samprompt
from samprompt.classes.task import ClassPromptTask
from samprompt.clip import load_clip
from samprompt.data import ShapesReferring, ShapesSemantic
from samprompt.interactive import next_click
from samprompt.metrics import binary_mask_iou
from samprompt.model import BASE_CORE
from samprompt.prompts import ClassPrompts, NativePrompts, StackedPrompts
from samprompt.refsam import RefSAMConfig
from samprompt.refsam.clicks import RefSAMWithClicks, TextClickTask
from samprompt.text import load_text_encoder
from samprompt.training import FeatureCache, TrainConfig, Trainer
from samprompt.tuning import LoraSettings, add_lora
from samprompt.visualize import save_png, side_by_side

LORA = LoraSettings(targets=("decoder.attn", "decoder.mlp"), rank=8)


def train(model: torch.nn.Module, task: object, data: object, steps: int, out: Path, lr: float) -> None:
    Trainer(model, task, data, TrainConfig(steps=steps, batch_size=4, lr=lr, warmup_steps=5, progress=False,
                                           output_dir=str(out))).fit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="tiny", help="the core (default: the shipped %(default)s)")
    parser.add_argument("--steps", type=int, default=150, help="training steps per prompt module (%(default)s)")
    parser.add_argument("--out", default="out/mix_example", help="output folder (default: %(default)s)")
    args = parser.parse_args()
    out = Path(args.out)

    # 1. two prompt modules, each trained with its own LoRA adapter on the decoder
    torch.manual_seed(0)
    core = samprompt.build_sam(args.variant)
    add_lora(core, LORA)
    text_click = RefSAMWithClicks(core, load_text_encoder("shapes"), RefSAMConfig(adapters=None, tracking=False),
                                  text_encoder_spec="shapes")
    train(text_click, TextClickTask(cache=FeatureCache(core)), ShapesReferring("train", 200), args.steps,
          out / "train_text", 3e-3)
    samprompt.save(text_click, out / "text_click")

    torch.manual_seed(0)
    core = samprompt.build_sam(args.variant)
    add_lora(core, LORA)
    semantic = ShapesSemantic("train", 200)
    class_model = samprompt.PromptedSam(core, ClassPrompts(load_clip(), core.prompt_dim))
    train(class_model, ClassPromptTask(semantic.classes, FeatureCache(core, keep_intermediate=False, keep_images=True)),
          semantic, args.steps, out / "train_classes", 2e-3)
    samprompt.save(class_model, out / "classes")

    # 2. one core, two named adapters, switched on every call
    torch.manual_seed(0)
    core = samprompt.build_sam(args.variant)
    text_model = samprompt.load(out / "text_click", core=core, adapter="text")
    classes_model = samprompt.load(out / "classes", core=core, adapter="classes")
    print(f"one core, adapters {sorted(core.adapters.lora)}")

    # 3. text rows, class rows and click rows in one batch: one encoder pass per image, one decoder call
    items = [ShapesReferring("test", 2)[i] for i in range(2)]
    classes = list(semantic.classes)
    mixed = samprompt.PromptedSam(core, StackedPrompts(text=text_model.text_prompt, classes=classes_model.generator,
                                                       clicks=NativePrompts()))
    # rows of one decoder call share its weights: the mixed batch runs SAM's own decoder (each kind's
    # tuned adapter would take a call of its own)
    mixed.adapter = BASE_CORE
    passes = [0]
    core.sam.image_encoder.register_forward_hook(lambda *_: passes.__setitem__(0, passes[0] + 1))
    clicks = torch.tensor([[item["mask"].nonzero()[1].mean(), item["mask"].nonzero()[0].mean()] for item in items])
    with torch.no_grad():
        prediction = mixed([item["image"] for item in items], multimask_output=False,
                           text={"text": [item["text"] for item in items], "batch_index": [0, 1]},
                           classes={"classes": classes, "class_images": [0]},
                           clicks={"points": clicks[:, None], "labels": torch.ones(2, 1), "batch_index": [0, 1]})
    print(f"mixed batch: {len(prediction)} rows ({', '.join(mixed.generator.last_kinds)}) from {passes[0]} "
          f"encoder pass(es) over {len(items)} images")

    # 4. a session from text, then corrective clicks (the text stays in the prompt)
    item = items[0]
    session = text_model.session(item["image"], text=[item["text"]])
    pictures = [side_by_side(item["image"], session.mask, item["mask"],
                             text=f"text \"{item['text']}\" · IoU {binary_mask_iou(session.mask, item['mask']):.2f}")]
    print(f"session from text \"{item['text']}\": IoU {binary_mask_iou(session.mask, item['mask']):.3f}")
    marks = []
    for _ in range(2):
        click = next_click(item["mask"], session.mask, clicked=session.clicks)
        if click is None:
            break
        mask = session.click(click.x, click.y, click.positive)
        marks.append((click.x, click.y, click.positive))
        iou = binary_mask_iou(mask, item["mask"])
        print(f"  after click {len(marks)} ({'+' if click.positive else '-'} at {click.x},{click.y}): IoU {iou:.3f}")
        pictures.append(side_by_side(item["image"], mask, item["mask"], clicks=marks,
                                     text=f"text + {len(marks)} click(s) · IoU {iou:.2f}"))
    if marks:
        print(f"  undo -> IoU {binary_mask_iou(session.undo(), item['mask']):.3f}")
    save_png(np.concatenate(pictures, axis=0), out / "text_then_clicks.png")
    print(f"pictures and weights in {out}")


if __name__ == "__main__":
    main()
