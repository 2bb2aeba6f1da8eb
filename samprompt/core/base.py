"""`Core`: what every core family gives the prompt modules (SAM's `SamCore`, SAM 2's `Sam2Core`).

A core wraps one family's official model as `core.sam`, frozen by default, and offers:
- `encode(images) -> ImageFeatures` (one encoder pass for a batch of images of any sizes);
- `input_coords(xy, original_size)`: original-image pixels -> the encoder's input frame;
  `grid_coords(points, original_size)` the same at the precision of the family's own automatic
  mask generator;
- `embed_prompts(points, boxes, masks)`, `dense_positional_encoding()`, `no_mask_dense(rows)`;
- `decode(features, prompts) -> MaskPrediction` (any number of rows on any of the images);
- `describe() -> CoreInfo` (family, variant, architecture, weights), saved with trained models;
- `image_size`, `prompt_dim`, `embedding_size`, `mask_input_size`, `device`, `dtype`,
  `adapters` (LoRA state written by `samprompt.tuning`).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn

from samprompt.core.prompt_encoding import SamPromptEncoding
from samprompt.core.structures import ImageFeatures, Prompts
from samprompt.core.two_way import two_way_transformer
from samprompt.errors import ConfigError, PromptError


class Core(nn.Module):
    """Base class of the core families (module docstring): `isinstance(x, Core)` is how the rest
    of the library recognises a core without naming a family. It holds what both families do
    alike around the official model `self.sam` and its prompt encoder (`self._prompt_encoding`,
    set by the subclass, kept out of the module tree since the encoder is registered already)."""

    family: str = "?"
    sam: nn.Module
    _prompt_encoding: SamPromptEncoding

    def freeze(self) -> "Core":
        """Turn off gradients for every parameter of the wrapped model and set eval mode."""
        for parameter in self.sam.parameters():
            parameter.requires_grad_(False)
        self.sam.eval()
        return self

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> "Core":
        super()._apply(fn, recurse)
        self.prompt_encoding.keep_fourier_matrix_float32()
        return self

    @property
    def embedding_size(self) -> tuple[int, int]:
        """(h, w) of the image embedding (64 x 64 for the official checkpoints of both families)."""
        return tuple(self.prompt_encoding.encoder.image_embedding_size)

    @property
    def mask_input_size(self) -> tuple[int, int]:
        """(H, W) of low-res mask logits and of mask prompts (256 x 256 for the official checkpoints)."""
        return tuple(self.prompt_encoding.encoder.mask_input_size)

    @property
    def num_mask_tokens(self) -> int:
        return self.mask_decoder.num_mask_tokens

    @property
    def prompt_encoding(self) -> SamPromptEncoding:
        """The prompt encoder with the precision rules (`samprompt.core.prompt_encoding`); a
        method that needs only the prompt side holds this instead of the whole core."""
        return self._prompt_encoding

    def dense_positional_encoding(self, grid: tuple[int, int] | None = None) -> Tensor:
        """1 x C x h x w positional encoding of the image embedding grid, or of any `grid`
        (computed once per grid and dtype; do not modify it in place)."""
        return self.prompt_encoding.positional_encoding(grid, dtype=self.dtype)

    def no_mask_dense(self, rows: int, grid: tuple[int, int] | None = None) -> Tensor:
        """rows x C x h x w: the dense prompt for rows without a mask input (the prompt encoder's
        `no_mask_embed`, what `decode` adds when `Prompts.dense` is None)."""
        h, w = grid or self.embedding_size
        return self.prompt_encoding.encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(rows, -1, h, w)

    def run_two_way(self, features: ImageFeatures, prompts: Prompts, output_tokens: Tensor,
                    extra_tokens: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """The mask decoder's two-way transformer for every prompt row, as both families' decoders
        run it: the decoder's own output tokens (T x C) before each row's prompt tokens (and
        `extra_tokens`, P x E x C), against the embedding of the row's image plus its dense
        prompt; padding tokens masked out.

        Returns:
            hs: P x (T + N) x C processed tokens; image: P x C x h x w processed embedding;
            batch_index: P, the image of each row.
        """
        if prompts.dim != self.prompt_dim:
            raise PromptError(f"prompts have width {prompts.dim}, this core expects {self.prompt_dim}")
        if extra_tokens is not None:
            prompts = prompts.append_tokens(extra_tokens)
        batch_index = prompts.resolve_batch_index(len(features))
        rows = prompts.sparse.shape[0]     # not len(): a traced size keeps ONNX exports' row count dynamic
        image_embeddings = features.embeddings.index_select(0, batch_index)
        dtype = image_embeddings.dtype
        dense = self.no_mask_dense(rows, image_embeddings.shape[-2:]) if prompts.dense is None else prompts.dense
        if dense.shape[-2:] != image_embeddings.shape[-2:]:
            raise PromptError(f"dense prompts are {tuple(dense.shape[-2:])}, image embeddings "
                              f"{tuple(image_embeddings.shape[-2:])}")
        src = image_embeddings + dense.to(dtype)
        pos = self.dense_positional_encoding().to(dtype).expand(rows, -1, -1, -1)
        output_tokens = output_tokens.unsqueeze(0).expand(rows, -1, -1)
        tokens = torch.cat([output_tokens, prompts.sparse.to(output_tokens.dtype)], dim=1)
        padding = None
        if prompts.padding_mask is not None:
            fixed = torch.zeros(rows, output_tokens.shape[1], dtype=torch.bool, device=tokens.device)
            padding = torch.cat([fixed, prompts.padding_mask.to(tokens.device)], dim=1)
        hs, image = two_way_transformer(self.mask_decoder.transformer, src, pos, tokens, padding)
        b, c, h, w = src.shape
        return hs, image.transpose(1, 2).reshape(b, c, h, w), batch_index

    def forward(self, images: Any) -> Any:
        """Same as `encode`."""
        return self.encode(images)


FAMILY_NAMES = {"sam": "SAM (segment-anything)", "sam2": "SAM 2.1"}


def require_family(core: object, families: Sequence[str], what: str) -> None:
    """A `ConfigError` unless `core` is a core of one of `families` ("sam", "sam2"), naming what
    needs it, so that a module written for one family fails at construction, not deep inside."""
    family = getattr(core, "family", None) if isinstance(core, Core) else None
    if family in families:
        return
    wanted = " or ".join(FAMILY_NAMES.get(f, f) for f in families)
    got = f"a {FAMILY_NAMES.get(family, family)} core ({getattr(core, 'variant', '?')})" if family \
        else f"a {type(core).__name__}"
    raise ConfigError(f"{what} runs on {wanted} cores, got {got}"
                      + ("; SAM 2.1 support for it is not written yet (docs/sam2.md)" if family == "sam2" else ""))
