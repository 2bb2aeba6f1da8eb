"""Dense CLIP: patch embeddings in CLIP's joint space, class text embeddings, their correlation.

`DenseClip` wraps a frozen open_clip model (a `ClipBundle`). The image side returns, per
image, the last block's patch tokens passed through the tower's own final LayerNorm and
projection (the same maps the pooled token goes through, so that patches and texts share a
space), plus the raw patch tokens of chosen intermediate blocks for the decoder's skips.
The text side averages the embeddings of several prompt templates per class name and caches
them per name, so a new class list only encodes the names not seen before.
"""
from __future__ import annotations

import reprlib
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from samprompt.clip.models import ClipBundle
from samprompt.errors import ConfigError, ImageFormatError, PromptError


def resized_positional_embedding(embedding: Tensor, grid: int) -> Tensor:
    """An open_clip ViT's positional embedding (1 + g*g) x D -> (1 + grid*grid) x D: the patch
    positions resized bicubically, the class position kept (differentiable)."""
    old = int(round((embedding.shape[0] - 1) ** 0.5))
    if old == grid:
        return embedding
    patches = embedding[1:].reshape(1, old, old, -1).permute(0, 3, 1, 2).float()
    patches = F.interpolate(patches, size=(grid, grid), mode="bicubic", align_corners=False)
    return torch.cat([embedding[:1], patches.permute(0, 2, 3, 1).reshape(grid * grid, -1).to(embedding.dtype)])


def resize_positional_embedding(visual: nn.Module, image_size: int) -> None:
    """Resize an open_clip ViT's positional embedding in place (`resized_positional_embedding`)
    so that the tower takes `image_size` x `image_size` inputs."""
    patch = visual.patch_size[0]
    if image_size % patch:
        raise ConfigError(f"CLIP input size {image_size} must be a multiple of the patch size {patch}")
    grid = image_size // patch
    if visual.positional_embedding.shape[0] == 1 + grid * grid:
        return
    resized = resized_positional_embedding(visual.positional_embedding.data, grid)
    visual.positional_embedding = nn.Parameter(resized, requires_grad=False)
    visual.grid_size = (grid, grid)
    visual.image_size = (image_size, image_size)


def joint_space_patches(visual: nn.Module, tokens: Tensor) -> Tensor:
    """The last block's patch tokens B x W x g x g -> B x E x g x g L2-normalised embeddings in
    CLIP's joint space, through the tower's own final LayerNorm and projection."""
    dense = visual.ln_post(tokens.permute(0, 2, 3, 1)) @ visual.proj      # B x g x g x E
    return F.normalize(dense, dim=-1).permute(0, 3, 1, 2).contiguous()


def last_block_patches(visual: nn.Module, x: Tensor) -> Tensor:
    """Normalised CLIP input B x 3 x S x S -> joint-space patch embeddings B x E x g x g."""
    depth = len(visual.transformer.resblocks)
    tokens = visual.forward_intermediates(x, indices=[depth - 1], intermediates_only=True,
                                         output_fmt="NCHW")["image_intermediates"][0]
    return joint_space_patches(visual, tokens)


class DenseClip(nn.Module):
    """A frozen open_clip ViT giving dense image embeddings and cached class embeddings.

    The bundle's model is taken over: when `image_size` differs from the tower's native size,
    its positional embedding is resized in place.

    Args:
        clip: the open_clip model with its tokenizer.
        image_size: input side of the image tower (a multiple of its patch size).
        skip_layers: 0-based indexes of the blocks whose patch tokens feed the decoder.
        templates: prompt templates, each with one "{}" for the class name.
    """

    def __init__(self, clip: ClipBundle, image_size: int | None = None, skip_layers: Sequence[int] = (),
                 templates: Sequence[str] = ("a photo of a {}.",)) -> None:
        super().__init__()
        visual = clip.model.visual
        if not hasattr(visual, "forward_intermediates") or getattr(visual, "proj", None) is None \
                or getattr(visual, "attn_pool", None) is not None:
            raise ConfigError(f"dense features need an open_clip VisionTransformer with a projection; "
                              f"{clip.name!r} has a {type(visual).__name__} tower")
        depth = len(visual.transformer.resblocks)
        if any(not 0 <= i < depth - 1 for i in skip_layers):
            raise ConfigError(f"skip_layers must index blocks 0..{depth - 2} of the {depth}-block tower, "
                              f"got {tuple(skip_layers)}")
        if not templates or any(t.count("{}") != 1 for t in templates):
            raise ConfigError(f"each template needs exactly one '{{}}', got {tuple(templates)}")
        self.clip = clip.model
        self.tokenizer = clip.tokenizer
        self.image_size = image_size or clip.image_size
        resize_positional_embedding(visual, self.image_size)
        self.skip_layers = tuple(skip_layers)
        self.templates = tuple(templates)
        cfg = getattr(visual, "preprocess_cfg", {}) or {}
        self.register_buffer("mean", torch.tensor(cfg.get("mean", (0.48145466, 0.4578275, 0.40821073))).view(3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(cfg.get("std", (0.26862954, 0.26130258, 0.27577711))).view(3, 1, 1),
                             persistent=False)
        self.depth = depth
        self._text_cache: dict[str, Tensor] = {}
        for parameter in self.clip.parameters():
            parameter.requires_grad_(False)
        self.clip.eval()

    def train(self, mode: bool = True) -> "DenseClip":
        """CLIP stays in eval mode (it is frozen)."""
        super().train(mode)
        self.clip.eval()
        return self

    @property
    def width(self) -> int:
        """Width of the tower's patch tokens (768 for ViT-B)."""
        return self.clip.visual.transformer.width

    @property
    def embed_dim(self) -> int:
        """Width of the joint image-text space."""
        return self.clip.visual.proj.shape[1]

    @property
    def grid(self) -> int:
        return self.image_size // self.clip.visual.patch_size[0]

    def normalise(self, images: Tensor) -> Tensor:
        """B x 3 x H x W uint8 or float in [0, 255], on any device -> CLIP's normalised input at
        `image_size`, on CLIP's device."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ImageFormatError(f"expected images of shape B x 3 x H x W, got {tuple(images.shape)}")
        if not (images.dtype == torch.uint8 or images.is_floating_point()):
            raise ImageFormatError(f"expected uint8 or floating images in [0, 255], got dtype {images.dtype}")
        dtype = self.mean.dtype if not images.is_floating_point() else images.dtype
        x = images.to(self.mean.device, dtype) / 255.0
        if x.shape[-2:] != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def encode_image(self, images: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
        """images: B x 3 x H x W in [0, 255] -> (dense B x E x g x g L2-normalised joint-space
        embeddings, skips: one B x W x g x g per skip layer), g = image_size / patch size."""
        visual = self.clip.visual
        x = self.normalise(images).to(visual.conv1.weight.dtype)
        wanted = sorted(set(self.skip_layers) | {self.depth - 1})
        out = visual.forward_intermediates(x, indices=wanted, intermediates_only=True, output_fmt="NCHW")
        by_layer = dict(zip(wanted, out["image_intermediates"]))
        dense = joint_space_patches(visual, by_layer[self.depth - 1])
        return dense, tuple(by_layer[i] for i in self.skip_layers)

    @torch.no_grad()
    def encode_classes(self, classes: Sequence[str]) -> Tensor:
        """K class names -> K x E L2-normalised embeddings (template average); cached per name."""
        classes = check_classes(classes)
        missing = [c for c in dict.fromkeys(classes) if c not in self._text_cache]
        device = self.clip.visual.proj.device
        if missing:
            prompts = [t.format(c) for c in missing for t in self.templates]
            embeddings = self.clip.encode_text(self.tokenizer(prompts).to(device), normalize=True)
            embeddings = F.normalize(embeddings.view(len(missing), len(self.templates), -1).mean(1), dim=-1)
            self._text_cache.update(zip(missing, embeddings))
        return torch.stack([self._text_cache[c].to(device) for c in classes])

    def correlation_map(self, images: Tensor, classes: Sequence[str]) -> Tensor:
        """images B x 3 x H x W in [0, 255], K class names -> B x K x H x W patch-text cosine,
        bilinearly upsampled to the input size (its argmax is what CLIP alone segments)."""
        dense, _ = self.encode_image(images)
        scores = correlation(dense, self.encode_classes(classes))
        return F.interpolate(scores, size=images.shape[-2:], mode="bilinear", align_corners=False)

    def _apply(self, fn, recurse: bool = True) -> "DenseClip":
        self._text_cache.clear()    # cached embeddings follow the model's device and dtype
        return super()._apply(fn, recurse)


def check_classes(classes: Sequence[str]) -> list[str]:
    """The class names as a list of `str`; a `PromptError` unless `classes` is a non-empty list,
    tuple or 1-D array of non-empty, unique strings (a single string, a set, whose order would be
    arbitrary, or a generator, which would be consumed, is refused)."""
    if isinstance(classes, np.ndarray) and classes.ndim == 1:
        classes = classes.tolist()
    if not isinstance(classes, (list, tuple)):
        raise PromptError(f"classes must be a non-empty list of names, got {type(classes).__name__} "
                          f"{reprlib.repr(classes)}")
    if not classes:
        raise PromptError("classes must be a non-empty list of names, got an empty list")
    bad = [c for c in classes if not isinstance(c, str) or not c.strip()]
    if bad:
        raise PromptError(f"class names must be non-empty strings, got {bad!r}")
    names = [str(c) for c in classes]
    repeated = sorted({c for c in names if names.count(c) > 1})
    if repeated:
        raise PromptError(f"class names must be unique, repeated: {repeated}")
    return names


def correlation(dense: Tensor, text: Tensor) -> Tensor:
    """Cosine similarity of each patch with each class.

    Args:
        dense: B x E x h x w L2-normalised patch embeddings.
        text: K x E L2-normalised class embeddings.
    Returns:
        B x K x h x w.
    """
    return torch.einsum("behw,ke->bkhw", dense, text.to(dense.dtype))
