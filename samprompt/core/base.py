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

from torch import nn


class Core(nn.Module):
    """Base class of the core families (module docstring): `isinstance(x, Core)` is how the rest
    of the library recognises a core without naming a family."""

    family: str = "?"
