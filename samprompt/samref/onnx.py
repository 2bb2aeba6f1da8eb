"""SAM-REF's refiners as ONNX graphs (`samprompt.export`): the fusion networks, rows dynamic.

What is exported is each `FusionRefiner` (global, and local when the model has one): image,
click disks, coarse logits and SAM embedding of one frame -> error map, refined logits and their
blend. What stays with the caller, as in `SAMRefRefiner.forward`: the coarse logits (the best
of SAM's masks, bilinearly upsampled to the frame), the click disks (`click_maps` of
`SAMRefRefiner.frame_points`), and for the local refiner the detail window (`detail_windows`),
the crops (`crop`) and the paste back (`paste`) with the dynamic selector.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from samprompt.export.graphs import OnnxGraph
from samprompt.samref.fusion import FusionRefiner


class FusionGraph(nn.Module):
    """`FusionRefiner` with a tuple output (error, refined, blended)."""

    def __init__(self, fusion: FusionRefiner) -> None:
        super().__init__()
        self.fusion = fusion

    def forward(self, image: Tensor, clicks: Tensor, coarse: Tensor, embedding: Tensor) -> tuple[Tensor, ...]:
        output = self.fusion(image, clicks, coarse, embedding)
        return output.error, output.refined, output.blended


def fusion_graph(fusion: FusionRefiner, frame: int, embedding_dim: int, embedding_side: int, what: str) -> OnnxGraph:
    """An `OnnxGraph` of one fusion refiner on `frame` x `frame` inputs and an embedding grid of
    `embedding_side`; `what` names the frame in the manifest."""
    generator = torch.Generator().manual_seed(0)
    rows = 2
    inputs = (torch.randn(rows, 3, frame, frame, generator=generator),
              (torch.rand(rows, 2, frame, frame, generator=generator) > 0.97).float(),
              torch.randn(rows, 1, frame, frame, generator=generator) * 4,
              torch.randn(rows, embedding_dim, embedding_side, embedding_side, generator=generator))
    names = ["image", "clicks", "coarse_logits", "embedding"]
    outputs = ["error", "refined_logits", "blended_logits"]
    return OnnxGraph(FusionGraph(fusion).eval(), inputs, names, outputs,
                     {name: {0: "rows"} for name in names + outputs},
                     {"image": f"P x 3 x {frame} x {frame}: {what}, normalised by SAM's pixel mean / std",
                      "clicks": f"P x 2 x {frame} x {frame}: positive / negative click disks (click_maps)",
                      "coarse_logits": f"P x 1 x {frame} x {frame}: the coarse mask logits in that frame",
                      "embedding": f"P x {embedding_dim} x {embedding_side} x {embedding_side}: SAM's image "
                                   "embedding of the same region",
                      "error": "P x 1 logits: where the coarse mask is wrong",
                      "refined_logits": "P x 1 refined mask logits",
                      "blended_logits": "P x 1: sigmoid(error) x refined + (1 - sigmoid(error)) x coarse, the "
                                        "refiner's answer"})


def refiner_graphs(refiner: nn.Module, embedding_dim: int, embedding_side: int) -> dict[str, OnnxGraph]:
    """The global (and local) refiner graphs of a `SAMRefRefiner`; the global one reads the core's
    whole embedding (`embedding_side` square), the local one the embedding's crop at a quarter of
    its frame."""
    size = refiner.global_size
    graphs = {"refiner_global": fusion_graph(refiner.global_refiner, size, embedding_dim, embedding_side,
                                             f"the padded encoder input resized to {size} px")}
    if refiner.local_refiner is not None:
        local = refiner.config.local_size
        graphs["refiner_local"] = fusion_graph(refiner.local_refiner, local, embedding_dim, local // 4,
                                               f"the detail window resampled to {local} px")
    return graphs
