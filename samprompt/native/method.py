"""The native method: SAM's own points, boxes and masks on the core, tuned with adapters."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from samprompt.data.shapes_datasets import ShapesInteractive, shapes_interactive
from samprompt.errors import ConfigError, SamPromptError
from samprompt.methods.outputs import click_and_box_inputs, write_best_mask
from samprompt.methods.registry import EvalRequest, Method, PredictRequest
from samprompt.model import PromptedSam
from samprompt.native.task import NativeTask
from samprompt.prompts.native import NativePrompts
from samprompt.recipes import MethodRecipe, TrainingSetup
from samprompt.training.feature_cache import FeatureCache

if TYPE_CHECKING:
    from samprompt.core.sam_core import SamCore
    from samprompt.recipes import Recipe


@dataclass(frozen=True)
class NativeRecipe(MethodRecipe):
    """The native method's options: the share of steps prompted with a box (else one click).

    The adapters it trains are the recipe's `lora` / `bottleneck`.
    """

    what = "native"
    box_probability: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.box_probability <= 1.0:
            raise ConfigError(f"box_probability must be in [0, 1], got {self.box_probability}")


class NativeMethod(Method):
    name = "native"
    summary = "SAM's own clicks, boxes and mask prompts on the core, tuned with LoRA / bottleneck adapters"
    model_class = PromptedSam
    recipe_class = NativeRecipe
    data_kind = "interactive"
    predict_inputs = frozenset({"points", "box"})
    needs_weights = False
    legacy_default = True
    demo_key = "native_points_boxes"
    demo_steps = 150
    demo_order = 0
    demo_quick_seconds = 72

    def handles(self, model: nn.Module) -> bool:
        return (type(model) is PromptedSam and type(model.generator) is NativePrompts
                and model.refiner is None)

    def config_of(self, model: nn.Module) -> dict[str, Any]:
        return {"frame": model.generator.frame}

    def build(self, core: "SamCore", config: Mapping[str, Any], **components: Any) -> PromptedSam:
        return PromptedSam(core, NativePrompts(**dict(config or {})))

    def untrained(self, core: "SamCore") -> PromptedSam:
        return self.build(core, {})

    def legacy_config(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        return {}

    def onnx_prompt_graphs(self, model: nn.Module, *, multimask_output: bool = True) -> dict[str, Any]:
        from samprompt.export.graphs import prompt_decoder_graph

        return {"prompt_decoder": prompt_decoder_graph(model.core, multimask_output=multimask_output)}

    def training(self, recipe: "Recipe", core: "SamCore") -> TrainingSetup:
        if not core.adapters.lora and core.adapters.bottleneck is None:
            raise ConfigError("the native method trains adapters: give 'lora' and/or 'bottleneck' settings")
        model = self.untrained(core)
        task = NativeTask(cache=FeatureCache(core), box_probability=recipe.options.box_probability)
        evaluate = None
        world = recipe.shapes_world()
        if recipe.eval_items and world is not None:
            held_out = shapes_interactive("val", recipe.eval_items, world)
            items = [held_out[i] for i in range(len(held_out))]
            evaluate = lambda m: task.evaluate(m, items)  # noqa: E731
        return TrainingSetup(model, recipe.datasets(), task, evaluate)

    def evaluate(self, model: nn.Module, request: EvalRequest) -> dict[str, Any]:
        if request.dataset != "shapes":
            raise SamPromptError(f"the native method is evaluated on shapes world, not {request.dataset!r}")
        items = [ShapesInteractive("test", request.items)[i] for i in range(request.items)]
        return NativeTask().evaluate(model, items)

    def predict(self, model: nn.Module, request: PredictRequest) -> dict[str, Any]:
        return write_best_mask(model, request, **click_and_box_inputs(request.inputs))

    def demo(self, out: Path, steps: int, settings: Any) -> dict[str, Any]:
        from samprompt.native.demo import native_demo

        return native_demo(out, steps, settings)

    def demo_table(self, results: Mapping[str, Any]) -> str:
        from samprompt.native.demo import native_table

        return native_table(results)

    def example(self, core: "SamCore") -> PromptedSam:
        from samprompt.tuning import LoraSettings, add_lora

        add_lora(core, LoraSettings(targets=("encoder.qkv", "decoder.attn"), rank=2))
        return self.untrained(core)

    def example_output(self, model: nn.Module, images: list[np.ndarray]) -> Tensor:
        boxes = torch.tensor([[4.0, 4.0, 30.0, 28.0]] * len(images))
        return model(images, boxes=boxes, batch_index=torch.arange(len(images))).low_res_logits
