"""SAM's prompt encoder with the core's precision rules, for the core and for every method.

Every method reaches SAM's prompt encoder through this module (via `SamCore.embed_prompts` and
`SamCore.dense_positional_encoding`, or, for a method that needs only SAM's prompt side, by
holding `core.prompt_encoding` itself), so the rules live in one place:

- the random Fourier matrix of the positional encoding stays float32 whatever dtype the
  module is moved to (segment-anything casts coordinates to float32 before multiplying);
- points, boxes and positional encodings are computed with autocast off: under bfloat16
  autocast the Fourier features of a coordinate lose whole cycles (errors up to 0.1 in the
  embedding), and they are cheap;
- results come back in the caller's dtype.
"""
from __future__ import annotations

from typing import Callable

import torch
from segment_anything.modeling import PromptEncoder
from torch import Tensor, nn

Grid = tuple[int, int]


class SamPromptEncoding(nn.Module):
    """Wraps segment-anything's `PromptEncoder` (shared, not copied).

    Args:
        encoder: the prompt encoder of a `Sam` model.
    """

    def __init__(self, encoder: PromptEncoder) -> None:
        super().__init__()
        self.encoder = encoder
        self._positional: dict[tuple[Grid, torch.dtype], tuple[Tensor, int, Tensor]] = {}
        self.keep_fourier_matrix_float32()

    @property
    def frequencies(self) -> Tensor:
        """2 x C/2 random Fourier matrix of the positional encoding (a float32 buffer)."""
        return self.encoder.pe_layer.positional_encoding_gaussian_matrix

    @property
    def dtype(self) -> torch.dtype:
        return self.encoder.point_embeddings[0].weight.dtype

    @property
    def device(self) -> torch.device:
        return self.encoder.point_embeddings[0].weight.device

    def keep_fourier_matrix_float32(self) -> None:
        pe = self.encoder.pe_layer
        pe.positional_encoding_gaussian_matrix = pe.positional_encoding_gaussian_matrix.float()

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> "SamPromptEncoding":
        super()._apply(fn, recurse)
        self.keep_fourier_matrix_float32()
        return self

    def embed(self, points: tuple[Tensor, Tensor] | None = None, boxes: Tensor | None = None,
              masks: Tensor | None = None, *, dtype: torch.dtype | None = None) -> tuple[Tensor, Tensor]:
        """Sparse and dense embeddings of P prompt rows, coordinates in the encoder's input frame.

        Args:
            points: (P x N x 2 xy coordinates, P x N labels: 1 foreground, 0 background,
                -1 not a point).
            boxes: P x 4 xyxy boxes.
            masks: P x 1 x 4h x 4w mask logits (SAM's `mask_input_size` for the core's own
                grid; any multiple of 4 gives a dense prompt on that grid / 4).
            dtype: of the results (default: the prompt encoder's).
        Returns:
            P x N' x C sparse tokens and P x C x h x w dense embeddings.
        """
        dtype = dtype or self.dtype
        if masks is not None:
            masks = masks.to(self.device, self.dtype)
        with torch.autocast(device_type=self.device.type, enabled=False):
            sparse, dense = self.encoder(points=points, boxes=boxes, masks=masks)
        return sparse.to(dtype), dense.to(dtype)

    def positional_encoding(self, grid: Grid | None = None, *, dtype: torch.dtype | None = None) -> Tensor:
        """1 x C x h x w positional encoding of a grid (default: the image embedding's); do not modify it.

        It depends only on the fixed random-frequency buffer, so it is computed once per
        (grid, dtype) and recomputed only when the buffer changes (a weight load, a move).
        """
        grid = tuple(grid or self.encoder.image_embedding_size)
        dtype = dtype or self.dtype
        frequencies = self.frequencies
        cached = self._positional.get((grid, dtype))
        if cached is None or cached[0] is not frequencies or cached[1] != frequencies._version:
            with torch.no_grad(), torch.autocast(device_type=frequencies.device.type, enabled=False):
                encoding = self.encoder.pe_layer(grid).unsqueeze(0).to(dtype)
            cached = (frequencies, frequencies._version, encoding)
            self._positional[(grid, dtype)] = cached
        return cached[2]
