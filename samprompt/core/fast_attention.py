"""Faster attention for segment-anything's image encoder and mask decoder, same parameters and outputs.

segment-anything's `Attention` materialises the (B·heads) x HW x HW score matrix, adds the
decomposed relative-position terms and applies softmax itself. `SdpaAttention` computes the
same function two ways, by where it runs:

- by default: PyTorch's fused `scaled_dot_product_attention`, the relative-position terms
  passed as the additive mask (the fused kernels keep training memory low and are the fast
  path on GPUs);
- inference on CPU when one image's heads x HW x HW scores exceed `CPU_SCORE_BLOCK`
  elements (the global blocks of the official encoders at 1024 px: 12-16 heads x 4096²): the
  scores one band of queries at a time, each band small enough to stay in cache while the
  position terms are broadcast into it, the softmax taken and the values mixed. The full
  mask would be 800 MB per block for vit_b, written once and read again by the fused kernel;
  banding saves that memory traffic (1.1-1.7x faster per global block on a 2-core CPU,
  depending on how busy its memory bus is).

The mask decoder's attention layers get the fused kernel too (`SdpaTokenAttention`). Both are
subclasses with the same parameters and state-dict keys, swapped in by changing the class of
each attention module, so checkpoints, peft LoRA on `qkv` / `proj` and the
bottleneck adapters are untouched.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from segment_anything.modeling.image_encoder import Attention, get_rel_pos
from segment_anything.modeling.transformer import Attention as TokenAttention

if TYPE_CHECKING:
    from samprompt.core.sam_core import SamCore

# Largest heads x queries x keys score block of the CPU inference path: 4 Mi elements, 16 MB in fp32.
CPU_SCORE_BLOCK = 1 << 22


class SdpaAttention(Attention):
    """`Attention.forward` computed without segment-anything's separate score passes (B x H x W x C in and out)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, height, width, _ = x.shape
        tokens = height * width
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)                                        # B x heads x HW x c
        if not self.use_rel_pos:
            out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
        else:
            rel_h = get_rel_pos(height, height, self.rel_pos_h)       # H x H x c
            rel_w = get_rel_pos(width, width, self.rel_pos_w)         # W x W x c
            grid_q = q.reshape(batch, self.num_heads, height, width, -1)
            along_h = torch.einsum("bnhwc,hkc->bnhwk", grid_q, rel_h).reshape(batch, self.num_heads, tokens, height)
            along_w = torch.einsum("bnhwc,wkc->bnhwk", grid_q, rel_w).reshape(batch, self.num_heads, tokens, width)
            large = self.num_heads * tokens * tokens > CPU_SCORE_BLOCK
            if large and q.device.type == "cpu" and not q.requires_grad:
                out = self._banded_attention(q, k, v, along_h, along_w)
            else:
                bias = (along_h[..., :, None] + along_w[..., None, :]).reshape(
                    batch, self.num_heads, tokens, tokens).to(q.dtype)
                out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.scale)
        out = out.view(batch, self.num_heads, height, width, -1).permute(0, 2, 3, 1, 4)
        return self.proj(out.reshape(batch, height, width, -1))

    def _banded_attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, along_h: torch.Tensor,
                          along_w: torch.Tensor) -> torch.Tensor:
        """softmax(scale·q kᵀ + bias) v, one image and one band of queries at a time.

        q, k, v: B x heads x T x c; along_h: B x heads x T x H and along_w: B x heads x T x W,
        the decomposed relative-position terms (T = H·W). Returns B x heads x T x c.
        """
        batch, heads, tokens, _ = q.shape
        height, width = along_h.shape[-1], along_w.shape[-1]
        band = max(1, CPU_SCORE_BLOCK // (heads * tokens))
        keys_t = k.transpose(-1, -2) * self.scale
        images = []
        for b in range(batch):
            bands = []
            for t0 in range(0, tokens, band):
                scores = torch.matmul(q[b, :, t0:t0 + band], keys_t[b])           # heads x band x T
                grid = scores.view(heads, -1, height, width)
                grid.add_(along_h[b, :, t0:t0 + band, :, None]).add_(along_w[b, :, t0:t0 + band, None, :])
                weights = scores.softmax(-1, dtype=torch.float32).to(v.dtype)
                bands.append(torch.matmul(weights, v[b]))
            images.append(torch.cat(bands, 1))
        return torch.stack(images)


class SdpaTokenAttention(TokenAttention):
    """The mask decoder's `Attention.forward` with fused scaled-dot-product attention.

    q: B x Nq x C, k and v: B x Nk x C -> B x Nq x C, as segment-anything's (whose score
    matrix is materialised, scaled and soft-maxed in separate passes).
    """

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return token_attention(self, q, k, v)


def token_attention(attention: TokenAttention, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                    logit_bias: torch.Tensor | None = None) -> torch.Tensor:
    """One of the mask decoder's attention layers, through its own projections and the fused
    kernel; `logit_bias` (broadcastable to B x heads x Nq x Nk) is added to the logits."""
    q = attention._separate_heads(attention.q_proj(q), attention.num_heads)
    k = attention._separate_heads(attention.k_proj(k), attention.num_heads)
    v = attention._separate_heads(attention.v_proj(v), attention.num_heads)
    mask = None if logit_bias is None else logit_bias.to(q.dtype)
    return attention.out_proj(attention._recombine_heads(F.scaled_dot_product_attention(q, k, v, attn_mask=mask)))


def _attention_layers(core: "SamCore") -> list[tuple[torch.nn.Module, type, type]]:
    """(module, segment-anything's class, the fused subclass) for every attention layer of `core`."""
    layers = [(block.attn, Attention, SdpaAttention) for block in core.sam.image_encoder.blocks]
    layers += [(module, TokenAttention, SdpaTokenAttention) for module in core.sam.mask_decoder.modules()
               if isinstance(module, TokenAttention)]
    return layers


def use_sdpa_attention(core: "SamCore", enabled: bool = True) -> "SamCore":
    """Switch every attention layer of `core` (image encoder and mask decoder) to the fused
    subclasses above, or back to segment-anything's own."""
    for module, plain, fused in _attention_layers(core):
        if isinstance(module, plain):
            module.__class__ = fused if enabled else plain
    return core


def uses_sdpa_attention(core: "SamCore") -> bool:
    return all(type(module) is fused for module, _, fused in _attention_layers(core))
