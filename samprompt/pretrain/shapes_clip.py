"""Train the shipped small CLIP contrastively on shapes-world object crops and captions.

    python -m samprompt.pretrain.shapes_clip --steps 1500 --out samprompt/weights/shapes_clip

Crops around objects (and object-free background patches) are paired with captions such as
"a red circle", "a photo of a large star", "a triangle" or "background". Several captions
in a batch can describe the same image truthfully, so the contrastive targets are soft:
every caption consistent with an image is a positive for it.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import open_clip
import torch
from PIL import Image
from safetensors.torch import save_file

from samprompt.clip.models import shapes_clip_config
from samprompt.data.shapes import ShapesWorld, size_words
from samprompt.data.shapes_datasets import split_seed
from samprompt.utils.files import atomic_directory

TEMPLATES = ("a {}", "a photo of a {}", "a {} in the scene", "the {}")


def object_crops(seed: int, crop_size: int, rng: np.random.Generator) -> list[tuple[Image.Image, dict]]:
    """(crop, attributes) for every visible object of the scene of `seed`, plus one background patch."""
    scene = ShapesWorld().scene(seed)
    h, w = scene.image.shape[:2]
    words = size_words(scene.masks)
    crops = []
    for k, obj in enumerate(scene.objects):
        ys, xs = np.nonzero(scene.masks[k])
        if len(xs) < 20:
            continue
        cx, cy = (xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2
        half = max(xs.max() - xs.min(), ys.max() - ys.min()) / 2 * rng.uniform(1.1, 1.5) + 2
        box = (int(max(0, cx - half)), int(max(0, cy - half)), int(min(w, cx + half)), int(min(h, cy + half)))
        crop = Image.fromarray(scene.image).crop(box).resize((crop_size, crop_size), Image.BILINEAR)
        crops.append((crop, {"shape": obj.shape, "colour": obj.colour, "size": words[k]}))
    free = ~scene.masks.any(0)
    for _ in range(5):
        side = int(rng.integers(16, 40))
        x, y = int(rng.integers(0, w - side)), int(rng.integers(0, h - side))
        if free[y:y + side, x:x + side].mean() > 0.95:
            crop = Image.fromarray(scene.image).crop((x, y, x + side, y + side)).resize((crop_size, crop_size))
            crops.append((crop, {"shape": "background"}))
            break
    return crops


def caption(attributes: dict, rng: np.random.Generator) -> tuple[str, dict]:
    """A caption and the attributes it commits to."""
    if attributes["shape"] == "background":
        return "background", {"shape": "background"}
    said = {"shape": attributes["shape"]}
    if rng.random() < 0.6:
        said["colour"] = attributes["colour"]
    if rng.random() < 0.2 and attributes["size"] != "medium":
        said["size"] = attributes["size"]
    phrase = " ".join(said[k] for k in ("size", "colour", "shape") if k in said)
    return TEMPLATES[rng.integers(len(TEMPLATES))].format(phrase), said


def soft_targets(images: list[dict], captions: list[dict]) -> torch.Tensor:
    """N x N: 1 where caption j is true of image i."""
    match = torch.tensor([[all(img.get(k) == v for k, v in said.items()) for said in captions] for img in images])
    return match.float()


def clip_loss(image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor,
              targets: torch.Tensor) -> torch.Tensor:
    logits = logit_scale.exp() * image_features @ text_features.T
    image_to_text = -(targets / targets.sum(1, keepdim=True) * logits.log_softmax(1)).sum(1).mean()
    text_to_image = -(targets / targets.sum(0, keepdim=True) * logits.log_softmax(0)).sum(0).mean()
    return (image_to_text + text_to_image) / 2


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="samprompt/weights/shapes_clip")
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    config = shapes_clip_config()
    model = open_clip.CLIP(**config)
    tokenizer = open_clip.SimpleTokenizer(context_length=config["text_cfg"]["context_length"])
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(3, 1, 1)
    std = torch.tensor(open_clip.OPENAI_DATASET_STD).view(3, 1, 1)
    size = config["vision_cfg"]["image_size"]

    def to_tensor(crop: Image.Image) -> torch.Tensor:
        return (torch.from_numpy(np.array(crop)).permute(2, 0, 1).float() / 255 - mean) / std

    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=args.steps, pct_start=0.05)
    pool: list[tuple[Image.Image, dict]] = []
    scene_index = 0
    start = time.time()
    model.train()
    for step in range(args.steps):
        while len(pool) < args.batch_size:
            pool += object_crops(split_seed("train", scene_index), size, rng)
            scene_index += 1
        batch, pool = pool[:args.batch_size], pool[args.batch_size:]
        texts, said = zip(*(caption(attrs, rng) for _, attrs in batch))
        images = torch.stack([to_tensor(crop) for crop, _ in batch])
        image_features = model.encode_image(images, normalize=True)
        text_features = model.encode_text(tokenizer(list(texts)), normalize=True)
        loss = clip_loss(image_features, text_features, model.logit_scale, soft_targets([a for _, a in batch], said))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step} loss {loss.item():.4f}", flush=True)

    metrics = evaluate(model, tokenizer, to_tensor, size)
    out = Path(args.out)
    with atomic_directory(out) as staging:
        state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(staging / "open_clip_model.safetensors"))
        (staging / "open_clip_config.json").write_text(json.dumps({
            "model_cfg": config,
            "preprocess_cfg": {"mean": list(open_clip.OPENAI_DATASET_MEAN), "std": list(open_clip.OPENAI_DATASET_STD)},
        }, indent=2))
        (staging / "training.json").write_text(json.dumps({
            "command": "python -m samprompt.pretrain.shapes_clip " + " ".join(argv if argv is not None else sys.argv[1:]),
            "args": vars(args), "metrics": metrics, "seconds": round(time.time() - start, 1)}, indent=2))
    print(json.dumps(metrics, indent=2))
    return metrics


@torch.no_grad()
def evaluate(model, tokenizer, to_tensor, size: int, scenes: int = 150) -> dict[str, float]:
    """Zero-shot accuracy on test-split crops: shape among the classes, colour among the colours."""
    from samprompt.data.shapes import COLOURS, SHAPE_CLASSES

    model.eval()
    rng = np.random.default_rng(12345)
    crops = [c for i in range(scenes) for c in object_crops(split_seed("test", i), size, rng)]
    crops = [c for c in crops if c[1]["shape"] != "background"]
    images = model.encode_image(torch.stack([to_tensor(c) for c, _ in crops]), normalize=True)
    shapes = model.encode_text(tokenizer([f"a photo of a {s}" for s in SHAPE_CLASSES]), normalize=True)
    colours = model.encode_text(tokenizer([f"a {c} shape" for c in COLOURS]), normalize=True)
    shape_hits = [SHAPE_CLASSES[i] == a["shape"] for i, (_, a) in zip((images @ shapes.T).argmax(1).tolist(), crops)]
    colour_hits = [list(COLOURS)[i] == a["colour"] for i, (_, a) in zip((images @ colours.T).argmax(1).tolist(), crops)]
    return {"zero_shot_shape_accuracy": float(np.mean(shape_hits)),
            "zero_shot_colour_accuracy": float(np.mean(colour_hits)),
            "chance_shape": 1 / len(SHAPE_CLASSES), "chance_colour": 1 / len(COLOURS), "crops": len(crops)}


if __name__ == "__main__":
    main()
