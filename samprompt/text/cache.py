"""Remembering text features: the same expression is encoded once (video frames, repeated queries)."""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
from torch import Tensor

from samprompt.errors import ConfigError
from samprompt.text.encoders import TextEncoder, TextFeatures, check_texts


class CachedTextEncoder(TextEncoder):
    """A frozen `TextEncoder` whose features are kept per text (least recently used dropped
    beyond `max_texts`). A batch is padded to its longest text, so its token length may be
    shorter than the wrapped encoder's (e.g. open_clip's fixed 77); padding masks say which
    positions are text, and models that respect them give the same results (tested for RefSAM).
    """

    def __init__(self, encoder: TextEncoder, max_texts: int = 4096) -> None:
        super().__init__()
        if max_texts <= 0:
            raise ConfigError(f"max_texts must be positive, got {max_texts}")
        self.encoder = encoder
        self.dim = encoder.dim
        self.spec = getattr(encoder, "spec", None)
        self.max_texts = max_texts
        self._store: OrderedDict[str, tuple[Tensor, Tensor]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._store)

    def clear(self) -> None:
        self._store.clear()

    def forward(self, texts: Sequence[str]) -> TextFeatures:
        texts = check_texts(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in self._store]
        if missing:
            with torch.no_grad():
                fresh = self.encoder(missing)
            for i, text in enumerate(missing):
                self._store[text] = (fresh.tokens[i][~fresh.padding_mask[i]], fresh.sentence[i])
        self.misses += len(missing)
        self.hits += len(texts) - len(missing)
        rows = []
        for text in texts:
            self._store.move_to_end(text)
            rows.append(self._store[text])
        while len(self._store) > self.max_texts:
            self._store.popitem(last=False)
        length = max(tokens.shape[0] for tokens, _ in rows)
        first = rows[0][0]
        tokens = first.new_zeros(len(rows), length, first.shape[-1])
        padding = torch.ones(len(rows), length, dtype=torch.bool, device=first.device)
        for i, (row_tokens, _) in enumerate(rows):
            tokens[i, :row_tokens.shape[0]] = row_tokens
            padding[i, :row_tokens.shape[0]] = False
        return TextFeatures(tokens, padding, torch.stack([sentence for _, sentence in rows]))
