"""`SamCore`: a frozen segment-anything model with a batched encode / decode interface."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from segment_anything.modeling import Sam
from segment_anything.utils.transforms import ResizeLongestSide
from torch import Tensor, nn

from samprompt.core.base import Core
from samprompt.core.config import CoreInfo, describe_sam
from samprompt.core.fast_attention import use_sdpa_attention
from samprompt.core.images import Images, resize_images
from samprompt.core.prompt_encoding import SamPromptEncoding
from samprompt.core.registry import registered_variants
from samprompt.core.structures import ImageFeatures, MaskPrediction, Prompts
from samprompt.errors import ConfigError
from samprompt.tuning.state import AdapterState


class SamCore(Core):
    """Wraps an existing `segment_anything.modeling.Sam`; frozen by default.

    The wrapped model stays a plain `Sam` (its state-dict keys are those of the official
    checkpoints under the prefix `sam.`). `encode` runs the image encoder once for a batch
    of images of any sizes; `decode` runs SAM's mask decoder for any number of prompt rows
    on those images.

    With `fast_attention` (the default) the attention modules of the encoder and the mask
    decoder compute the same function through PyTorch's fused `scaled_dot_product_attention`
    (and, for CPU inference on large maps, in cache-sized bands of queries): see
    `samprompt.core.fast_attention`; same parameters and keys; the wrapped `Sam` is switched
    in place; outputs agree with segment-anything's to float tolerance, tested; see
    docs/benchmarks.md for the speed-up.

    Device and dtype follow the module (`core.to(device, dtype)`), except that the prompt
    encoder's random Fourier matrix stays float32: segment-anything casts coordinates to
    float32 before multiplying by it, and positional encodings need the precision anyway.
    """

    family = "sam"

    def __init__(self, sam: Sam, *, frozen: bool = True, variant: str | None = None,
                 fast_attention: bool = True, weights: str | None = None) -> None:
        super().__init__()
        if not isinstance(sam, Sam):
            raise ConfigError(f"SamCore wraps a segment_anything.modeling.Sam, got {type(sam).__name__}")
        self.sam = sam
        # Kept out of the module tree (its encoder is `sam.prompt_encoder`, registered already).
        object.__setattr__(self, "_prompt_encoding", SamPromptEncoding(sam.prompt_encoder))
        self.variant = variant or self._recognise_variant()
        self.weights = weights  # where the weights came from, see `CoreInfo.weights`
        self.transform = ResizeLongestSide(sam.image_encoder.img_size)
        self.global_attn_blocks: tuple[int, ...] = tuple(
            i for i, block in enumerate(sam.image_encoder.blocks) if block.window_size == 0
        )
        self.adapters = AdapterState()  # written by samprompt.tuning only
        if frozen:
            self.freeze()
        if fast_attention:
            use_sdpa_attention(self)

    def _recognise_variant(self) -> str:
        facts = describe_sam(self.sam)
        for name, config in registered_variants().items():
            if all(facts[k] == (list(v) if isinstance(v, tuple) else v)
                   for k, v in config.to_dict().items() if k in facts):
                return name
        return "custom"

    def describe(self) -> CoreInfo:
        """The family, variant, architecture and weights source of this core (saved with trained models)."""
        return CoreInfo("sam", self.variant, describe_sam(self.sam), self.weights)

    # ----------------------------------------------------------------- module state
    @property
    def device(self) -> torch.device:
        return self.sam.image_encoder.patch_embed.proj.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.sam.image_encoder.patch_embed.proj.weight.dtype

    @property
    def image_size(self) -> int:
        """Side of the square, padded encoder input (1024 for official SAM)."""
        return self.sam.image_encoder.img_size

    @property
    def prompt_dim(self) -> int:
        """Width of prompt tokens and image embeddings (256 for official SAM)."""
        return self.sam.prompt_encoder.embed_dim

    @property
    def encoder_dim(self) -> int:
        """Width of the ViT blocks (768 / 1024 / 1280 for vit_b / vit_l / vit_h)."""
        return self.sam.image_encoder.patch_embed.proj.out_channels

    @property
    def mask_decoder(self) -> nn.Module:
        return self.sam.mask_decoder

    def intermediate_widths(self) -> dict[int, int]:
        """Index -> width of the maps `encode(keep_intermediate=True)` keeps: every global-attention
        block's output, D wide, at the embedding grid."""
        return {block: self.encoder_dim for block in self.global_attn_blocks}

    # ----------------------------------------------------------------------- encode
    def input_coords(self, xy: Tensor | np.ndarray, original_size: tuple[int, int]) -> Tensor:
        """... x 2 (x, y) pixel coordinates of an image of `original_size` (H, W) -> the encoder's
        input frame (segment-anything's `ResizeLongestSide.apply_coords`; numpy input goes through
        its numpy path, as `SamPredictor.predict` does)."""
        if isinstance(xy, Tensor):
            # apply_coords_torch's float32 arithmetic, without its deepcopy (which an ONNX trace cannot follow)
            height, width = original_size
            new_h, new_w = self.transform.get_preprocess_shape(height, width, self.transform.target_length)
            scale = torch.tensor([new_w / width, new_h / height], dtype=torch.float32, device=xy.device)
            return xy.to(torch.float) * scale
        return torch.as_tensor(self.transform.apply_coords(np.asarray(xy), tuple(original_size)), dtype=torch.float)

    def grid_coords(self, points: np.ndarray, original_size: tuple[int, int]) -> Tensor:
        """N x 2 automatic-generation clicks (pixels, float64) -> the input frame, at the precision
        of `SamAutomaticMaskGenerator` (float64 until the prompt encoder casts)."""
        return torch.as_tensor(self.transform.apply_coords(np.asarray(points, dtype=np.float64), tuple(original_size)))

    def preprocess(self, images: Images) -> tuple[Tensor, tuple, tuple]:
        """Resize (longest side), normalise and pad images into one encoder batch.

        Args:
            images: a list of H x W x 3 uint8 arrays or RGB PIL images (any sizes), or a
                float/uint8 tensor B x 3 x H x W with values in [0, 255].
        Returns:
            B x 3 x S x S input in the core's dtype, input sizes, original sizes.
        """
        resized, original_sizes = resize_images(images, self.transform, self.device)
        input_sizes = tuple(tuple(image.shape[-2:]) for image in resized)
        batch = torch.stack([self.sam.preprocess(image) for image in resized])
        return batch.to(self.dtype), input_sizes, tuple(tuple(s) for s in original_sizes)

    def encode(self, images: Images, *, keep_intermediate: bool = True, keep_images: bool = False) -> ImageFeatures:
        """Run the image encoder once on a batch of images.

        Returns `ImageFeatures` with B x C x h x w embeddings and, with `keep_intermediate`,
        the B x D x h x w outputs of every global-attention block (collected by forward
        hooks on segment-anything's own blocks).
        """
        batch, input_sizes, original_sizes = self.preprocess(images)
        embeddings, collected = self.run_encoder(batch, self.global_attn_blocks if keep_intermediate else ())
        blocks = tuple(sorted(collected))
        return ImageFeatures(
            embeddings=embeddings,
            input_sizes=input_sizes,
            original_sizes=original_sizes,
            intermediate=tuple(collected[i] for i in blocks),
            intermediate_blocks=blocks,
            images=batch if keep_images else None,
        )

    def encode_batch(self, batch: Tensor, levels: Sequence[int] = ()) -> ImageFeatures:
        """`encode` on a preprocessed B x 3 x S x S batch (sizes: the square), keeping the outputs
        of encoder blocks `levels`."""
        embeddings, collected = self.run_encoder(batch, levels)
        side = ((self.image_size, self.image_size),) * batch.shape[0]
        kept = tuple(sorted(collected))
        return ImageFeatures(embeddings=embeddings, input_sizes=side, original_sizes=side,
                             intermediate=tuple(collected[b] for b in kept), intermediate_blocks=kept)

    def preprocessing(self) -> dict[str, Any]:
        """What `preprocess` does to an H x W x 3 uint8 image, for callers outside PyTorch (ONNX)."""
        return {"resize_longest_side": self.image_size, "pixel_mean": self.sam.pixel_mean.flatten().tolist(),
                "pixel_std": self.sam.pixel_std.flatten().tolist(), "pad_to": [self.image_size, self.image_size]}

    def run_encoder(self, batch: Tensor, blocks: Sequence[int] = ()) -> tuple[Tensor, dict[int, Tensor]]:
        """segment-anything's image encoder on a preprocessed B x 3 x S x S batch -> B x C x h x w
        embeddings and block index -> B x D x h x w output of each of `blocks` (forward hooks on
        segment-anything's own blocks)."""
        encoder = self.sam.image_encoder
        collected: dict[int, Tensor] = {}
        handles = []
        for index in blocks:
            def keep(_module: nn.Module, _args: Any, output: Tensor, index: int = index) -> None:
                collected[index] = output.permute(0, 3, 1, 2)  # B x h x w x D -> B x D x h x w
            handles.append(encoder.blocks[index].register_forward_hook(keep))
        try:
            embeddings = encoder(batch)
        finally:
            for handle in handles:
                handle.remove()
        return embeddings, collected

    def input_pixels(self, features: ImageFeatures) -> list[Tensor]:
        """The resized images the encoder saw, unpadded and unnormalised: one 3 x h_i x w_i
        tensor in [0, 255] per image (h_i, w_i = `features.input_sizes`), for prompt modules
        that look at the pixels again (e.g. through CLIP). Needs `encode(..., keep_images=True)`."""
        if features.images is None:
            raise ConfigError("features.images is None: encode with keep_images=True to read the input pixels "
                              "(PromptedSam does so when its generator or refiner needs them)")
        pixels = features.images * self.sam.pixel_std.to(features.images.dtype) \
            + self.sam.pixel_mean.to(features.images.dtype)
        return [image[:, :h, :w] for image, (h, w) in zip(pixels, features.input_sizes)]

    # ---------------------------------------------------------------------- prompts
    def embed_prompts(self, points: tuple[Tensor, Tensor] | None = None, boxes: Tensor | None = None,
                      masks: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """SAM's prompt encoder on coordinates already in the encoder's input frame.

        Args:
            points: (P x N x 2 xy coordinates, P x N labels: 1 foreground, 0 background,
                -1 padding).
            boxes: P x 4 xyxy boxes.
            masks: P x 1 x H x W mask logits at `mask_input_size` (or at 4x any other grid,
                for a dense prompt on that grid).
        Returns:
            P x N' x C sparse and P x C x h x w dense embeddings in the core's dtype.
        """
        return self.prompt_encoding.embed(points, boxes, masks, dtype=self.dtype)

    # ----------------------------------------------------------------------- decode
    def decode(self, features: ImageFeatures, prompts: Prompts, *, multimask_output: bool = True,
               extra_tokens: Tensor | None = None, upscale: bool = True) -> MaskPrediction:
        """Run SAM's mask decoder for every prompt row in one batch.

        The orchestration is SAM's own (`MaskDecoder.predict_masks`), run over the
        decoder's submodules so that rows may belong to different images, carry ragged
        (masked) tokens, append extra tokens, and expose the mask-token outputs.

        Args:
            features: output of `encode` for B images.
            prompts: P rows (see `Prompts.batch_index` for which image each row uses).
            multimask_output: return the 3 ambiguity masks instead of the single one.
            extra_tokens: P x E x C tokens appended to the prompts (e.g. a track token).
            upscale: also compute logits at each image's original size.
        """
        decoder = self.sam.mask_decoder
        output_tokens = torch.cat([decoder.iou_token.weight, decoder.mask_tokens.weight], dim=0)
        hs, image, batch_index = self.run_two_way(features, prompts, output_tokens, extra_tokens)
        iou_token_out = hs[:, 0, :]
        mask_tokens_out = hs[:, 1:1 + decoder.num_mask_tokens, :]

        b = image.shape[0]
        upscaled = decoder.output_upscaling(image)
        hyper_in = torch.stack(
            [mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(decoder.output_hypernetworks_mlps)], dim=1
        )
        low_res = (hyper_in @ upscaled.flatten(2)).view(b, -1, *upscaled.shape[-2:])
        iou = decoder.iou_prediction_head(iou_token_out)

        selected = slice(1, None) if multimask_output else slice(0, 1)
        prediction = MaskPrediction(
            low_res_logits=low_res[:, selected],
            iou_predictions=iou[:, selected],
            mask_tokens=mask_tokens_out[:, selected],
            batch_index=batch_index,
        )
        if upscale:
            prediction.logits = self.upscale(prediction.low_res_logits, batch_index, features)
        return prediction

    def upscale(self, low_res_logits: Tensor, batch_index: Tensor, features: ImageFeatures) -> list[Tensor]:
        """Per row, M x H x W logits at the original size of its image (SAM's postprocessing)."""
        if len(features) == 1:  # the common single-image case: one call, no grouping
            size = (features.input_sizes[0], features.original_sizes[0])
            return list(self.sam.postprocess_masks(low_res_logits, *size))
        rows: list[Tensor | None] = [None] * low_res_logits.shape[0]
        for image in torch.unique(batch_index).tolist():
            members = torch.nonzero(batch_index == image).flatten()
            logits = self.sam.postprocess_masks(
                low_res_logits.index_select(0, members),
                features.input_sizes[image],
                features.original_sizes[image],
            )
            for row, value in zip(members.tolist(), logits):
                rows[row] = value
        return rows  # type: ignore[return-value]
