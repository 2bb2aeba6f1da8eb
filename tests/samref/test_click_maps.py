import torch

from samprompt.samref.click_maps import click_maps


def test_disks_by_hand():
    points = torch.tensor([[[5.5, 5.5], [1.5, 8.5], [0.0, 0.0]]])   # pixel centres (5, 5) and (1, 8); padding
    labels = torch.tensor([[1, 0, -1]])
    maps = click_maps(points, labels, (10, 12), radius=1.0)
    assert maps.shape == (1, 2, 10, 12)
    positive = {tuple(p) for p in torch.nonzero(maps[0, 0]).tolist()}
    assert positive == {(5, 5), (4, 5), (6, 5), (5, 4), (5, 6)}       # (row, column): the radius-1 cross
    negative = {tuple(p) for p in torch.nonzero(maps[0, 1]).tolist()}
    assert negative == {(8, 1), (7, 1), (9, 1), (8, 0), (8, 2)}
    assert maps[0, :, 0, 0].sum() == 0                                 # label -1 draws nothing


def test_no_clicks_gives_empty_maps():
    maps = click_maps(torch.zeros(3, 0, 2), torch.zeros(3, 0, dtype=torch.long), (4, 4), 2.0)
    assert maps.shape == (3, 2, 4, 4) and maps.sum() == 0
