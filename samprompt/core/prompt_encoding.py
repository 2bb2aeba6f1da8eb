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
            if points is not None and torch.jit.is_tracing():
                sparse, dense = self._traceable_forward(points, boxes, masks)
            else:
                sparse, dense = self.encoder(points=points, boxes=boxes, masks=masks)
        return sparse.to(dtype), dense.to(dtype)

    def point_tokens(self, coords: Tensor, labels: Tensor, *, pad: bool) -> Tensor:
        """segment-anything's `PromptEncoder._embed_points` (pixel centres, random Fourier features,
        one learned embedding per label), written without its boolean-mask assignments, whose ONNX
        trace freezes the number of rows. P x N x 2 input-frame coordinates, P x N labels (-1 not a
        point, 0 / 1 background / foreground, 2 / 3 box corners) -> P x N (+1 with `pad`) x C."""
        if pad:   # segment-anything's padding point, for prompts without a box
            coords = torch.cat([coords, torch.zeros_like(coords[:, :1])], dim=1)
            labels = torch.cat([labels, -torch.ones_like(labels[:, :1])], dim=1)
        height, width = self.encoder.input_image_size
        scale = torch.tensor([width, height], dtype=torch.float32, device=coords.device)
        tokens = self.encoder.pe_layer._pe_encoding(((coords + 0.5) / scale).float())
        labels = labels.unsqueeze(-1)
        for label, embedding in enumerate(self.encoder.point_embeddings):
            tokens = tokens + embedding.weight * (labels == label).to(tokens.dtype)
        padding = (labels == -1).to(tokens.dtype)
        return tokens * (1 - padding) + self.encoder.not_a_point_embed.weight * padding

    def _traceable_forward(self, points: tuple[Tensor, Tensor], boxes: Tensor | None,
                           masks: Tensor | None) -> tuple[Tensor, Tensor]:
        """segment-anything's `PromptEncoder.forward` with `point_tokens` for the points (used
        while tracing for ONNX; equal to the module's own output, tested)."""
        encoder = self.encoder
        sparse = self.point_tokens(points[0], points[1], pad=boxes is None)
        if boxes is not None:
            sparse = torch.cat([sparse, encoder._embed_boxes(boxes)], dim=1)
        if masks is not None:
            return sparse, encoder._embed_masks(masks)
        h, w = encoder.image_embedding_size
        return sparse, encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(sparse.shape[0], -1, h, w)

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
