"""Readable names for the linear layers of SAM and SAM 2 that adapters can target."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

from torch import nn

from samprompt.errors import ConfigError, UnknownNameError

BlockSelection = Union[str, Sequence[int]]

# Readable target -> module-name suffixes inside one encoder block; {0} / {1} are the family's two
# MLP layers (`Layout.mlp_layers`).
ENCODER_TARGETS = {
    "encoder.qkv": ("attn.qkv",),
    "encoder.proj": ("attn.proj",),
    "encoder.mlp": ("mlp.{0}", "mlp.{1}"),
}
_ATTENTION_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")
DECODER_TARGETS = ("decoder.attn", "decoder.mlp")
TARGETS = tuple(ENCODER_TARGETS) + DECODER_TARGETS


def select_blocks(selection: BlockSelection, depth: int) -> list[int]:
    """Encoder block indexes for `"all"`, `"second_half"` (RefSAM's placement) or explicit indexes."""
    if isinstance(selection, str):
        if selection == "all":
            return list(range(depth))
        if selection == "second_half":
            return list(range(depth // 2, depth))
        raise ConfigError(f"block selection must be 'all', 'second_half' or a list of indexes, got {selection!r}")
    indexes = sorted({int(i) for i in selection})
    if not indexes or indexes[0] < 0 or indexes[-1] >= depth:
        raise ConfigError(f"block indexes {list(selection)} must be non-empty and within [0, {depth})")
    return indexes


def check_targets(targets: Sequence[str]) -> tuple[str, ...]:
    unknown = sorted(set(targets) - set(TARGETS))
    if unknown:
        raise UnknownNameError(f"unknown adapter targets {unknown}; choose from {list(TARGETS)}")
    if not targets:
        raise ConfigError(f"adapter targets must name at least one of {list(TARGETS)}, got none")
    return tuple(targets)


@dataclass(frozen=True)
class Layout:
    """Where the targets live in one family's official model (module names relative to it)."""

    encoder_blocks: str      # the encoder's block list: ViT blocks (SAM) or Hiera blocks (SAM 2)
    decoder: str             # the mask decoder
    mlp_layers: tuple[str, str]   # the two linear layers of an encoder or decoder-transformer MLP


SAM_LAYOUT = Layout("image_encoder.blocks", "mask_decoder", ("lin1", "lin2"))
SAM2_LAYOUT = Layout("image_encoder.trunk.blocks", "sam_mask_decoder", ("layers.0", "layers.1"))


def layout_of(sam: nn.Module) -> Layout:
    """The layout of segment-anything's `Sam` or SAM 2's `SAM2Base`."""
    return SAM2_LAYOUT if hasattr(sam, "sam_mask_decoder") else SAM_LAYOUT


def encoder_blocks(sam: nn.Module) -> nn.ModuleList:
    """The image encoder's blocks (ViT blocks for SAM, Hiera blocks for SAM 2)."""
    return sam.get_submodule(layout_of(sam).encoder_blocks)


def target_module_names(sam: nn.Module, targets: Sequence[str], blocks: BlockSelection) -> list[str]:
    """Full module names (relative to `sam`: SAM's `Sam` or SAM 2's `SAM2Base`) of the linear
    layers that `targets` select. SAM 2's Hiera blocks have the same `attn.qkv` / `attn.proj`;
    its MLPs are `mlp.layers.0` / `.1` where SAM's are `mlp.lin1` / `lin2`."""
    layout = layout_of(sam)
    names: list[str] = []
    for index in select_blocks(blocks, len(encoder_blocks(sam))):
        for target in targets:
            for suffix in ENCODER_TARGETS.get(target, ()):
                names.append(f"{layout.encoder_blocks}.{index}.{suffix.format(*layout.mlp_layers)}")
    transformer = f"{layout.decoder}.transformer"
    depth = len(sam.get_submodule(transformer).layers)
    if "decoder.attn" in targets:
        attention_names = [f"layers.{i}.{a}" for i in range(depth)
                           for a in ("self_attn", "cross_attn_token_to_image", "cross_attn_image_to_token")]
        attention_names.append("final_attn_token_to_image")
        names += [f"{transformer}.{a}.{p}" for a in attention_names for p in _ATTENTION_PROJECTIONS]
    if "decoder.mlp" in targets:
        names += [f"{transformer}.layers.{i}.mlp.{m}" for i in range(depth) for m in layout.mlp_layers]
    return names
