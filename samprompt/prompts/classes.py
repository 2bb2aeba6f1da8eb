"""Class names as prompts on the core: ESC-Net's pseudo-prompt mechanism as a `PromptGenerator`.

For every (image, class name) row: CLIP's patch-text correlation on the image the encoder saw
-> pseudo points and a pseudo mask (`samprompt.prompts.pseudo`) -> SAM's prompt encoder, plus
one token carrying the class's CLIP text embedding -> one SAM mask per row on the core's own
image embedding and decoder. Unlike the ESC-Net model, nothing is decoded outside SAM.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from samprompt.clip.dense import DenseClip, check_classes, correlation
from samprompt.clip.models import ClipBundle
from samprompt.core.structures import Prompts
from samprompt.errors import ConfigError, PromptError
from samprompt.prompts.base import PromptGenerator
from samprompt.prompts.pseudo import PseudoPrompts, PseudoPromptSettings, pseudo_prompts

if TYPE_CHECKING:
    from samprompt.core.sam_core import SamCore
    from samprompt.core.structures import ImageFeatures, MaskPrediction

DEFAULT_TEMPLATES = ("a {}", "a photo of a {}")


class ClassPrompts(PromptGenerator):
    """Class names -> SAM prompts, one row per (image, class).

    Rows are image-major: image 0's K classes, then image 1's, and so on. Each row holds the
    pseudo points of its class (`settings.regions` of them; empty regions are padding, masked
    out of attention), one class token (a linear map of the class's CLIP text embedding into
    SAM's token space) and, as SAM's dense prompt, the pseudo mask as +/- `mask_logit` logits
    placed over the image's part of the padded mask-input frame.

    Trainable: `class_token` and `mask_logit` (SAM's decoder is tuned through the core's
    adapters); CLIP stays frozen.

    Args:
        clip: an open_clip model with a ViT image tower (taken over, see `DenseClip`).
        prompt_dim: width of SAM's prompt tokens (`core.prompt_dim`).
        image_size: CLIP input side (default: the tower's own).
        templates: caption templates averaged per class name.
        settings: the pseudo-prompt threshold, regions, temperature.
        mask_logit: initial magnitude of the pseudo-mask logits.
        clip_spec: how to reload the CLIP model (saved with the weights), e.g. {"name": "shapes"}.
    """

    needs_images = True
    prompt_inputs = ("classes",)
    core_families = ("sam", "sam2")   # core.input_pixels, the prompt encoder and the input frame only

    def __init__(self, clip: ClipBundle, prompt_dim: int, *, image_size: int | None = None,
                 templates: Sequence[str] = DEFAULT_TEMPLATES,
                 settings: PseudoPromptSettings = PseudoPromptSettings(), mask_logit: float = 8.0,
                 clip_spec: dict[str, str] | None = None) -> None:
        super().__init__()
        if prompt_dim <= 0:
            raise ConfigError(f"prompt_dim must be positive, got {prompt_dim}")
        if mask_logit <= 0:
            raise ConfigError(f"mask_logit must be positive, got {mask_logit}")
        self.clip = DenseClip(clip, image_size, templates=templates)
        self.clip_spec = clip_spec or {"name": clip.name}
        self.settings = settings
        self.class_token = nn.Linear(self.clip.embed_dim, prompt_dim)
        self.mask_logit = nn.Parameter(torch.tensor(float(mask_logit)))

    def train(self, mode: bool = True) -> "ClassPrompts":
        super().train(mode)
        self.clip.train(mode)   # stays in eval mode: CLIP is frozen
        return self

    # ---------------------------------------------------------------- pieces
    def correlation(self, core: "SamCore", features: "ImageFeatures", classes: Sequence[str],
                    images: Sequence[int]) -> Tensor:
        """len(images) x K x g x g cosine correlation of CLIP patches with the class names, on the
        part of each image the encoder saw (resized to CLIP's input square)."""
        pixels = core.input_pixels(features)
        side = self.clip.image_size
        batch = torch.cat([F.interpolate(pixels[i][None].float(), size=(side, side), mode="bilinear",
                                         align_corners=False) for i in images])
        dense, _ = self.clip.encode_image(batch.clamp(0, 255))
        return correlation(dense, self.clip.encode_classes(classes))

    def pseudo_prompts(self, core: "SamCore", features: "ImageFeatures", classes: Sequence[str],
                       images: Sequence[int]) -> PseudoPrompts:
        """The pseudo points / masks of the len(images) x K rows (points relative to each image)."""
        with torch.no_grad():
            return pseudo_prompts(self.correlation(core, features, classes, images), self.settings)

    def _dense_masks(self, core: "SamCore", features: "ImageFeatures", pseudo: PseudoPrompts,
                     images: Sequence[int], k: int) -> Tensor:
        """R x 1 x Mh x Mw pseudo-mask logits in the padded mask-input frame."""
        mh, mw = core.mask_input_size
        side = core.image_size
        signs = torch.full((len(pseudo.masks), 1, mh, mw), -1.0, device=pseudo.masks.device)
        for position, image in enumerate(images):
            h, w = features.input_sizes[image]
            region = (max(1, round(h * mh / side)), max(1, round(w * mw / side)))
            rows = slice(position * k, (position + 1) * k)
            signs[rows, :, :region[0], :region[1]] = F.interpolate(
                pseudo.masks[rows].unsqueeze(1).float(), size=region, mode="nearest") * 2 - 1
        return signs.to(core.dtype) * self.mask_logit.to(core.dtype)

    # ---------------------------------------------------------------- forward
    def forward(self, core: "SamCore", features: "ImageFeatures", *, classes: Sequence[str],
                class_images: Sequence[int] | Tensor | None = None) -> Prompts:
        """Prompt rows for every (image, class) pair.

        Args:
            classes: K unique class names.
            class_images: which images of `features` get class rows (default: all), in order.
        Returns:
            `Prompts` for R = len(class_images) x K rows: sparse R x (regions + 2) x C (the
            points, SAM's padding point, the class token), dense R x C x h x w, padding for
            empty regions, the image of every row.
        """
        check_classes(classes)
        images = self._images(class_images, len(features))
        k = len(classes)
        pseudo = self.pseudo_prompts(core, features, classes, images)
        device = core.device
        sizes = torch.tensor([features.input_sizes[i][::-1] for i in images], dtype=torch.float32, device=device)
        points = pseudo.points.to(device) * sizes.repeat_interleave(k, dim=0)[:, None, :]   # input frame (x, y)
        labels = pseudo.labels.to(device)
        sparse, dense = core.embed_prompts((points, labels), None,
                                           self._dense_masks(core, features, pseudo, images, k).to(device))
        text = self.clip.encode_classes(classes).to(self.class_token.weight.dtype)
        token = self.class_token(text).repeat(len(images), 1).unsqueeze(1).to(sparse.dtype)   # R x 1 x C
        sparse = torch.cat([sparse, token], dim=1)
        padding = torch.zeros(sparse.shape[:2], dtype=torch.bool, device=device)
        padding[:, : labels.shape[1]] = labels == -1
        index = torch.tensor(images, device=device).repeat_interleave(k)
        return Prompts(sparse, dense, padding, index)

    @staticmethod
    def _images(class_images: Sequence[int] | Tensor | None, count: int) -> list[int]:
        if class_images is None:
            return list(range(count))
        images = torch.as_tensor(class_images).flatten().tolist()
        if not images or any(not isinstance(i, int) or not 0 <= i < count for i in images):
            raise PromptError(f"class_images must be image indexes in [0, {count}), got {images}")
        return images


def class_logits(prediction: "MaskPrediction", classes: int) -> Tensor:
    """The first mask of every (image, class) row of a `ClassPrompts` prediction as B x K x H x W
    logits (K = `classes`; the images must share a size, e.g. one image)."""
    logits = torch.stack([row[0] for row in prediction.logits])                       # (B K) x H x W
    return logits.view(-1, classes, *logits.shape[-2:])


def semantic_map(logits: Tensor, classes: Sequence[str], background: str | None = "background") -> Tensor:
    """Per-class SAM mask logits -> a class index per pixel.

    Args:
        logits: B x K x H x W, one SAM mask per (image, class) row.
        classes: the K names.
        background: the class a pixel falls to when no class's mask covers it (logit <= 0);
            None (or a list without it): every pixel takes the class of highest logit.
    Returns:
        B x H x W indexes into `classes`.
    """
    if logits.ndim != 4 or logits.shape[1] != len(classes):
        raise PromptError(f"logits must be B x {len(classes)} x H x W, got shape {tuple(logits.shape)}")
    best, index = logits.max(dim=1)
    if background is not None and background in classes:
        index = torch.where(best > 0, index, torch.full_like(index, list(classes).index(background)))
    return index
