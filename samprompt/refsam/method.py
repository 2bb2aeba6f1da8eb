"""RefSAM as a registered method: text prompts (images and online video)."""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from samprompt.data import ShapesReferring, ShapesVideo, get_dataset
from samprompt.errors import ConfigError, SamPromptError
from samprompt.methods.outputs import click_and_box_inputs, write_best_mask
from samprompt.methods.registry import EvalRequest, Method, PredictRequest
from samprompt.recipes import MethodRecipe, TrainingSetup
from samprompt.refsam.clicks import RefSAMWithClicks, TextClickTask, row_parts
from samprompt.refsam.config import RefSAMConfig, refsam_preset
from samprompt.refsam.model import RefSAM
from samprompt.refsam.task import RefSAMTask
from samprompt.text import load_text_encoder
from samprompt.training.feature_cache import FeatureCache

if TYPE_CHECKING:
    from samprompt.core.sam_core import SamCore
    from samprompt.recipes import Recipe

# The split `samprompt eval` reads by default, per video benchmark (their released layouts).
EVAL_SPLITS = {"ref-youtube-vos": "valid", "ref-davis17": "val"}


def held_out_images(recipe: "Recipe") -> list[dict[str, Any]]:
    """The recipe's held-out referring images (its shapes world's val split), [] when it scores none."""
    world = recipe.shapes_world()
    if not recipe.eval_items or world is None:
        return []
    held_out = get_dataset("shapes", "referring")(split="val", size=recipe.eval_items, videos=0, shapes=world)
    return [held_out[i] for i in range(len(held_out))]


@dataclass(frozen=True)
class RefSAMRecipe(MethodRecipe):
    """RefSAM's training options.

    Attributes:
        refsam: a preset name ("paper", "prompts_only") or `RefSAMConfig` fields. With a preset,
            the recipe's `lora` / `bottleneck` replace the preset's adapters.
        text_encoder: "shapes" (the shipped CLIP's text tower), "open_clip:<name>" or "hf:<dir>".
        text_encoder_weights: the local weights file of an open_clip model.
        clip_frames: frames per training clip (pseudo-clips from still images).
    """

    what = "refsam"
    refsam: str | Mapping[str, Any] = "paper"
    text_encoder: str = "shapes"
    text_encoder_weights: str | None = None
    clip_frames: int = 2

    def __post_init__(self) -> None:
        if self.clip_frames <= 0:
            raise ConfigError(f"clip_frames must be positive, got {self.clip_frames}")
        self.resolve(None, None)

    def resolve(self, lora: Any, bottleneck: Any) -> RefSAMConfig:
        """The RefSAMConfig these options give, with the recipe's adapters folded into a preset."""
        if isinstance(self.refsam, str):
            preset = refsam_preset(self.refsam)
            return replace(preset, lora=lora or preset.lora, adapters=bottleneck or preset.adapters)
        return RefSAMConfig.from_dict(dict(self.refsam))


class RefSAMMethod(Method):
    name = "refsam"
    summary = "RefSAM: referring expressions -> SAM prompts (Cross-Modal MLP, hierarchical dense attention, tracking)"
    model_class = RefSAM
    recipe_class = RefSAMRecipe
    data_kind = "referring"
    predict_inputs = frozenset({"text"})
    components = frozenset({"text_encoder"})
    legacy_metadata_key = "refsam"
    demo_key = "refsam_text"
    demo_steps = 600
    demo_quick_steps = 200
    demo_order = 1
    demo_quick_seconds = 132

    def config_of(self, model: nn.Module) -> dict[str, Any]:
        return {"config": model.config.to_dict(), "text_encoder": model.text_encoder_spec}

    def build(self, core: "SamCore", config: Mapping[str, Any], **components: Any) -> RefSAM:
        spec = config.get("text_encoder") or "shapes"
        encoder = components.get("text_encoder") or load_text_encoder(spec)
        return RefSAM(core, encoder, RefSAMConfig.from_dict(config["config"]), text_encoder_spec=spec)

    def legacy_config(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        info = json.loads(metadata[self.legacy_metadata_key])
        return {"config": info["config"], "text_encoder": info.get("text_encoder")}

    def training(self, recipe: "Recipe", core: "SamCore") -> TrainingSetup:
        options: RefSAMRecipe = recipe.options
        config = options.resolve(recipe.lora, recipe.bottleneck)
        encoder = load_text_encoder(options.text_encoder, options.text_encoder_weights)
        model = RefSAM(core, encoder, config, text_encoder_spec=options.text_encoder)
        task = RefSAMTask(frames=options.clip_frames, cache=FeatureCache(core))
        items = held_out_images(recipe)
        evaluate = (lambda m: task.evaluate_images(m, items)) if items else None
        return TrainingSetup(model, recipe.datasets(), task, evaluate)

    def add_eval_arguments(self, group: argparse._ArgumentGroup) -> None:
        group.add_argument("--submission", default="out/submission",
                           help="refsam on a video benchmark: folder for the masks and submission.zip "
                                "(default: %(default)s)")

    def evaluate(self, model: nn.Module, request: EvalRequest) -> dict[str, Any]:
        from samprompt.refsam.submission import run_video_dataset

        if request.dataset == "shapes":
            images = [ShapesReferring("test", request.items)[i] for i in range(request.items)]
            clips = [ShapesVideo("test", request.items, frames=4)[i] for i in range(max(request.items // 4, 1))]
            return RefSAMTask().evaluate(model, images, clips)
        if request.dataset not in EVAL_SPLITS:
            raise SamPromptError(f"refsam is evaluated on shapes or a video benchmark ({', '.join(EVAL_SPLITS)}), "
                                 f"not {request.dataset!r}")
        if not request.root:
            raise SamPromptError(f"--dataset {request.dataset} needs --root, the dataset folder")
        dataset = get_dataset(request.dataset, self.data_kind)(
            root=request.root, split=request.split or EVAL_SPLITS[request.dataset])
        return run_video_dataset(model, dataset, request.options.submission)

    def predict(self, model: nn.Module, request: PredictRequest) -> dict[str, Any]:
        return write_best_mask(model, request, text=[request.inputs["text"]])

    def demo(self, out: Path, steps: int, settings: Any) -> dict[str, Any]:
        from samprompt.refsam.demo import refsam_demo

        return refsam_demo(out, steps, settings)

    def demo_table(self, results: Mapping[str, Any]) -> str:
        from samprompt.refsam.demo import refsam_table

        return refsam_table(results)

    def onnx_encoder_levels(self, model: nn.Module) -> tuple[int, ...]:
        from samprompt.refsam.onnx import encoder_levels

        return encoder_levels(model)

    def onnx_prompt_graphs(self, model: nn.Module, *, multimask_output: bool = True) -> dict[str, Any]:
        from samprompt.refsam.onnx import text_prompt_graph

        return {"text_prompt_decoder": text_prompt_graph(model)}

    def onnx_prompt_inputs(self, model: nn.Module, *, text: Any = None, classes: Any = None) -> dict[str, Tensor]:
        from samprompt.refsam.onnx import text_inputs

        if classes is not None or text is None:
            raise ConfigError(f"the {self.name!r} prompt graph takes expressions (text), not class names")
        return text_inputs(model, text)

    def example(self, core: "SamCore") -> RefSAM:
        from samprompt.tuning import BottleneckSettings

        config = RefSAMConfig(adapters=BottleneckSettings(ratio=0.25), track_heads=2)
        return RefSAM(core, load_text_encoder("shapes"), config, text_encoder_spec="shapes")

    def example_output(self, model: nn.Module, images: list[np.ndarray]) -> Tensor:
        """Two frames of a clip (the images, then the images again with the first frame's track
        token), so that the tracking module is part of the output too."""
        texts = [["the red circle", "a blue square"][i % 2] for i in range(len(images))]
        first = model(images, text=texts)
        second = model(images, text=texts, track=model.next_track(first))
        return torch.cat([first.low_res_logits, second.low_res_logits], dim=1)



@dataclass(frozen=True)
class RefSAMClicksRecipe(RefSAMRecipe):
    """RefSAM with clicks: RefSAM's options (tracking off) plus `TextClickTask`'s: `text_drop` /
    `click_drop` (the probabilities that a row starts without its text / its click),
    `iterations` (interactive rounds), `single_prompt_share` (steps with one round only) and
    `wrong_text` (the probability that a text + click row trains with another object's text)."""

    what = "refsam_clicks"
    refsam: str | Mapping[str, Any] = "prompts_only"
    clip_frames: int = 1
    text_drop: float = 0.2
    click_drop: float = 0.4
    iterations: int = 4
    single_prompt_share: float = 0.5
    wrong_text: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.task()

    def task(self, cache: FeatureCache | None = None) -> TextClickTask:
        """The training task these options describe (it validates them)."""
        return TextClickTask(cache=cache, text_drop=self.text_drop, click_drop=self.click_drop,
                             iterations=self.iterations, single_prompt_share=self.single_prompt_share,
                             wrong_text=self.wrong_text)

    def resolve(self, lora: Any, bottleneck: Any) -> RefSAMConfig:
        return replace(super().resolve(lora, bottleneck), tracking=False)


class RefSAMClicksMethod(RefSAMMethod):
    name = "refsam_clicks"
    summary = "RefSAM's text prompt and SAM's clicks in one prompt, trained with parts dropped (text, click or both)"
    model_class = RefSAMWithClicks
    recipe_class = RefSAMClicksRecipe
    predict_inputs = frozenset({"text", "points", "box"})
    legacy_metadata_key = None
    demo_key = "mix_and_match"
    demo_steps = 400
    demo_quick_steps = 200
    demo_order = 10
    demo_uses = ("refsam", "samref", "classes")
    demo_quick_seconds = 128

    def build(self, core: "SamCore", config: Mapping[str, Any], **components: Any) -> RefSAMWithClicks:
        spec = config.get("text_encoder") or "shapes"
        encoder = components.get("text_encoder") or load_text_encoder(spec)
        return RefSAMWithClicks(core, encoder, RefSAMConfig.from_dict(config["config"]), text_encoder_spec=spec)

    def training(self, recipe: "Recipe", core: "SamCore") -> TrainingSetup:
        options: RefSAMClicksRecipe = recipe.options
        encoder = load_text_encoder(options.text_encoder, options.text_encoder_weights)
        model = RefSAMWithClicks(core, encoder, options.resolve(recipe.lora, recipe.bottleneck),
                                 text_encoder_spec=options.text_encoder)
        task = options.task(FeatureCache(core))
        items = held_out_images(recipe)
        evaluate = (lambda m: task.evaluate_kinds(m, items)) if items else None
        return TrainingSetup(model, recipe.datasets(), task, evaluate)

    def add_eval_arguments(self, group: argparse._ArgumentGroup) -> None:
        pass  # refsam's --submission is registered by refsam itself

    def evaluate(self, model: nn.Module, request: EvalRequest) -> dict[str, Any]:
        if request.dataset != "shapes":
            raise SamPromptError(f"refsam_clicks is evaluated on shapes world, not {request.dataset!r}")
        items = [ShapesReferring("test", request.items)[i] for i in range(request.items)]
        return TextClickTask().evaluate_kinds(model, items)

    def predict(self, model: nn.Module, request: PredictRequest) -> dict[str, Any]:
        inputs: dict[str, Any] = click_and_box_inputs(request.inputs)
        if "text" in request.inputs:
            inputs["text"] = [request.inputs["text"]]
        return write_best_mask(model, request, **inputs)

    def demo(self, out: Path, steps: int, settings: Any) -> dict[str, Any]:
        from samprompt.refsam.mix_demo import mix_demo

        return mix_demo(out, steps, settings)

    def demo_table(self, results: Mapping[str, Any]) -> str:
        from samprompt.refsam.mix_demo import mix_table

        return mix_table(results)

    def example(self, core: "SamCore") -> RefSAMWithClicks:
        config = RefSAMConfig(adapters=None, tracking=False, train_decoder=False)
        return RefSAMWithClicks(core, load_text_encoder("shapes"), config, text_encoder_spec="shapes")

    def example_output(self, model: nn.Module, images: list[np.ndarray]) -> Tensor:
        """Text + click rows, then text-only and click-only rows of the same images, in one call."""
        count = len(images)
        texts = [["the red circle", "a blue square"][i % 2] for i in range(count)] * 3
        points = torch.tensor([[[12.0, 10.0]]]).repeat(3 * count, 1, 1)
        parts = row_parts(["text+click"] * count + ["text"] * count + ["click"] * count)
        return model(images, text=texts, points=points, labels=torch.ones(3 * count, 1, dtype=torch.int),
                     batch_index=torch.arange(count).repeat(3), parts=parts).low_res_logits
