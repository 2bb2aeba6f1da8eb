"""Gradient checkpointing for the image encoder: recompute each block in the backward pass.

Training with a trainable encoder (LoRA or adapters on it) keeps every block's activations for
the backward pass; checkpointing keeps only each block's input and recomputes the rest, trading
about one extra encoder forward per step for much less activation memory. Like the fused
attention, it swaps the class of segment-anything's `Block` modules (same parameters and keys).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from segment_anything.modeling.image_encoder import Block
from torch.utils.checkpoint import checkpoint

if TYPE_CHECKING:
    from samprompt.core.sam_core import SamCore


class CheckpointedBlock(Block):
    """`Block.forward`, recomputed in the backward pass whenever a gradient will flow through it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in self.parameters())):
            return checkpoint(super().forward, x, use_reentrant=False)
        return super().forward(x)


def use_gradient_checkpointing(core: "SamCore", enabled: bool = True) -> "SamCore":
    """Checkpoint every encoder block of `core` (or stop doing so)."""
    target = CheckpointedBlock if enabled else Block
    for block in core.sam.image_encoder.blocks:
        if isinstance(block, Block):
            block.__class__ = target
    return core
