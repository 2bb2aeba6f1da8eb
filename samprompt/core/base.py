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

from typing import Sequence

from torch import nn

from samprompt.errors import ConfigError


class Core(nn.Module):
    """Base class of the core families (module docstring): `isinstance(x, Core)` is how the rest
    of the library recognises a core without naming a family."""

    family: str = "?"


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
