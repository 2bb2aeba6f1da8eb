"""Key-padding masks for segment-anything's two-way transformer.

SAM's `Attention` takes no mask, so prompt rows with different numbers of tokens cannot
share a batch without the padding tokens changing the result. While the context manager
below is active, the attention layers whose keys are prompt tokens (token self-attention and
image-to-token cross-attention) add -inf to the logits of padding tokens. The layers'
own projections and weights are used; only the logits get the mask. Not thread-safe: do
not share one core between threads that decode ragged prompts at the same time.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator

import torch
from segment_anything.modeling.transformer import Attention, TwoWayTransformer
from torch import Tensor


def _masked_attention(attention: Attention, logit_bias: Tensor, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    q = attention._separate_heads(attention.q_proj(q), attention.num_heads)
    k = attention._separate_heads(attention.k_proj(k), attention.num_heads)
    v = attention._separate_heads(attention.v_proj(v), attention.num_heads)
    logits = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]) + logit_bias.to(q.dtype)
    out = torch.softmax(logits, dim=-1) @ v
    return attention.out_proj(attention._recombine_heads(out))


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
        attention.forward = lambda q, k, v, _a=attention: _masked_attention(_a, bias, q, k, v)
    try:
        yield
    finally:
        for attention in layers:
            del attention.forward
