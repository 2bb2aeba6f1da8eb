"""`RefSAM`: a core, a frozen text encoder and the RefSAM prompt modules, composed."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import Tensor

from samprompt.core.sam_core import SamCore
from samprompt.core.structures import MaskPrediction
from samprompt.errors import CheckpointError
from samprompt.model import PromptedSam
from samprompt.refsam.config import RefSAMConfig
from samprompt.refsam.prompt import RefSAMPrompt
from samprompt.text.encoders import TextEncoder, load_text_encoder
from samprompt.tuning.bottleneck import add_bottleneck_adapters
from samprompt.tuning.io import load_trained, read_trained_config, save_trained
from samprompt.tuning.lora import add_lora, lora_adapters

METADATA_KEY = "refsam"


class RefSAM(PromptedSam):
    """Referring segmentation on a frozen SAM: `model(images, text=[...])`.

    Building it attaches the configured adapters / LoRA to the core and, with
    `config.train_decoder`, unfreezes SAM's mask decoder; everything else of the core and
    the text encoder stays frozen. Several expressions per image share one encoder pass.
    For video, use `RefSAMVideoTracker` (online, one frame at a time).
    """

    generator: RefSAMPrompt

    def __init__(self, core: SamCore, text_encoder: TextEncoder, config: RefSAMConfig = RefSAMConfig(),
                 *, text_encoder_spec: str | None = None) -> None:
        if config.adapters is not None and core.bottleneck_settings is None:
            add_bottleneck_adapters(core, config.adapters)
        if config.lora is not None and "default" not in lora_adapters(core):
            add_lora(core, config.lora)
        if config.train_decoder:
            for parameter in core.sam.mask_decoder.parameters():
                parameter.requires_grad_(True)
        super().__init__(core, RefSAMPrompt.for_core(core, text_encoder, config), multimask_output=False)
        self.config = config
        self.text_encoder_spec = text_encoder_spec or getattr(text_encoder, "spec", None)

    def next_track(self, prediction: MaskPrediction, previous: Tensor | None = None) -> Tensor:
        """The track token for the next frame from this frame's prediction (P x 1 x C)."""
        return self.generator.next_track(prediction.mask_tokens, previous)

    def save(self, directory: str | Path, metadata: dict[str, Any] | None = None) -> Path:
        """Save only the trained tensors, with the config needed to rebuild the model."""
        info = {"config": self.config.to_dict(), "text_encoder": self.text_encoder_spec}
        return save_trained(self, directory, metadata={**(metadata or {}), METADATA_KEY: json.dumps(info)})

    @classmethod
    def load(cls, directory: str | Path, core: SamCore, text_encoder: TextEncoder | None = None) -> "RefSAM":
        """Rebuild a saved RefSAM on `core` (same variant) and load its trained tensors.

        The text encoder is the one named at save time unless one is given.
        """
        saved = read_trained_config(directory)
        if METADATA_KEY not in saved.get("metadata", {}):
            raise CheckpointError(f"{str(directory)!r} holds trained weights, but not of a RefSAM model")
        info = json.loads(saved["metadata"][METADATA_KEY])
        spec = info.get("text_encoder")
        if text_encoder is None:
            text_encoder = load_text_encoder(spec or "shapes")
        model = cls(core, text_encoder, RefSAMConfig.from_dict(info["config"]), text_encoder_spec=spec)
        load_trained(model, directory)
        return model
