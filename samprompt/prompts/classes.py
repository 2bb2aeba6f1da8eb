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
    def class_embeddings(self, classes: Sequence[str] | Tensor) -> Tensor:
        """K x E CLIP text embeddings of the class names (or the K x E embeddings themselves, precomputed)."""
        if isinstance(classes, Tensor):
            return classes
        return self.clip.encode_classes(classes)

    def correlation(self, core: "SamCore", features: "ImageFeatures", classes: Sequence[str] | Tensor,
                    images: Sequence[int]) -> Tensor:
        """len(images) x K x g x g cosine correlation of CLIP patches with the classes (names or their
        `class_embeddings`), on the part of each image the encoder saw (resized to CLIP's input square)."""
        pixels = core.input_pixels(features)
        side = self.clip.image_size
        batch = torch.cat([F.interpolate(pixels[i][None].float(), size=(side, side), mode="bilinear",
                                         align_corners=False) for i in images])
        dense, _ = self.clip.encode_image(batch.clamp(0, 255))
        return correlation(dense, self.class_embeddings(classes))

    def pseudo_prompts(self, core: "SamCore", features: "ImageFeatures", classes: Sequence[str] | Tensor,
                       images: Sequence[int]) -> PseudoPrompts:
        """The pseudo points / masks of the len(images) x K rows (points relative to each image)."""
        with torch.no_grad():
            return pseudo_prompts(self.correlation(core, features, classes, images), self.settings)

    def _dense_masks(self, core: "SamCore", features: "ImageFeatures", pseudo: PseudoPrompts,
                     images: Sequence[int], k: int | Tensor) -> Tensor:
        """R x 1 x Mh x Mw pseudo-mask logits in the padded mask-input frame: each pseudo mask
        resized as `F.interpolate(mode="nearest")` resizes (source index floor(i x in / out) in
        float32) onto the rows and columns of the frame its image covers, background elsewhere.
        Written with tensor sizes so that an ONNX trace keeps the image size an input."""
        mh, mw = core.mask_input_size
        gh, gw = pseudo.masks.shape[-2:]
        device = pseudo.masks.device
        sizes = per_row(input_sizes(features, images, device), k)                            # R x 2 (h, w)
        covered = torch.round(sizes.double() * torch.tensor([mh, mw], device=device) / core.image_size).clamp(min=1)
        scale = torch.tensor([gh, gw], device=device).float() / covered.float()            # in / out, float32
        ys, xs = torch.arange(mh, device=device), torch.arange(mw, device=device)
        src_y = (ys.float()[None] * scale[:, :1]).floor().long().clamp(max=gh - 1)       # R x Mh
        src_x = (xs.float()[None] * scale[:, 1:]).floor().long().clamp(max=gw - 1)       # R x Mw
        flat = (src_y[:, :, None] * gw + src_x[:, None, :]).flatten(1)
        values = pseudo.masks.flatten(1).gather(1, flat).view(-1, mh, mw).float() * 2 - 1
        inside = (ys[None] < covered[:, :1])[:, :, None] & (xs[None] < covered[:, 1:])[:, None, :]
        signs = torch.where(inside, values, torch.full_like(values, -1.0)).unsqueeze(1)
        return signs.to(core.dtype) * self.mask_logit.to(core.dtype)

    # ---------------------------------------------------------------- forward
    def forward(self, core: "SamCore", features: "ImageFeatures", *, classes: Sequence[str] | Tensor,
                class_images: Sequence[int] | Tensor | None = None) -> Prompts:
        """Prompt rows for every (image, class) pair.

        Args:
            classes: K unique class names, or their K x E `class_embeddings` (precomputed).
            class_images: which images of `features` get class rows (default: all), in order.
        Returns:
            `Prompts` for R = len(class_images) x K rows: sparse R x (regions + 2) x C (the
            points, SAM's padding point, the class token), dense R x C x h x w, padding for
            empty regions, the image of every row.
        """
        if not isinstance(classes, Tensor):
            check_classes(classes)
        elif classes.ndim != 2 or classes.shape[1] != self.clip.embed_dim:
            raise PromptError(f"class embeddings must be K x {self.clip.embed_dim}, got {tuple(classes.shape)}")
        images = self._images(class_images, len(features))
        text = self.class_embeddings(classes)
        k = text.shape[0]
        pseudo = self.pseudo_prompts(core, features, text, images)
        device = core.device
        sizes = per_row(input_sizes(features, images, device).flip(-1), k)                 # R x 2 (w, h)
        points = pseudo.points.to(device) * sizes[:, None, :].float()                        # input frame (x, y)
        labels = pseudo.labels.to(device)
        sparse, dense = core.embed_prompts((points, labels), None,
                                           self._dense_masks(core, features, pseudo, images, k).to(device))
        token = self.class_token(text.to(self.class_token.weight.dtype)).repeat(len(images), 1)
        sparse = torch.cat([sparse, token.unsqueeze(1).to(sparse.dtype)], dim=1)            # R x 1 x C class token
        padding = torch.cat([labels == -1, torch.zeros_like(sparse[:, labels.shape[1]:, 0], dtype=torch.bool)], dim=1)
        index = per_row(torch.tensor(images, device=device)[:, None], k).flatten()
        return Prompts(sparse, dense, padding, index)

    @staticmethod
    def _images(class_images: Sequence[int] | Tensor | None, count: int) -> list[int]:
        if class_images is None:
            return list(range(count))
        images = torch.as_tensor(class_images).flatten().tolist()
        if not images or any(not isinstance(i, int) or not 0 <= i < count for i in images):
            raise PromptError(f"class_images must be image indexes in [0, {count}), got {images}")
        return images


def input_sizes(features: "ImageFeatures", images: Sequence[int], device: torch.device) -> Tensor:
    """len(images) x 2 (h, w) input sizes of the chosen images (0-d tensors stay traced in an ONNX export)."""
    return torch.stack([torch.stack([torch.as_tensor(v, device=device) for v in features.input_sizes[i]])
                        for i in images]).long()


def per_row(values: Tensor, k: int | Tensor) -> Tensor:
    """n x D per-image values -> (n k) x D, each repeated for the image's k class rows (image-major)."""
    return values[:, None].expand(-1, k, -1).reshape(-1, values.shape[-1])


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
