"""Data passed between the core, the prompt generators and the refiners: image features,
prompt embeddings and mask predictions."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import torch
from torch import Tensor

from samprompt.errors import ConfigError, PromptError

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
        high_res: SAM 2 only: the mask decoder's high-resolution feature maps, finest first
            (B x C/8 x 4h x 4w, B x C/4 x 2h x 2w); empty for SAM 1.
    """

    embeddings: Tensor
    input_sizes: tuple[Size, ...]
    original_sizes: tuple[Size, ...]
    intermediate: tuple[Tensor, ...] = ()
    intermediate_blocks: tuple[int, ...] = ()
    images: Tensor | None = None
    high_res: tuple[Tensor, ...] = ()

    def __post_init__(self) -> None:
        batch = self.embeddings.shape[0]
        if len(self.input_sizes) != batch or len(self.original_sizes) != batch:
            raise ConfigError(f"ImageFeatures for {batch} images needs {batch} input and original sizes, got "
                              f"{len(self.input_sizes)} and {len(self.original_sizes)}")
        if len(self.intermediate) != len(self.intermediate_blocks):
            raise ConfigError(f"intermediate_blocks must give one block index per intermediate feature map "
                              f"({len(self.intermediate)}), got {len(self.intermediate_blocks)}")

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
            high_res=tuple(t.index_select(0, idx) for t in self.high_res),
        )

    @staticmethod
    def concatenate(parts: Sequence["ImageFeatures"]) -> "ImageFeatures":
        """The features of several batches as one batch (in order)."""
        if not parts:
            raise ConfigError("parts: nothing to concatenate, expected at least one ImageFeatures")
        blocks = parts[0].intermediate_blocks
        if any(p.intermediate_blocks != blocks for p in parts):
            raise ConfigError(f"cannot concatenate features with different intermediate blocks, got "
                              f"{sorted({p.intermediate_blocks for p in parts})}")
        with_images = [p.images is not None for p in parts]
        return ImageFeatures(
            embeddings=torch.cat([p.embeddings for p in parts]),
            input_sizes=tuple(s for p in parts for s in p.input_sizes),
            original_sizes=tuple(s for p in parts for s in p.original_sizes),
            intermediate=tuple(torch.cat([p.intermediate[i] for p in parts]) for i in range(len(blocks))),
            intermediate_blocks=blocks,
            images=torch.cat([p.images for p in parts]) if all(with_images) else None,
            high_res=tuple(torch.cat([p.high_res[i] for p in parts]) for i in range(len(parts[0].high_res))),
        )

    def to(self, *args, **kwargs) -> "ImageFeatures":
        return replace(
            self,
            embeddings=self.embeddings.to(*args, **kwargs),
            intermediate=tuple(t.to(*args, **kwargs) for t in self.intermediate),
            images=None if self.images is None else self.images.to(*args, **kwargs),
            high_res=tuple(t.to(*args, **kwargs) for t in self.high_res),
        )

    def detach(self) -> "ImageFeatures":
        return replace(
            self,
            embeddings=self.embeddings.detach(),
            intermediate=tuple(t.detach() for t in self.intermediate),
            images=None if self.images is None else self.images.detach(),
            high_res=tuple(t.detach() for t in self.high_res),
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
        unclamped_low_res_logits: the decoder's logits before a family's clamp (SAM 2 clamps
            `low_res_logits` to [-32, 32] but upscales the raw ones); None where nothing was clamped.
    """

    low_res_logits: Tensor
    iou_predictions: Tensor
    mask_tokens: Tensor
    batch_index: Tensor
    logits: list[Tensor] | None = field(default=None, repr=False)
    unclamped_low_res_logits: Tensor | None = field(default=None, repr=False)

    @property
    def logits_to_upscale(self) -> Tensor:
        """P x M x 4h x 4w: the low-res logits the core's upscaling reads (before any clamp)."""
        return self.low_res_logits if self.unclamped_low_res_logits is None else self.unclamped_low_res_logits

    @property
    def masks(self) -> list[Tensor]:
        """Per row, M x H x W boolean masks at the original image size (logits > 0)."""
        if self.logits is None:
            raise ConfigError("masks: this prediction was decoded with upscale=False, so it has no original-size "
                              "masks; decode with upscale=True")
        return [logits > 0.0 for logits in self.logits]

    def __len__(self) -> int:
        return self.low_res_logits.shape[0]


@dataclass
class Prompts:
    """Prompt embeddings for P prompt rows, ready for `SamCore.decode`.

    Attributes:
        sparse: P x N x C prompt tokens (C = the core's prompt width, 256 for official SAM).
        dense: P x C x h x w dense prompt, or None for SAM's learned "no mask" embedding.
        padding_mask: P x N boolean, True where a token is padding (ragged N); padding
            tokens are masked out of attention, so they never change the result.
        batch_index: P, which image of the `ImageFeatures` each row belongs to. None means
            one row per image (P == B) or, with a single image, every row on that image.
    """

    sparse: Tensor
    dense: Tensor | None = None
    padding_mask: Tensor | None = None
    batch_index: Tensor | None = None

    def __post_init__(self) -> None:
        if self.sparse.ndim != 3:
            raise PromptError(f"sparse prompts must be P x N x C, got shape {tuple(self.sparse.shape)}")
        rows, tokens = self.sparse.shape[:2]
        if self.dense is not None and (self.dense.ndim != 4 or self.dense.shape[:2] != (rows, self.sparse.shape[2])):
            raise PromptError(f"dense prompts must be {rows} x {self.sparse.shape[2]} x h x w, "
                              f"got shape {tuple(self.dense.shape)}")
        if self.padding_mask is not None:
            if self.padding_mask.shape != (rows, tokens) or self.padding_mask.dtype != torch.bool:
                raise PromptError(f"padding_mask must be a bool tensor of shape {(rows, tokens)}, got "
                                  f"{self.padding_mask.dtype} {tuple(self.padding_mask.shape)}")
        if self.batch_index is not None and self.batch_index.shape != (rows,):
            raise PromptError(f"batch_index must have shape ({rows},), got {tuple(self.batch_index.shape)}")

    def __len__(self) -> int:
        return self.sparse.shape[0]

    @property
    def dim(self) -> int:
        return self.sparse.shape[2]

    def resolve_batch_index(self, num_images: int) -> Tensor:
        """The image index of every row, checked against `num_images`."""
        return resolve_batch_index(self.batch_index, len(self), num_images, self.sparse.device)

    def append_tokens(self, tokens: Tensor, padding_mask: Tensor | None = None) -> "Prompts":
        """Prompts with P x E x C extra tokens appended after the sparse ones (e.g. a track token)."""
        if tokens.ndim != 3 or tokens.shape[0] != len(self) or tokens.shape[2] != self.dim:
            raise PromptError(f"extra tokens must be {len(self)} x E x {self.dim}, got {tuple(tokens.shape)}")
        return Prompts.concatenate([self, Prompts(tokens.to(self.sparse.dtype), None, padding_mask, self.batch_index)])

    @staticmethod
    def concatenate(parts: Sequence["Prompts"]) -> "Prompts":
        """Join the tokens of prompts for the same rows; dense prompts add up (None counts as absent)."""
        if not parts:
            raise PromptError("nothing to concatenate")
        rows = len(parts[0])
        for p in parts:
            if len(p) != rows:
                raise PromptError(f"cannot combine prompts with {rows} and {len(p)} rows")
        indexes = [p.batch_index for p in parts if p.batch_index is not None]
        for other in indexes[1:]:
            if not torch.equal(indexes[0], other):
                raise PromptError("cannot combine prompts whose rows belong to different images")
        sparse = torch.cat([p.sparse for p in parts], dim=1)
        padding = None
        if any(p.padding_mask is not None for p in parts):
            padding = torch.cat([
                p.padding_mask if p.padding_mask is not None
                else torch.zeros(p.sparse.shape[:2], dtype=torch.bool, device=p.sparse.device)
                for p in parts
            ], dim=1)
        dense_parts = [p.dense for p in parts if p.dense is not None]
        dense = None
        if dense_parts:
            dense = dense_parts[0]
            for extra in dense_parts[1:]:
                dense = dense + extra
        return Prompts(sparse, dense, padding, indexes[0] if indexes else None)

    @staticmethod
    def stack(parts: Sequence["Prompts"], num_images: int, no_mask_dense: Callable[[int], Tensor]) -> "Prompts":
        """The rows of several prompts as one batch, in order (e.g. text rows, then click rows).

        Tokens are right-padded to the longest row (the padding masked out of attention), rows
        without a dense prompt get `no_mask_dense(rows)` (SAM's no-mask embedding) when another
        part has one, and every row keeps its image (`resolve_batch_index(num_images)`).
        """
        if not parts:
            raise PromptError("nothing to stack")
        dims = {p.dim for p in parts}
        if len(dims) > 1:
            raise PromptError(f"cannot stack prompts of widths {sorted(dims)}")
        longest = max(p.sparse.shape[1] for p in parts)
        sparse, padding, dense, index = [], [], [], []
        for p in parts:
            rows, tokens = p.sparse.shape[:2]
            extra = longest - tokens
            own = p.padding_mask if p.padding_mask is not None else \
                torch.zeros(rows, tokens, dtype=torch.bool, device=p.sparse.device)
            sparse.append(torch.cat([p.sparse, p.sparse.new_zeros(rows, extra, p.dim)], dim=1))
            padding.append(torch.cat([own, torch.ones(rows, extra, dtype=torch.bool, device=own.device)], dim=1))
            index.append(p.resolve_batch_index(num_images))
        if any(p.dense is not None for p in parts):
            dtype = next(p.dense for p in parts if p.dense is not None).dtype
            dense = [(p.dense if p.dense is not None else no_mask_dense(len(p))).to(dtype) for p in parts]
        return Prompts(torch.cat(sparse), torch.cat(dense) if dense else None,
                       torch.cat(padding) if bool(torch.cat(padding).any()) else None, torch.cat(index))

    def to(self, *args: Any, **kwargs: Any) -> "Prompts":
        return replace(self, sparse=self.sparse.to(*args, **kwargs),
                       dense=None if self.dense is None else self.dense.to(*args, **kwargs))


def resolve_batch_index(batch_index: Tensor | Sequence[int] | None, rows: int, num_images: int,
                        device: torch.device) -> Tensor:
    """The image index of each of `rows` prompt rows (see `Prompts.batch_index`); a tensor or a list."""
    if batch_index is None:
        if rows == num_images:
            return torch.arange(rows, device=device)
        if num_images == 1:
            return torch.zeros(rows, dtype=torch.long, device=device)
        raise PromptError(f"{rows} prompt rows (texts, click rows, boxes or class lists) for {num_images} "
                          f"images: give one per image, or several with batch_index=[...] saying which of the "
                          f"{num_images} images each row belongs to")
    index = torch.as_tensor(batch_index, device=device).long()
    if index.shape != (rows,):
        raise PromptError(f"batch_index must have shape ({rows},), got {tuple(index.shape)}")
    if rows and (int(index.min()) < 0 or int(index.max()) >= num_images):
        raise PromptError(f"batch_index values must be in [0, {num_images}), got {index.tolist()}")
    return index
