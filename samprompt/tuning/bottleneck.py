"""Bottleneck adapters in RefSAM's placement, attached to the encoder blocks (segment-anything's
ViT blocks, or SAM 2's Hiera blocks, each adapter as wide as its block's output).

In each selected block one adapter follows the attention (with its own skip) and one runs
parallel to the MLP, scaled by `mlp_scale`:

    x = x + Adapter_attn(Attn(LN1(x)))          where Adapter_attn(y) = y + up(act(down(y)))
    x = x + MLP(LN2(x)) + s * up'(act(down'(LN2(x))))

They attach through forward hooks on the block's `attn` and `mlp` modules, so the
official code is not forked and the base state-dict keys do not change; the adapters live at
`image_encoder.blocks.<i>.attn_adapter` / `.mlp_adapter` (SAM 2: `image_encoder.trunk.blocks.<i>...`). The up
projections start at zero, so a freshly attached adapter leaves the core's output unchanged.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import Tensor, nn

from samprompt.errors import ConfigError
from samprompt.tuning.settings import BottleneckSettings
from samprompt.tuning.targets import encoder_blocks, layout_of, select_blocks

if TYPE_CHECKING:
    from samprompt.core.sam_core import SamCore


class BottleneckAdapter(nn.Module):
    """down (D -> r) -> GELU -> up (r -> D), token-wise on ... x D tensors."""

    def __init__(self, dim: int, hidden: int, *, skip: bool, scale: float = 1.0) -> None:
        super().__init__()
        self.down = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.up = nn.Linear(hidden, dim)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)
        self.skip = skip
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        out = self.scale * self.up(self.act(self.down(x)))
        return x + out if self.skip else out

    def after_attention(self, _module: nn.Module, _args: Any, output: Tensor) -> Tensor:
        """Forward hook for `block.attn`: the attention output goes through the adapter."""
        return self(output)

    def beside_mlp(self, _module: nn.Module, args: tuple[Tensor, ...], output: Tensor) -> Tensor:
        """Forward hook for `block.mlp`: adds the adapter applied to the MLP's input."""
        return output + self(args[0])


def add_bottleneck_adapters(core: "SamCore", settings: BottleneckSettings = BottleneckSettings()) -> list[int]:
    """Attach trainable bottleneck adapters to the selected encoder blocks.

    Returns:
        the indexes of the adapted blocks.
    """
    if core.adapters.bottleneck is not None:
        raise ConfigError(f"the core already has {core.adapters.describe()}; remove the bottleneck adapters first")
    blocks = encoder_blocks(core.sam)
    indexes = select_blocks(settings.blocks, len(blocks))
    handles = []
    for index in indexes:
        block = blocks[index]
        dim = getattr(block, "dim_out", None) or core.encoder_dim   # Hiera's widths change by stage
        hidden = max(1, round(dim * settings.ratio))
        block.attn_adapter = BottleneckAdapter(dim, hidden, skip=True)
        block.mlp_adapter = BottleneckAdapter(dim, hidden, skip=False, scale=settings.mlp_scale)
        block.attn_adapter.to(core.device, core.dtype)
        block.mlp_adapter.to(core.device, core.dtype)
        handles.append(block.attn.register_forward_hook(block.attn_adapter.after_attention))
        handles.append(block.mlp.register_forward_hook(block.mlp_adapter.beside_mlp))
    core.adapters.bottleneck = settings
    core.adapters.bottleneck_blocks = indexes
    core.adapters.bottleneck_path = layout_of(core.sam).encoder_blocks
    core.adapters.bottleneck_hooks = handles
    return indexes


def remove_bottleneck_adapters(core: "SamCore") -> None:
    """Detach and delete the bottleneck adapters (the core computes as before they were added)."""
    state = core.adapters
    if state.bottleneck is None:
        raise ConfigError("the core has no bottleneck adapters")
    for handle in state.bottleneck_hooks:
        handle.remove()
    for block in encoder_blocks(core.sam):
        for name in ("attn_adapter", "mlp_adapter"):
            if hasattr(block, name):
                delattr(block, name)
    state.bottleneck, state.bottleneck_blocks, state.bottleneck_hooks = None, [], []
