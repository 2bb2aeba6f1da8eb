"""The image encoder's attention through `torch.nn.functional.scaled_dot_product_attention`.

segment-anything's `Attention` materialises the (B·heads) x HW x HW score matrix, adds the
decomposed relative-position terms and applies softmax itself. `SdpaAttention` computes the
same function with PyTorch's fused attention, the relative-position terms passed as the
additive mask. It is a subclass with the same parameters and state-dict keys, swapped in by
changing the class of each block's `attn` module, so checkpoints, peft LoRA on `qkv` / `proj`
and the bottleneck adapters are untouched.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from segment_anything.modeling.image_encoder import Attention, get_rel_pos

if TYPE_CHECKING:
    from samprompt.core.sam_core import SamCore


class SdpaAttention(Attention):
    """`Attention.forward` with fused scaled-dot-product attention (B x H x W x C in and out)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, height, width, _ = x.shape
        qkv = self.qkv(x).reshape(batch, height * width, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)                                        # B x heads x HW x c
        bias = None
        if self.use_rel_pos:
            rel_h = get_rel_pos(height, height, self.rel_pos_h)       # H x H x c
            rel_w = get_rel_pos(width, width, self.rel_pos_w)         # W x W x c
            grid_q = q.reshape(batch, self.num_heads, height, width, -1)
            along_h = torch.einsum("bnhwc,hkc->bnhwk", grid_q, rel_h)
            along_w = torch.einsum("bnhwc,wkc->bnhwk", grid_q, rel_w)
            bias = (along_h[..., :, None] + along_w[..., None, :]).reshape(
                batch, self.num_heads, height * width, height * width).to(q.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.scale)
        out = out.view(batch, self.num_heads, height, width, -1).permute(0, 2, 3, 1, 4)
        return self.proj(out.reshape(batch, height, width, -1))


def use_sdpa_attention(core: "SamCore", enabled: bool = True) -> "SamCore":
    """Switch every encoder block of `core` to `SdpaAttention` (or back to segment-anything's)."""
    target = SdpaAttention if enabled else Attention
    for block in core.sam.image_encoder.blocks:
        if isinstance(block.attn, Attention):
            block.attn.__class__ = target
    return core


def uses_sdpa_attention(core: "SamCore") -> bool:
    return all(type(block.attn) is SdpaAttention for block in core.sam.image_encoder.blocks)
