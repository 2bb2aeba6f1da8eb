import numpy as np
import torch

from samprompt.samref.window import crop, detail_windows, largest_region_box, paste, square_window


def test_largest_region_box_picks_the_biggest_component():
    region = np.zeros((10, 10), dtype=bool)
    region[1:3, 1:3] = True          # 4 pixels
    region[5:9, 4:7] = True          # 12 pixels
    region[4, 3] = True              # touches the big one diagonally: 8-connected, part of it
    assert largest_region_box(region) == (3, 4, 7, 9)
    assert largest_region_box(np.zeros((3, 3), bool)) is None


def test_square_window_grows_and_stays_inside():
    assert square_window((10, 10, 20, 14), (64, 64), margin=0.5, min_side=4) == (5, 2, 25, 22)
    assert square_window((0, 0, 4, 4), (64, 64), margin=0.0, min_side=16) == (0, 0, 16, 16)   # shifted in
    assert square_window((0, 0, 10, 10), (8, 40), margin=0.0, min_side=4) == (0, 0, 10, 8)    # cut to the height


def test_detail_windows_compare_with_the_previous_mask():
    current = torch.full((2, 1, 16, 16), -1.0)
    current[:, :, 2:6, 2:6] = 1.0
    previous = current.clone()
    previous[1, :, 2:6, 2:4] = -1.0                  # row 1: the new mask grew by columns 2-3
    windows = detail_windows(current, previous, torch.tensor([[16, 16], [16, 16]]), margin=0.0, min_side=2)
    assert windows[0].tolist() == [-1, -1, -1, -1]   # no change
    assert windows[1].tolist() == [1, 2, 5, 6]       # columns 2-3, rows 2-5 -> a 4-side square centred on it
    first_click = detail_windows(current, None, torch.tensor([[16, 16], [8, 16]]), margin=0.0, min_side=2)
    assert first_click[0].tolist() == [2, 2, 6, 6]


def test_crop_then_paste_at_native_size_is_the_identity():
    torch.manual_seed(0)
    maps = torch.randn(2, 1, 12, 12)
    windows = torch.tensor([[2, 3, 8, 9]])
    rows = torch.tensor([1])
    patches = crop(maps, windows, rows, 6)
    assert torch.allclose(patches[0], maps[1, :, 3:9, 2:8], atol=1e-6)
    pasted = paste(maps, patches * 0 + 5.0, windows, rows)
    assert torch.equal(pasted[0], maps[0])
    assert (pasted[1, :, 3:9, 2:8] == 5.0).all()
    outside = torch.ones(12, 12, dtype=torch.bool)
    outside[3:9, 2:8] = False
    assert torch.equal(pasted[1, 0][outside], maps[1, 0][outside])
