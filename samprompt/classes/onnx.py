"""Class names as prompts, as an ONNX graph (`samprompt.export`): one image, K classes, K dynamic.

The graph runs the model's own `ClassPrompts` on one image: CLIP's image tower on the part of
the encoder input the image covers, the patch-class correlation, the pseudo points and masks
(softmax, threshold, batched k-means with its fixed iterations), SAM's prompt encoder and the
class token, then the core's mask decoder. What stays outside: CLIP's text tower (the class
embeddings are computed once, `model.generator.clip.encode_classes(names)`, and passed in).
"""
from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from samprompt.export.graphs import (
    OnnxGraph,
    describe_maps,
    encoder_outputs,
    image_inputs,
    image_side_names,
    square_features,
)


class ClassPromptGraph(nn.Module):
    """`(images, input_size, image side: image_embeddings[, high_res_0, high_res_1], class_embeddings)`
    -> `(low_res_masks, iou_predictions)`."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.input_names = ["images", "input_size", *image_side_names(model.core), "class_embeddings"]

    def forward(self, *inputs: Tensor) -> tuple[Tensor, Tensor]:
        named = dict(zip(self.input_names, inputs))
        core = self.model.core
        size = named["input_size"]
        features = replace(square_features(core, named), input_sizes=((size[0], size[1]),), images=named["images"])
        prompts = self.model.generator(core, features, classes=named["class_embeddings"])
        prediction = core.decode(features, prompts, multimask_output=self.model.multimask_output, upscale=False)
        return prediction.low_res_logits, prediction.iou_predictions


def example_inputs(model: nn.Module, classes: int, height: int, seed: int,
                   maps: dict[str, Tensor] | None = None) -> tuple[Tensor, ...]:
    """A random image of `height` x the core's side in the encoder's input frame (normalised,
    padded; SAM 2 fills the square whatever `height`), its size, the image side (shaped as `maps`,
    the encoder's outputs, when given) and `classes` unit class embeddings, in the graph's input order."""
    core = model.core
    generator = torch.Generator().manual_seed(seed)
    side = core.image_size
    height = height if core.family == "sam" else side
    images = torch.zeros(1, 3, side, side)
    images[:, :, :height] = torch.randn(1, 3, height, side, generator=generator)
    text = F.normalize(torch.randn(classes, model.generator.clip.embed_dim, generator=generator), dim=-1)
    return images, torch.tensor([height, side]), *image_inputs(core, seed=seed, maps=maps)[0].values(), text


def class_prompt_graph(model: nn.Module) -> OnnxGraph:
    """A class-prompted model's path as an `OnnxGraph` (classes dynamic, the image size an input)."""
    core = model.core
    side, (mh, mw) = core.image_size, core.mask_input_size
    embed = model.generator.clip.embed_dim
    masks = core.num_mask_tokens - 1 if model.multimask_output else 1
    module = ClassPromptGraph(model).eval()
    maps = encoder_outputs(core)                                  # one encoder pass gives every shape
    outputs = ["low_res_masks", "iou_predictions"]
    descriptions = {
        "images": f"1 x 3 x {side} x {side}: encoder.onnx's input (core.preprocess)",
        "input_size": "2 int64: (height, width) of the resized image inside that square before padding (SAM 2: "
                      f"{side}, {side})",
        **describe_maps(maps, "1"),
        "class_embeddings": f"K x {embed}: the classes' CLIP text embeddings "
                            "(model.generator.clip.encode_classes(names))",
        "low_res_masks": f"K x {masks} x {mh} x {mw}: one mask per class, logits in the input frame at 1/4 "
                         "scale (samprompt.prompts.classes.semantic_map turns them into a class map)",
        "iou_predictions": f"K x {masks} predicted mask IoU"}
    dynamic = {"class_embeddings": {0: "classes"}, "low_res_masks": {0: "classes"}, "iou_predictions": {0: "classes"}}
    return OnnxGraph(module, example_inputs(model, 3, side * 3 // 4, seed=0, maps=maps), module.input_names, outputs,
                     dynamic, descriptions, other_inputs=example_inputs(model, 5, side // 2, seed=1, maps=maps))
