"""The method registry: every way of prompting SAM registers one `Method` from its own package.

A method (native points and boxes, RefSAM, ESC-Net, SAM-REF, or one of yours) is a subclass
of `Method` that names its model class, its typed training recipe and the kind of data it
trains on, and implements the hooks below. The command line, the training recipes, the demo,
`samprompt.save` / `samprompt.load` and the contract tests iterate this registry; nothing
outside a method's package names it.

Methods are found through the entry-point group `samprompt.methods` (the built-in ones are
declared in samprompt's own `pyproject.toml`, a third party's in theirs):

    [project.entry-points."samprompt.methods"]
    mymethod = "my_package.method:MyMethod"

or registered in-process with `register_method(MyMethod())` (and removed with `unregister_method(name)`).
"""
from __future__ import annotations

import argparse
import warnings
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Sequence

import numpy as np
from torch import Tensor, nn

from samprompt.core.config import CoreInfo
from samprompt.errors import ConfigError, ExportError, SamPromptError, UnknownNameError

if TYPE_CHECKING:
    from samprompt.core.sam_core import SamCore
    from samprompt.export.graphs import OnnxGraph
    from samprompt.recipes import MethodRecipe, Recipe, TrainingSetup

ENTRY_POINT_GROUP = "samprompt.methods"


@dataclass(frozen=True)
class EvalRequest:
    """What `samprompt eval` asks of a method: where to evaluate and the method's own CLI options.

    Attributes:
        dataset: a registered dataset name ("shapes": the procedural world).
        root / split: the dataset's folder and split (None: the method's default).
        items: how many shapes-world items to score.
        options: the parsed command line (the method's own `--` options are attributes).
    """

    dataset: str
    root: str | None
    split: str | None
    items: int
    options: argparse.Namespace


@dataclass(frozen=True)
class PredictRequest:
    """What `samprompt predict` asks: one image and the prompts given on the command line.

    Attributes:
        image: H x W x 3 uint8 RGB.
        inputs: the prompts given: "points" (list of (x, y, label)), "box" (x0, y0, x1, y1),
            "text" (a string), "classes" (a list of names); only those present.
        out: the output folder.
    """

    image: np.ndarray
    inputs: Mapping[str, Any]
    out: Path


class Method:
    """One registered way of prompting a SAM core. Subclass it, set the class attributes, implement the hooks.

    Class attributes:
        name: the registry key (also the `method` of training configs and saved folders).
        summary: one line for `--help` and the docs.
        model_class: what `build` returns and `samprompt.load` gives back.
        recipe_class: the method's typed training options (a `samprompt.recipes.MethodRecipe`).
        data_kind: the kind of registered dataset it trains and evaluates on ("interactive",
            "referring", "semantic", ...).
        predict_inputs: which `samprompt predict` prompts it takes ("points", "box", "text", "classes").
        needs_weights: whether the CLI needs trained weights to run it (False: an untrained
            model is meaningful, as plain SAM is for clicks).
        components: the parts `build` accepts in place of rebuilding them from the saved config
            (e.g. "text_encoder"); `samprompt.load` refuses any other.
        legacy_metadata_key: the metadata key under which 0.1.0 saved this method's config.
        legacy_default: 0.1.0 folders of a `PromptedSam` with no method key belong to this method.
        demo_key / demo_steps / demo_order: the demo's section name (None: no demo), its
            training steps in `samprompt demo --full` and its place in the demo (lower first).
        demo_quick_steps: its training steps in the default, quick demo (None: `demo_steps`).
        demo_uses: the methods whose demo sections this one's loads its models from: it runs after
            them, alone.
        demo_quick_seconds: about how long its quick section took on one thread, in a lane beside
            another (two CPU cores); the demo balances its side-by-side lanes by it.
    """

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    model_class: ClassVar[type[nn.Module]]
    recipe_class: ClassVar[type["MethodRecipe"]]
    data_kind: ClassVar[str]
    predict_inputs: ClassVar[frozenset[str]] = frozenset()
    needs_weights: ClassVar[bool] = True
    components: ClassVar[frozenset[str]] = frozenset()
    legacy_metadata_key: ClassVar[str | None] = None
    legacy_default: ClassVar[bool] = False
    demo_key: ClassVar[str | None] = None
    demo_steps: ClassVar[int] = 150
    demo_quick_steps: ClassVar[int | None] = None
    demo_order: ClassVar[int] = 100
    demo_uses: ClassVar[tuple[str, ...]] = ()
    demo_quick_seconds: ClassVar[float] = 60.0

    # ------------------------------------------------------------------ model
    def handles(self, model: nn.Module) -> bool:
        """Whether `model` is an instance of this method (saved under its name)."""
        return type(model) is self.model_class

    def config_of(self, model: nn.Module) -> dict[str, Any]:
        """The JSON-able config that `build` turns back into the same architecture."""
        raise NotImplementedError

    def build(self, core: "SamCore", config: Mapping[str, Any], **components: Any) -> nn.Module:
        """The model described by `config` (from `config_of`) on `core`; `components` replace parts
        that are not saved with the weights (a text encoder, a CLIP model)."""
        raise NotImplementedError

    def untrained(self, core: "SamCore") -> nn.Module:
        """The model without trained weights (only when `needs_weights` is False)."""
        raise SamPromptError(f"method {self.name!r} needs trained weights")

    def core_info(self, model: nn.Module) -> CoreInfo:
        """The core `model` was built on (default: the one `SamCore` inside it)."""
        from samprompt.methods.saving import find_core

        return find_core(model)[1].describe()

    def legacy_config(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """The method config of a folder saved by samprompt 0.1.0, from its metadata."""
        raise NotImplementedError

    # --------------------------------------------------------------- training
    def training(self, recipe: "Recipe", core: "SamCore") -> "TrainingSetup":
        """The model, dataset, task and evaluation of a training run described by `recipe`."""
        raise NotImplementedError

    # -------------------------------------------------------------------- CLI
    def add_eval_arguments(self, group: argparse._ArgumentGroup) -> None:
        """Add the method's own `samprompt eval` options (names must not clash with other methods')."""

    def evaluate(self, model: nn.Module, request: EvalRequest) -> dict[str, Any]:
        raise NotImplementedError

    def predict(self, model: nn.Module, request: PredictRequest) -> dict[str, Any]:
        raise NotImplementedError

    # ------------------------------------------------------------------- demo
    def demo(self, out: Path, steps: int, settings: Any) -> dict[str, Any]:
        raise NotImplementedError

    def demo_table(self, results: Mapping[str, Any]) -> str:
        return ""

    # ----------------------------------------------------------------- export
    def onnx_prompt_graphs(self, model: nn.Module, *, multimask_output: bool = True) -> dict[str, "OnnxGraph"]:
        """The modules `samprompt.export.export_onnx` writes for this method's prompt side, by file
        name (without ".onnx"): its prompts (text or class embeddings precomputed) to masks, and
        any refiner, each with example inputs."""
        raise ExportError(f"the {self.name!r} method's prompt path has no ONNX export yet; export its core "
                          f"(export_onnx(model.core, ...): the image encoder with LoRA merged and the click / box / "
                          f"mask prompt decoder) or only parts=('encoder',)")

    def onnx_encoder_levels(self, model: nn.Module) -> tuple[int, ...]:
        """Encoder blocks whose outputs this method's prompt graphs read (`encoder.onnx` returns
        them as `level_<block>`); none by default."""
        return ()

    def onnx_prompt_inputs(self, model: nn.Module, *, text: Sequence[str] | None = None,
                           classes: Sequence[str] | None = None) -> dict[str, Tensor]:
        """The precomputed inputs of this method's prompt graphs for `text` / `classes` (the
        text-tower side that stays outside ONNX), by graph input name."""
        raise ExportError(f"the {self.name!r} method's prompt graphs take no text or class names")

    # ---------------------------------------------------------- contract tests
    def example(self, core: "SamCore") -> nn.Module:
        """A small model on `core` (a `micro` core in the tests) for the contract tests."""
        raise NotImplementedError

    def example_output(self, model: nn.Module, images: list[np.ndarray]) -> Tensor:
        """One differentiable tensor from a forward pass of `model` on `images` (contract tests)."""
        raise NotImplementedError


_METHODS: dict[str, Method] = {}
_scanned_entry_points: set[str] = set()
_registered_by_entry_point: dict[str, str] = {}  # method name -> the entry point ("name=value") that registered it
_failed_plugins: dict[str, str] = {}  # entry-point name -> why it did not load


def register_method(method: Method, *, overwrite: bool = False) -> Method:
    """Make `method` available by its name (to the CLI, the recipes, the demo, `samprompt.load`)."""
    if not isinstance(method, Method):
        raise ConfigError(f"register_method takes a samprompt.methods.Method instance, got {type(method).__name__}")
    name = getattr(method, "name", None)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{type(method).__name__} has no name")
    if name in _METHODS and not overwrite and type(_METHODS[name]) is not type(method):
        raise ConfigError(f"a method named {name!r} is already registered ({type(_METHODS[name]).__name__})")
    _METHODS[name] = method
    return method


def load_plugins() -> None:
    """Register every method of the `samprompt.methods` entry-point group not loaded yet.

    A plug-in that fails to import or to register is skipped with a warning (the others stay
    usable); asking for it by name then raises an error that says why it did not load.
    """
    for point in entry_points(group=ENTRY_POINT_GROUP):
        key = f"{point.name}={point.value}"
        if key in _scanned_entry_points:
            continue
        _scanned_entry_points.add(key)
        try:
            loaded = point.load()
            method = register_method(loaded() if isinstance(loaded, type) else loaded)
        except Exception as error:  # a broken plug-in must not take the library down
            reason = (f"the method plug-in {point.name!r} ({point.value}) failed to load: "
                      f"{type(error).__name__}: {error}")
            _failed_plugins[point.name] = reason
            warnings.warn(reason, RuntimeWarning, stacklevel=2)
            continue
        _failed_plugins.pop(point.name, None)
        _registered_by_entry_point[method.name] = key


def unregister_method(name: str) -> Method:
    """Remove the method called `name` from the registry and return it (e.g. a plug-in a test registered).

    If an entry point registered it, that entry point is forgotten too: while its distribution is
    still installed (on `sys.path`), the next `load_plugins()` (and so `available_methods()` or an
    unknown name given to `get_method`) registers it again. Raises UnknownNameError if no method
    of that name is registered.
    """
    if name not in _METHODS:
        raise UnknownNameError(f"no method named {name!r} is registered; registered methods: "
                               f"{', '.join(sorted(_METHODS)) or 'none'}")
    key = _registered_by_entry_point.pop(name, None)
    if key is not None:
        _scanned_entry_points.discard(key)
    return _METHODS.pop(name)


def available_methods() -> list[str]:
    """Names of every registered method (built-in and plug-ins), sorted."""
    load_plugins()
    if not _METHODS:
        raise SamPromptError("no samprompt method is registered: is the package installed (pip install -e .)? "
                             f"Methods are found through the {ENTRY_POINT_GROUP!r} entry points")
    return sorted(_METHODS)


def get_method(name: str) -> Method:
    """The registered method called `name` (UnknownNameError listing the others if none is)."""
    if name not in _METHODS:
        load_plugins()
    if name not in _METHODS:
        why = f" ({_failed_plugins[name]})" if name in _failed_plugins else ""
        raise UnknownNameError(f"unknown method {name!r}{why}; registered methods: {', '.join(available_methods())}")
    return _METHODS[name]


def method_of(model: nn.Module) -> Method | None:
    """The registered method `model` belongs to, or None."""
    load_plugins()
    for method in _METHODS.values():
        if method.handles(model):
            return method
    return None
