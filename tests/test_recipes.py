import json

import pytest
import torch

import samprompt
from samprompt.errors import ConfigError, UnknownNameError
from samprompt.recipes import Recipe, run_training_config
from samprompt.refsam import RefSAM, refsam_preset
from samprompt.tuning import BottleneckSettings, add_bottleneck_adapters


def refsam_config(tmp_path, **extra):
    return {"method": "refsam", "variant": "micro", "clip_frames": 1, "eval_items": 0,
            "data": {"dataset": "shapes", "size": 2, "videos": 0, "shapes": {"image_size": 64}},
            "train": {"steps": 1, "batch_size": 2, "output_dir": str(tmp_path / "run"), "progress": False}, **extra}


def test_recipe_adapters_replace_a_presets_and_the_saved_folder_loads(tmp_path):
    """Regression: with the "paper" preset and "bottleneck": {"ratio": 0.5}, the core trained with 0.5
    but the saved RefSAM config said 0.25, and RefSAM.load refused the folder it had written."""
    torch.manual_seed(0)
    run_training_config(refsam_config(tmp_path, refsam="paper", bottleneck={"ratio": 0.5}))
    saved = json.loads((tmp_path / "run" / "trained" / "adapter_config.json").read_text())
    assert saved["adapters"]["bottleneck"]["ratio"] == 0.5
    assert saved["method_config"]["config"]["adapters"]["ratio"] == 0.5
    torch.manual_seed(0)
    model = samprompt.load(tmp_path / "run" / "trained", samprompt.build_sam("micro"))
    assert isinstance(model, RefSAM) and model.config.adapters.ratio == 0.5
    assert model.core.adapters.bottleneck.ratio == 0.5 and model.config.train_decoder


def test_adapters_declared_twice_with_other_settings_are_refused_naming_both(tmp_path, core, text_encoder):
    add_bottleneck_adapters(core, BottleneckSettings(ratio=0.5))
    with pytest.raises(ConfigError, match=r"RefSAM config declares bottleneck adapters .*ratio=0\.25.*already has.*"
                                          r"ratio=0\.5"):
        RefSAM(core, text_encoder, refsam_preset("paper"))
    explicit = {"adapters": {"ratio": 0.25}}
    with pytest.raises(ConfigError, match=r"ratio=0\.25.*ratio=0\.5"):
        run_training_config(refsam_config(tmp_path, refsam=explicit, bottleneck={"ratio": 0.5}))


def test_recipes_are_typed_and_refuse_unknown_keys_and_names():
    recipe = Recipe.from_dict({"task": "samref", "variant": "micro", "samref": {"width": 8}, "max_extra_clicks": 2,
                               "train": {"steps": 3}})
    assert recipe.method == "samref" and recipe.options.max_extra_clicks == 2 and recipe.train.steps == 3
    with pytest.raises(ConfigError, match=r"unknown config keys \['refsam'\].*'samref'"):
        Recipe.from_dict({"method": "samref", "refsam": "paper"})
    with pytest.raises(UnknownNameError, match="unknown method 'sam3'.*native"):
        Recipe.from_dict({"method": "sam3"})
    with pytest.raises(UnknownNameError, match="unknown interactive dataset 'ade20k-150'.*semantic"):
        Recipe.from_dict({"method": "native", "data": {"dataset": "ade20k-150", "root": "x", "split": "val"}})
    with pytest.raises(ConfigError, match=r"unknown options \['videos'\] for dataset 'shapes'"):
        Recipe.from_dict({"method": "native", "data": {"dataset": "shapes", "videos": 3}})
    with pytest.raises(ConfigError, match="needs 'root'"):
        Recipe.from_dict({"method": "escnet", "data": {"dataset": "ade20k-150", "split": "validation"}})
    with pytest.raises(ConfigError, match="max_extra_clicks must be >= 0"):
        Recipe.from_dict({"method": "samref", "max_extra_clicks": -1})
