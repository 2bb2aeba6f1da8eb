"""Batched k-means in torch: many small point sets clustered at once, no Python loop over sets."""
from __future__ import annotations

import torch
from torch import Tensor

from samprompt.errors import ConfigError


def farthest_point_init(points: Tensor, valid: Tensor, first: Tensor, k: int) -> Tensor:
    """k starting centres per set: `first` (an index per set), then repeatedly the valid point
    farthest from the centres chosen so far (deterministic, spreads the centres).

    Args:
        points: R x N x 2, valid: R x N bool, first: R indexes into N.
    Returns:
        R x k x 2 centres (sets with fewer than k valid points repeat centres).
    """
    rows = torch.arange(points.shape[0], device=points.device)
    chosen = [points[rows, first]]
    distance = (points - chosen[0].unsqueeze(1)).square().sum(-1)
    for _ in range(1, k):
        nxt = distance.masked_fill(~valid, -1.0).argmax(dim=1)
        chosen.append(points[rows, nxt])
        distance = torch.minimum(distance, (points - chosen[-1].unsqueeze(1)).square().sum(-1))
    return torch.stack(chosen, dim=1)


def batched_kmeans(points: Tensor, valid: Tensor, k: int, *, first: Tensor | None = None, iterations: int = 10
                   ) -> tuple[Tensor, Tensor]:
    """Lloyd's k-means on R point sets of N candidates each, ignoring invalid candidates.

    Args:
        points: R x N x 2 coordinates.
        valid: R x N bool, which candidates belong to the set.
        k: clusters per set.
        first: R indexes of each set's first centre (default: its first valid point).
    Returns:
        centres R x k x 2, and assignment R x N (cluster index; -1 for invalid candidates).
    """
    if k <= 0:
        raise ConfigError(f"k must be positive, got {k}")
    points = points.float()
    if first is None:
        first = valid.float().argmax(dim=1)
    centres = farthest_point_init(points, valid, first, k)
    for _ in range(iterations):
        assignment = torch.cdist(points, centres).argmin(dim=2)                           # R x N
        one_hot = torch.nn.functional.one_hot(assignment, k).float() * valid.unsqueeze(-1)  # R x N x k
        counts = one_hot.sum(1)                                                            # R x k
        sums = one_hot.transpose(1, 2) @ points                                            # R x k x 2
        centres = torch.where(counts.unsqueeze(-1) > 0, sums / counts.clamp(min=1).unsqueeze(-1), centres)
    assignment = torch.cdist(points, centres).argmin(dim=2).masked_fill(~valid, -1)
    return centres, assignment
