"""Key-padding masks for segment-anything's two-way transformer.

SAM's `Attention` takes no mask, so prompt rows with different numbers of tokens cannot
share a batch without the padding tokens changing the result. While the context manager
below is active, the attention layers whose keys are prompt tokens (token self-attention and
image-to-token cross-attention) add -inf to the logits of padding tokens
(`fast_attention.token_attention`: the layers' own projections and weights, the fused
kernel; only the logits get the mask). Not thread-safe: do
not share one core between threads that decode ragged prompts at the same time.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from segment_anything.modeling.transformer import TwoWayTransformer
from torch import Tensor

from samprompt.core.fast_attention import token_attention


@contextmanager
def token_padding_mask(transformer: TwoWayTransformer, padding: Tensor | None) -> Iterator[None]:
    """Mask padding tokens as attention keys inside `transformer` for the duration.

    Args:
        padding: B x N boolean, True where a token is padding; None or all-False does nothing.
    """
    if padding is None or not bool(padding.any()):
        yield
        return
    bias = torch.zeros(padding.shape, dtype=torch.float32, device=padding.device)
    bias = bias.masked_fill(padding, float("-inf"))[:, None, None, :]  # B x 1 x 1 x N
    layers = [m for layer in transformer.layers for m in (layer.self_attn, layer.cross_attn_image_to_token)]
    for attention in layers:
        attention.forward = lambda q, k, v, _a=attention: token_attention(_a, q, k, v, logit_bias=bias)
    try:
        yield
    finally:
        for attention in layers:
            del attention.forward
