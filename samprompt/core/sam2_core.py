"""`Sam2Core`: a frozen SAM 2 / SAM 2.1 image model (Meta's `sam2` package) behind the core contract.

The same `encode` / `decode` interface as `SamCore`, over SAM 2's own modules (Hiera image
encoder with its FPN neck, prompt encoder, mask decoder); nothing of SAM 2 is re-implemented.
What differs from SAM 1, and follows `sam2.sam2_image_predictor.SAM2ImagePredictor`:

- images are resized to the encoder's square input (no longest-side resize, no padding) by
  SAM 2's own `SAM2Transforms` ([0, 1] scale, ImageNet mean / std), so a point (x, y) of an
  H x W image lies at (x / W * S, y / H * S) in the input frame;
- `encode` also keeps the decoder's two high-resolution feature maps (`ImageFeatures.high_res`,
  already projected by the decoder's `conv_s0` / `conv_s1`) and adds `no_mem_embed` to the
  embedding, as the image predictor does;
- boxes enter the prompt encoder as two labelled corner points (labels 2 and 3) before the
  clicks, as in the image predictor;
- the decoder's object-score token comes first among the output tokens; a single-mask answer
  falls back to the best multimask output when the single mask is unstable
  (`MaskDecoder._dynamic_multimask_via_stability`, the official image-mode post-processing);
- masks are upscaled to the original size by one bilinear interpolation, and the low-res logits
  returned are clamped to [-32, 32].
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sam2.modeling.sam2_base import SAM2Base
from sam2.utils.transforms import SAM2Transforms
from torch import Tensor, nn

from samprompt.core.base import Core
from samprompt.core.config import CoreInfo
from samprompt.core.images import Images, check_image_tensor, image_array, image_list, single_image_tensor
from samprompt.core.prompt_encoding import SamPromptEncoding
from samprompt.core.structures import ImageFeatures, MaskPrediction, Prompts
from samprompt.errors import ConfigError, PromptError
from samprompt.tuning.state import AdapterState


def describe_sam2(model: SAM2Base) -> dict[str, Any]:
    """The architecture facts that tell SAM 2 variants apart (saved with trained models)."""
    trunk = model.image_encoder.trunk
    return {"image_size": model.image_size, "trunk_embed_dim": trunk.blocks[0].dim,
            "trunk_depth": len(trunk.blocks), "stage_ends": list(trunk.stage_ends),
            "prompt_embed_dim": model.sam_prompt_embed_dim, **describe_decoder(model)}


def describe_decoder(model: SAM2Base) -> dict[str, int]:
    """The mask decoder's two-way transformer: depth, attention heads and MLP width."""
    transformer = model.sam_mask_decoder.transformer
    first = transformer.layers[0]
    return {"decoder_depth": len(transformer.layers), "decoder_heads": int(first.self_attn.num_heads),
            "decoder_mlp_dim": int(first.mlp.layers[0].out_features)}


class Sam2Core(Core):
    """Wraps a `sam2.modeling.sam2_base.SAM2Base` as `core.sam` (the attribute that holds the
    official model in both families; its state-dict keys are the official checkpoint's under the
    prefix `sam.`); frozen by default (module docstring)."""

    family = "sam2"
    boxes_before_points = True   # a box's two corner tokens come before the clicks (embed_prompts)

    def __init__(self, model: SAM2Base, *, frozen: bool = True, variant: str | None = None,
                 weights: str | None = None) -> None:
        super().__init__()
        if not isinstance(model, SAM2Base):
            raise ConfigError(f"Sam2Core wraps a sam2.modeling.sam2_base.SAM2Base, got {type(model).__name__}")
        self.sam = model
        object.__setattr__(self, "_prompt_encoding", SamPromptEncoding(model.sam_prompt_encoder))
        self.variant = variant or "custom"
        self.weights = weights
        self.transforms = SAM2Transforms(resolution=model.image_size, mask_threshold=0.0)
        self.adapters = AdapterState()
        if frozen:
            self.freeze()

    def describe(self) -> CoreInfo:
        return CoreInfo(self.family, self.variant, describe_sam2(self.sam), self.weights)

    @property
    def device(self) -> torch.device:
        return self.sam.sam_mask_decoder.iou_token.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.sam.sam_mask_decoder.iou_token.weight.dtype

    @property
    def image_size(self) -> int:
        """Side of the square encoder input (1024 for the official checkpoints)."""
        return self.sam.image_size

    @property
    def prompt_dim(self) -> int:
        return self.sam.sam_prompt_embed_dim

    @property
    def mask_decoder(self) -> nn.Module:
        return self.sam.sam_mask_decoder

    def intermediate_widths(self) -> dict[int, int]:
        """Index -> width of the maps `encode(keep_intermediate=True)` keeps: each Hiera stage's
        output (stage 0 the finest, 4x the embedding grid; the last half of it)."""
        trunk = self.sam.image_encoder.trunk
        return {stage: trunk.blocks[end].dim_out for stage, end in enumerate(trunk.stage_ends)}

    # ----------------------------------------------------------------------- encode
    def input_coords(self, xy: Tensor | np.ndarray, original_size: tuple[int, int]) -> Tensor:
        """... x 2 (x, y) pixel coordinates of an image of `original_size` (H, W) -> the encoder's
        input frame (`SAM2Transforms.transform_coords` with normalize=True: divided by the width
        and height, then times the input side; numpy input becomes float32 first, as in
        `SAM2ImagePredictor.predict` and `SAM2AutomaticMaskGenerator`)."""
        if not isinstance(xy, Tensor):
            xy = torch.as_tensor(np.asarray(xy), dtype=torch.float)
        h, w = original_size
        return xy / torch.tensor([w, h], dtype=xy.dtype, device=xy.device) * self.image_size

    def grid_coords(self, points: np.ndarray, original_size: tuple[int, int]) -> Tensor:
        """N x 2 automatic-generation clicks (pixels, float64) -> the input frame, at the precision
        of `SAM2AutomaticMaskGenerator` (float32 first)."""
        return self.input_coords(points, original_size)

    def preprocess(self, images: Images) -> tuple[Tensor, tuple, tuple]:
        """Images -> B x 3 x S x S normalised input (SAM 2's transforms), input and original sizes.

        Args:
            images: H x W x 3 uint8 arrays, RGB PIL images or 3 x H x W tensors (any sizes), or a
                B x 3 x H x W uint8 / float tensor, with values in [0, 255].
        """
        if isinstance(images, Tensor):
            batch = check_image_tensor(images).to(self.device).float() / 255.0
            tensors, sizes = [self.transforms.transforms(batch)], [tuple(batch.shape[-2:])] * batch.shape[0]
        else:
            tensors, sizes = [], []
            for i, image in enumerate(image_list(images)):
                if isinstance(image, Tensor):   # 3 x H x W in [0, 255]: the tensor path, one image
                    tensor = single_image_tensor(image, i).to(self.device).float() / 255.0
                    sizes.append(tuple(tensor.shape[-2:]))
                    tensors.append(self.transforms.transforms(tensor))
                    continue
                array = image_array(image, f"image {i}")
                sizes.append(tuple(array.shape[:2]))
                tensors.append(self.transforms(array).unsqueeze(0).to(self.device))
        batch = torch.cat(tensors).to(self.dtype)
        side = (self.image_size, self.image_size)
        return batch, (side,) * len(sizes), tuple(sizes)

    def run_backbone(self, images: Images, *, keep_intermediate: bool = True) -> "Backbone":
        """One pass of SAM 2's image encoder (Hiera and its FPN neck) over a batch of images: what
        `encode` (image mode) and SAM 2's video memory (`samprompt.core.sam2_memory`) both start from."""
        return self.backbone_of(*self.preprocess(images), keep_intermediate=keep_intermediate)

    def backbone_of(self, batch: Tensor, input_sizes: tuple, original_sizes: tuple, *,
                    keep_intermediate: bool = True) -> "Backbone":
        """`run_backbone` on an already preprocessed B x 3 x S x S batch."""
        collected: list[Tensor] = []
        handle = None
        if keep_intermediate:
            handle = self.sam.image_encoder.trunk.register_forward_hook(
                lambda _module, _args, output: collected.extend(output))
        try:
            backbone_out = self.sam.forward_image(batch)
        finally:
            if handle is not None:
                handle.remove()
        _, flat, pos, sizes = self.sam._prepare_backbone_features(backbone_out)
        return Backbone(batch, input_sizes, original_sizes, list(flat), list(pos), [tuple(s) for s in sizes],
                        tuple(collected))

    def features_from(self, backbone: "Backbone", *, keep_images: bool = False) -> ImageFeatures:
        """Image-mode `ImageFeatures` from a backbone pass (`no_mem_embed` added to the embedding)."""
        flat = list(backbone.vision_feats)
        if self.sam.directly_add_no_mem_embed:
            flat[-1] = flat[-1] + self.sam.no_mem_embed
        count = backbone.batch.shape[0]
        maps = [f.permute(1, 2, 0).reshape(count, -1, *size) for f, size in zip(flat, backbone.feat_sizes)]
        return ImageFeatures(
            embeddings=maps[-1], input_sizes=backbone.input_sizes, original_sizes=backbone.original_sizes,
            intermediate=backbone.intermediate, intermediate_blocks=tuple(range(len(backbone.intermediate))),
            images=backbone.batch if keep_images else None, high_res=tuple(maps[:-1]),
        )

    def encode(self, images: Images, *, keep_intermediate: bool = True, keep_images: bool = False) -> ImageFeatures:
        """Run the image encoder once on a batch of images.

        Returns `ImageFeatures` with the B x C x h x w embedding (`no_mem_embed` added), the
        decoder's high-resolution maps (B x C/8 x 4h x 4w and B x C/4 x 2h x 2w) and, with
        `keep_intermediate`, the Hiera trunk's stage outputs (B x D_i x H_i x W_i, coarsest last).
        """
        return self.features_from(self.run_backbone(images, keep_intermediate=keep_intermediate),
                                  keep_images=keep_images)

    def encode_batch(self, batch: Tensor, levels: Sequence[int] = ()) -> ImageFeatures:
        """`encode` on a preprocessed B x 3 x S x S batch (sizes: the square), keeping the Hiera
        stage outputs `levels`."""
        side = ((self.image_size, self.image_size),) * batch.shape[0]
        features = self.features_from(self.backbone_of(batch, side, side, keep_intermediate=bool(levels)))
        kept = tuple(sorted(levels))
        return replace(features, intermediate=tuple(features.intermediate[b] for b in kept), intermediate_blocks=kept)

    def preprocessing(self) -> dict[str, Any]:
        """What `preprocess` does to an H x W x 3 uint8 image, for callers outside PyTorch (ONNX)."""
        return {"resize_to": [self.image_size, self.image_size], "divide_by": 255.0,
                "mean": list(self.transforms.mean), "std": list(self.transforms.std), "padding": None}

    def input_pixels(self, features: ImageFeatures) -> list[Tensor]:
        """The square-resized images the encoder saw, unnormalised: one 3 x S x S tensor in [0, 255]
        per image, for prompt modules that look at the pixels again (e.g. through CLIP). Needs
        `encode(..., keep_images=True)`."""
        if features.images is None:
            raise ConfigError("features.images is None: encode with keep_images=True to read the input pixels "
                              "(PromptedSam does so when its generator or refiner needs them)")
        images = features.images
        mean = torch.tensor(self.transforms.mean, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
        std = torch.tensor(self.transforms.std, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
        return list((images * std + mean) * 255.0)

    # ---------------------------------------------------------------------- prompts
    def embed_prompts(self, points: tuple[Tensor, Tensor] | None = None, boxes: Tensor | None = None,
                      masks: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """SAM 2's prompt encoder on coordinates in the encoder's input frame.

        Args:
            points: (P x N x 2 xy, P x N labels: 1 foreground, 0 background, -1 not a point).
            boxes: P x 4 xyxy, given to the encoder as corner points labelled 2 and 3 before the clicks.
            masks: P x 1 x 4h x 4w mask logits.
        Returns:
            P x N' x C sparse and P x C x h x w dense embeddings in the core's dtype.
        """
        if boxes is not None:
            corners = boxes.reshape(-1, 2, 2)
            corner_labels = torch.tensor([[2, 3]], dtype=torch.int, device=boxes.device).repeat(len(corners), 1)
            if points is None:
                points = (corners, corner_labels)
            else:
                if len(points[0]) != len(corners):
                    raise PromptError(f"points have {len(points[0])} rows and boxes {len(corners)}; expected one "
                                      "box per row of points")
                points = (torch.cat([corners, points[0].to(corners.dtype)], dim=1),
                          torch.cat([corner_labels, points[1].to(corner_labels.dtype)], dim=1))
        return self.prompt_encoding.embed(points, None, masks, dtype=self.dtype)

    # ----------------------------------------------------------------------- decode
    def decode(self, features: ImageFeatures, prompts: Prompts, *, multimask_output: bool = True,
               extra_tokens: Tensor | None = None, upscale: bool = True) -> MaskPrediction:
        """SAM 2's mask decoder for every prompt row in one batch (rows may belong to different
        images, carry padded tokens and extra tokens), as `SamCore.decode`."""
        decoder = self.sam.sam_mask_decoder
        if decoder.use_high_res_features and len(features.high_res) != 2:
            raise ConfigError("features lack SAM 2's two high-resolution maps: encode them with this Sam2Core")
        heads = [decoder.iou_token.weight, decoder.mask_tokens.weight]
        first = 1 if decoder.pred_obj_scores else 0
        if first:
            heads.insert(0, decoder.obj_score_token.weight)
        hs, src_out, batch_index = self.run_two_way(features, prompts, torch.cat(heads, dim=0), extra_tokens)
        iou_token_out = hs[:, first, :]
        mask_tokens_out = hs[:, first + 1:first + 1 + decoder.num_mask_tokens, :]
        b, dtype = src_out.shape[0], src_out.dtype
        if decoder.use_high_res_features:
            conv1, norm1, act1, conv2, act2 = decoder.output_upscaling
            feat_s0, feat_s1 = (f.index_select(0, batch_index).to(dtype) for f in features.high_res)
            upscaled = act2(conv2(act1(norm1(conv1(src_out) + feat_s1))) + feat_s0)
        else:
            upscaled = decoder.output_upscaling(src_out)
        hyper_in = torch.stack(
            [mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(decoder.output_hypernetworks_mlps)], dim=1)
        low_res = (hyper_in @ upscaled.flatten(2)).view(b, -1, *upscaled.shape[-2:])
        iou = decoder.iou_prediction_head(iou_token_out)

        if multimask_output:
            low_res, iou, tokens_out = low_res[:, 1:], iou[:, 1:], mask_tokens_out[:, 1:]
        else:
            tokens_out = mask_tokens_out[:, 0:1]
            if decoder.dynamic_multimask_via_stability and not decoder.training:
                low_res, iou = decoder._dynamic_multimask_via_stability(low_res, iou)
            else:
                low_res, iou = low_res[:, 0:1], iou[:, 0:1]
        # As SAM2ImagePredictor: full-size logits from the raw low-res ones, which are then clamped
        # to [-32, 32] (what goes back in as a mask input).
        prediction = MaskPrediction(low_res_logits=low_res.clamp(-32.0, 32.0), iou_predictions=iou,
                                    mask_tokens=tokens_out, batch_index=batch_index, unclamped_low_res_logits=low_res)
        if upscale:
            prediction.logits = self.upscale(low_res, batch_index, features)
        return prediction

    def upscale(self, low_res_logits: Tensor, batch_index: Tensor, features: ImageFeatures) -> list[Tensor]:
        """Per row, M x H x W logits at its image's original size (SAM 2's bilinear upscaling)."""
        sizes: Sequence[tuple[int, int]] = features.original_sizes
        rows: list[Tensor | None] = [None] * low_res_logits.shape[0]
        for image in torch.unique(batch_index).tolist():
            members = torch.nonzero(batch_index == image).flatten()
            logits = F.interpolate(low_res_logits.index_select(0, members).float(), sizes[image], mode="bilinear",
                                   align_corners=False).to(low_res_logits.dtype)
            for row, value in zip(members.tolist(), logits):
                rows[row] = value
        return rows  # type: ignore[return-value]


@dataclass
class Backbone:
    """One backbone pass (`Sam2Core.run_backbone`).

    Attributes:
        batch: B x 3 x S x S normalised encoder input.
        input_sizes / original_sizes: per image, (S, S) and its (H, W).
        vision_feats: per level (finest first) HW x B x C, SAM 2's flattened layout (no
            `no_mem_embed`).
        vision_pos: the matching positional encodings, HW x B x C.
        feat_sizes: per level (h, w).
        intermediate: the Hiera stage outputs, B x D_i x H_i x W_i (empty unless kept).
    """

    batch: Tensor
    input_sizes: tuple[tuple[int, int], ...]
    original_sizes: tuple[tuple[int, int], ...]
    vision_feats: list[Tensor]
    vision_pos: list[Tensor]
    feat_sizes: list[tuple[int, int]]
    intermediate: tuple[Tensor, ...]


@dataclass(frozen=True)
class Sam2Variant:
    """A SAM 2 architecture: one of Meta's SAM 2.1 configs, optionally with Hydra overrides.

    Attributes:
        config: the `sam2` package's config (`configs/sam2.1/<name>.yaml`).
        checkpoint_file: the official checkpoint's file name (None: no official weights).
        overrides: Hydra overrides applied to the config (a smaller architecture).
        shipped_weights: a weights file inside `samprompt/weights` (None: none ships).
        decoder_heads, decoder_mlp_dim: the mask decoder's two-way transformer. `SAM2Base`
            fixes them at 8 heads and a 2048-wide MLP whatever the width (no config key), which
            suits the official 256-wide decoder; a small width needs fewer heads and a narrower
            MLP (`sam2_tiny` is SAM 1 `tiny`'s decoder shape: 4 heads, 512).
    """

    config: str
    checkpoint_file: str | None = None
    overrides: tuple[str, ...] = ()
    shipped_weights: str | None = None
    decoder_heads: int = 8
    decoder_mlp_dim: int = 2048


def small_sam2_overrides(image_size: int, trunk_dim: int, stages: tuple[int, ...], global_blocks: tuple[int, ...],
                         dim: int, memory_dim: int, memory_layers: int) -> tuple[str, ...]:
    """Overrides of `sam2.1_hiera_t.yaml` for a small SAM 2 of the same design: Hiera trunk of
    width `trunk_dim` (doubling per stage), neck and decoder width `dim`, memory attention of
    `memory_layers` layers over `memory_dim`-wide memories, 8-token windows (the official 14 would
    pad a small grid)."""
    grid = image_size // 16
    widths = [trunk_dim * 2 ** i for i in reversed(range(len(stages)))]
    attention = "++model.memory_attention.layer"
    return (f"++model.image_size={image_size}",
            f"++model.image_encoder.trunk.embed_dim={trunk_dim}",
            f"++model.image_encoder.trunk.stages=[{','.join(map(str, stages))}]",
            f"++model.image_encoder.trunk.global_att_blocks=[{','.join(map(str, global_blocks))}]",
            "++model.image_encoder.trunk.window_spec=[8,8,8,4]",
            f"++model.image_encoder.neck.d_model={dim}",
            f"++model.image_encoder.neck.backbone_channel_list=[{','.join(map(str, widths))}]",
            f"++model.image_encoder.neck.position_encoding.num_pos_feats={dim}",
            f"++model.memory_attention.d_model={dim}", f"{attention}.d_model={dim}",
            f"{attention}.dim_feedforward={4 * dim}",
            f"{attention}.self_attention.embedding_dim={dim}",
            f"{attention}.self_attention.feat_sizes=[{grid},{grid}]",
            f"{attention}.cross_attention.embedding_dim={dim}",
            f"{attention}.cross_attention.feat_sizes=[{grid},{grid}]",
            f"{attention}.cross_attention.kv_in_dim={memory_dim}",
            f"++model.memory_attention.num_layers={memory_layers}",
            f"++model.memory_encoder.in_dim={dim}", f"++model.memory_encoder.out_dim={memory_dim}",
            f"++model.memory_encoder.position_encoding.num_pos_feats={memory_dim}",
            f"++model.memory_encoder.mask_downsampler.embed_dim={dim}",
            f"++model.memory_encoder.fuser.layer.dim={dim}")


SAM2_VARIANTS: dict[str, Sam2Variant] = {
    "sam2.1_hiera_t": Sam2Variant("sam2.1_hiera_t", "sam2.1_hiera_tiny.pt"),
    "sam2.1_hiera_s": Sam2Variant("sam2.1_hiera_s", "sam2.1_hiera_small.pt"),
    "sam2.1_hiera_b+": Sam2Variant("sam2.1_hiera_b+", "sam2.1_hiera_base_plus.pt"),
    "sam2.1_hiera_l": Sam2Variant("sam2.1_hiera_l", "sam2.1_hiera_large.pt"),
    # The small SAM 2 the package ships weights for (shapes world, 256 px input, 16 x 16 embedding):
    # the SAM 2.1 tiny design scaled down, memory attention and encoder included, with SAM 1 `tiny`'s
    # decoder shape (128 wide, 4 heads, MLP 512) so that its decoder can start from tiny's.
    "sam2_tiny": Sam2Variant("sam2.1_hiera_t", overrides=small_sam2_overrides(
        256, trunk_dim=32, stages=(1, 1, 2, 1), global_blocks=(3,), dim=128, memory_dim=32, memory_layers=2),
        shipped_weights="sam2_tiny.safetensors", decoder_heads=4, decoder_mlp_dim=512),
    # A very small random-init size for unit tests.
    "sam2_micro": Sam2Variant("sam2.1_hiera_t", overrides=small_sam2_overrides(
        128, trunk_dim=16, stages=(1, 1, 2, 1), global_blocks=(3,), dim=32, memory_dim=16, memory_layers=1)),
}


def reshape_decoder(model: SAM2Base, heads: int, mlp_dim: int) -> None:
    """Give `model`'s mask decoder a fresh two-way transformer (the `sam2` package's own) of the
    same depth and width with `heads` attention heads and a `mlp_dim`-wide MLP."""
    from sam2.modeling.sam.transformer import TwoWayTransformer

    width = model.sam_prompt_embed_dim
    if width % heads:
        raise ConfigError(f"decoder_heads must divide the decoder width {width}, got {heads}")
    transformer = model.sam_mask_decoder.transformer
    model.sam_mask_decoder.transformer = TwoWayTransformer(depth=len(transformer.layers), embedding_dim=width,
                                                           num_heads=heads, mlp_dim=mlp_dim)


def shipped_sam2_weights(variant: str) -> Path | None:
    """The weights file that ships inside the package for a SAM 2 `variant`, if any is installed."""
    name = SAM2_VARIANTS[variant].shipped_weights
    path = Path(__file__).resolve().parents[1] / "weights" / name if name else None
    return path if path is not None and path.is_file() else None


def build_sam2_core(variant: str, checkpoint: str | Path | None = None, *, image_size: int | None = None,
                    frozen: bool = True, seed: int | None = None, pretrained: bool = True) -> Sam2Core:
    """A `Sam2Core` of a SAM 2 architecture, built by Meta's `sam2.build_sam.build_sam2` from the
    package's own config (with its image-mode post-processing settings).

    Args:
        variant: one of `SAM2_VARIANTS`: the official `sam2.1_hiera_t`, `_s`, `_b+`, `_l`, or
            the small `sam2_tiny` (weights ship with the package) and `sam2_micro` (tests).
        checkpoint: the official file (`sam2.1_hiera_tiny.pt` etc.: a dict whose `"model"` is
            the state dict), or a safetensors export; None gives the shipped weights where
            `pretrained` and the variant has some, else random init.
        pretrained: with `checkpoint=None`, load the shipped weights (False: random init).
        image_size: another square input size (a multiple of 32; e.g. 256 for fast tests); the
            official checkpoints were trained at 1024, which is the default.
        seed: draw random-init weights from this seed without touching the caller's random state.
    """
    from sam2.build_sam import build_sam2

    from samprompt.core.weights import read_state_dict
    from samprompt.errors import CheckpointError, UnknownVariantError

    if variant not in SAM2_VARIANTS:
        raise UnknownVariantError(f"unknown SAM 2 variant {variant!r}; available: {', '.join(SAM2_VARIANTS)}")
    spec = SAM2_VARIANTS[variant]
    overrides = list(spec.overrides)
    if image_size is not None:
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size <= 0 or image_size % 32:
            raise ConfigError(f"image_size must be a positive multiple of 32, got {image_size!r}")
        overrides.append(f"++model.image_size={image_size}")
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        model = build_sam2(f"configs/sam2.1/{spec.config}.yaml", ckpt_path=None, device="cpu", mode="eval",
                           hydra_overrides_extra=overrides)
        built = describe_decoder(model)
        if (built["decoder_heads"], built["decoder_mlp_dim"]) != (spec.decoder_heads, spec.decoder_mlp_dim):
            reshape_decoder(model, spec.decoder_heads, spec.decoder_mlp_dim)
    weights = "random" if seed is None else f"random:seed={seed}"
    shipped_file = shipped_sam2_weights(variant) if checkpoint is None and pretrained and image_size is None else None
    shipped = shipped_file is not None
    if shipped:
        checkpoint = shipped_file
    if checkpoint is not None:
        state = read_state_dict(checkpoint, variant=variant)
        if any(key.startswith("image_encoder.blocks.") for key in state):
            raise CheckpointError(f"checkpoint {str(checkpoint)!r} is a SAM 1 (ViT) checkpoint, not SAM 2.1 "
                                  f"{variant!r}: build it with build_sam('vit_b' / 'vit_l' / 'vit_h', checkpoint=...)")
        expected = model.state_dict()
        missing = sorted(set(expected) - set(state))
        reshaped = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
                    for k in sorted(set(state) & set(expected)) if state[k].shape != expected[k].shape]
        if missing or reshaped or set(state) - set(expected):
            parts = [f"{len(missing)} tensors missing (e.g. {missing[:2]})"] if missing else []
            parts += [f"{len(reshaped)} of another shape (e.g. {reshaped[:2]})"] if reshaped else []
            extra = sorted(set(state) - set(expected))
            parts += [f"{len(extra)} unexpected (e.g. {extra[:2]})"] if extra else []
            raise CheckpointError(f"checkpoint {str(checkpoint)!r} does not match SAM 2.1 variant {variant!r} "
                                  f"({spec.checkpoint_file or 'no official file'}): " + ", ".join(parts))
        model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True)
        weights = "shipped" if shipped else str(Path(checkpoint).resolve())
    return Sam2Core(model, frozen=frozen, variant=variant, weights=weights)
