"""segment-anything's two-way transformer with a key-padding mask on the prompt tokens.

SAM's mask decoder runs a `TwoWayTransformer` whose attention layers take no mask, so prompt
rows with different numbers of tokens cannot share a batch: padding tokens would be attended
to and change every output. `two_way_transformer` runs the same computation as
`TwoWayTransformer.forward` and `TwoWayAttentionBlock.forward`, step by step over the
transformer's own submodules (same parameters, so checkpoints, LoRA and adapters apply), and
adds -inf to the logits of padding tokens in the two kinds of layers whose keys are the prompt
tokens: each block's token self-attention and its image-to-token cross-attention.

The mask is an argument, not state patched into the modules, so one transformer can serve
several threads at once and the function can be traced by `torch.compile`.
"""
from __future__ import annotations

import torch
from segment_anything.modeling.transformer import Attention, TwoWayAttentionBlock, TwoWayTransformer
from torch import Tensor

from samprompt.core.fast_attention import token_attention


def two_way_transformer(transformer: TwoWayTransformer, image_embedding: Tensor, image_pe: Tensor,
                        point_embedding: Tensor, token_padding: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """`transformer(image_embedding, image_pe, point_embedding)`, optionally ignoring padding tokens.

    Args:
        transformer: segment-anything's `TwoWayTransformer` (e.g. `sam.mask_decoder.transformer`).
        image_embedding: B x C x h x w, the image to attend to.
        image_pe: B x C x h x w, its positional encoding.
        point_embedding: B x N x C, the prompt tokens (and their positional encoding).
        token_padding: B x N bool, True where a token is padding. Padding tokens are masked
            out as keys of the token self-attention and the image-to-token cross-attention,
            so the other tokens' outputs and the image keys are those of the row without
            them. Their own query outputs are meaningless. Each row needs at least one
            token that is not padding. None or all-False: the layers are called as usual
            and the result is `transformer(...)`'s.

    Returns:
        queries: B x N x C, the processed tokens.
        keys: B x hw x C, the processed image embedding.
    """
    bias = None
    if token_padding is not None and (torch.compiler.is_compiling() or bool(token_padding.any())):
        # Under torch.compile an all-False mask also takes this path (a zero bias, same result to
        # float tolerance) rather than branching on the mask's values, which would break the graph.
        bias = torch.zeros(token_padding.shape, dtype=torch.float32, device=token_padding.device)
        bias = bias.masked_fill(token_padding.to(torch.bool), float("-inf"))[:, None, None, :]  # B x 1 x 1 x N

    keys = image_embedding.flatten(2).transpose(1, 2)   # B x hw x C
    key_pe = image_pe.flatten(2).transpose(1, 2)
    queries = point_embedding
    for block in transformer.layers:
        queries, keys = _block(block, queries, keys, point_embedding, key_pe, bias)

    q = queries + point_embedding
    queries = queries + transformer.final_attn_token_to_image(q=q, k=keys + key_pe, v=keys)
    return transformer.norm_final_attn(queries), keys


def _attend(attention: Attention, q: Tensor, k: Tensor, v: Tensor, bias: Tensor | None) -> Tensor:
    """`attention(q, k, v)`, with `bias` added to the logits when there is one."""
    if bias is None:
        return attention(q=q, k=k, v=v)
    return token_attention(attention, q, k, v, logit_bias=bias)


def _block(block: TwoWayAttentionBlock, queries: Tensor, keys: Tensor, query_pe: Tensor, key_pe: Tensor,
           bias: Tensor | None) -> tuple[Tensor, Tensor]:
    """One `TwoWayAttentionBlock.forward`; `bias` (B x 1 x 1 x N or None) masks token keys."""
    # Tokens attend to tokens; the first block replaces the queries instead of adding, and without PE.
    if block.skip_first_layer_pe:
        queries = _attend(block.self_attn, queries, queries, queries, bias)
    else:
        q = queries + query_pe
        queries = queries + _attend(block.self_attn, q, q, queries, bias)
    queries = block.norm1(queries)

    # Tokens attend to the image (the image keys are never padding).
    k = keys + key_pe
    queries = block.norm2(queries + block.cross_attn_token_to_image(q=queries + query_pe, k=k, v=keys))

    queries = block.norm3(queries + block.mlp(queries))

    # The image attends to the tokens: here the tokens are the keys.
    q = queries + query_pe
    keys = block.norm4(keys + _attend(block.cross_attn_image_to_token, k, q, queries, bias))
    return queries, keys
