"""Start a SAM 2 core's prompt side from a trained SAM 1 core: copy the mask decoder's two-way
transformer, tokens and mask heads and the prompt encoder's embeddings across families.

Why: the two families share the decoder's design (SAM 2's `MaskDecoder` is SAM's with an
object-score token, high-resolution skips and optional IoU sigmoid), so a trained SAM 1 decoder
is a working start for a SAM 2 decoder of the same shape. A small SAM 2 trained from random
init on shapes world learns masks that ignore the prompt (docs/models.md, sam2_tiny); started
from SAM 1 `tiny`'s decoder it follows its prompts from the first steps.

What is copied (SAM 1 name -> SAM 2 name; the tensors themselves are unchanged):
- `mask_decoder.transformer.*` -> `sam_mask_decoder.transformer.*` (the MLP blocks'
  `lin1` / `lin2` are SAM 2's `layers.0` / `layers.1`);
- `mask_decoder.{iou_token, mask_tokens, output_upscaling, output_hypernetworks_mlps}`;
- `prompt_encoder.{pe_layer, point_embeddings, not_a_point_embed, no_mask_embed}`.
What SAM 2 alone has stays as it is: the object-score token and head, the high-resolution
skips (`conv_s0`, `conv_s1`), the IoU head (SAM 2's has its own width), the mask downscaling.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from samprompt.errors import ConfigError

DECODER_PARTS = ("transformer", "iou_token", "mask_tokens", "output_upscaling", "output_hypernetworks_mlps")
PROMPT_ENCODER_PARTS = ("pe_layer", "point_embeddings", "not_a_point_embed", "no_mask_embed")


def decoder_shape(transformer: nn.Module, mask_tokens: nn.Embedding) -> dict[str, int]:
    """Width, depth, heads, MLP width and mask-token count of a decoder (either family)."""
    first = transformer.layers[0]
    mlp = first.mlp
    hidden = mlp.lin1 if hasattr(mlp, "lin1") else mlp.layers[0]
    return {"width": int(transformer.embedding_dim), "depth": len(transformer.layers),
            "heads": int(first.self_attn.num_heads), "mlp_dim": int(hidden.out_features),
            "mask_tokens": int(mask_tokens.num_embeddings)}


def sam2_transformer_keys(state: dict[str, Any]) -> dict[str, Any]:
    """A SAM 1 two-way transformer's state dict under SAM 2's names (its MLPs' `lin1` / `lin2`
    are `layers.0` / `layers.1`)."""
    return {k.replace("mlp.lin1.", "mlp.layers.0.").replace("mlp.lin2.", "mlp.layers.1."): v for k, v in state.items()}


def start_decoder_from_sam1(target: Any, source: Any) -> list[str]:
    """Copy `source`'s (a SAM 1 core) decoder and prompt-encoder parts into `target` (a SAM 2
    core) in place; returns the SAM 2 parameter and buffer names written.

    Raises `ConfigError` when `target` is not a SAM 2 core, `source` not a SAM 1 core, or their
    decoders differ in width, depth, heads, MLP width or mask tokens (each difference named).
    """
    if getattr(target, "family", None) != "sam2":
        raise ConfigError(f"target must be a SAM 2 core (build_sam('sam2_tiny' / 'sam2.1_hiera_t' ...)), "
                          f"got {type(target).__name__} of family {getattr(target, 'family', None)!r}")
    if getattr(source, "family", None) != "sam":
        raise ConfigError(f"source must be a SAM 1 core (build_sam('tiny' / 'vit_b' ...)), "
                          f"got {type(source).__name__} of family {getattr(source, 'family', None)!r}")
    decoder, encoder = target.sam.sam_mask_decoder, target.sam.sam_prompt_encoder
    source_decoder, source_encoder = source.sam.mask_decoder, source.sam.prompt_encoder
    wanted = decoder_shape(decoder.transformer, decoder.mask_tokens)
    given = decoder_shape(source_decoder.transformer, source_decoder.mask_tokens)
    if wanted != given:
        differences = ", ".join(f"{k}: SAM 2 {wanted[k]} vs SAM 1 {given[k]}" for k in wanted if wanted[k] != given[k])
        raise ConfigError(f"source: the SAM 1 decoder's shape differs from the SAM 2 core's ({differences}); "
                          f"build the SAM 2 variant with the same decoder shape (Sam2Variant.decoder_heads, "
                          f"decoder_mlp_dim and width)")
    written = []
    for prefix, target_module, source_module, parts in (
            ("sam_mask_decoder", decoder, source_decoder, DECODER_PARTS),
            ("sam_prompt_encoder", encoder, source_encoder, PROMPT_ENCODER_PARTS)):
        for part in parts:
            state = source_module.get_submodule(part).state_dict()
            if part == "transformer":
                state = sam2_transformer_keys(state)
            target_module.get_submodule(part).load_state_dict(state, strict=True)
            written += [f"{prefix}.{part}.{key}" for key in state]
    return written
