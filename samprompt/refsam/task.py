"""Referring segmentation as a training task: clips (real or pseudo) + expressions -> masks.

Every item becomes a short clip: video items give `frames` consecutive frames, still images
give a pseudo-clip (the image, then random shifts and zooms of it), as RefSAM pretrains on
RefCOCO. Frame t is decoded with the track token made from frame t-1's mask tokens, and the
gradient flows through the whole clip. Loss: dice + sigmoid focal (alpha 0.25, gamma 2), 1:1.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from samprompt.core.sam_core import SamCore
from samprompt.core.structures import ImageFeatures
from samprompt.errors import ConfigError
from samprompt.metrics import ReferringScores, mean_video_scores, video_scores
from samprompt.model import PromptedSam
from samprompt.training.feature_cache import FeatureCache
from samprompt.training.losses import dice_loss, sigmoid_focal_loss
from samprompt.training.task import Step, TrainingTask, encode_images


def pseudo_clip(image: np.ndarray, mask: np.ndarray, frames: int, rng: np.random.Generator,
                max_shift: float = 0.08, zoom: tuple[float, float] = (0.9, 1.1)
                ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """`frames` views of a still image: the image itself, then random shifts and zooms of it
    (image bilinear, mask nearest; uncovered borders are black / background)."""
    height, width = mask.shape
    images, masks = [image], [mask]
    for _ in range(frames - 1):
        scale = rng.uniform(*zoom)
        dx, dy = rng.uniform(-max_shift, max_shift, 2) * (width, height)
        cx, cy = width / 2, height / 2
        # PIL maps each output pixel (x, y) to the input pixel (a x + b y + c, d x + e y + f).
        affine = (1 / scale, 0, cx - (cx + dx) / scale, 0, 1 / scale, cy - (cy + dy) / scale)
        images.append(np.asarray(Image.fromarray(image).transform((width, height), Image.AFFINE, affine,
                                                                  Image.BILINEAR)))
        masks.append(np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).transform(
            (width, height), Image.AFFINE, affine, Image.NEAREST)) > 127)
    return images, masks


def stable_seed(text: str) -> int:
    return zlib.crc32(text.encode())


@dataclass
class RefSAMBatch:
    """Clips of one length with their expressions.

    Attributes:
        frames: T lists of B frames (H x W x 3 uint8; frame t of every clip).
        masks: T lists of B ground-truth masks (H x W bool).
        keys: T lists of B cache keys (each names a frame's pixels exactly).
        texts: B expressions.
    """

    frames: list[list[np.ndarray]]
    masks: list[list[np.ndarray]]
    keys: list[list[str]]
    texts: list[str]


@dataclass
class RefSAMTask(TrainingTask):
    """Loss and evaluation for referring image / video segmentation.

    Attributes:
        frames: clip length in training (1 trains images only, no tracking).
        cache: encodes each frame once when the encoder is frozen (pseudo-clips are drawn
            from the item id, so their frames repeat across epochs and cache too).
        focal_weight / dice_weight: the loss mix (paper: 1:1).
    """

    frames: int = 2
    cache: FeatureCache | None = None
    focal_weight: float = 1.0
    dice_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.frames <= 0:
            raise ConfigError(f"frames must be positive, got {self.frames}")

    def clip_of(self, item: dict[str, Any], rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray],
                                                                               list[str]]:
        """Frames, masks and a cache key per frame (the key names the frame's pixels exactly)."""
        if "frames" in item:
            length = len(item["frames"])
            count = min(self.frames, length)
            start = int(rng.integers(length - count + 1))
            chosen = range(start, start + count)
            return ([item["frames"][t] for t in chosen], [item["masks"][t] for t in chosen],
                    [f"{item['id']}#{t}" for t in chosen])
        images, masks = pseudo_clip(item["image"], item["mask"], self.frames,
                                    np.random.default_rng(stable_seed(item["id"])))
        return images, masks, [f"{item['id']}@{t}" for t in range(len(images))]

    def encode(self, core: SamCore, images: Sequence[np.ndarray], ids: Sequence[str]) -> ImageFeatures:
        return encode_images(core, images, ids, self.cache)

    def mask_loss(self, logits: Sequence[Tensor], targets: Sequence[np.ndarray]) -> Tensor:
        total = torch.zeros((), device=logits[0].device)
        for row_logits, target in zip(logits, targets):
            truth = torch.as_tensor(target, device=row_logits.device)[None].float()
            total = total + self.focal_weight * sigmoid_focal_loss(row_logits[:1], truth) \
                + self.dice_weight * dice_loss(row_logits[:1], truth)
        return total / len(logits)

    def sample(self, item: dict[str, Any], rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray],
                                                                              list[str], str]:
        return (*self.clip_of(item, rng), item["text"])

    def collate(self, samples: list[tuple[list[np.ndarray], list[np.ndarray], list[str], str]]) -> RefSAMBatch:
        length = min(len(frames) for frames, _, _, _ in samples)
        return RefSAMBatch([[frames[t] for frames, _, _, _ in samples] for t in range(length)],
                           [[masks[t] for _, masks, _, _ in samples] for t in range(length)],
                           [[keys[t] for _, _, keys, _ in samples] for t in range(length)],
                           [text for _, _, _, text in samples])

    def batch_loss(self, step: Step, batch: RefSAMBatch) -> Tensor:
        """Frame t is decoded with the track token of frame t-1 (gradient through the whole clip)."""
        model = step.model
        tracking = getattr(model.generator, "tracker", None) is not None
        track = None
        total = torch.zeros(())
        for t, (frames, masks, keys) in enumerate(zip(batch.frames, batch.masks, batch.keys)):
            features = self.encode(model.core, frames, keys)
            inputs: dict[str, Any] = {"text": batch.texts}
            if tracking:
                inputs["track"] = track
            prediction = step.forward(features=features, **inputs)
            total = total + self.mask_loss(prediction.logits, masks)
            if tracking and t + 1 < len(batch.frames):
                track = model.next_track(prediction, track)
        return total / len(batch.frames)

    @torch.no_grad()
    def evaluate_images(self, model: PromptedSam, items: Sequence[dict[str, Any]], batch_size: int = 16
                        ) -> dict[str, float]:
        """mIoU, oIoU and prec@0.5..0.9 over referring image items (no track)."""
        model.eval()
        scores = ReferringScores()
        for start in range(0, len(items), batch_size):
            chunk = items[start:start + batch_size]
            features = self.encode(model.core, [item["image"] for item in chunk],
                                   [f"{item['id']}@0" for item in chunk])
            prediction = model(features=features, text=[item["text"] for item in chunk])
            for masks, item in zip(prediction.masks, chunk):
                scores.add(masks[0], item["mask"])
        return scores.summary()

    def evaluate(self, model: PromptedSam, images: Sequence[dict[str, Any]], clips: Sequence[dict[str, Any]]
                 ) -> dict[str, dict[str, float]]:
        """{"images": evaluate_images(...), "videos": evaluate_videos(...)}."""
        return {"images": self.evaluate_images(model, images), "videos": self.evaluate_videos(model, clips)}

    @torch.no_grad()
    def evaluate_videos(self, model: PromptedSam, items: Sequence[dict[str, Any]]) -> dict[str, float]:
        """J, F and J&F over video items (online, frame by frame, with the track token)."""
        from samprompt.refsam.tracker import RefSAMVideoTracker

        model.eval()
        per_video = []
        for item in items:
            if getattr(model.generator, "tracker", None) is not None:
                predictions = [m[0] for m in RefSAMVideoTracker(model, [item["text"]]).run(item["frames"])]
            else:  # a generator without tracking segments each frame on its own
                predictions = [model([frame], text=[item["text"]]).masks[0][0] for frame in item["frames"]]
            per_video.append(video_scores(predictions, list(item["masks"])))
        return mean_video_scores(per_video)
