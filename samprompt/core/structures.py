"""Data passed between the core, the prompt generators and the refiners."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

import torch
from torch import Tensor

Size = tuple[int, int]


@dataclass
class ImageFeatures:
    """The encoder's output for a batch of B images (computed once, reused by every prompt).

    Attributes:
        embeddings: B x C x h x w image embeddings (C = prompt width, 256 for official SAM).
        intermediate: outputs of the encoder's global-attention blocks, each B x D x h x w
            (D = encoder width), ordered as `intermediate_blocks`.
        intermediate_blocks: the block index of each entry of `intermediate`.
        input_sizes: (H, W) of each image after resizing its longest side, before padding.
        original_sizes: (H, W) of each image as given.
        images: B x 3 x S x S normalised, padded encoder input, kept only on request
            (refiners that look at pixels again use it).
    """

    embeddings: Tensor
    input_sizes: tuple[Size, ...]
    original_sizes: tuple[Size, ...]
    intermediate: tuple[Tensor, ...] = ()
    intermediate_blocks: tuple[int, ...] = ()
    images: Tensor | None = None

    def __post_init__(self) -> None:
        batch = self.embeddings.shape[0]
        if len(self.input_sizes) != batch or len(self.original_sizes) != batch:
            raise ValueError(f"ImageFeatures for {batch} images needs {batch} input and original sizes")
        if len(self.intermediate) != len(self.intermediate_blocks):
            raise ValueError("one block index is needed for each intermediate feature map")

    def __len__(self) -> int:
        return self.embeddings.shape[0]

    def select(self, index: Sequence[int] | Tensor) -> "ImageFeatures":
        """The features of a subset (or reordering, or repetition) of the images."""
        idx = torch.as_tensor(index, dtype=torch.long, device=self.embeddings.device)
        rows = idx.tolist()
        return ImageFeatures(
            embeddings=self.embeddings.index_select(0, idx),
            input_sizes=tuple(self.input_sizes[i] for i in rows),
            original_sizes=tuple(self.original_sizes[i] for i in rows),
            intermediate=tuple(t.index_select(0, idx) for t in self.intermediate),
            intermediate_blocks=self.intermediate_blocks,
            images=None if self.images is None else self.images.index_select(0, idx),
        )

    @staticmethod
    def concatenate(parts: Sequence["ImageFeatures"]) -> "ImageFeatures":
        """The features of several batches as one batch (in order)."""
        if not parts:
            raise ValueError("nothing to concatenate")
        blocks = parts[0].intermediate_blocks
        if any(p.intermediate_blocks != blocks for p in parts):
            raise ValueError("cannot concatenate features with different intermediate blocks")
        with_images = [p.images is not None for p in parts]
        return ImageFeatures(
            embeddings=torch.cat([p.embeddings for p in parts]),
            input_sizes=tuple(s for p in parts for s in p.input_sizes),
            original_sizes=tuple(s for p in parts for s in p.original_sizes),
            intermediate=tuple(torch.cat([p.intermediate[i] for p in parts]) for i in range(len(blocks))),
            intermediate_blocks=blocks,
            images=torch.cat([p.images for p in parts]) if all(with_images) else None,
        )

    def to(self, *args, **kwargs) -> "ImageFeatures":
        return replace(
            self,
            embeddings=self.embeddings.to(*args, **kwargs),
            intermediate=tuple(t.to(*args, **kwargs) for t in self.intermediate),
            images=None if self.images is None else self.images.to(*args, **kwargs),
        )

    def detach(self) -> "ImageFeatures":
        return replace(
            self,
            embeddings=self.embeddings.detach(),
            intermediate=tuple(t.detach() for t in self.intermediate),
            images=None if self.images is None else self.images.detach(),
        )


@dataclass
class MaskPrediction:
    """The decoder's output for P prompt rows, each with M masks.

    Attributes:
        low_res_logits: P x M x 4h x 4w mask logits (256 x 256 for official SAM).
        iou_predictions: P x M predicted mask quality.
        mask_tokens: P x M x C decoder output of the mask tokens (RefSAM tracks with it).
        batch_index: P, the image each row belongs to.
        logits: per row, M x H x W logits at that image's original size (None when the
            decoder was asked not to upscale).
    """

    low_res_logits: Tensor
    iou_predictions: Tensor
    mask_tokens: Tensor
    batch_index: Tensor
    logits: list[Tensor] | None = field(default=None, repr=False)

    @property
    def masks(self) -> list[Tensor]:
        """Per row, M x H x W boolean masks at the original image size (logits > 0)."""
        if self.logits is None:
            raise ValueError("this prediction was decoded with upscale=False; no original-size masks")
        return [logits > 0.0 for logits in self.logits]

    def __len__(self) -> int:
        return self.low_res_logits.shape[0]
