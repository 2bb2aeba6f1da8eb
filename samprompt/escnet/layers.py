"""ESC-Net's layers: SAM decoder blocks over class maps, Vision-Language Fusion, the decoder.

Feature maps of K classes on B images travel as B x K x C x h x w. Everything except the
class attention works on each (image, class) map alone, so it can run on chunks of classes;
the class attention is linear, so its sums over classes are accumulated chunk by chunk
(`ClassLinearAttention.summarise`) before being applied (`ClassLinearAttention.forward`).
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from segment_anything.modeling.mask_decoder import MaskDecoder
from torch import Tensor, nn

from samprompt.errors import ConfigError


class SamTwoWayBlocks(nn.Module):
    """The two-way attention blocks of a SAM mask decoder, run on per-class feature maps.

    The blocks are copies of `decoder.transformer.layers` (segment-anything's or SAM 2's own
    `TwoWayAttentionBlock`s, with their weights), or re-initialised with `random_init`.
    Prompt tokens are the queries, the map's cells (plus the dense prompt) the keys, as in
    SAM's decoder; the updated keys are returned.
    """

    def __init__(self, decoder: MaskDecoder, random_init: bool = False) -> None:
        super().__init__()
        self.layers = copy.deepcopy(decoder.transformer.layers)
        if random_init:
            for module in self.layers.modules():
                if isinstance(module, (nn.Linear, nn.LayerNorm)):
                    module.reset_parameters()
        for parameter in self.parameters():
            parameter.requires_grad_(True)

    def forward(self, x: Tensor, positional: Tensor, tokens: Tensor, dense: Tensor) -> Tensor:
        """x: R x C x h x w, positional: C x h x w, tokens: R x N x C, dense: R x C x h x w -> R x C x h x w."""
        r, c, h, w = x.shape
        keys = (x + dense).flatten(2).transpose(1, 2)
        key_pe = positional.to(x.dtype).flatten(1).transpose(0, 1).unsqueeze(0).expand(r, -1, -1)
        queries = tokens.to(x.dtype)
        for layer in self.layers:
            queries, keys = layer(queries=queries, keys=keys, query_pe=tokens.to(x.dtype), key_pe=key_pe)
        return keys.transpose(1, 2).reshape(r, c, h, w)


class FeedForward(nn.Module):
    """Pre-norm residual MLP on the last dimension."""

    def __init__(self, dim: int, ratio: int = 2) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, ratio * dim), nn.GELU(), nn.Linear(ratio * dim, dim))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.mlp(self.norm(x))


def _heads(x: Tensor, heads: int) -> Tensor:
    """... x L x C -> ... x heads x L x C/heads."""
    return x.unflatten(-1, (heads, -1)).transpose(-3, -2)


class GuidedWindowAttention(nn.Module):
    """Spatial self-attention inside non-overlapping windows of each class map.

    Queries and keys see the class feature and a guidance map (the image's CLIP guidance and
    the class's correlation); values carry the class feature only. A `shift` moves the window
    grid by padding the top-left (no wrap-around); padded cells are never attended to.
    """

    def __init__(self, dim: int, guidance_dim: int, heads: int, window: int, shift: int = 0) -> None:
        super().__init__()
        if dim % heads:
            raise ConfigError(f"feature width dim={dim} must be divisible by heads={heads}")
        self.heads, self.window, self.shift = heads, window, shift
        self.norm = nn.LayerNorm(dim)
        self.query_key = nn.Linear(dim + guidance_dim, 2 * dim)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.feed_forward = FeedForward(dim)

    def _windows(self, x: Tensor) -> tuple[Tensor, int, int]:
        """R x h x w x D -> (R * n) x window^2 x D, with the padded height and width."""
        r, h, w, d = x.shape
        s = self.window
        top, left = self.shift, self.shift
        bottom, right = (-(h + top)) % s, (-(w + left)) % s
        x = F.pad(x, (0, 0, left, right, top, bottom))
        hp, wp = x.shape[1], x.shape[2]
        x = x.view(r, hp // s, s, wp // s, s, d).permute(0, 1, 3, 2, 4, 5).reshape(-1, s * s, d)
        return x, hp, wp

    def _unwindow(self, x: Tensor, r: int, hp: int, wp: int, h: int, w: int) -> Tensor:
        s, d = self.window, x.shape[-1]
        x = x.view(r, hp // s, wp // s, s, s, d).permute(0, 1, 3, 2, 4, 5).reshape(r, hp, wp, d)
        return x[:, self.shift:self.shift + h, self.shift:self.shift + w]

    def forward(self, x: Tensor, guidance: Tensor) -> Tensor:
        """x: R x C x h x w, guidance: R x G x h x w -> R x C x h x w."""
        r, c, h, w = x.shape
        cells = x.permute(0, 2, 3, 1)
        normed = self.norm(cells)
        q, k = self.query_key(torch.cat([normed, guidance.permute(0, 2, 3, 1).to(x.dtype)], -1)).chunk(2, -1)
        v = self.value(normed)
        valid = torch.ones(1, h, w, 1, dtype=x.dtype, device=x.device)
        (q, hp, wp), (k, _, _), (v, _, _), (valid, _, _) = (self._windows(t) for t in (q, k, v, valid))
        keep = valid[..., 0].bool()[:, None, None, :]                            # 1 x 1 x 1 x s^2 (per window)
        keep = keep.repeat(r, 1, 1, 1) if keep.shape[0] != q.shape[0] else keep
        attended = F.scaled_dot_product_attention(_heads(q, self.heads), _heads(k, self.heads),
                                                  _heads(v, self.heads), attn_mask=keep)
        attended = self._unwindow(attended.transpose(-3, -2).flatten(-2), r, hp, wp, h, w)
        cells = self.feed_forward(cells + self.out(attended))
        return cells.permute(0, 3, 1, 2)


class ClassLinearAttention(nn.Module):
    """Linear attention across the classes at each pixel, guided by the class text embeddings.

    For each pixel and head: out_k = phi(q_k) S / (phi(q_k) . z) with S = sum_j phi(k_j) v_j^T
    and z = sum_j phi(k_j), phi = elu + 1. No positional code over classes: any number of
    classes, and permuting them permutes the output. S and z are sums over classes, so they
    can be accumulated over chunks of classes (`summarise`) and applied chunk by chunk.
    """

    def __init__(self, dim: int, guidance_dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ConfigError(f"feature width dim={dim} must be divisible by heads={heads}")
        self.heads = heads
        self.norm = nn.LayerNorm(dim)
        self.query_key = nn.Linear(dim + guidance_dim, 2 * dim)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.feed_forward = FeedForward(dim)

    def _project(self, x: Tensor, guidance: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """x: B x K x C x h x w, guidance: K x G -> cells B x hw x K x C and phi(q), phi(k), v as
        B x hw x heads x K x d."""
        b, k, c, h, w = x.shape
        cells = x.permute(0, 3, 4, 1, 2).reshape(b, h * w, k, c)
        normed = self.norm(cells)
        guide = guidance.to(x.dtype)[None, None].expand(b, h * w, -1, -1)
        q, key = self.query_key(torch.cat([normed, guide], -1)).chunk(2, -1)
        v = self.value(normed)
        q, key, v = (_heads(t, self.heads) for t in (q, key, v))
        return cells, F.elu(q) + 1, F.elu(key) + 1, v

    def summarise(self, x: Tensor, guidance: Tensor) -> tuple[Tensor, Tensor]:
        """Sums over this chunk's classes: S (B x hw x heads x d x d) and z (B x hw x heads x d)."""
        _, _, key, v = self._project(x, guidance)
        return key.transpose(-2, -1) @ v, key.sum(-2)

    def forward(self, x: Tensor, guidance: Tensor, summary: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """x: B x K x C x h x w, guidance: K x G, summary: sums over all classes (default: these) -> like x."""
        b, k, c, h, w = x.shape
        cells, q, key, v = self._project(x, guidance)
        state, normaliser = summary if summary is not None else (key.transpose(-2, -1) @ v, key.sum(-2))
        numerator = q @ state                                                     # B x hw x heads x K x d
        denominator = (q * normaliser.unsqueeze(-2)).sum(-1, keepdim=True).clamp(min=1e-6)
        attended = (numerator / denominator).transpose(-3, -2).flatten(-2)        # B x hw x K x C
        cells = self.feed_forward(cells + self.out(attended))
        return cells.reshape(b, h, w, k, c).permute(0, 3, 4, 1, 2)


class ESCBlock(nn.Module):
    """SAM two-way blocks per class, fused with the input by a 1x1 conv, then the
    Vision-Language Fusion: two guided window attentions (plain and shifted windows) per
    class map and the class linear attention (applied by the caller, see module docstring)."""

    def __init__(self, decoder: MaskDecoder, dim: int, guidance_dim: int, heads: int, window: int,
                 random_init: bool = False) -> None:
        super().__init__()
        self.sam = SamTwoWayBlocks(decoder, random_init)
        self.fuse = nn.Conv2d(2 * dim, dim, 1)
        # guidance of the spatial attention: the image guidance plus the class's correlation
        self.spatial = nn.ModuleList([GuidedWindowAttention(dim, guidance_dim + 1, heads, window, shift)
                                      for shift in (0, window // 2)])
        self.classes = ClassLinearAttention(dim, guidance_dim, heads)

    def per_class(self, x: Tensor, positional: Tensor, tokens: Tensor, dense: Tensor, guidance: Tensor) -> Tensor:
        """Everything of the block that sees one class map at a time.

        x, dense: R x C x h x w; positional: C x h x w; tokens: R x N x C; guidance: R x (G+1) x h x w.
        """
        x = self.fuse(torch.cat([x, self.sam(x, positional, tokens, dense)], dim=1))
        for attention in self.spatial:
            x = attention(x, guidance)
        return x


class UpsamplingDecoder(nn.Module):
    """Per class map: x2 upsampling stages, each joined by a skip from an intermediate CLIP
    layer (transposed-conv upsampled to the stage's resolution), then one logit channel."""

    def __init__(self, dim: int, skip_width: int, stage_dims: tuple[int, ...]) -> None:
        super().__init__()
        self.skips = nn.ModuleList()
        self.ups = nn.ModuleList()
        self.mixes = nn.ModuleList()
        width = dim
        for i, stage in enumerate(stage_dims):
            scale = 2 ** (i + 1)
            self.skips.append(nn.ConvTranspose2d(skip_width, stage, kernel_size=scale, stride=scale))
            self.ups.append(nn.ConvTranspose2d(width, stage, kernel_size=2, stride=2))
            self.mixes.append(nn.Sequential(nn.Conv2d(2 * stage, stage, 3, padding=1), nn.GroupNorm(1, stage),
                                            nn.GELU()))
            width = stage
        self.head = nn.Conv2d(width, 1, 3, padding=1)

    def project_skips(self, skips: tuple[Tensor, ...]) -> list[Tensor]:
        """One B x W x h x w map per stage -> one B x d_i x (h * 2^i) x (w * 2^i) per stage (once per image)."""
        if len(skips) != len(self.skips):
            raise ConfigError(f"skips must hold one map per decoder stage ({len(self.skips)}), got {len(skips)}")
        return [project(skip.to(project.weight.dtype)) for project, skip in zip(self.skips, skips)]

    def forward(self, x: Tensor, skips: list[Tensor]) -> Tensor:
        """x: B x K x C x h x w, skips from `project_skips` -> B x K x (h * 2^S) x (w * 2^S) logits."""
        b, k = x.shape[:2]
        y = x.flatten(0, 1)
        for up, mix, skip in zip(self.ups, self.mixes, skips):
            y = up(y)
            skip = skip.to(y.dtype).unsqueeze(1).expand(-1, k, -1, -1, -1).flatten(0, 1)
            y = mix(torch.cat([y, skip], dim=1))
        return self.head(y).view(b, k, *y.shape[-2:])
