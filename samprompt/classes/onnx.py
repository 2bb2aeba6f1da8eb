"""Class names as prompts, as an ONNX graph (`samprompt.export`): one image, K classes, K dynamic.

The graph runs the model's own `ClassPrompts` on one image: CLIP's image tower on the part of
the encoder input the image covers, the patch-class correlation, the pseudo points and masks
(softmax, threshold, batched k-means with its fixed iterations), SAM's prompt encoder and the
class token, then the core's mask decoder. What stays outside: CLIP's text tower (the class
embeddings are computed once, `model.generator.clip.encode_classes(names)`, and passed in).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from samprompt.core.structures import ImageFeatures
from samprompt.export.graphs import OnnxGraph


class ClassPromptGraph(nn.Module):
    """`(images, input_size, image_embeddings, class_embeddings)` -> `(low_res_masks, iou_predictions)`."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor, input_size: Tensor, image_embeddings: Tensor,
                class_embeddings: Tensor) -> tuple[Tensor, Tensor]:
        core = self.model.core
        side = (core.image_size, core.image_size)
        features = ImageFeatures(embeddings=image_embeddings, input_sizes=((input_size[0], input_size[1]),),
                                 original_sizes=(side,), images=images)
        prompts = self.model.generator(core, features, classes=class_embeddings)
        prediction = core.decode(features, prompts, multimask_output=self.model.multimask_output, upscale=False)
        return prediction.low_res_logits, prediction.iou_predictions


def example_inputs(model: nn.Module, classes: int, height: int, seed: int) -> tuple[Tensor, ...]:
    """A random image of `height` x the core's side in the encoder's input frame (normalised,
    padded), its size, a random embedding and `classes` unit class embeddings."""
    core = model.core
    generator = torch.Generator().manual_seed(seed)
    side = core.image_size
    images = torch.zeros(1, 3, side, side)
    images[:, :, :height] = torch.randn(1, 3, height, side, generator=generator)
    embedding = torch.randn(1, core.prompt_dim, *core.embedding_size, generator=generator)
    text = F.normalize(torch.randn(classes, model.generator.clip.embed_dim, generator=generator), dim=-1)
    return images, torch.tensor([height, side]), embedding, text


def class_prompt_graph(model: nn.Module) -> OnnxGraph:
    """A class-prompted model's path as an `OnnxGraph` (classes dynamic, the image size an input)."""
    core = model.core
    side, c, (h, w) = core.image_size, core.prompt_dim, core.embedding_size
    mh, mw = core.mask_input_size
    embed = model.generator.clip.embed_dim
    masks = core.num_mask_tokens - 1 if model.multimask_output else 1
    names = ["images", "input_size", "image_embeddings", "class_embeddings"]
    outputs = ["low_res_masks", "iou_predictions"]
    descriptions = {
        "images": f"1 x 3 x {side} x {side}: encoder.onnx's input (the image resized, normalised, padded)",
        "input_size": "2 int64: (height, width) of the resized image inside that square (before padding)",
        "image_embeddings": f"1 x {c} x {h} x {w}: encoder.onnx's image_embeddings for the image",
        "class_embeddings": f"K x {embed}: the classes' CLIP text embeddings "
                            "(model.generator.clip.encode_classes(names))",
        "low_res_masks": f"K x {masks} x {mh} x {mw}: one mask per class, logits in the padded input frame at 1/4 "
                         "scale (samprompt.prompts.classes.semantic_map turns them into a class map)",
        "iou_predictions": f"K x {masks} predicted mask IoU"}
    dynamic = {"class_embeddings": {0: "classes"}, "low_res_masks": {0: "classes"}, "iou_predictions": {0: "classes"}}
    return OnnxGraph(ClassPromptGraph(model).eval(), example_inputs(model, 3, side * 3 // 4, seed=0), names,
                     outputs, dynamic, descriptions,
                     other_inputs=example_inputs(model, 5, side // 2, seed=1))
