from __future__ import annotations

import pytest
import torch

from samprompt.errors import ConfigError
from samprompt.prompts.pseudo import PseudoPromptSettings, pseudo_prompts


def synthetic_correlation() -> torch.Tensor:
    """2 images x 3 classes on a 16 x 20 grid: class 0 is high in two blobs, class 1 in one
    rectangle, class 2 nowhere (low everywhere)."""
    correlation = torch.full((2, 3, 16, 20), 0.1)
    correlation[:, 0, 2:6, 2:6] = 0.3
    correlation[:, 0, 10:14, 14:19] = 0.3
    correlation[:, 1, 6:10, 6:12] = 0.3
    correlation[1] = correlation[1].flip(-1)                     # second image mirrored
    return correlation


def test_pseudo_points_land_in_the_high_correlation_regions():
    correlation = synthetic_correlation()
    prompts = pseudo_prompts(correlation, PseudoPromptSettings(regions=3))
    assert prompts.points.shape == (6, 3, 2) and prompts.labels.shape == (6, 3) and prompts.masks.shape == (6, 16, 20)
    for row in range(6):
        image, cls = divmod(row, 3)
        high = correlation[image, cls] >= 0.3
        valid = prompts.labels[row] == 1
        if cls == 2:                                           # no foreground: one fallback point only
            assert not prompts.masks[row].any() and valid.sum() == 1
            continue
        assert torch.equal(prompts.masks[row], high)
        xy = (prompts.points[row][valid] * torch.tensor([20, 16])).floor().long()
        assert high[xy[:, 1], xy[:, 0]].all()
    # class 0 has two blobs: the three regions cover both of them
    xy = (prompts.points[0] * torch.tensor([20, 16])).floor()
    assert (xy[:, 0] < 8).any() and (xy[:, 0] > 12).any()


def test_settings_validate():
    with pytest.raises(ConfigError, match="threshold"):
        PseudoPromptSettings(threshold=1.5)
    with pytest.raises(ValueError, match="B x K x h x w"):
        pseudo_prompts(torch.zeros(3, 16, 20))
