"""`Core`: what every core family gives the prompt modules (SAM's `SamCore`, SAM 2's `Sam2Core`).

A core wraps one family's official model as `core.sam`, frozen by default, and offers:
- `encode(images) -> ImageFeatures` (one encoder pass for a batch of images of any sizes);
- `input_coords(xy, original_size)`: original-image pixels -> the encoder's input frame;
- `embed_prompts(points, boxes, masks)`, `dense_positional_encoding()`, `no_mask_dense(rows)`;
- `decode(features, prompts) -> MaskPrediction` (any number of rows on any of the images);
- `describe() -> CoreInfo` (family, variant, architecture, weights), saved with trained models;
- `image_size`, `prompt_dim`, `embedding_size`, `mask_input_size`, `device`, `dtype`,
  `adapters` (LoRA state written by `samprompt.tuning`).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from torch import Tensor, nn

from samprompt.core.prompt_encoding import SamPromptEncoding
from samprompt.errors import ConfigError


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
