"""ESC-Net as an ONNX graph (`samprompt.export`): images and class embeddings to per-class logits.

ESC-Net holds no SAM image encoder (it sees the images through CLIP), so its one graph is the
whole model: CLIP's image tower, the correlation, the pseudo prompts through SAM's prompt
encoder, the ESC blocks and the upsampling decoder (`ESCNet.segment`, all classes at once).
Batch, image size and the number of classes stay dynamic. What stays outside: CLIP's text
tower (`model.clip.encode_classes(names)`, computed once per class list).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from samprompt.export.graphs import OnnxGraph


class ESCNetGraph(nn.Module):
    """`(images, class_embeddings)` -> `(logits, correlation)`."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor, class_embeddings: Tensor) -> tuple[Tensor, Tensor]:
        output = self.model.segment(images, class_embeddings, chunk=None)
        return output.logits, output.correlation


def example_inputs(model: nn.Module, batch: int, classes: int, size: tuple[int, int], seed: int
                    ) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, 3, *size, generator=generator) * 255
    text = F.normalize(torch.randn(classes, model.clip.embed_dim, generator=generator), dim=-1)
    return images, text


def escnet_graph(model: nn.Module) -> OnnxGraph:
    """An ESC-Net model as an `OnnxGraph` (batch, image size and classes dynamic)."""
    embed, grid = model.clip.embed_dim, model.clip.grid
    names, outputs = ["images", "class_embeddings"], ["logits", "correlation"]
    descriptions = {
        "images": "B x 3 x H x W float RGB in [0, 255], any size (CLIP's resize and normalisation are inside)",
        "class_embeddings": f"K x {embed}: the classes' CLIP text embeddings (model.clip.encode_classes(names))",
        "logits": "B x K x H x W per-class logits at the input size (argmax over K: the semantic map)",
        "correlation": f"B x K x {grid} x {grid}: CLIP's patch-class cosine correlation (the raw baseline)"}
    dynamic = {"images": {0: "batch", 2: "height", 3: "width"}, "class_embeddings": {0: "classes"},
               "logits": {0: "batch", 1: "classes", 2: "height", 3: "width"}, "correlation": {0: "batch", 1: "classes"}}
    return OnnxGraph(ESCNetGraph(model).eval(), example_inputs(model, 1, 3, (48, 64), seed=0), names, outputs,
                     dynamic, descriptions, other_inputs=example_inputs(model, 2, 5, (40, 36), seed=1))
