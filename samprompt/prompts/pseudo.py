"""Pseudo prompts (ESC-Net's Pseudo Prompt Generator): class correlation maps -> pseudo points and masks per class.

Per class: softmax over classes of the correlation (scaled by 1 / temperature) gives a
probability map; pixels above `threshold` are the foreground; k-means splits the foreground
coordinates into `regions` clusters; the most probable pixel of each cluster is a pseudo
point, and the foreground is the pseudo mask. Everything runs batched over images and
classes (one k-means call for all of them).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from samprompt.errors import ConfigError, PromptError
from samprompt.utils.kmeans import batched_kmeans


@dataclass(frozen=True)
class PseudoPromptSettings:
    """threshold: alpha on the class probability; regions: N_o (paper: 5); temperature: softmax
    temperature of the cosine correlation (CLIP's logit scale 100 -> 0.01)."""

    threshold: float = 0.5
    regions: int = 5
    temperature: float = 0.01
    iterations: int = 10

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"threshold must be in (0, 1), got {self.threshold}")
        if self.regions <= 0 or self.iterations <= 0 or self.temperature <= 0:
            raise ConfigError("regions, iterations and temperature must be positive")


@dataclass
class PseudoPrompts:
    """For R = B x K (image, class) rows, in row order image-major.

    Attributes:
        points: R x k x 2 (x, y) in [0, 1], relative to the correlation map's width / height.
        labels: R x k, 1 for a pseudo point, -1 where a region is empty (padding).
        masks: R x h x w bool foreground (pseudo masks).
        probabilities: R x h x w class probability maps.
    """

    points: Tensor
    labels: Tensor
    masks: Tensor
    probabilities: Tensor


def pseudo_prompts(correlation: Tensor, settings: PseudoPromptSettings = PseudoPromptSettings()) -> PseudoPrompts:
    """correlation: B x K x h x w cosine similarities -> `PseudoPrompts` for the B x K rows.

    A class with no pixel above the threshold still gets one point, at its most probable pixel.
    """
    if correlation.ndim != 4:
        raise PromptError(f"correlation must be B x K x h x w, got shape {tuple(correlation.shape)}")
    b, k, h, w = correlation.shape
    probabilities = (correlation.float() / settings.temperature).softmax(dim=1).reshape(b * k, h * w)
    foreground = probabilities > settings.threshold
    best = probabilities.argmax(dim=1)
    # a class without foreground keeps its single most probable pixel as a candidate
    candidates = foreground.clone()
    candidates[torch.arange(b * k, device=correlation.device), best] = True

    ys, xs = torch.meshgrid(torch.arange(h, device=correlation.device), torch.arange(w, device=correlation.device),
                            indexing="ij")
    grid = torch.stack([xs.flatten(), ys.flatten()], dim=-1).float()               # N x 2 pixel coordinates
    coordinates = grid.unsqueeze(0).expand(b * k, -1, -1)
    _, assignment = batched_kmeans(coordinates, candidates, settings.regions, first=best,
                                   iterations=settings.iterations)
    in_region = torch.nn.functional.one_hot(assignment.clamp(min=0), settings.regions).bool() \
        & candidates.unsqueeze(-1)                                                   # R x N x k
    score = probabilities.unsqueeze(-1).masked_fill(~in_region, -1.0)
    peak = score.argmax(dim=1)                                                        # R x k
    labels = torch.where(in_region.any(dim=1), 1, -1)
    points = (grid[peak] + 0.5) / torch.tensor([w, h], device=correlation.device, dtype=torch.float32)
    return PseudoPrompts(points, labels, foreground.view(b * k, h, w), probabilities.view(b * k, h, w))
