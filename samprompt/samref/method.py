"""SAM-REF as a registered method: clicks on SAM, refined by a light model that looks at the image again."""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from samprompt.data import ShapesInteractive, get_dataset
from samprompt.errors import ConfigError, SamPromptError
from samprompt.interactive import compare_refiner, evaluate_interactive
from samprompt.methods.outputs import click_and_box_inputs, write_best_mask
from samprompt.methods.registry import EvalRequest, Method, PredictRequest
from samprompt.recipes import MethodRecipe, TrainingSetup
from samprompt.samref.config import SAMRefConfig
from samprompt.samref.model import SAMRef
from samprompt.samref.task import SAMRefTask
from samprompt.training.feature_cache import FeatureCache

if TYPE_CHECKING:
    from samprompt.core.sam_core import SamCore
    from samprompt.recipes import Recipe


@dataclass(frozen=True)
class SAMRefRecipe(MethodRecipe):
    """SAM-REF's training options (SAM stays frozen; the refiner trains on cached embeddings).

    Attributes:
        samref: `SAMRefConfig` fields.
        max_extra_clicks: clicks simulated on the current errors before the trained click.
    """

    what = "samref"
    samref: Mapping[str, Any] = field(default_factory=dict)
    max_extra_clicks: int = 4

    def __post_init__(self) -> None:
        SAMRefConfig.from_dict(dict(self.samref))
        if self.max_extra_clicks < 0:
            raise ConfigError(f"max_extra_clicks must be >= 0, got {self.max_extra_clicks}")


class SAMRefMethod(Method):
    name = "samref"
    summary = "SAM-REF: the image encoded once; per click a light refiner fuses image, clicks and SAM's mask"
    model_class = SAMRef
    recipe_class = SAMRefRecipe
    data_kind = "interactive"
    predict_inputs = frozenset({"points", "box"})
    legacy_metadata_key = "samref"
    demo_key = "samref_clicks"
    demo_steps = 300
    demo_quick_steps = 100
    demo_order = 3
    demo_quick_seconds = 120

    def config_of(self, model: nn.Module) -> dict[str, Any]:
        return {"config": model.config.to_dict()}

    def build(self, core: "SamCore", config: Mapping[str, Any], **components: Any) -> SAMRef:
        return SAMRef(core, SAMRefConfig.from_dict(config["config"]))

    def legacy_config(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        return {"config": json.loads(metadata[self.legacy_metadata_key])["config"]}

    def onnx_prompt_graphs(self, model: nn.Module, *, multimask_output: bool = True) -> dict[str, Any]:
        from samprompt.export.graphs import prompt_decoder_graph
        from samprompt.samref.onnx import refiner_graphs

        core = model.core
        return {"prompt_decoder": prompt_decoder_graph(core, multimask_output=multimask_output),
                **refiner_graphs(model.refiner, core.prompt_dim, core.embedding_size[0])}

    def training(self, recipe: "Recipe", core: "SamCore") -> TrainingSetup:
        options: SAMRefRecipe = recipe.options
        model = SAMRef(core, SAMRefConfig.from_dict(dict(options.samref)))
        task = SAMRefTask(cache=FeatureCache(core, keep_intermediate=False, keep_images=True),
                          max_extra_clicks=options.max_extra_clicks)
        evaluate = None
        world = recipe.shapes_world()
        if recipe.eval_items and world is not None:
            held_out = get_dataset("shapes", "interactive")(split="val", size=recipe.eval_items, shapes=world)
            items = [held_out[i] for i in range(len(held_out))]

            def evaluate(m: nn.Module) -> dict[str, Any]:
                summary, _ = evaluate_interactive(m, items, refine=True)
                return {k: v for k, v in summary.items() if k != "miou_per_click"}
        return TrainingSetup(model, recipe.datasets(), task, evaluate)

    def add_eval_arguments(self, group: argparse._ArgumentGroup) -> None:
        group.add_argument("--max-clicks", type=int, default=20,
                           help="samref: clicks per object (default: %(default)s)")

    def evaluate(self, model: nn.Module, request: EvalRequest) -> dict[str, Any]:
        if request.options.max_clicks <= 0:
            raise SamPromptError(f"--max-clicks must be positive, got {request.options.max_clicks}")
        if request.dataset == "shapes":
            dataset: Any = ShapesInteractive("test", request.items)
        else:
            spec = get_dataset(request.dataset, self.data_kind)
            if not request.root:
                raise SamPromptError(f"--dataset {request.dataset} needs --root, the dataset folder")
            dataset = spec(root=request.root, split=request.split or "val")
        compared = compare_refiner(model, (dataset[i] for i in range(len(dataset))),
                                   max_clicks=request.options.max_clicks, same_clicks=False, progress=True)
        return {"sam_alone": compared["sam_alone"][0], "samref": compared["refined"][0]}

    def predict(self, model: nn.Module, request: PredictRequest) -> dict[str, Any]:
        return write_best_mask(model, request, **click_and_box_inputs(request.inputs))

    def demo(self, out: Path, steps: int, settings: Any) -> dict[str, Any]:
        from samprompt.samref.demo import samref_demo

        return samref_demo(out, steps, settings)

    def demo_table(self, results: Mapping[str, Any]) -> str:
        from samprompt.samref.demo import samref_table

        return samref_table(results)

    def example(self, core: "SamCore") -> SAMRef:
        return SAMRef(core, SAMRefConfig(local_size=32, width=8, blocks=1))

    def example_output(self, model: nn.Module, images: list[np.ndarray]) -> Tensor:
        points = torch.tensor([[[20.0, 16.0], [8.0, 8.0]]] * len(images))
        labels = torch.tensor([[1, 0]] * len(images))
        return model(images, points=points, labels=labels, batch_index=torch.arange(len(images))).refined_logits
