"""`LearnedConstantPrompt`: one learned prompt for every row, whatever the inputs say.

The "best single fixed prompt" baseline: trained like any generator, it shows how much of a
method's score comes from its inputs (text, class names) rather than from the data's bias.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import torch
from torch import Tensor, nn

from samprompt.prompts.base import PromptGenerator, Prompts, resolve_batch_index

if TYPE_CHECKING:
    from samprompt.core.sam_core import SamCore
    from samprompt.core.structures import ImageFeatures


class LearnedConstantPrompt(PromptGenerator):
    """K learned sparse tokens and a learned dense vector (broadcast over the grid), same for every row.

    Rows: one per entry of `text` when given (so it drops in where a text generator was),
    else one per image. The content of `text` is ignored.
    """

    def __init__(self, dim: int, tokens: int = 2) -> None:
        super().__init__()
        self.tokens = nn.Parameter(torch.randn(tokens, dim) * 0.02)
        self.dense = nn.Parameter(torch.zeros(dim))

    def forward(self, core: "SamCore", features: "ImageFeatures", *, text: Sequence[Any] | None = None,
                batch_index: Sequence[int] | Tensor | None = None, **ignored: Any) -> Prompts:
        rows = len(features) if text is None else (1 if isinstance(text, str) else len(text))
        index = resolve_batch_index(None if batch_index is None else torch.as_tensor(batch_index), rows,
                                    len(features), features.embeddings.device)
        h, w = features.embeddings.shape[-2:]
        dense = self.dense.view(1, -1, 1, 1).expand(rows, -1, h, w)
        return Prompts(self.tokens.unsqueeze(0).expand(rows, -1, -1), dense, None, index)
