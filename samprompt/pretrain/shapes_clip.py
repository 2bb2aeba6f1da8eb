"""Train the shipped small CLIP contrastively on shapes-world crops and captions, and densely on scenes.

    python -m samprompt.pretrain.shapes_clip --steps 1500 --dense-batch 0 --out DIR        # crops only
    python -m samprompt.pretrain.shapes_clip --init DIR --steps 800 --out samprompt/weights/shapes_clip

Two objectives, both CLIP's contrastive image-text loss with soft targets:

- **crops**: crops around objects (and object-free background patches) are paired with captions
  such as "a red circle", "a photo of a large star", "a triangle" or "background". Several
  captions in a batch can describe the same image truthfully, so every caption consistent with
  an image is a positive for it.
- **dense** (`--dense-batch` > 0): square windows of scenes (`--dense-size` px, one CLIP
  patch = 8 scene pixels, the window jittered by up to 1.25x where the scene is larger; at
  128 px the whole scene, as ESC-Net's demo reads it, through the positional embedding resized
  as `samprompt.clip.dense` resizes it, differentiably). Each patch token, through the tower's
  final LayerNorm and projection (the path `samprompt.clip.dense` reads patches by), is
  contrasted against the captions of every class and "background" (one random template per
  step); its target is the share of its pixels each class covers. This is what makes the raw
  patch-text correlation an argmax segmenter: trained on crops alone, the patch tokens barely
  separate the shapes (mIoU 0.098 on test scenes). `--dense-balance` weighs the classes by
  their rarity in the batch (background covers most of a scene; mIoU counts classes alike).

The record beside the weights gives zero-shot crop accuracy (shape and colour) and the raw
correlation argmax mIoU on test scenes.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file
from torch import Tensor, nn

from samprompt.clip.dense import DenseClip, correlation, last_block_patches, resized_positional_embedding
from samprompt.clip.models import ClipBundle, shapes_clip_config
from samprompt.data.shapes import COLOURS, SHAPE_CLASSES, ShapesWorld, size_words
from samprompt.data.shapes_datasets import ShapesSemantic, split_seed
from samprompt.metrics.semantic import ConfusionMatrix
from samprompt.pretrain import earlier_record
from samprompt.utils.files import atomic_directory, save_tensors

TEMPLATES = ("a {}", "a photo of a {}", "a {} in the scene", "the {}")
SCENE_CLASSES = ("background",) + SHAPE_CLASSES
DENSE_EVAL_TEMPLATES = ("a {}", "a photo of a {}")     # those of ESC-Net's demo
PIXEL_MEAN = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(3, 1, 1)
PIXEL_STD = torch.tensor(open_clip.OPENAI_DATASET_STD).view(3, 1, 1)


def crop_tensor(crop: Image.Image) -> Tensor:
    """3 x S x S float32: a crop at the tower's size, normalised as CLIP's preprocessing does."""
    return (torch.from_numpy(np.array(crop)).permute(2, 0, 1).float() / 255 - PIXEL_MEAN) / PIXEL_STD


def scene_window(seed: int, size: int, patch: int, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
    """A random square window of the scene of `seed`, resized to `size`, and its patch targets.

    Returns:
        image: 3 x size x size float in [0, 1].
        targets: K x g x g, the share of each of `SCENE_CLASSES` in each patch (g = size / patch).
    """
    scene = ShapesWorld().scene(seed)
    full = scene.image.shape[0]
    side = min(full, int(rng.integers(size, int(size * 1.25) + 1)))
    x, y = (int(v) for v in rng.integers(0, full - side + 1, 2))
    image = torch.from_numpy(scene.image[y:y + side, x:x + side]).permute(2, 0, 1).float()[None] / 255
    onehot = F.one_hot(torch.from_numpy(scene.class_map[y:y + side, x:x + side]).long(), len(SCENE_CLASSES))
    image = F.interpolate(image, size=(size, size), mode="bilinear", align_corners=False)[0]
    targets = F.adaptive_avg_pool2d(onehot.permute(2, 0, 1).float()[None], size // patch)[0]
    return image, targets


class _Patches(nn.Module):
    """`last_block_patches` as a module, so that `functional_call` can swap its positional embedding."""

    def __init__(self, visual: nn.Module) -> None:
        super().__init__()
        self.visual = visual

    def forward(self, x: Tensor) -> Tensor:
        return last_block_patches(self.visual, x)


def scene_patches(visual: nn.Module, x: Tensor) -> Tensor:
    """Normalised B x 3 x S x S input at any multiple S of the patch size -> joint-space patch
    embeddings B x E x g x g, through the positional embedding resized to g x g (gradients reach
    the stored one)."""
    grid = x.shape[-1] // visual.patch_size[0]
    positional = resized_positional_embedding(visual.positional_embedding, grid)
    return torch.func.functional_call(_Patches(visual), {"visual.positional_embedding": positional}, (x,))


def dense_loss(patches: Tensor, text_features: Tensor, logit_scale: Tensor, targets: Tensor,
               balance: float = 0.0) -> Tensor:
    """Soft cross-entropy of every patch (B x E x g x g, normalised) over the K class captions
    (K x E, normalised) against the class shares `targets` (B x K x g x g).

    With `balance` > 0 the classes are weighted by their share of the batch's patches raised to
    the power -balance (1: inverse frequency; 0: every patch alike, the plain mean): background
    covers most of a scene, and the metric the dense term serves, mIoU, counts every class alike.
    The weighted sum is divided by the sum of the weights, so the loss keeps its scale.
    """
    logits = logit_scale.exp() * correlation(patches, text_features)
    if balance == 0:
        return -(targets * logits.log_softmax(1)).sum(1).mean()
    mass = targets.sum((0, 2, 3)).clamp(min=1.0)                 # patches' worth of each class
    weighted = targets * (mass / mass.sum()).pow(-balance).view(1, -1, 1, 1)
    return -(weighted * logits.log_softmax(1)).sum() / weighted.sum()


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
    parser.add_argument("--dense-batch", type=int, default=32, help="scene windows per step (0: crops only)")
    parser.add_argument("--dense-weight", type=float, default=1.0, help="weight of the dense loss")
    parser.add_argument("--dense-size", type=int, default=128,
                        help="side of the scene windows, in pixels (default 128: whole scenes)")
    parser.add_argument("--dense-balance", type=float, default=0.0,
                        help="weight each class in the dense loss by its share of the batch to this negative "
                             "power (0: every patch alike; 1: inverse frequency)")
    parser.add_argument("--init", default=None, help="start from a folder of shipped-format CLIP weights")
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    config = shapes_clip_config()
    model = open_clip.CLIP(**config)
    init_record = None
    if args.init is not None:
        weights = load_file(str(Path(args.init) / "open_clip_model.safetensors"))
        model.load_state_dict({k: v.float() for k, v in weights.items()})
        init_record = earlier_record(Path(args.init) / "training.json", args.init)
    tokenizer = open_clip.SimpleTokenizer(context_length=config["text_cfg"]["context_length"])
    size = config["vision_cfg"]["image_size"]
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=args.steps, pct_start=0.05)
    pool: list[tuple[Image.Image, dict]] = []
    scene_index = 0
    dense_index = 0
    patch = config["vision_cfg"]["patch_size"]
    start = time.time()
    model.train()
    for step in range(args.steps):
        while len(pool) < args.batch_size:
            pool += object_crops(split_seed("train", scene_index), size, rng)
            scene_index += 1
        batch, pool = pool[:args.batch_size], pool[args.batch_size:]
        texts, said = zip(*(caption(attrs, rng) for _, attrs in batch))
        images = torch.stack([crop_tensor(crop) for crop, _ in batch])
        image_features = model.encode_image(images, normalize=True)
        text_features = model.encode_text(tokenizer(list(texts)), normalize=True)
        loss = clip_loss(image_features, text_features, model.logit_scale, soft_targets([a for _, a in batch], said))
        if args.dense_batch > 0:
            windows = [scene_window(split_seed("train", 10**6 + dense_index + i), args.dense_size, patch, rng)
                       for i in range(args.dense_batch)]
            dense_index += args.dense_batch
            images, targets = (torch.stack(t) for t in zip(*windows))
            template = TEMPLATES[rng.integers(len(TEMPLATES))]
            class_text = model.encode_text(tokenizer([template.format(c) for c in SCENE_CLASSES]), normalize=True)
            patches = scene_patches(model.visual, (images - PIXEL_MEAN) / PIXEL_STD)
            loss = loss + args.dense_weight * dense_loss(patches, class_text, model.logit_scale, targets,
                                                          args.dense_balance)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 100 == 0 or step == args.steps - 1:
            print(f"step {step} loss {loss.item():.4f}", flush=True)

    metrics = evaluate(model, tokenizer, size)
    out = Path(args.out)
    with atomic_directory(out) as staging:
        state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
        save_tensors(state, staging / "open_clip_model.safetensors")
        (staging / "open_clip_config.json").write_text(json.dumps({
            "model_cfg": config,
            "preprocess_cfg": {"mean": list(open_clip.OPENAI_DATASET_MEAN), "std": list(open_clip.OPENAI_DATASET_STD)},
        }, indent=2))
        command = " ".join(argv if argv is not None else sys.argv[1:])
        (staging / "training.json").write_text(json.dumps({
            "command": f"python -m samprompt.pretrain.shapes_clip {command}",
            "args": vars(args), "init_record": init_record, "metrics": metrics,
            "seconds": round(time.time() - start, 1)}, indent=2))
    print(json.dumps(metrics, indent=2))
    return metrics


def held_out_crops(scenes: range, size: int, seed: int) -> list[tuple[Image.Image, dict]]:
    """Object crops (no background patches) of the test scenes `scenes`, their framing drawn from `seed`."""
    rng = np.random.default_rng(seed)
    crops = [c for i in scenes for c in object_crops(split_seed("test", i), size, rng)]
    return [c for c in crops if c[1]["shape"] != "background"]


@torch.no_grad()
def zero_shot_hits(model, tokenizer, crops: list[tuple[Image.Image, dict]], batch: int = 256
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per crop, N bool each: is the shape ("a photo of a {shape}" among the six) and the colour
    ("a {colour} shape" among the six) that CLIP's zero-shot argmax names the true one."""
    model.eval()
    images = torch.stack([crop_tensor(c) for c, _ in crops])
    features = torch.cat([model.encode_image(images[i:i + batch], normalize=True)
                          for i in range(0, len(images), batch)])
    shapes = model.encode_text(tokenizer([f"a photo of a {s}" for s in SHAPE_CLASSES]), normalize=True)
    colours = model.encode_text(tokenizer([f"a {c} shape" for c in COLOURS]), normalize=True)
    shape_names, colour_names = np.array(SHAPE_CLASSES), np.array(list(COLOURS))
    shape_hits = shape_names[(features @ shapes.T).argmax(1).numpy()] == np.array([a["shape"] for _, a in crops])
    colour_hits = colour_names[(features @ colours.T).argmax(1).numpy()] == np.array([a["colour"] for _, a in crops])
    return shape_hits, colour_hits


def evaluate(model, tokenizer, size: int, scenes: int = 150) -> dict[str, float]:
    """Zero-shot accuracy on the crops of the first `scenes` test scenes (framing seed 12345):
    shape among the classes, colour among the colours; and the correlation argmax mIoU."""
    crops = held_out_crops(range(scenes), size, seed=12345)
    shape_hits, colour_hits = zero_shot_hits(model, tokenizer, crops)
    return {"zero_shot_shape_accuracy": float(shape_hits.mean()),
            "zero_shot_colour_accuracy": float(colour_hits.mean()),
            "chance_shape": 1 / len(SHAPE_CLASSES), "chance_colour": 1 / len(COLOURS), "crops": len(crops),
            "correlation_argmax_miou": correlation_miou(model, tokenizer)}


@torch.no_grad()
def correlation_miou(model, tokenizer, scenes: int = 100, image_size: int = 128) -> float:
    """mIoU of the raw patch-text correlation argmax on the first `scenes` test scenes, read as
    ESC-Net's demo reads it (`samprompt.clip.dense` at `image_size`, its templates, bilinear
    upsampling), on a copy of the model (reading densely resizes the positional embedding)."""
    bundle = ClipBundle(copy.deepcopy(model).eval(), lambda image: image, tokenizer, "shapes")
    dense_clip = DenseClip(bundle, image_size=image_size, templates=DENSE_EVAL_TEMPLATES)
    matrix = ConfusionMatrix(len(SCENE_CLASSES), ignore_index=255)
    test = ShapesSemantic("test", scenes)
    for index in range(scenes):
        item = test[index]
        image = torch.from_numpy(item["image"]).permute(2, 0, 1)[None]
        matrix.add(dense_clip.correlation_map(image, SCENE_CLASSES).argmax(1)[0].cpu().numpy(), item["label"])
    return float(matrix.summary(SCENE_CLASSES)["miou"])


if __name__ == "__main__":
    main()
