"""Class names as prompts on the core, as a registered method: one SAM mask per (image, class)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from samprompt.classes.task import ClassPromptTask, evaluate_classes
from samprompt.clip import load_clip
from samprompt.data import ShapesSemantic, get_dataset
from samprompt.errors import ConfigError
from samprompt.methods.outputs import semantic_eval_dataset, write_semantic_map
from samprompt.methods.registry import EvalRequest, Method, PredictRequest
from samprompt.metrics.semantic import format_iou_table
from samprompt.model import PromptedSam
from samprompt.prompts.classes import DEFAULT_TEMPLATES, ClassPrompts, class_logits, semantic_map
from samprompt.prompts.pseudo import PseudoPromptSettings
from samprompt.recipes import MethodRecipe, TrainingSetup
from samprompt.training.feature_cache import FeatureCache
from samprompt.utils.dataclass_config import from_dict
from samprompt.visualize import save_png, side_by_side

if TYPE_CHECKING:
    from samprompt.core.sam_core import SamCore
    from samprompt.recipes import Recipe


@dataclass(frozen=True)
class ClassPromptRecipe(MethodRecipe):
    """The class-name generator's options.

    Attributes:
        clip / clip_weights: "shapes" (the shipped CLIP) or an open_clip model name and its local weights.
        clip_image_size: CLIP's input side for the correlation (None: the tower's own).
        templates: caption templates averaged per name.
        pseudo: `PseudoPromptSettings` fields (threshold, regions, temperature, iterations).
        classes_per_step: classes prompted per training step (present ones first).
    """

    what = "classes"
    clip: str = "shapes"
    clip_weights: str | None = None
    clip_image_size: int | None = None
    templates: Sequence[str] = DEFAULT_TEMPLATES
    pseudo: Mapping[str, Any] = field(default_factory=dict)
    classes_per_step: int = 16

    def __post_init__(self) -> None:
        from_dict(PseudoPromptSettings, dict(self.pseudo), "pseudo")
        if self.classes_per_step <= 0:
            raise ConfigError(f"classes_per_step must be positive, got {self.classes_per_step}")
        if self.clip_image_size is not None and self.clip_image_size <= 0:
            raise ConfigError(f"clip_image_size must be positive, got {self.clip_image_size}")


def class_prompted_sam(core: "SamCore", config: Mapping[str, Any], clip: Any = None) -> PromptedSam:
    """The model a `ClassPromptMethod` config describes (CLIP loaded from its spec unless given)."""
    spec = dict(config.get("clip") or {"name": "shapes"})
    bundle = clip or load_clip(spec["name"], spec.get("pretrained"))
    generator = ClassPrompts(bundle, core.prompt_dim, image_size=config.get("image_size"),
                             templates=tuple(config.get("templates", DEFAULT_TEMPLATES)),
                             settings=from_dict(PseudoPromptSettings, dict(config.get("pseudo", {})), "pseudo"),
                             clip_spec=spec)
    return PromptedSam(core, generator)


class ClassPromptMethod(Method):
    name = "classes"
    summary = "class names -> CLIP correlation -> pseudo points and masks -> SAM's own decoder, one mask per class"
    model_class = PromptedSam
    recipe_class = ClassPromptRecipe
    data_kind = "semantic"
    predict_inputs = frozenset({"classes", "points"})
    components = frozenset({"clip"})
    demo_key = "classes_on_sam"
    demo_steps = 200
    demo_quick_steps = 100
    demo_order = 4
    demo_quick_seconds = 59

    def handles(self, model: nn.Module) -> bool:
        return (type(model) is PromptedSam and type(model.generator) is ClassPrompts
                and model.refiner is None)

    def config_of(self, model: nn.Module) -> dict[str, Any]:
        generator: ClassPrompts = model.generator
        settings = generator.settings
        return {"clip": generator.clip_spec, "image_size": generator.clip.image_size,
                "templates": list(generator.clip.templates),
                "pseudo": {"threshold": settings.threshold, "regions": settings.regions,
                           "temperature": settings.temperature, "iterations": settings.iterations}}

    def build(self, core: "SamCore", config: Mapping[str, Any], **components: Any) -> PromptedSam:
        return class_prompted_sam(core, config, components.get("clip"))

    def training(self, recipe: "Recipe", core: "SamCore") -> TrainingSetup:
        options: ClassPromptRecipe = recipe.options
        if len(recipe.data) != 1:
            raise ConfigError("class prompts train on one semantic dataset (its labels index one class list); "
                              f"got {len(recipe.data)} data entries")
        spec = {"name": options.clip, **({"pretrained": options.clip_weights} if options.clip_weights else {})}
        model = class_prompted_sam(core, {"clip": spec, "image_size": options.clip_image_size,
                                          "templates": list(options.templates), "pseudo": dict(options.pseudo)})
        dataset = recipe.datasets()
        task = ClassPromptTask(dataset.classes, FeatureCache(core, keep_intermediate=False, keep_images=True),
                               options.classes_per_step)
        evaluate = None
        world = recipe.shapes_world()
        if recipe.eval_items and world is not None:
            test = get_dataset("shapes", "semantic")(split="val", size=recipe.eval_items, shapes=world)
            items = [test[i] for i in range(len(test))]
            evaluate = lambda m: evaluate_classes(m, items, test.classes)  # noqa: E731
        return TrainingSetup(model, dataset, task, evaluate)

    def evaluate(self, model: nn.Module, request: EvalRequest) -> dict[str, Any]:
        dataset, count = semantic_eval_dataset(request, self.data_kind, ShapesSemantic)
        summary = evaluate_classes(model, (dataset[i] for i in range(count)), dataset.classes,
                                   convention=request.options.miou_convention)
        print(format_iou_table(summary["per_class_iou"]))
        return summary

    def predict(self, model: nn.Module, request: PredictRequest) -> dict[str, Any]:
        if request.inputs.get("points"):
            return self._classes_then_clicks(model, request)
        classes = list(request.inputs["classes"])
        with torch.no_grad():
            prediction = model([request.image], classes=classes, multimask_output=False)
        semantic = semantic_map(class_logits(prediction, len(classes)), classes)[0]
        return write_semantic_map(request, semantic.cpu().numpy(), classes)

    def demo(self, out: Path, steps: int, settings: Any) -> dict[str, Any]:
        from samprompt.classes.demo import classes_demo

        return classes_demo(out, steps, settings)

    def demo_table(self, results: Mapping[str, Any]) -> str:
        from samprompt.classes.demo import classes_table

        return classes_table(results)

    @staticmethod
    def _classes_then_clicks(model: PromptedSam, request: PredictRequest) -> dict[str, Any]:
        """The first class named is the object (the others compete with it in the correlation); its
        mask starts a session and the clicks, in order, correct it."""
        classes = list(request.inputs["classes"])
        session = model.session(request.image, classes=classes, row=0)
        start = session.mask
        for x, y, label in request.inputs["points"]:
            session.click(x, y, positive=bool(label))
        mask = session.mask
        save_png(mask, request.out / "mask.png")
        clicks = [(x, y, bool(label)) for x, y, label in request.inputs["points"]]
        text = f"class \"{classes[0]}\" (against {', '.join(classes[1:]) or 'nothing'}) + {len(clicks)} click(s)"
        save_png(side_by_side(request.image, mask, text=text, clicks=clicks), request.out / "overlay.png")
        result = {"mask": str(request.out / "mask.png"), "overlay": str(request.out / "overlay.png"),
                  "class": classes[0], "clicks": len(clicks), "area_fraction": float(mask.mean()),
                  "area_fraction_before_clicks": float(start.mean())}
        print(json.dumps(result, indent=2))
        return result

    def onnx_prompt_graphs(self, model: nn.Module, *, multimask_output: bool = True) -> dict[str, Any]:
        from samprompt.classes.onnx import class_prompt_graph

        return {"class_prompt_decoder": class_prompt_graph(model)}

    def onnx_prompt_inputs(self, model: nn.Module, *, text: Any = None, classes: Any = None) -> dict[str, Tensor]:
        if text is not None or classes is None:
            raise ConfigError("the class-name prompt graph takes class names (classes), not text")
        return {"class_embeddings": model.generator.clip.encode_classes(classes)}

    def example(self, core: "SamCore") -> PromptedSam:
        from samprompt.tuning import LoraSettings, add_lora

        add_lora(core, LoraSettings(targets=("decoder.attn",), rank=2))
        return class_prompted_sam(core, {"templates": ["a {}"], "pseudo": {"regions": 2}})

    def example_output(self, model: nn.Module, images: list[np.ndarray]) -> Tensor:
        return model(images, classes=["background", "circle", "square"]).low_res_logits
