from __future__ import annotations

import torch

from samprompt.utils.kmeans import batched_kmeans


def test_separated_blobs_are_found_in_every_set_at_once():
    torch.manual_seed(0)
    blobs = torch.tensor([[5.0, 5.0], [40.0, 8.0], [20.0, 35.0]])
    points = torch.cat([centre + torch.randn(30, 2) for centre in blobs])          # 90 x 2
    sets = torch.stack([points, points.flip(0) + 100])                            # 2 sets, shifted
    valid = torch.ones(2, 90, dtype=torch.bool)
    centres, assignment = batched_kmeans(sets, valid, 3)
    for row, offset in ((0, 0.0), (1, 100.0)):
        found = sorted(centres[row].tolist())
        expected = sorted((blobs + offset).tolist())
        assert torch.allclose(torch.tensor(found), torch.tensor(expected), atol=0.6)
        assert len(set(assignment[row].tolist())) == 3


def test_invalid_candidates_are_ignored():
    points = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [50.0, 50.0], [10.0, 0.0]]])
    valid = torch.tensor([[True, True, False, True]])
    centres, assignment = batched_kmeans(points, valid, 2)
    assert assignment[0, 2] == -1
    assert sorted(c[0] for c in centres[0].tolist()) == [0.5, 10.0]
