"""Readable names for the linear layers of SAM that adapters can target."""
from __future__ import annotations

from typing import Sequence, Union

from segment_anything.modeling import Sam

from samprompt.errors import ConfigError, UnknownNameError

BlockSelection = Union[str, Sequence[int]]

# Readable target -> module-name suffixes inside one encoder block or the decoder transformer.
ENCODER_TARGETS = {
    "encoder.qkv": ("attn.qkv",),
    "encoder.proj": ("attn.proj",),
    "encoder.mlp": ("mlp.lin1", "mlp.lin2"),
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


def target_module_names(sam: Sam, targets: Sequence[str], blocks: BlockSelection) -> list[str]:
    """Full module names (relative to `sam`) of the linear layers that `targets` select."""
    names: list[str] = []
    for index in select_blocks(blocks, len(sam.image_encoder.blocks)):
        for target in targets:
            for suffix in ENCODER_TARGETS.get(target, ()):
                names.append(f"image_encoder.blocks.{index}.{suffix}")
    transformer = sam.mask_decoder.transformer
    if "decoder.attn" in targets:
        attention_names = [f"layers.{i}.{a}" for i in range(len(transformer.layers))
                           for a in ("self_attn", "cross_attn_token_to_image", "cross_attn_image_to_token")]
        attention_names.append("final_attn_token_to_image")
        names += [f"mask_decoder.transformer.{a}.{p}" for a in attention_names for p in _ATTENTION_PROJECTIONS]
    if "decoder.mlp" in targets:
        names += [f"mask_decoder.transformer.layers.{i}.mlp.{lin}"
                  for i in range(len(transformer.layers)) for lin in ("lin1", "lin2")]
    return names
