"""ESC-Net as a registered method: class names -> a semantic map (open vocabulary)."""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from samprompt.clip import load_clip
from samprompt.core.config import CoreInfo
from samprompt.data import ShapesSemantic, get_dataset
from samprompt.errors import ConfigError, SamPromptError
from samprompt.escnet.config import ESCNetConfig
from samprompt.escnet.model import ESCNet
from samprompt.escnet.task import ESCNetTask, evaluate_semantic, model_predictor
from samprompt.methods.outputs import semantic_eval_dataset, write_semantic_map
from samprompt.methods.registry import EvalRequest, Method, PredictRequest
from samprompt.metrics.semantic import format_iou_table
from samprompt.recipes import MethodRecipe, TrainingSetup

if TYPE_CHECKING:
    from samprompt.core.sam_core import SamCore
    from samprompt.recipes import Recipe


@dataclass(frozen=True)
class ESCNetRecipe(MethodRecipe):
    """ESC-Net's training options.

    Attributes:
        escnet: `ESCNetConfig` fields.
        clip: "shapes" (the shipped CLIP) or an open_clip model name.
        clip_weights: the local weights file of that open_clip model.
        size: training images are resized to size x size (None: they must share a size).
        sam_lr: learning rate of the SAM blocks (the paper: 2e-6).
        clip_lr: learning rate of CLIP's attention when `escnet.clip_finetune` is "attention".
    """

    what = "escnet"
    escnet: Mapping[str, Any] = field(default_factory=dict)
    clip: str = "shapes"
    clip_weights: str | None = None
    size: int | None = None
    sam_lr: float = 2e-6
    clip_lr: float | None = None

    def __post_init__(self) -> None:
        ESCNetConfig.from_dict(dict(self.escnet))
        if self.size is not None and self.size <= 0:
            raise ConfigError(f"size must be positive, got {self.size}")
        if self.sam_lr <= 0 or (self.clip_lr is not None and self.clip_lr <= 0):
            raise ConfigError(f"sam_lr and clip_lr must be positive, got {self.sam_lr} and {self.clip_lr}")


class ESCNetMethod(Method):
    name = "escnet"
    summary = "ESC-Net: class names -> CLIP correlation -> pseudo prompts -> SAM blocks -> a semantic map"
    model_class = ESCNet
    recipe_class = ESCNetRecipe
    data_kind = "semantic"
    predict_inputs = frozenset({"classes"})
    components = frozenset({"clip"})
    legacy_metadata_key = "escnet"
    demo_key = "escnet_classes"
    demo_steps = 600
    demo_quick_steps = 160
    demo_order = 2
    demo_quick_seconds = 170

    def config_of(self, model: nn.Module) -> dict[str, Any]:
        return {"config": model.config.to_dict(), "clip": model.clip_spec}

    def build(self, core: "SamCore", config: Mapping[str, Any], **components: Any) -> ESCNet:
        spec = config.get("clip") or {"name": "shapes"}
        clip = components.get("clip") or load_clip(spec["name"], spec.get("pretrained"))
        return ESCNet(core, clip, ESCNetConfig.from_dict(config["config"]), clip_spec=spec)

    def core_info(self, model: nn.Module) -> CoreInfo:
        return model.core_info

    def legacy_config(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        info = json.loads(metadata[self.legacy_metadata_key])
        return {"config": info["config"], "clip": info.get("clip") or {"name": "shapes"}}

    def training(self, recipe: "Recipe", core: "SamCore") -> TrainingSetup:
        options: ESCNetRecipe = recipe.options
        if len(recipe.data) != 1:
            raise ConfigError("ESC-Net trains on one semantic dataset (its labels index one class list); "
                              f"got {len(recipe.data)} data entries")
        spec = {"name": options.clip, **({"pretrained": options.clip_weights} if options.clip_weights else {})}
        model = ESCNet(core, load_clip(options.clip, options.clip_weights),
                       ESCNetConfig.from_dict(dict(options.escnet)), clip_spec=spec)
        dataset = recipe.datasets()
        task = ESCNetTask(dataset.classes, size=options.size)
        evaluate = None
        world = recipe.shapes_world()
        if recipe.eval_items and world is not None:
            test = get_dataset("shapes", "semantic")(split="val", size=recipe.eval_items, shapes=world)
            items = [test[i] for i in range(len(test))]

            def evaluate(m: nn.Module) -> dict[str, Any]:
                return evaluate_semantic(model_predictor(m), items, test.classes,
                                         device=m.device).summary(test.classes)
        return TrainingSetup(model, dataset, task, evaluate, model.module_lrs(options.sam_lr, options.clip_lr))

    def add_eval_arguments(self, group: argparse._ArgumentGroup) -> None:
        group.add_argument("--window", type=int,
                           help="escnet: sliding-window inference with this window side (1/3 overlap + global view)")

    def evaluate(self, model: nn.Module, request: EvalRequest) -> dict[str, Any]:
        dataset, count = semantic_eval_dataset(request, self.data_kind, ShapesSemantic)
        window = request.options.window
        if window is not None and window <= 0:
            raise SamPromptError(f"--window must be a positive side in pixels, got {window}")
        items = (dataset[i] for i in range(count))
        matrix = evaluate_semantic(model_predictor(model, window), items, dataset.classes, batch_size=1,
                                   device=model.device)
        summary = matrix.summary(dataset.classes, request.options.miou_convention)
        print(format_iou_table(summary["per_class_iou"]))
        return summary

    def predict(self, model: nn.Module, request: PredictRequest) -> dict[str, Any]:
        classes = list(request.inputs["classes"])
        with torch.no_grad():
            semantic = model([request.image], classes).semantic[0].cpu().numpy()
        return write_semantic_map(request, semantic, classes)

    def demo(self, out: Path, steps: int, settings: Any) -> dict[str, Any]:
        from samprompt.escnet.demo import escnet_demo

        return escnet_demo(out, steps, settings)

    def demo_table(self, results: Mapping[str, Any]) -> str:
        from samprompt.escnet.demo import escnet_table

        return escnet_table(results)

    def onnx_prompt_graphs(self, model: nn.Module, *, multimask_output: bool = True) -> dict[str, Any]:
        from samprompt.escnet.onnx import escnet_graph

        return {"escnet": escnet_graph(model)}

    def onnx_prompt_inputs(self, model: nn.Module, *, text: Any = None, classes: Any = None) -> dict[str, Tensor]:
        if text is not None or classes is None:
            raise ConfigError("ESC-Net's graph takes class names (classes), not text")
        return {"class_embeddings": model.clip.encode_classes(classes)}

    def example(self, core: "SamCore") -> ESCNet:
        config = ESCNetConfig(clip_image_size=64, templates=("a {}",), blocks=1, heads=2, window=4, guidance_dim=8,
                              decoder_dims=(8,))
        return ESCNet(core, load_clip("shapes"), config, clip_spec={"name": "shapes"})

    def example_output(self, model: nn.Module, images: list[np.ndarray]) -> Tensor:
        return model(images, ["background", "circle", "square"]).logits
