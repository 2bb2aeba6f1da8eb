"""The fusion network both SAM-REF refiners are made of (global: whole image; local: a window)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from samprompt.errors import ConfigError


def conv(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)


def downsampling_stem(in_channels: int, width: int) -> nn.Sequential:
    """Two stride-2 3x3 convolutions: N x in x S x S -> N x width x S/4 x S/4."""
    return nn.Sequential(conv(in_channels, width // 2, 2), nn.ReLU(inplace=True), conv(width // 2, width, 2),
                         nn.ReLU(inplace=True))


class ResBlock(nn.Module):
    """x + conv(relu(norm(conv(relu(norm(x)))))), width preserved."""

    def __init__(self, width: int) -> None:
        super().__init__()
        groups = min(8, width // 4)
        self.body = nn.Sequential(nn.GroupNorm(groups, width), nn.ReLU(inplace=True), conv(width, width),
                                  nn.GroupNorm(groups, width), nn.ReLU(inplace=True), conv(width, width))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


@dataclass
class FusionOutput:
    """All P x 1 x S x S logits: `error` (where the coarse mask is wrong), `refined` (the
    refiner's own mask M') and `blended` = sigmoid(error) * refined + (1 - sigmoid(error)) * coarse."""

    error: Tensor
    refined: Tensor
    blended: Tensor


def blend(error: Tensor, refined: Tensor, coarse: Tensor) -> Tensor:
    """sigmoid(E) * M' + (1 - sigmoid(E)) * M_coarse, on logits: where the error map says the
    coarse mask is right, the coarse logits pass through unchanged."""
    gate = error.sigmoid()
    return gate * refined + (1 - gate) * coarse


class FusionRefiner(nn.Module):
    """Image + click disks + coarse logits + SAM embedding -> error map and refined mask.

    The image and the prompt maps (positive disks, negative disks, sigmoid of the coarse
    logits) each go through a two-layer stride-2 stem to S/4; the SAM embedding is projected
    to the same width and resized to S/4; the three are summed and pass ResBlocks, each
    followed by re-adding the embedding. A 1x1 head reduces the result, which is upsampled to
    S and joined with full-resolution features of the image and prompts for the two output
    maps (error, refined).

    Args:
        embedding_dim: channels of the SAM embedding (the core's prompt width).
        width: feature channels (multiple of 4).
        blocks: ResBlocks.
    """

    def __init__(self, embedding_dim: int, width: int = 32, blocks: int = 4) -> None:
        super().__init__()
        detail = width // 4
        self.image_stem = downsampling_stem(3, width)
        self.prompt_stem = downsampling_stem(3, width)
        self.embedding_proj = nn.Conv2d(embedding_dim, width, 1)
        self.blocks = nn.ModuleList(ResBlock(width) for _ in range(blocks))
        self.reduce = nn.Conv2d(width, detail, 1)
        self.detail = nn.Sequential(conv(6, detail), nn.ReLU(inplace=True))
        self.head = nn.Sequential(conv(2 * detail, 2 * detail), nn.ReLU(inplace=True), conv(2 * detail, 2))

    def forward(self, image: Tensor, clicks: Tensor, coarse: Tensor, embedding: Tensor) -> FusionOutput:
        """
        Args:
            image: P x 3 x S x S normalised image (SAM's pixel normalisation).
            clicks: P x 2 x S x S positive / negative disks.
            coarse: P x 1 x S x S coarse mask logits (SAM's, upsampled; or the global result).
            embedding: P x C x h x w SAM image embedding of the same region (any h, w).
        Returns:
            `FusionOutput` with P x 1 x S x S logits.
        """
        size = image.shape[-2:]
        if size[0] % 4 or size[1] % 4:
            raise ConfigError(f"the refiner frame (global_size / local_size) must have sides divisible by 4, "
                              f"got {tuple(size)}")
        dtype = self.reduce.weight.dtype
        image, clicks, coarse, embedding = (t.to(dtype) for t in (image, clicks, coarse, embedding))
        prompts = torch.cat([clicks, coarse.sigmoid()], dim=1)
        quarter = (size[0] // 4, size[1] // 4)
        guide = F.interpolate(self.embedding_proj(embedding), size=quarter, mode="bilinear", align_corners=False)
        x = self.image_stem(image) + self.prompt_stem(prompts) + guide
        for block in self.blocks:
            x = block(x) + guide
        x = F.interpolate(self.reduce(x), size=size, mode="bilinear", align_corners=False)
        error, refined = self.head(torch.cat([x, self.detail(torch.cat([image, prompts], dim=1))], dim=1)).split(1, 1)
        return FusionOutput(error=error, refined=refined, blended=blend(error, refined, coarse))
