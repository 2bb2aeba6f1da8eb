"""Prompts that ignore their inputs: text-free baselines.

The "best single fixed prompt" baselines (a learned constant prompt, or one fixed click / box)
show how much of a method's score comes from its inputs (text, class names) rather than from
the data's bias.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import torch
from torch import Tensor, nn

from samprompt.core.structures import Prompts, resolve_batch_index
from samprompt.errors import PromptError
from samprompt.prompts.base import PromptGenerator
from samprompt.prompts.native import NativePrompts

if TYPE_CHECKING:
    from samprompt.core.sam_core import SamCore
    from samprompt.core.structures import ImageFeatures


def row_images(features: "ImageFeatures", text: Sequence[Any] | str | None,
               batch_index: Sequence[int] | Tensor | None) -> Tensor:
    """The image of each row: one row per entry of `text` when given, else one per image."""
    rows = len(features) if text is None else (1 if isinstance(text, str) else len(text))
    return resolve_batch_index(batch_index, rows, len(features), features.embeddings.device)


class LearnedConstantPrompt(PromptGenerator):
    """K learned sparse tokens and a learned dense vector (broadcast over the grid), same for every row.

    Rows: one per entry of `text` when given (so it drops in where a text generator was),
    else one per image. The content of `text` is ignored.
    """

    core_families = ("sam", "sam2")

    def __init__(self, dim: int, tokens: int = 2) -> None:
        super().__init__()
        self.tokens = nn.Parameter(torch.randn(tokens, dim) * 0.02)
        self.dense = nn.Parameter(torch.zeros(dim))

    def forward(self, core: "SamCore", features: "ImageFeatures", *, text: Sequence[Any] | None = None,
                batch_index: Sequence[int] | Tensor | None = None, **ignored: Any) -> Prompts:
        index = row_images(features, text, batch_index)
        rows = len(index)
        h, w = features.embeddings.shape[-2:]
        dense = self.dense.view(1, -1, 1, 1).expand(rows, -1, h, w)
        return Prompts(self.tokens.unsqueeze(0).expand(rows, -1, -1), dense, None, index)


class FixedNativePrompt(PromptGenerator):
    """The same click or box, in coordinates relative to each image (0..1), for every row.

    A text-free baseline with SAM's own prompts, e.g. a click at the centre
    (`point=(0.5, 0.5)`) or the whole image as a box (`box=(0, 0, 1, 1)`). Like
    `LearnedConstantPrompt`, it makes one row per entry of `text` and ignores the content.
    """

    core_families = ("sam", "sam2")

    def __init__(self, *, point: tuple[float, float] | None = None,
                 box: tuple[float, float, float, float] | None = None) -> None:
        super().__init__()
        if (point is None) == (box is None):
            raise PromptError(f"give exactly one of point or box, got point={point!r}, box={box!r}")
        values = point if point is not None else box
        if not all(0.0 <= v <= 1.0 for v in values):  # type: ignore[union-attr]
            raise PromptError(f"{'point' if point is not None else 'box'} coordinates are relative and must be in "
                              f"[0, 1], got {values}")
        self.point, self.box = point, box
        self.native = NativePrompts()

    def forward(self, core: "SamCore", features: "ImageFeatures", *, text: Sequence[Any] | None = None,
                batch_index: Sequence[int] | Tensor | None = None, **ignored: Any) -> Prompts:
        index = row_images(features, text, batch_index)
        rows = len(index)
        sizes = torch.tensor([features.original_sizes[i][::-1] for i in index.tolist()], dtype=torch.float32)
        scale = (sizes - 1).clamp(min=0)  # (w - 1, h - 1): the last pixel centre
        if self.point is not None:
            points = (torch.tensor(self.point) * scale).unsqueeze(1)
            return self.native(core, features, points=points, labels=torch.ones(rows, 1, dtype=torch.int),
                               batch_index=index)
        boxes = torch.tensor(self.box).view(2, 2) * scale.unsqueeze(1)
        return self.native(core, features, boxes=boxes.reshape(rows, 4), batch_index=index)
