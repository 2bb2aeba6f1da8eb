"""The modules that are exported to ONNX: the core's image encoder and its prompt-to-mask path.

They run the core's own parts (segment-anything's or sam2's modules, the core's decoder
orchestration), written without data-dependent indexing so that the traced graph keeps a
dynamic number of prompt rows and points:

- `EncoderGraph`: B x 3 x S x S preprocessed input (`core.preprocess`: SAM resizes the longest
  side and pads, SAM 2 resizes to the square) -> the image embedding, SAM 2's two
  high-resolution maps (`high_res_0`, `high_res_1`) and any encoder levels a prompt module
  reads (`level_<b>`): together, the image side every prompt graph takes (`image_inputs`);
- `PromptDecoderGraph`: the image side and P rows of N labelled points in the encoder's input
  frame -> P x M low-res mask logits and P x M predicted IoUs. Labels follow segment-anything's
  ONNX model: 1 foreground, 0 background, -1 padding, 2 / 3 a box's top-left / bottom-right
  corner; a row may carry a mask prompt (`mask_input`, switched on by `has_mask_input`). Unlike
  the PyTorch prompt encoder no padding point is appended: rows arrive padded as the caller
  wants them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

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


def level_name(block: int) -> str:
    """The graph name of encoder level `block`'s output (a SAM block, a SAM 2 Hiera stage)."""
    return f"level_{block}"


def image_side_names(core: Core, levels: Sequence[int] = ()) -> list[str]:
    """The names of the encoder outputs a prompt graph takes, in order."""
    high_res = [f"high_res_{i}" for i in range(2)] if core.family == "sam2" else []
    return ["image_embeddings", *high_res, *(level_name(b) for b in levels)]


def encoder_outputs(core: Core, levels: Sequence[int] = ()) -> dict[str, Tensor]:
    """The encoder's outputs for one (blank) image by graph name: the shapes of the image side."""
    with torch.no_grad():
        features = core.encode_batch(torch.zeros(1, 3, core.image_size, core.image_size, dtype=core.dtype,
                                                 device=core.device), levels)
    return dict(zip(image_side_names(core, levels), [features.embeddings, *features.high_res, *features.intermediate]))


def describe_maps(maps: Mapping[str, Tensor], batch: str) -> dict[str, str]:
    """name -> "<batch> x C x h x w" (plus where a prompt graph's input comes from)."""
    source = "" if batch == "B" else ": encoder.onnx's output of that name for the image"
    return {n: " x ".join([batch, *(str(s) for s in m.shape[1:])]) + source for n, m in maps.items()}


def image_inputs(core: Core, levels: Sequence[int] = (), seed: int = 0, maps: Mapping[str, Tensor] | None = None
                 ) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Random example values of the image side of a prompt graph (one image) by name, shaped as
    the encoder's outputs (`maps`: those outputs when already at hand, saving an encoder pass),
    and their descriptions."""
    generator = torch.Generator().manual_seed(seed)
    maps = maps if maps is not None else encoder_outputs(core, levels)
    inputs = {n: torch.randn(m.shape, generator=generator).to(m.device, m.dtype) for n, m in maps.items()}
    return inputs, describe_maps(maps, "1")


def square_features(core: Core, named: Mapping[str, Tensor], levels: Sequence[int] = ()) -> ImageFeatures:
    """`ImageFeatures` for one image that fills the encoder's input square (the frame the graphs'
    coordinates live in), from a graph's named image-side inputs."""
    side = (core.image_size, core.image_size)
    blocks = tuple(sorted(levels))
    high_res = tuple(named[f"high_res_{i}"] for i in range(2)) if core.family == "sam2" else ()
    return ImageFeatures(embeddings=named["image_embeddings"], input_sizes=(side,), original_sizes=(side,),
                         intermediate=tuple(named[level_name(b)] for b in blocks), intermediate_blocks=blocks,
                         high_res=high_res)


class EncoderGraph(nn.Module):
    """The core's image encoder alone (LoRA merged by the exporter, bottleneck adapters inside)
    -> the image side of the prompt graphs (module docstring)."""

    def __init__(self, core: Core, levels: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.core = core
        self.levels = levels

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        features = self.core.encode_batch(images, self.levels)
        return (features.embeddings, *features.high_res, *features.intermediate)


class PromptDecoderGraph(nn.Module):
    """Points (and box corners, and mask prompts) -> masks on one image's encoder outputs (module
    docstring); called with the image side (`image_side_names`), then point_coords,
    point_labels, mask_input, has_mask_input."""

    def __init__(self, core: Core, *, multimask_output: bool = True) -> None:
        super().__init__()
        self.core = core
        self.multimask_output = multimask_output
        self.image_side = image_side_names(core)
        encoder = core.prompt_encoding.encoder
        self.mask_downscaling = encoder.mask_downscaling
        self.no_mask = encoder.no_mask_embed

    def forward(self, *inputs: Tensor) -> tuple[Tensor, Tensor]:
        """Args: the image side, P x N x 2, P x N, P x 1 x 4h x 4w, P. Returns P x M x 4h x 4w, P x M."""
        named = dict(zip(self.image_side, inputs))
        point_coords, point_labels, mask_input, has_mask_input = inputs[len(self.image_side):]
        dtype = named["image_embeddings"].dtype
        sparse = self.core.prompt_encoding.point_tokens(point_coords, point_labels, pad=False).to(dtype)
        has_mask = has_mask_input.reshape(-1, 1, 1, 1).to(dtype)
        dense = self.mask_downscaling(mask_input.to(dtype)) * has_mask + \
            self.no_mask.weight.reshape(1, -1, 1, 1) * (1 - has_mask)
        rows = torch.zeros_like(point_labels[:, 0], dtype=torch.long)
        prediction = self.core.decode(square_features(self.core, named), Prompts(sparse, dense, batch_index=rows),
                                      multimask_output=self.multimask_output, upscale=False)
        return prediction.low_res_logits, prediction.iou_predictions


def encoder_graph(core: Core, batch: int = 1, levels: tuple[int, ...] = ()) -> OnnxGraph:
    """The image encoder as an `OnnxGraph` (dynamic batch), with the outputs of encoder levels `levels`."""
    side = core.image_size
    example = torch.randn(batch, 3, side, side, dtype=core.dtype, device=core.device)
    maps = encoder_outputs(core, levels)
    names = list(maps)
    what = ("resized (longest side), normalised by SAM's pixel mean / std and zero-padded" if core.family == "sam"
            else "resized to the square, divided by 255 and normalised by SAM 2's mean / std")
    return OnnxGraph(EncoderGraph(core, levels).eval(), (example,), ["images"], names,
                     {"images": {0: "batch"}, **{name: {0: "batch"} for name in names}},
                     {"images": f"B x 3 x {side} x {side} float: the image {what} (core.preprocess)",
                      **describe_maps(maps, "B")})


def prompt_decoder_graph(core: Core, *, multimask_output: bool = True, rows: int = 3, points: int = 2) -> OnnxGraph:
    """`PromptDecoderGraph` as an `OnnxGraph` (dynamic rows and points per row)."""
    generator = torch.Generator().manual_seed(0)
    side, (h, w) = core.image_size, core.mask_input_size
    image_side, descriptions = image_inputs(core)
    prompts = (torch.rand(rows, points, 2, generator=generator) * side,
               torch.tensor([[1.0] + [0.0] * (points - 1)] * rows), torch.randn(rows, 1, h, w, generator=generator),
               torch.zeros(rows))
    inputs = (*image_side.values(), *(t.to(core.device, core.dtype) for t in prompts))
    names = [*image_side, "point_coords", "point_labels", "mask_input", "has_mask_input"]
    outputs = ["low_res_masks", "iou_predictions"]
    masks = 3 if multimask_output else 1
    return OnnxGraph(PromptDecoderGraph(core, multimask_output=multimask_output).eval(), inputs, names, outputs,
                     {"point_coords": {0: "rows", 1: "points"}, "point_labels": {0: "rows", 1: "points"},
                      "mask_input": {0: "rows"}, "has_mask_input": {0: "rows"}, "low_res_masks": {0: "rows"},
                      "iou_predictions": {0: "rows"}},
                     {**descriptions,
                      "point_coords": f"P x N x 2 float (x, y) in the encoder's {side} px input frame (original "
                                      "pixels through core.input_coords)",
                      "point_labels": "P x N float: 1 foreground, 0 background, -1 padding, 2 / 3 box corners "
                                      "(top-left / bottom-right; SAM 2 puts them before the clicks)",
                      "mask_input": f"P x 1 x {h} x {w} float mask logits (a previous low_res_masks output)",
                      "has_mask_input": "P float: 1 where the row's mask_input is used, else 0",
                      "low_res_masks": f"P x {masks} x {h} x {w} mask logits in the input frame at 1/4 scale (SAM: "
                                       "crop to the resized image, then upscale to the original; SAM 2: upscale)",
                      "iou_predictions": f"P x {masks} predicted mask IoU"})
