"""The modules that are exported to ONNX: the core's image encoder and its prompt-to-mask path.

They run the core's own parts (segment-anything's modules, the core's decoder orchestration),
written without data-dependent indexing so that the traced graph keeps a dynamic number of
prompt rows and points:

- `EncoderGraph`: B x 3 x S x S normalised, padded input -> B x C x h x w image embeddings
  (`SamCore.preprocess` makes the input: longest-side resize, SAM's pixel mean / std, padding);
- `PromptDecoderGraph`: an image embedding and P rows of N labelled points in the encoder's
  input frame -> P x M low-res mask logits and P x M predicted IoUs. Labels follow
  segment-anything's ONNX model: 1 foreground, 0 background, -1 padding, 2 / 3 a box's top-left /
  bottom-right corner; a row may carry a mask prompt (`mask_input`, switched on by
  `has_mask_input`). Unlike the PyTorch prompt encoder no padding point is appended: rows
  arrive padded as the caller wants them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from samprompt.core.base import Core
from samprompt.core.structures import ImageFeatures, Prompts


@dataclass
class OnnxGraph:
    """A module to export and how: example inputs, names, which axes stay dynamic, what each input is.

    Attributes:
        module: called with `inputs` in order.
        inputs: example tensors (their values also serve the ONNX Runtime check).
        input_names / output_names: the graph's names.
        dynamic_axes: name -> {axis: symbolic name}, for inputs and outputs.
        descriptions: name -> what the tensor is (shape, frame, dtype), written to the manifest.
        other_inputs: inputs of other sizes along the dynamic axes for the second check (default:
            `samprompt.export.onnx.second_inputs` makes them from `inputs`).
    """

    module: nn.Module
    inputs: tuple[Tensor, ...]
    input_names: list[str]
    output_names: list[str]
    dynamic_axes: dict[str, dict[int, str]] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    other_inputs: tuple[Tensor, ...] | None = None


class EncoderGraph(nn.Module):
    """The core's image encoder alone (LoRA merged by the exporter, bottleneck adapters inside),
    returning the embeddings and the outputs of `levels` (encoder blocks a prompt module reads,
    e.g. RefSAM's hierarchical dense attention)."""

    def __init__(self, core: Core, levels: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.core = core
        self.levels = levels

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        embeddings, collected = self.core.run_encoder(images, self.levels)
        return (embeddings, *(collected[b] for b in self.levels))


def level_name(block: int) -> str:
    """The graph name of encoder block `block`'s output."""
    return f"level_{block}"


def square_features(core: Core, embeddings: Tensor, levels: dict[int, Tensor] | None = None) -> ImageFeatures:
    """`ImageFeatures` for one image that fills the encoder's input square (the frame the graphs'
    coordinates live in), from graph inputs."""
    side = (core.image_size, core.image_size)
    blocks = tuple(sorted(levels or {}))
    return ImageFeatures(embeddings=embeddings, input_sizes=(side,), original_sizes=(side,),
                         intermediate=tuple(levels[b] for b in blocks), intermediate_blocks=blocks)


class PromptDecoderGraph(nn.Module):
    """Points (and box corners, and mask prompts) -> masks on one image embedding (module docstring)."""

    def __init__(self, core: Core, *, multimask_output: bool = True) -> None:
        super().__init__()
        self.core = core
        self.multimask_output = multimask_output
        encoder = core.prompt_encoding.encoder
        self.mask_downscaling = encoder.mask_downscaling
        self.no_mask = encoder.no_mask_embed

    def forward(self, image_embeddings: Tensor, point_coords: Tensor, point_labels: Tensor, mask_input: Tensor,
                has_mask_input: Tensor) -> tuple[Tensor, Tensor]:
        """Args: 1 x C x h x w, P x N x 2, P x N, P x 1 x 4h x 4w, P. Returns P x M x 4h x 4w, P x M."""
        dtype = image_embeddings.dtype
        sparse = self.core.prompt_encoding.point_tokens(point_coords, point_labels, pad=False).to(dtype)
        has_mask = has_mask_input.reshape(-1, 1, 1, 1).to(dtype)
        dense = self.mask_downscaling(mask_input.to(dtype)) * has_mask + \
            self.no_mask.weight.reshape(1, -1, 1, 1) * (1 - has_mask)
        rows = torch.zeros_like(point_labels[:, 0], dtype=torch.long)
        prediction = self.core.decode(square_features(self.core, image_embeddings),
                                      Prompts(sparse, dense, batch_index=rows),
                                      multimask_output=self.multimask_output, upscale=False)
        return prediction.low_res_logits, prediction.iou_predictions


def encoder_graph(core: Core, batch: int = 1, levels: tuple[int, ...] = ()) -> OnnxGraph:
    """The image encoder as an `OnnxGraph` (dynamic batch), with the outputs of encoder blocks `levels`."""
    side = core.image_size
    example = torch.randn(batch, 3, side, side, dtype=core.dtype, device=core.device)
    names = ["image_embeddings", *(level_name(b) for b in levels)]
    widths = core.intermediate_widths()
    (h, w) = core.embedding_size
    return OnnxGraph(EncoderGraph(core, levels).eval(), (example,), ["images"], names,
                     {"images": {0: "batch"}, **{name: {0: "batch"} for name in names}},
                     {"images": f"B x 3 x {side} x {side} float: the image resized (longest side {side}), "
                                "normalised by SAM's pixel mean / std and zero-padded (SamCore.preprocess)",
                      "image_embeddings": "B x C x h x w",
                      **{level_name(b): f"B x {widths[b]} x {h} x {w}: the output of encoder block {b}"
                         for b in levels}})


def prompt_decoder_graph(core: Core, *, multimask_output: bool = True, rows: int = 3, points: int = 2) -> OnnxGraph:
    """`PromptDecoderGraph` as an `OnnxGraph` (dynamic rows and points per row)."""
    generator = torch.Generator().manual_seed(0)
    side, (h, w) = core.image_size, core.mask_input_size
    c, (eh, ew) = core.prompt_dim, core.embedding_size
    inputs = (torch.randn(1, c, eh, ew, generator=generator), torch.rand(rows, points, 2, generator=generator) * side,
              torch.tensor([[1.0] + [0.0] * (points - 1)] * rows), torch.randn(rows, 1, h, w, generator=generator),
              torch.zeros(rows))
    inputs = tuple(t.to(core.device, core.dtype) for t in inputs)
    names = ["image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input"]
    outputs = ["low_res_masks", "iou_predictions"]
    masks = 3 if multimask_output else 1
    return OnnxGraph(PromptDecoderGraph(core, multimask_output=multimask_output).eval(), inputs, names, outputs,
                     {"point_coords": {0: "rows", 1: "points"}, "point_labels": {0: "rows", 1: "points"},
                      "mask_input": {0: "rows"}, "has_mask_input": {0: "rows"}, "low_res_masks": {0: "rows"},
                      "iou_predictions": {0: "rows"}},
                     {"image_embeddings": f"1 x {c} x {eh} x {ew}: the encoder's output for one image",
                      "point_coords": f"P x N x 2 float (x, y) in the encoder's {side} px input frame (original "
                                      "pixels times the resize factor, SamCore.input_coords)",
                      "point_labels": "P x N float: 1 foreground, 0 background, -1 padding, 2 / 3 box corners "
                                      "(top-left / bottom-right)",
                      "mask_input": f"P x 1 x {h} x {w} float mask logits (a previous low_res_masks output)",
                      "has_mask_input": "P float: 1 where the row's mask_input is used, else 0",
                      "low_res_masks": f"P x {masks} x {h} x {w} mask logits in the padded input frame at 1/4 "
                                       "scale (crop to the resized image, upscale to the original)",
                      "iou_predictions": f"P x {masks} predicted mask IoU"})
