"""Loading SAM weights from local files in their official formats, with errors that explain."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch
from segment_anything.modeling import Sam

from samprompt.core.config import describe_sam
from samprompt.core.registry import registered_variants
from samprompt.errors import CheckpointError, CheckpointNotFoundError

_WRAPPER_KEYS = ("model", "state_dict", "model_state_dict")


def read_state_dict(path: str | Path, *, variant: str = "?") -> dict[str, torch.Tensor]:
    """Read a state dict from `.pth`/`.pt` (plain `torch.save`) or `.safetensors`.

    Checkpoints that wrap the state dict under `model` or `state_dict` are unwrapped.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {str(path)!r} for SAM variant {variant!r} is a folder; expected the "
                              "checkpoint file (e.g. sam_vit_b_01ec64.pth)")
    if not path.is_file():
        raise CheckpointNotFoundError(f"checkpoint file {str(path)!r} for SAM variant {variant!r} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load and safetensors raise many types for damaged files
        size = path.stat().st_size
        raise CheckpointError(
            f"checkpoint file {str(path)!r} ({size} bytes) for SAM variant {variant!r} could not be read; "
            f"it is truncated or corrupt: {type(error).__name__}: {error}"
        ) from error
    for key in _WRAPPER_KEYS:
        if isinstance(state, Mapping) and key in state and isinstance(state[key], Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"checkpoint file {str(path)!r} for SAM variant {variant!r} does not hold a "
                              "state dict of tensors")
    check_weight_values(state, f"checkpoint file {str(path)!r}")
    return dict(state)


def check_weight_values(state: Mapping[str, torch.Tensor], source: str) -> None:
    """Weights must be floating point and finite: an integer tensor would be cast silently and a
    NaN would turn every mask into NaN. Raises `CheckpointError` naming the first bad tensor."""
    for key, value in state.items():
        if not value.is_floating_point():
            raise CheckpointError(f"{source}: tensor {key!r} has dtype {value.dtype}; weights must be floating point")
        if not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"{source}: tensor {key!r} holds NaN or infinite values")


def guess_architecture(state: Mapping[str, torch.Tensor]) -> str:
    """A short description of the architecture a SAM state dict belongs to, e.g. `vit_l`."""
    patch = state.get("image_encoder.patch_embed.proj.weight")
    if patch is None:
        return "not a SAM image encoder (no image_encoder.patch_embed.proj.weight)"
    width = patch.shape[0]
    depth = len({k.split(".")[2] for k in state if k.startswith("image_encoder.blocks.")})
    image_size = None
    pos = state.get("image_encoder.pos_embed")
    if pos is not None:
        image_size = pos.shape[1] * patch.shape[-1]
    for config in registered_variants().values():
        if (config.encoder_embed_dim, config.encoder_depth) == (width, depth) and image_size in (None, config.image_size):
            return f"{config.name} (encoder width {width}, depth {depth})"
    return f"an unregistered architecture (encoder width {width}, depth {depth}, image size {image_size})"


def check_state_dict_matches(sam: Sam, state: Mapping[str, torch.Tensor], *, source: str, variant: str) -> None:
    """Raise `CheckpointError` listing missing, unexpected and mis-shaped tensors, if any."""
    expected = sam.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    reshaped = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in sorted(set(state) & set(expected))
        if state[k].shape != expected[k].shape
    ]
    if not (missing or unexpected or reshaped):
        return
    facts = describe_sam(sam)
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("of another shape", reshaped)):
        if items:
            parts.append(f"{len(items)} tensors {label} (e.g. {'; '.join(items[:3])})")
    raise CheckpointError(
        f"checkpoint {source} does not match SAM variant {variant!r} (encoder width "
        f"{facts['encoder_embed_dim']}, depth {facts['encoder_depth']}, image size {facts['image_size']}): "
        + ", ".join(parts)
        + f". The file looks like {guess_architecture(state)}."
    )


def load_sam_checkpoint(sam: Sam, path: str | Path, *, variant: str) -> Sam:
    """Load an official SAM checkpoint (or a safetensors export) into `sam`, strictly."""
    state = read_state_dict(path, variant=variant)
    check_state_dict_matches(sam, state, source=repr(str(path)), variant=variant)
    sam.load_state_dict(state, strict=True)
    return sam
