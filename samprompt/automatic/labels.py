"""Names for automatic masks: CLIP on a crop around each mask.

Each mask's box is widened to a square `margin` times its longer side (plus 2 px), clipped to
the image, cut out, resized to CLIP's input and encoded by CLIP's image tower (its pooled,
projected embedding); the crop's class probabilities are the softmax of its cosines with the
class names' text embeddings (the template average) times CLIP's own logit scale (100 for
OpenAI's models). This is the "crop and classify" reading of region proposals that
open-vocabulary pipelines on SAM's masks use; it suits CLIP as trained (whole images, or object
crops for the shipped shapes CLIP, 94 % zero-shot shape accuracy on those). The patch-level
correlation ESC-Net starts from was tried first, pooled over each mask: on shapes world the
background name won most objects (docs/deploy.md).

Where one of the names is a background name ("background" by default), masks it wins are
dropped: automatic generation also segments regions of the background.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from samprompt.automatic.rle import rle_to_mask
from samprompt.clip.dense import DenseClip, check_classes
from samprompt.clip.models import ClipBundle
from samprompt.core.images import image_array
from samprompt.errors import ConfigError, PromptError

DEFAULT_TEMPLATES = ("a {}", "a photo of a {}")


def mask_crop_box(mask: np.ndarray, margin: float) -> tuple[int, int, int, int]:
    """The square crop (x0, y0, x1, y1, x1 / y1 exclusive) around a mask's box: side `margin` x its
    longer side + 2 px, centred on the box, clipped to the image (the whole image for an empty mask)."""
    height, width = mask.shape
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return 0, 0, width, height
    cx, cy = (xs.min() + xs.max() + 1) / 2, (ys.min() + ys.max() + 1) / 2
    half = max(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1) * margin / 2 + 1
    x0, y0 = max(0, int(np.floor(cx - half))), max(0, int(np.floor(cy - half)))
    return x0, y0, max(x0 + 1, min(width, int(np.ceil(cx + half)))), max(y0 + 1, min(height, int(np.ceil(cy + half))))


def record_mask(record: dict[str, Any]) -> np.ndarray:
    """A mask record's segmentation as an H x W bool array (binary mask or uncompressed RLE)."""
    segmentation = record["segmentation"]
    if isinstance(segmentation, np.ndarray):
        return segmentation.astype(bool)
    if isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), list):
        return rle_to_mask(segmentation)
    raise ConfigError("labelling reads masks as binary masks or uncompressed RLE; generate with "
                      "output_mode='binary_mask' or 'uncompressed_rle', not 'coco_rle'")


class MaskLabeller:
    """Class names for mask records (module docstring).

    Args:
        clip: an open_clip model with a ViT image tower (a `ClipBundle`, taken over), or a `DenseClip`.
        templates: caption templates averaged per name (with a `ClipBundle`).
        image_size: CLIP input side (default: the tower's own).
        background: the names whose masks `label` drops (default: "background").
        margin: the crop's side as a multiple of the mask box's longer side.
    """

    def __init__(self, clip: ClipBundle | DenseClip, *, templates: Sequence[str] = DEFAULT_TEMPLATES,
                 image_size: int | None = None, background: Sequence[str] = ("background",),
                 margin: float = 1.3) -> None:
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 1.0 <= margin <= 4.0:
            raise ConfigError(f"margin must be a number in [1, 4], got {margin!r}")
        self.margin = float(margin)
        if isinstance(clip, ClipBundle):
            clip = DenseClip(clip, image_size, templates=templates)
        if not isinstance(clip, DenseClip):
            raise ConfigError(f"clip must be a ClipBundle (samprompt.clip.load_clip) or a DenseClip, got "
                              f"{type(clip).__name__}")
        self.clip = clip
        self.background = tuple(background)

    @property
    def logit_scale(self) -> float:
        return float(self.clip.clip.logit_scale.exp())

    @torch.no_grad()
    def probabilities(self, image: Any, masks: np.ndarray | Tensor, classes: Sequence[str]) -> Tensor:
        """N x K class probabilities of N H x W masks of `image` (H x W x 3 uint8)."""
        classes = check_classes(classes)
        array = image_array(image, "image")
        masks = np.asarray(masks.cpu() if isinstance(masks, Tensor) else masks, dtype=bool)
        if masks.ndim != 3 or tuple(masks.shape[1:]) != array.shape[:2]:
            raise PromptError(f"masks must be N x {array.shape[0]} x {array.shape[1]} (the image's size), got "
                              f"{tuple(masks.shape)}")
        pixels = torch.as_tensor(array).permute(2, 0, 1).float()
        size = self.clip.image_size
        crops = []
        for x0, y0, x1, y1 in (mask_crop_box(mask, self.margin) for mask in masks):
            crops.append(F.interpolate(pixels[None, :, y0:y1, x0:x1], size=(size, size), mode="bilinear",
                                       align_corners=False))
        if not crops:
            return torch.zeros(0, len(classes))
        embedding = self.clip.clip.encode_image(self.clip.normalise(torch.cat(crops)), normalize=True)
        cosine = embedding.float() @ self.clip.encode_classes(classes).float().T
        return (cosine * self.logit_scale).softmax(dim=1).cpu()

    def label(self, image: Any, records: list[dict[str, Any]], classes: Sequence[str]) -> list[dict[str, Any]]:
        """The records with "label" (a name), "label_score" (its probability) and "class_probabilities"
        (name -> probability) added; records labelled with a background name are dropped."""
        classes = check_classes(classes)
        if not records:
            return []
        probabilities = self.probabilities(image, np.stack([record_mask(r) for r in records]), classes)
        labelled = []
        for record, row in zip(records, probabilities.tolist()):
            best = int(np.argmax(row))
            if classes[best] in self.background:
                continue
            labelled.append({**record, "label": classes[best], "label_score": row[best],
                             "class_probabilities": dict(zip(classes, row))})
        return labelled

    def matching(self, image: Any, records: list[dict[str, Any]], text: str,
                 others: Sequence[str] = ("background",), min_probability: float = 0.5) -> list[dict[str, Any]]:
        """The records whose masks match `text` better than each of `others` (probability of `text`
        among them at least `min_probability`), with "label" and "label_score" added."""
        if not isinstance(text, str) or not text.strip():
            raise PromptError(f"text must be a non-empty string, got {text!r}")
        if not 0.0 <= min_probability <= 1.0:
            raise ConfigError(f"min_probability must be in [0, 1], got {min_probability!r}")
        names = [text] + [o for o in others if o != text]
        if len(names) < 2 or not records:
            return [] if not records else [{**r, "label": text, "label_score": 1.0} for r in records]
        probabilities = self.probabilities(image, np.stack([record_mask(r) for r in records]), names)
        return [{**record, "label": text, "label_score": float(p[0])}
                for record, p in zip(records, probabilities) if float(p[0]) >= min_probability and int(p.argmax()) == 0]
