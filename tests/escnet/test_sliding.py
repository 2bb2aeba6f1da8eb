from __future__ import annotations

import pytest
import torch

from samprompt.escnet.sliding import sliding_window_logits, window_starts


def test_window_starts_cover_the_length_and_end_flush():
    assert window_starts(10, 4, 3) == [0, 3, 6]
    assert window_starts(11, 4, 3) == [0, 3, 6, 7]
    assert window_starts(3, 4, 3) == [0]


@pytest.mark.parametrize("global_view", [False, True])
def test_a_position_wise_predictor_is_reproduced_exactly(global_view):
    """With a predictor whose logits at a pixel depend only on that pixel, averaging overlapping
    windows must give back the full-image logits (the global view's resize aside)."""
    images = torch.rand(2, 3, 23, 30) * 255
    calls = []

    def predict(crops: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(crops.shape[-2:]))
        return crops * 2.0

    out = sliding_window_logits(predict, images, window=12, overlap=1 / 3, global_view=global_view)
    assert out.shape == (2, 3, 23, 30) and set(calls) == {(12, 12)}
    if global_view:
        resized = torch.nn.functional.interpolate(images, size=(12, 12), mode="bilinear", align_corners=False)
        whole = torch.nn.functional.interpolate(resized * 2.0, size=(23, 30), mode="bilinear", align_corners=False)
        assert torch.allclose(out, (images * 2.0 + whole) / 2, atol=1e-3)
    else:
        assert torch.allclose(out, images * 2.0, atol=1e-4)
        assert len(calls) == 3 * 4                               # rows 0, 8, 11; columns 0, 8, 16, 18


def test_images_smaller_than_the_window_are_padded_then_cropped_back():
    images = torch.rand(1, 3, 5, 7)
    out = sliding_window_logits(lambda crops: crops[:, :1] + 1, images, window=8, global_view=False)
    assert out.shape == (1, 1, 5, 7) and torch.allclose(out, images[:, :1] + 1)


def test_bad_window_settings_are_refused():
    with pytest.raises(ValueError, match="overlap"):
        sliding_window_logits(lambda x: x, torch.zeros(1, 3, 8, 8), window=4, overlap=1.0)
