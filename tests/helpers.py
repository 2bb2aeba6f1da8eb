"""Small trainable pieces and conditions used by several tests."""
from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Iterator

import pytest
import torch
from torch import nn

from samprompt import PromptGenerator, Prompts
from samprompt.text import TextEncoder, TextFeatures


class LearnedTokens(PromptGenerator):
    """A generator with K learned prompt tokens per row (one row per image)."""

    def __init__(self, dim: int, tokens: int = 2) -> None:
        super().__init__()
        self.tokens = nn.Parameter(torch.randn(tokens, dim) * 0.1)

    def forward(self, core, features, *, rows_per_image: int = 1) -> Prompts:
        rows = len(features) * rows_per_image
        index = torch.arange(len(features)).repeat_interleave(rows_per_image)
        return Prompts(self.tokens.unsqueeze(0).expand(rows, -1, -1), batch_index=index)


def disk_target(size: int, batch: int = 1) -> torch.Tensor:
    """batch x 1 x size x size float target: a centred disk."""
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    disk = ((x - size / 2) ** 2 + (y - size / 2) ** 2 < (size / 4) ** 2).float()
    return disk.expand(batch, 1, size, size)


def train_steps(model: nn.Module, loss_fn, steps: int, lr: float = 1e-2) -> list[float]:
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=lr)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def embedding_loss(core, image):
    """A toy encoder objective: MSE of the image embedding to a fixed random target."""
    reference = core.encode([image]).embeddings.detach()
    target = torch.randn(reference.shape, generator=torch.Generator().manual_seed(1))

    def loss() -> torch.Tensor:
        return torch.nn.functional.mse_loss(core.encode([image]).embeddings, target)

    return loss


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


def randomize_lora_b(module: nn.Module, std: float = 1.0) -> None:
    """Draw every LoRA B matrix from N(0, std²): peft starts them at zero, so adapters would do nothing."""
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=std)


@contextmanager
def file_size_limit(limit_bytes: int) -> Iterator[None]:
    """The kernel refuses writes past `limit_bytes` (EFBIG) in this process while inside."""
    resource = pytest.importorskip("resource")
    previous_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, previous_limit[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, previous_limit)
        signal.signal(signal.SIGXFSZ, previous_handler)
