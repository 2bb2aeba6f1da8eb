"""Shared fixtures: tiny random-init cores and synthetic images, made by the tests themselves."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import samprompt
from tests.helpers import WordHashEncoder

pytest_plugins = ["tests.video_fixtures", "tests.escnet_fixtures"]  # video fixture trees; a small ESC-Net


@pytest.fixture
def core() -> samprompt.SamCore:
    """A frozen `micro` core (64 px input, 8 x 8 embedding, prompt width 32), seeded."""
    torch.manual_seed(0)
    return samprompt.build_sam("micro")


@pytest.fixture
def rng() -> np.random.RandomState:
    return np.random.RandomState(0)


def random_image(rng: np.random.RandomState, height: int, width: int) -> np.ndarray:
    return rng.randint(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.fixture
def image(rng: np.random.RandomState) -> np.ndarray:
    return random_image(rng, 50, 70)


@pytest.fixture
def text_encoder() -> WordHashEncoder:
    """A toy frozen text encoder (width 16): one random embedding per word."""
    torch.manual_seed(1)
    return WordHashEncoder()
