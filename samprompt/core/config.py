"""`SamConfig`: the architecture of one SAM variant, as data that validates itself."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import torch
from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

from samprompt.errors import ConfigError

SAM_PIXEL_MEAN = (123.675, 116.28, 103.53)
SAM_PIXEL_STD = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class SamConfig:
    """Architecture of a SAM model built from segment-anything's own modules.

    The defaults are those of the official checkpoints (image size 1024, patch 16,
    prompt width 256, two-way decoder of depth 2 with MLP width 2048 and 8 heads).
    """

    name: str
    encoder_embed_dim: int
    encoder_depth: int
    encoder_num_heads: int
    encoder_global_attn_indexes: tuple[int, ...]
    image_size: int = 1024
    patch_size: int = 16
    encoder_window_size: int = 14
    encoder_mlp_ratio: float = 4.0
    use_rel_pos: bool = True
    prompt_embed_dim: int = 256
    mask_in_chans: int = 16
    decoder_depth: int = 2
    decoder_mlp_dim: int = 2048
    decoder_num_heads: int = 8
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256
    num_multimask_outputs: int = 3
    pixel_mean: tuple[float, float, float] = SAM_PIXEL_MEAN
    pixel_std: tuple[float, float, float] = SAM_PIXEL_STD
    checkpoint_file: str | None = field(default=None, compare=False)
    shipped_weights: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "encoder_global_attn_indexes", tuple(self.encoder_global_attn_indexes))
        object.__setattr__(self, "pixel_mean", tuple(self.pixel_mean))
        object.__setattr__(self, "pixel_std", tuple(self.pixel_std))
        problems = []
        if not self.name:
            problems.append("name must not be empty")
        for key in ("encoder_embed_dim", "encoder_depth", "encoder_num_heads", "image_size", "patch_size",
                    "encoder_window_size", "prompt_embed_dim", "mask_in_chans", "decoder_depth",
                    "decoder_mlp_dim", "decoder_num_heads", "iou_head_depth", "iou_head_hidden_dim",
                    "num_multimask_outputs"):
            if getattr(self, key) <= 0:
                problems.append(f"{key} must be positive, got {getattr(self, key)}")
        if problems:
            raise ConfigError(f"invalid SamConfig {self.name!r}: " + "; ".join(problems))
        if self.image_size % self.patch_size:
            problems.append(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
        if self.encoder_embed_dim % self.encoder_num_heads:
            problems.append(f"encoder_embed_dim {self.encoder_embed_dim} is not divisible by "
                            f"encoder_num_heads {self.encoder_num_heads}")
        indexes = self.encoder_global_attn_indexes
        if list(indexes) != sorted(set(indexes)) or any(not 0 <= i < self.encoder_depth for i in indexes):
            problems.append(f"encoder_global_attn_indexes {indexes} must be increasing block indexes "
                            f"in [0, {self.encoder_depth})")
        if self.prompt_embed_dim % 8:
            problems.append(f"prompt_embed_dim {self.prompt_embed_dim} must be a multiple of 8 "
                            "(the decoder upsamples to width/8)")
        if (self.prompt_embed_dim // 2) % self.decoder_num_heads:
            problems.append(f"prompt_embed_dim/2 = {self.prompt_embed_dim // 2} is not divisible by "
                            f"decoder_num_heads {self.decoder_num_heads}")
        if self.mask_in_chans % 4:
            problems.append(f"mask_in_chans {self.mask_in_chans} must be a multiple of 4")
        if len(self.pixel_mean) != 3 or len(self.pixel_std) != 3 or min(self.pixel_std) <= 0:
            problems.append("pixel_mean and pixel_std need three values, std positive")
        if problems:
            raise ConfigError(f"invalid SamConfig {self.name!r}: " + "; ".join(problems))

    @property
    def embedding_size(self) -> int:
        """Side of the square image embedding (64 for the official models)."""
        return self.image_size // self.patch_size

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["encoder_global_attn_indexes"] = list(self.encoder_global_attn_indexes)
        data["pixel_mean"] = list(self.pixel_mean)
        data["pixel_std"] = list(self.pixel_std)
        return data

    def build(self) -> Sam:
        """A randomly initialised `segment_anything.modeling.Sam` of this architecture."""
        sam = Sam(
            image_encoder=ImageEncoderViT(
                depth=self.encoder_depth,
                embed_dim=self.encoder_embed_dim,
                img_size=self.image_size,
                mlp_ratio=self.encoder_mlp_ratio,
                norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
                num_heads=self.encoder_num_heads,
                patch_size=self.patch_size,
                qkv_bias=True,
                use_rel_pos=self.use_rel_pos,
                global_attn_indexes=self.encoder_global_attn_indexes,
                window_size=self.encoder_window_size,
                out_chans=self.prompt_embed_dim,
            ),
            prompt_encoder=PromptEncoder(
                embed_dim=self.prompt_embed_dim,
                image_embedding_size=(self.embedding_size, self.embedding_size),
                input_image_size=(self.image_size, self.image_size),
                mask_in_chans=self.mask_in_chans,
            ),
            mask_decoder=MaskDecoder(
                num_multimask_outputs=self.num_multimask_outputs,
                transformer=TwoWayTransformer(
                    depth=self.decoder_depth,
                    embedding_dim=self.prompt_embed_dim,
                    mlp_dim=self.decoder_mlp_dim,
                    num_heads=self.decoder_num_heads,
                ),
                transformer_dim=self.prompt_embed_dim,
                iou_head_depth=self.iou_head_depth,
                iou_head_hidden_dim=self.iou_head_hidden_dim,
            ),
            pixel_mean=list(self.pixel_mean),
            pixel_std=list(self.pixel_std),
        )
        return sam.eval()


def describe_sam(sam: Sam) -> dict[str, Any]:
    """The architecture facts of an existing `Sam`, read off its modules.

    Used to recognise which variant a model (or a checkpoint) is and to report mismatches.
    """
    encoder = sam.image_encoder
    decoder = sam.mask_decoder
    return {
        "image_size": int(encoder.img_size),
        "patch_size": int(encoder.patch_embed.proj.kernel_size[0]),
        "encoder_embed_dim": int(encoder.patch_embed.proj.out_channels),
        "encoder_depth": len(encoder.blocks),
        "encoder_global_attn_indexes": [i for i, b in enumerate(encoder.blocks) if b.window_size == 0],
        "prompt_embed_dim": int(sam.prompt_encoder.embed_dim),
        "decoder_depth": len(decoder.transformer.layers),
        "decoder_mlp_dim": int(decoder.transformer.mlp_dim),
        "num_multimask_outputs": int(decoder.num_multimask_outputs),
    }


@dataclass(frozen=True)
class CoreInfo:
    """Which core a trained model was built on, as saved beside its weights.

    Attributes:
        family: "sam" (segment-anything's ViT SAM).
        variant: the registered variant name, or "custom".
        architecture: `describe_sam` of the model (compared on load).
        weights: where the core's weights came from: "shipped" (the package's file for the
            variant), "random" (random init), "random:seed=N" (random init from seed N: rebuildable), a checkpoint path, or None (a `Sam` handed to
            `SamCore` directly).
    """

    family: str
    variant: str
    architecture: dict[str, Any]
    weights: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CoreInfo":
        return cls(family=data.get("family", "sam"), variant=data["variant"], architecture=dict(data["architecture"]),
                   weights=data.get("weights"))

    def differences(self, other: "CoreInfo") -> list[str]:
        """Readable `key: this vs other` for every architecture fact (and the family) that differs."""
        found = [] if self.family == other.family else [f"family: {self.family} vs {other.family}"]
        keys = sorted(set(self.architecture) | set(other.architecture))
        return found + [f"{k}: {self.architecture.get(k)} vs {other.architecture.get(k)}"
                        for k in keys if self.architecture.get(k) != other.architecture.get(k)]

