"""RefSAM's trainable layers: Cross-Modal MLP, (Hierarchical) Dense Attention, tracking block."""
from __future__ import annotations

import math
from typing import Sequence

import torch
from segment_anything.modeling.common import LayerNorm2d
from torch import Tensor, nn

from samprompt.errors import ConfigError


class CrossModalMLP(nn.Module):
    """Linear(d, h) -> ReLU -> k x [Linear(h, h) -> ReLU] -> Linear(h, C), token-wise.

    Maps text features (... x d) into SAM's prompt space (... x C); h defaults to d / 2.
    """

    def __init__(self, text_dim: int, prompt_dim: int, hidden_layers: int = 1, hidden_dim: int | None = None) -> None:
        super().__init__()
        hidden = hidden_dim or max(text_dim // 2, 1)
        layers: list[nn.Module] = [nn.Linear(text_dim, hidden), nn.ReLU()]
        for _ in range(hidden_layers):
            layers += [nn.Linear(hidden, hidden), nn.ReLU()]
        layers.append(nn.Linear(hidden, prompt_dim))
        self.layers = nn.Sequential(*layers)

    def forward(self, features: Tensor) -> Tensor:
        return self.layers(features)


class DenseAttention(nn.Module):
    """Per pixel, softmax attention of the image feature over the text tokens.

    The image map is projected to the prompt width (1x1 conv + LayerNorm2d) when its width
    differs; each pixel's feature is the query of a softmax attention over the tokens (keys
    and values are the tokens themselves, padding masked out), as in the paper, without
    learned q/k/v projections; the attended text is concatenated with the pixel's feature
    and a 1x1 conv (2C -> C) fuses them.
    """

    def __init__(self, image_dim: int, dim: int) -> None:
        super().__init__()
        self.image_proj: nn.Module = (
            nn.Sequential(nn.Conv2d(image_dim, dim, 1), LayerNorm2d(dim)) if image_dim != dim else nn.Identity()
        )
        self.fuse = nn.Conv2d(2 * dim, dim, 1)

    def forward(self, image: Tensor, tokens: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        """image: P x D x h x w, tokens: P x N x C, padding_mask: P x N (True = padding) -> P x C x h x w."""
        x = self.image_proj(image)
        p, c, h, w = x.shape
        tokens = tokens.to(x.dtype)
        scores = x.flatten(2).transpose(1, 2) @ tokens.transpose(1, 2) / math.sqrt(c)  # P x hw x N
        if padding_mask is not None:
            scores = scores.masked_fill(padding_mask[:, None, :], float("-inf"))
        attended = scores.softmax(dim=-1) @ tokens                                   # P x hw x C
        attended = attended.transpose(1, 2).reshape(p, c, h, w)
        return self.fuse(torch.cat([x, attended], dim=1))


class HierarchicalDenseAttention(nn.Module):
    """Dense attention on each of L feature levels, fused by a 1x1 conv (L*C -> C).

    The fusion starts at zero, so an untrained HDA adds nothing to the dense prompt and
    training starts from the sentence-only dense prompt.
    """

    def __init__(self, level_dims: Sequence[int], dim: int) -> None:
        super().__init__()
        if not level_dims:
            raise ConfigError("level_dims must list at least one feature level for HierarchicalDenseAttention, "
                              "got none")
        self.levels = nn.ModuleList(DenseAttention(d, dim) for d in level_dims)
        self.fuse = nn.Conv2d(len(level_dims) * dim, dim, 1)
        nn.init.zeros_(self.fuse.weight)
        nn.init.zeros_(self.fuse.bias)

    def forward(self, images: Sequence[Tensor], tokens: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        """images: L maps P x D_l x h x w; tokens: P x N x C -> P x C x h x w."""
        if len(images) != len(self.levels):
            raise ConfigError(f"images must hold {len(self.levels)} feature levels (one per level_dims entry), "
                              f"got {len(images)}")
        fused = [level(image, tokens, padding_mask) for level, image in zip(self.levels, images)]
        return self.fuse(torch.cat(fused, dim=1))


class FeedForward(nn.Sequential):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))


class ImplicitTrackingModule(nn.Module):
    """Turns the previous frame's mask-token output into a track token for the next frame.

    A query-interaction block over [mask tokens of frame t, track token of frame t (if any)]:
    self-attention -> residual + LayerNorm -> FFN (C -> ratio*C -> C) -> residual + LayerNorm
    -> a second FFN -> residual + LayerNorm; the output at the first position is the new
    track token. Carrying the previous track token in gives the module a memory of the whole
    video at a constant cost per frame.
    """

    def __init__(self, dim: int, heads: int = 8, ffn_ratio: int = 4) -> None:
        super().__init__()
        if dim % heads:
            raise ConfigError(f"track_heads ({heads}) must divide the prompt width ({dim})")
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm1 = nn.LayerNorm(dim)
        self.ffn1 = FeedForward(dim, ffn_ratio * dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn2 = FeedForward(dim, ffn_ratio * dim)
        self.norm3 = nn.LayerNorm(dim)

    def forward(self, mask_tokens: Tensor, previous: Tensor | None = None) -> Tensor:
        """mask_tokens: P x M x C, previous: P x 1 x C or None -> P x 1 x C track token."""
        x = mask_tokens if previous is None else torch.cat([mask_tokens, previous.to(mask_tokens.dtype)], dim=1)
        x = self.norm1(x + self.attention(x, x, x, need_weights=False)[0])
        x = self.norm2(x + self.ffn1(x))
        x = self.norm3(x + self.ffn2(x))
        return x[:, :1]
