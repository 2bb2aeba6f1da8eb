"""ESC-Net configuration: one validated dataclass, saved beside the trained weights."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from samprompt.errors import ConfigError
from samprompt.prompts.pseudo import PseudoPromptSettings
from samprompt.utils.dataclass_config import from_dict

PAPER_TEMPLATES = ("A photo of a {} in the scene.",)


@dataclass(frozen=True)
class ESCNetConfig:
    """How an ESC-Net is built (the feature width is the core's prompt width, 256 for SAM).

    Attributes:
        clip_image_size: input side of the CLIP image tower (None: its native size; the paper
            uses 384 for ViT-B/16 and 336 for ViT-L/14).
        templates: prompt templates averaged per class name.
        skip_layers: CLIP blocks (0-based) whose patch tokens feed the upsampling decoder,
            coarse to fine; each adds one x2 upsampling stage. None: 1/3 and 2/3 of the depth.
        blocks: ESC blocks in sequence (paper: 4).
        sam_init: "checkpoint" copies the core's mask-decoder transformer layers into every
            ESC block; "random" re-initialises them (the paper's ablation).
        pseudo: the Pseudo Prompt Generator's settings.
        mask_logit: pseudo masks enter SAM's prompt encoder as +/- this logit.
        heads: attention heads of the Vision-Language Fusion layers.
        window: side of the spatial attention windows (in feature cells).
        guidance_dim: width of the image and text guidance added to the fusion's queries / keys.
        decoder_dims: channels of the decoder's upsampling stages (one per skip layer).
        clip_finetune: "none" keeps CLIP frozen; "attention" also trains the image tower's
            attention projections (CAT-Seg's recipe, which ESC-Net builds on).
        correlation_residual: add the raw CLIP correlation, upsampled to the input size and
            times a learned scale that starts at CLIP's logit scale, to the decoder's logits, and
            start the decoder's last layer at zero: an untrained ESC-Net then segments exactly
            as CLIP alone and training learns a correction to it. Not in the paper (its decoder
            alone gives the logits); it makes short trainings safe.
        class_chunk: classes processed at once (None: all); changes memory and time, not
            results. 64 leaves short lists unchunked and, on the bench CPU, needs 1.7x less
            memory at 150 classes and half the memory and time at 847 (docs/benchmarks.md).
    """

    clip_image_size: int | None = None
    templates: tuple[str, ...] = PAPER_TEMPLATES
    skip_layers: tuple[int, ...] | None = None
    blocks: int = 4
    sam_init: str = "checkpoint"
    pseudo: PseudoPromptSettings = field(default_factory=PseudoPromptSettings)
    mask_logit: float = 8.0
    heads: int = 4
    window: int = 4
    guidance_dim: int = 64
    decoder_dims: tuple[int, ...] = (64, 32)
    clip_finetune: str = "none"
    correlation_residual: bool = False
    class_chunk: int | None = 64

    def __post_init__(self) -> None:
        if self.sam_init not in ("checkpoint", "random"):
            raise ConfigError(f"sam_init must be 'checkpoint' or 'random', got {self.sam_init!r}")
        if self.clip_finetune not in ("none", "attention"):
            raise ConfigError(f"clip_finetune must be 'none' or 'attention', got {self.clip_finetune!r}")
        if self.blocks <= 0 or self.heads <= 0 or self.window <= 0 or self.guidance_dim <= 0:
            raise ConfigError("blocks, heads, window and guidance_dim must be positive")
        if self.class_chunk is not None and self.class_chunk <= 0:
            raise ConfigError(f"class_chunk must be positive or None, got {self.class_chunk}")
        if any(d <= 0 for d in self.decoder_dims):
            raise ConfigError(f"decoder_dims must be positive, got {self.decoder_dims}")
        if self.skip_layers is not None and len(self.skip_layers) != len(self.decoder_dims):
            raise ConfigError(f"one decoder stage per skip layer: {len(self.skip_layers)} skip layers, "
                              f"{len(self.decoder_dims)} decoder_dims")
        if self.mask_logit <= 0:
            raise ConfigError(f"mask_logit must be positive, got {self.mask_logit}")

    def resolved_skip_layers(self, depth: int) -> tuple[int, ...]:
        """The skip layers for a CLIP tower of `depth` blocks (evenly spread when unset)."""
        if self.skip_layers is not None:
            return tuple(self.skip_layers)
        stages = len(self.decoder_dims)
        layers = self.skip_layers or tuple((depth * (stages - i)) // (stages + 1) - 1 for i in range(stages))
        if len(set(layers)) != stages or any(not 0 <= i < depth - 1 for i in layers):
            raise ConfigError(f"a {depth}-block CLIP tower cannot give {stages} distinct skip layers "
                              f"below its last block (got {layers}); set skip_layers or fewer decoder_dims")
        return layers

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ESCNetConfig":
        data = dict(data)
        if isinstance(data.get("pseudo"), dict):
            data["pseudo"] = from_dict(PseudoPromptSettings, data["pseudo"], "pseudo prompt settings")
        for key in ("templates", "skip_layers", "decoder_dims"):
            if isinstance(data.get(key), list):
                data[key] = tuple(data[key])
        return from_dict(cls, data, "ESC-Net config")
