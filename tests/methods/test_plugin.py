"""A third-party method, installed from outside the package through the `samprompt.methods` entry
points, trained, saved, loaded, evaluated and used for prediction through the command line.

The plug-in is a module and a `.dist-info` folder written to a temporary directory put on
`sys.path`: `importlib.metadata` finds its entry point there, as it would a pip-installed package's.
No file of samprompt names it.
"""
from __future__ import annotations

import importlib
import json
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch
from PIL import Image

import samprompt
from samprompt.cli import main
from samprompt.export import export_onnx
from samprompt.methods import available_methods, get_method, method_of, unregister_method
from samprompt.methods import registry as registry_module

MODULE = "toy_samprompt_plugin"

PLUGIN_SOURCE = textwrap.dedent('''
    """A toy samprompt method: a learned constant prompt (a few sparse tokens), after the clicks if any."""
    from dataclasses import dataclass

    import numpy as np
    import torch
    from torch import nn

    from samprompt import NativePrompts, PromptedSam, PromptGenerator, Prompts
    from samprompt.data import get_dataset
    from samprompt.errors import ConfigError, SamPromptError
    from samprompt.methods import Method
    from samprompt.methods.outputs import click_and_box_inputs, write_best_mask
    from samprompt.recipes import MethodRecipe, TrainingSetup
    from samprompt.training.losses import dice_loss, sigmoid_focal_loss

    WORLD = {"image_size": 64}


    class ConstantPrompt(PromptGenerator):
        """`tokens` learned sparse tokens: one row per image, or after each row of given clicks."""

        def __init__(self, dim, tokens):
            super().__init__()
            self.tokens = nn.Parameter(torch.randn(tokens, dim) * 0.1)
            self.clicks = NativePrompts()

        def forward(self, core, features, *, points=None, labels=None, batch_index=None):
            if points is None:
                rows = len(features)
                learned = self.tokens.unsqueeze(0).expand(rows, -1, -1)
                return Prompts(learned, batch_index=torch.arange(rows, device=learned.device))
            prompts = self.clicks(core, features, points=points, labels=labels, batch_index=batch_index)
            return prompts.append_tokens(self.tokens.unsqueeze(0).expand(len(prompts), -1, -1))


    class ToyModel(PromptedSam):
        def __init__(self, core, tokens=2):
            super().__init__(core, ConstantPrompt(core.prompt_dim, tokens))
            self.tokens = tokens


    @dataclass(frozen=True)
    class ToyRecipe(MethodRecipe):
        what = "toy"
        tokens: int = 2

        def __post_init__(self):
            if self.tokens < 1:
                raise ConfigError(f"tokens must be >= 1, got {self.tokens}")


    def toy_loss(model, items):
        prediction = model([item["image"] for item in items])
        total = 0.0
        for logits, item in zip(prediction.logits, items):
            target = torch.as_tensor(item["mask"], device=logits.device)[None].float()
            total = total + 20 * sigmoid_focal_loss(logits[:1], target) + dice_loss(logits[:1], target)
        return total / len(items)


    @torch.no_grad()
    def mean_iou(model, items):
        model.eval()
        scores = []
        for item in items:
            mask = model([item["image"]]).masks[0][0].cpu().numpy()
            union = np.logical_or(mask, item["mask"]).sum()
            scores.append(np.logical_and(mask, item["mask"]).sum() / union if union else 1.0)
        return {"miou": float(np.mean(scores)), "count": len(items)}


    class ToyMethod(Method):
        name = "toy"
        summary = "a learned constant prompt (a test plug-in)"
        model_class = ToyModel
        recipe_class = ToyRecipe
        data_kind = "interactive"
        predict_inputs = frozenset({"points"})

        def config_of(self, model):
            return {"tokens": model.tokens}

        def build(self, core, config, **components):
            if components:
                raise ConfigError(f"the toy method takes no components, got {sorted(components)}")
            return ToyModel(core, **dict(config))

        def training(self, recipe, core):
            model = ToyModel(core, recipe.options.tokens)
            evaluate = None
            world = recipe.shapes_world()
            if recipe.eval_items and world is not None:
                held_out = get_dataset("shapes", self.data_kind)(split="val", size=recipe.eval_items, shapes=world)
                items = [held_out[i] for i in range(len(held_out))]
                evaluate = lambda m: mean_iou(m, items)  # noqa: E731
            return TrainingSetup(model, recipe.datasets(), toy_loss, evaluate)

        def evaluate(self, model, request):
            if request.dataset != "shapes":
                raise SamPromptError(f"the toy method is evaluated on shapes world, not {request.dataset!r}")
            test = get_dataset("shapes", self.data_kind)(split="test", size=request.items, shapes=WORLD)
            return mean_iou(model, [test[i] for i in range(len(test))])

        def predict(self, model, request):
            return write_best_mask(model, request, **click_and_box_inputs(request.inputs))

        def example(self, core):
            return ToyModel(core, 2)

        def example_output(self, model, images):
            return model(images).low_res_logits
''')


@contextmanager
def installed_toy_plugin(root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The toy plug-in installed as a distribution on `sys.path`; removed again afterwards (from
    `sys.path`, `sys.modules` and the method registry), so that no other test sees it."""
    root.mkdir()
    (root / f"{MODULE}.py").write_text(PLUGIN_SOURCE)
    info = root / f"{MODULE}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {MODULE}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[samprompt.methods]\ntoy = {MODULE}:ToyMethod\n")
    monkeypatch.syspath_prepend(str(root))
    try:
        yield
    finally:
        monkeypatch.undo()  # off sys.path first, so nothing can scan the entry point again
        importlib.invalidate_caches()
        if "toy" in registry_module._METHODS:
            unregister_method("toy")
        sys.modules.pop(MODULE, None)


def test_a_method_installed_from_outside_the_package_trains_saves_loads_and_evaluates(tmp_path, monkeypatch,
                                                                                         capsys):
    assert "toy" not in available_methods()
    with installed_toy_plugin(tmp_path / "site-packages", monkeypatch):
        assert "toy" in available_methods()
        method = get_method("toy")
        assert type(method).__module__ == MODULE

        config = {"method": "toy", "variant": "micro", "tokens": 3,
                  "data": {"dataset": "shapes", "size": 4, "shapes": {"image_size": 64}}, "eval_items": 2,
                  "train": {"steps": 2, "batch_size": 2, "output_dir": str(tmp_path / "run"), "progress": False}}
        (tmp_path / "cfg.json").write_text(json.dumps(config))
        assert main(["train", "--config", str(tmp_path / "cfg.json")]) == 0
        trained = tmp_path / "run" / "trained"
        saved = json.loads((trained / "adapter_config.json").read_text())
        assert saved["method"] == {"name": "toy", "model_class": "ToyModel"}
        assert saved["method_config"] == {"tokens": 3}
        assert saved["tensors"] == ["generator.tokens"]
        metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
        assert len(metrics["losses"]) == 2 and 0.0 <= metrics["evaluations"][-1]["miou"] <= 1.0

        capsys.readouterr()
        assert main(["eval", "--variant", "micro", "--weights", str(trained), "--items", "2",
                     "--out", str(tmp_path / "eval.json")]) == 0
        scores = json.loads((tmp_path / "eval.json").read_text())
        assert scores["count"] == 2 and 0.0 <= scores["miou"] <= 1.0
        assert main(["eval", "--method", "toy", "--variant", "micro", "--weights", str(trained), "--items", "2"]) == 0

        torch.manual_seed(0)
        model = samprompt.load(trained, samprompt.build_sam("micro"))
        assert type(model) is method.model_class and method_of(model) is method
        assert model.tokens == 3 and model.generator.tokens.shape == (3, model.core.prompt_dim)
        with pytest.raises(samprompt.errors.ExportError, match="'toy' method's prompt path has no ONNX export yet"):
            export_onnx(model, tmp_path / "onnx", parts=("prompt_decoder",))

        picture = tmp_path / "picture.png"
        Image.fromarray(np.full((40, 52, 3), 120, np.uint8)).save(picture)
        capsys.readouterr()
        assert main(["predict", "--image", str(picture), "--points", "20,20", "--variant", "micro",
                     "--weights", str(trained), "--out", str(tmp_path / "pred")]) == 0
        assert Image.open(tmp_path / "pred" / "mask.png").size == (52, 40)

    assert MODULE not in sys.modules
    assert "toy" not in available_methods()
    with pytest.raises(samprompt.errors.UnknownNameError, match="unknown method 'toy'"):
        get_method("toy")


def test_a_broken_plug_in_is_skipped_with_a_warning_and_named_when_asked_for(tmp_path, monkeypatch):
    root = tmp_path / "site-packages"
    (root / "broken_samprompt_plugin-0.1.dist-info").mkdir(parents=True)
    (root / "broken_samprompt_plugin.py").write_text("raise ImportError('needs a package that is not installed')\n")
    (root / "broken_samprompt_plugin-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: broken_samprompt_plugin\nVersion: 0.1\n")
    (root / "broken_samprompt_plugin-0.1.dist-info" / "entry_points.txt").write_text(
        "[samprompt.methods]\nbroken = broken_samprompt_plugin:Method\n")
    monkeypatch.syspath_prepend(str(root))
    try:
        with pytest.warns(RuntimeWarning, match="plug-in 'broken'.*failed to load.*not installed"):
            names = available_methods()
        assert "broken" not in names and {"native", "refsam", "escnet", "samref"} <= set(names)
        with pytest.raises(samprompt.errors.UnknownNameError, match="unknown method 'broken'.*failed to load"):
            get_method("broken")
    finally:
        monkeypatch.undo()
        importlib.invalidate_caches()
        registry_module._failed_plugins.pop("broken", None)
        registry_module._scanned_entry_points.discard("broken=broken_samprompt_plugin:Method")
        sys.modules.pop("broken_samprompt_plugin", None)
