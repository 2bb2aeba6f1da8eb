"""Loading open_clip models from local files (no hub): the shipped small CLIP or any other.

The shipped model is stored in open_clip's own local-directory format
(`open_clip_config.json` + `open_clip_model.safetensors`), so plain open_clip loads it too:
`open_clip.create_model_and_transforms("local-dir:" + str(shipped_clip_dir()))`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import open_clip
import torch
from torch import Tensor, nn

from samprompt.errors import CheckpointNotFoundError, PromptError, UnknownNameError

SHIPPED_DIR_NAME = "shapes_clip"


def shapes_clip_config() -> dict[str, Any]:
    """open_clip `model_cfg` of the small CLIP trained on shapes world (64 px crops)."""
    return {
        "embed_dim": 128,
        "vision_cfg": {"image_size": 64, "layers": 4, "width": 128, "head_width": 32, "patch_size": 8},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 3},
    }


def shipped_clip_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "weights" / SHIPPED_DIR_NAME


@dataclass
class ClipBundle:
    """An open_clip model with its image preprocessing and tokenizer."""

    model: nn.Module
    preprocess: Callable[[Any], Tensor]
    tokenizer: Callable[[list[str]], Tensor]
    name: str

    @property
    def image_size(self) -> int:
        size = self.model.visual.image_size
        return size[0] if isinstance(size, (tuple, list)) else int(size)

    @torch.no_grad()
    def encode_text(self, texts: list[str], normalize: bool = True) -> Tensor:
        """T x D text embeddings."""
        if not texts or any(not t or not t.strip() for t in texts):
            raise PromptError(f"texts must be a non-empty list of non-empty strings, got {texts!r}")
        device = next(self.model.parameters()).device
        return self.model.encode_text(self.tokenizer(texts).to(device), normalize=normalize)


def load_clip(name: str = "shapes", pretrained: str | Path | None = None, *, device: str | torch.device = "cpu",
              frozen: bool = True) -> ClipBundle:
    """Load an open_clip model from local files.

    Args:
        name: "shapes" for the shipped small CLIP (random init with `pretrained=False`
            semantics when its files are missing: an error), or any open_clip model name
            (e.g. "ViT-B-16") together with `pretrained`, a local checkpoint file.
        pretrained: a local weights file for named models. Hub tags are refused: samprompt
            works offline.
    """
    if name == "shapes":
        directory = shipped_clip_dir() if pretrained is None else Path(pretrained)
        if not (directory / "open_clip_config.json").is_file():
            raise CheckpointNotFoundError(f"the shapes CLIP files are missing in {str(directory)!r} "
                                          "(run python -m samprompt.pretrain.shapes_clip)")
        model_name = f"local-dir:{directory}"
        model, _, preprocess = open_clip.create_model_and_transforms(model_name, device=device)
        tokenizer = open_clip.get_tokenizer(model_name)
    else:
        if name not in open_clip.list_models():
            raise UnknownNameError(f"unknown open_clip model {name!r}; use 'shapes' or a name from "
                                   "open_clip.list_models()")
        if pretrained is None or not Path(pretrained).is_file():
            raise CheckpointNotFoundError(f"open_clip model {name!r} needs a local weights file; "
                                          f"{str(pretrained)!r} does not exist")
        model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=str(pretrained), device=device)
        tokenizer = open_clip.get_tokenizer(name)
    model.eval()
    if frozen:
        for parameter in model.parameters():
            parameter.requires_grad_(False)
    return ClipBundle(model, preprocess, tokenizer, name)
