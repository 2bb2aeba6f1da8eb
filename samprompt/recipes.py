"""Training recipes: what `samprompt train --config FILE` runs, as typed, validated dataclasses.

A config names a registered method and holds the keys every method shares, plus the
method's own keys (its `recipe_class`, documented with each method):

    {
      "method": "native",                    # a registered method ("task" is 0.1.0's spelling)
      "variant": "tiny", "checkpoint": null, # the core (null: the shipped weights of the variant)
      "lora": {"targets": ["decoder.attn"], "rank": 4},      # LoraSettings fields
      "bottleneck": {"ratio": 0.25},                          # BottleneckSettings fields
      "gradient_checkpointing": false,       # recompute encoder blocks in backward (less memory)
      "data": {"dataset": "shapes", "size": 400, "shapes": {"noise": 40}},   # or a list of entries
      "eval_items": 100,                     # held-out shapes-world items scored after training
      "train": {"steps": 100, "batch_size": 8, "lr": 1e-3, "output_dir": "runs/native"}
    }

`lora` / `bottleneck` are the core's adapters. A method whose config declares adapters
(RefSAM) takes them from there when its config is a preset name, and must agree with them
otherwise (an error names both). Data entries name a registered dataset of the method's kind
(`samprompt.data.available_datasets(kind)`) and its options.

Writes `<output_dir>/checkpoint` (resumable), `<output_dir>/trained` (only trained tensors,
loadable with `samprompt.load`) and `<output_dir>/metrics.json`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar, Mapping

import torch
from torch import nn
from torch.utils.data import ConcatDataset, Dataset

from samprompt.core.gradient_checkpointing import use_gradient_checkpointing
from samprompt.core.registry import build_sam
from samprompt.data.registry import get_dataset
from samprompt.data.shapes import ShapesConfig
from samprompt.errors import ConfigError
from samprompt.methods.registry import Method, get_method
from samprompt.methods.saving import save
from samprompt.training import TrainConfig, Trainer
from samprompt.training.task import TrainingTask
from samprompt.training.trainer import EvalFn, LossFn
from samprompt.tuning.adapters import require_adapters
from samprompt.tuning.settings import BottleneckSettings, LoraSettings
from samprompt.tuning.state import AdapterRequest
from samprompt.utils.dataclass_config import check_types, from_dict
from samprompt.utils.files import atomic_file, writable_directory


@dataclass(frozen=True)
class MethodRecipe:
    """Base of a method's own recipe options (a frozen dataclass validating itself).

    Subclasses add fields; `from_dict` refuses keys they do not have.
    """

    what: ClassVar[str] = "method"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "MethodRecipe":
        return from_dict(cls, dict(data), f"{cls.what} recipe")


@dataclass(frozen=True)
class DataEntry:
    """One training dataset: a registered name and its options (checked against the dataset's builder)."""

    dataset: str = "shapes"
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DataEntry":
        if not isinstance(data, Mapping):
            raise ConfigError(f"a data entry is an object with a 'dataset' key, got {data!r}")
        options = dict(data)
        return cls(options.pop("dataset", "shapes"), options)

    def build(self, kind: str) -> Dataset:
        return get_dataset(self.dataset, kind)(**self.options)

    @property
    def shapes_world(self) -> Mapping[str, Any] | None:
        """The `ShapesConfig` fields of a shapes-world entry (None for other datasets)."""
        return dict(self.options.get("shapes", {})) if self.dataset == "shapes" else None


@dataclass(frozen=True)
class Recipe:
    """A whole training run: the method, the core, its adapters, the data, the trainer.

    Attributes:
        method: a registered method name.
        variant / checkpoint: the core (`build_sam`).
        lora / bottleneck: adapters added to the core.
        gradient_checkpointing: recompute encoder blocks in the backward pass.
        data: the training datasets (concatenated).
        eval_items: held-out shapes-world items scored after training (0: none).
        train: the trainer's settings.
        options: the method's own options (its `recipe_class`).
    """

    method: str = "native"
    variant: str = "tiny"
    checkpoint: str | None = None
    lora: LoraSettings | None = None
    bottleneck: BottleneckSettings | None = None
    gradient_checkpointing: bool = False
    data: tuple[DataEntry, ...] = (DataEntry(),)
    eval_items: int = 100
    train: TrainConfig = field(default_factory=TrainConfig)
    options: MethodRecipe = field(default_factory=MethodRecipe)

    def __post_init__(self) -> None:
        if self.eval_items < 0:
            raise ConfigError(f"eval_items must be >= 0, got {self.eval_items}")
        if not self.data:
            raise ConfigError("data needs at least one entry")
        kind = get_method(self.method).data_kind
        for entry in self.data:
            get_dataset(entry.dataset, kind).check_options(entry.options)
            if entry.shapes_world is not None:
                from_dict(ShapesConfig, dict(entry.shapes_world), "shapes world")

    @property
    def adapters(self) -> AdapterRequest:
        """The adapters the config's `lora` / `bottleneck` keys ask for."""
        return AdapterRequest({} if self.lora is None else {"default": self.lora}, self.bottleneck)

    @property
    def spec(self) -> Method:
        return get_method(self.method)

    def datasets(self) -> Dataset:
        """The training data: every entry of the method's kind, concatenated."""
        parts = [entry.build(self.spec.data_kind) for entry in self.data]
        return parts[0] if len(parts) == 1 else ConcatDataset(parts)

    def shapes_world(self) -> Mapping[str, Any] | None:
        """The world of the first shapes-world entry (None if no entry is one): held-out items come from it."""
        return next((entry.shapes_world for entry in self.data if entry.shapes_world is not None), None)

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> "Recipe":
        """Parse a JSON-style config (see the module docstring), refusing unknown keys."""
        if not isinstance(config, Mapping):
            raise ConfigError(f"a training config is a JSON object, got {type(config).__name__}")
        data = dict(config)
        if "task" in data and "method" in data:
            raise ConfigError("give 'method' (or 0.1.0's 'task'), not both")
        method = get_method(data.pop("method", data.pop("task", "native")))
        common = {f.name for f in fields(cls)} - {"method", "options"}
        own = {f.name for f in fields(method.recipe_class)}
        unknown = sorted(set(data) - common - own)
        if unknown:
            raise ConfigError(f"unknown config keys {unknown}; known for method {method.name!r}: "
                              f"{sorted(common | own | {'method'})}")
        plain = {key: data[key] for key in ("variant", "checkpoint", "gradient_checkpointing", "eval_items")
                 if key in data}
        check_types(cls, plain, "config")
        for key, settings in (("lora", LoraSettings), ("bottleneck", BottleneckSettings)):
            if data.get(key):
                plain[key] = from_dict(settings, data[key], key)
        if "data" in data:
            entries = data["data"] if isinstance(data["data"], list) else [data["data"]]
            plain["data"] = tuple(DataEntry.from_dict(entry) for entry in entries)
        return cls(method=method.name, train=TrainConfig.from_dict(data.get("train", {})),
                   options=method.recipe_class.from_dict({k: v for k, v in data.items() if k in own}), **plain)


@dataclass
class TrainingSetup:
    """What a method hands the trainer for a recipe.

    Attributes:
        model: the model to train (saved with `samprompt.save` afterwards).
        dataset: the training data.
        task: the method's `TrainingTask` (or a plain `loss(model, items) -> scalar`).
        evaluate: `evaluate(model) -> metrics` on held-out items, or None.
        module_lrs: learning rates by parameter-name prefix, added to the recipe's own.
    """

    model: nn.Module
    dataset: Dataset
    task: TrainingTask | LossFn
    evaluate: EvalFn | None = None
    module_lrs: dict[str, float] = field(default_factory=dict)


def run_training(recipe: Recipe) -> dict[str, Any]:
    """Build the core and the method's model, train, save, write metrics.json; returns the metrics."""
    if not recipe.train.output_dir:
        raise ConfigError("train.output_dir is required")
    writable_directory(recipe.train.output_dir, "train.output_dir")
    # The seed reaches construction too (a random-init core, LoRA matrices, prompt modules), so that
    # two runs of one config give the same weights, and a random-init core is rebuilt on load.
    core = build_sam(recipe.variant, checkpoint=recipe.checkpoint, seed=recipe.train.seed)
    torch.manual_seed(recipe.train.seed)
    require_adapters(core, recipe.adapters, owner="the training config")
    if recipe.gradient_checkpointing:
        use_gradient_checkpointing(core)
    setup = recipe.spec.training(recipe, core)
    train = recipe.train
    if setup.module_lrs:
        train = replace(train, module_lrs={**setup.module_lrs, **train.module_lrs})
    result = Trainer(setup.model, setup.task, setup.dataset, train, eval_fn=setup.evaluate).fit()

    out = Path(train.output_dir)
    save(setup.model, out / "trained")
    metrics = {"losses": result.losses, "evaluations": result.evaluations, "resumed_from": result.resumed_from}
    with atomic_file(out / "metrics.json") as staging:
        staging.write_text(json.dumps(metrics, indent=2))
    if result.evaluations:
        print(json.dumps(result.evaluations[-1], indent=2))
    return metrics


def run_training_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """`run_training(Recipe.from_dict(config))`."""
    return run_training(Recipe.from_dict(config))

