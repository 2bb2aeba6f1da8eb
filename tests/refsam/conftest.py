from __future__ import annotations

import pytest
import torch
from torch import nn

from samprompt.text import TextEncoder, TextFeatures


class WordHashEncoder(TextEncoder):
    """A deterministic toy text encoder: one random embedding per word, padded to the longest text."""

    def __init__(self, dim: int = 16) -> None:
        super().__init__()
        self.dim = dim
        self.table = nn.Embedding(101, dim)
        self.calls = 0
        self._freeze()

    def forward(self, texts):
        self.calls += 1
        words = [t.split() for t in texts]
        length = max(len(w) for w in words)
        ids = torch.zeros(len(texts), length, dtype=torch.long)
        padding = torch.ones(len(texts), length, dtype=torch.bool)
        for i, ws in enumerate(words):
            ids[i, :len(ws)] = torch.tensor([sum(map(ord, w)) % 100 + 1 for w in ws])
            padding[i, :len(ws)] = False
        tokens = self.table(ids)
        sentence = (tokens * (~padding).unsqueeze(-1)).sum(1) / (~padding).sum(1, keepdim=True)
        return TextFeatures(tokens, padding, sentence)


@pytest.fixture
def text_encoder() -> WordHashEncoder:
    torch.manual_seed(1)
    return WordHashEncoder()
