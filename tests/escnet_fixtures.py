"""A small ESC-Net on the micro core and the shipped CLIP (64 px input, 8 x 8 grid)."""
from __future__ import annotations

import pytest
import torch

from samprompt.clip.models import load_clip
from samprompt.escnet import ESCNet, ESCNetConfig

SMALL = dict(clip_image_size=64, templates=("a {}",), blocks=2, heads=2, window=4, guidance_dim=8,
             decoder_dims=(8, 8))
CLASSES = ["background", "circle", "square", "star", "ring"]


@pytest.fixture
def escnet(core) -> ESCNet:
    torch.manual_seed(0)
    model = ESCNet(core, load_clip(), ESCNetConfig(**SMALL))
    return model.eval()


@pytest.fixture
def images() -> torch.Tensor:
    torch.manual_seed(3)
    return torch.randint(0, 256, (2, 3, 40, 56), dtype=torch.uint8)
