"""Sliding-window inference: overlapping square windows plus a global view, logits averaged."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from samprompt.errors import ConfigError


def window_starts(length: int, window: int, stride: int) -> list[int]:
    """Start offsets covering [0, length) with windows of `window` (the last one flush with the end)."""
    if length <= window:
        return [0]
    starts = list(range(0, length - window, stride))
    return starts + [length - window]


def sliding_window_logits(predict: Callable[[Tensor], Tensor], images: Tensor, window: int,
                          overlap: float = 1 / 3, global_view: bool = True) -> Tensor:
    """Average the logits of overlapping windows (and of the whole image resized to the window).

    Args:
        predict: B x 3 x window x window -> B x K x window x window logits.
        images: B x 3 x H x W; sides shorter than `window` are padded with zeros for the crops.
        window: the window side; overlap: fraction shared by neighbouring windows (CAT-Seg: 1/3).
        global_view: also run the whole image resized to window x window, upsampled back.
    Returns:
        B x K x H x W averaged logits.
    """
    if window <= 0 or not 0 <= overlap < 1:
        raise ConfigError(f"need window > 0 and 0 <= overlap < 1, got window={window}, overlap={overlap}")
    b, _, h, w = images.shape
    padded = F.pad(images, (0, max(0, window - w), 0, max(0, window - h)))
    stride = max(1, int(round(window * (1 - overlap))))
    total: Tensor | None = None
    count = torch.zeros(1, 1, padded.shape[2], padded.shape[3], device=images.device)
    for top in window_starts(padded.shape[2], window, stride):
        for left in window_starts(padded.shape[3], window, stride):
            logits = predict(padded[:, :, top:top + window, left:left + window])
            if total is None:
                total = logits.new_zeros(b, logits.shape[1], padded.shape[2], padded.shape[3])
            total[:, :, top:top + window, left:left + window] += logits
            count[:, :, top:top + window, left:left + window] += 1
    assert total is not None
    averaged = (total / count.to(total.dtype))[:, :, :h, :w]
    if not global_view:
        return averaged
    resized = F.interpolate(images.float(), size=(window, window), mode="bilinear", align_corners=False)
    whole = F.interpolate(predict(resized.to(images.dtype)).to(averaged.dtype), size=(h, w), mode="bilinear",
                          align_corners=False)
    return (averaged + whole) / 2
