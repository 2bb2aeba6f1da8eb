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


def _random_core_config(output_dir) -> dict:
    return {"variant": "micro", "lora": {"targets": ["decoder.attn"], "rank": 2}, "eval_items": 0,
            "data": {"size": 4, "shapes": {"image_size": 64}},
            "train": {"steps": 2, "batch_size": 2, "lr": 1e-2, "seed": 3, "output_dir": str(output_dir),
                      "progress": False, "cpu": True}}   # bit-identical on CPU; GPU kernels need not be


def test_one_config_and_seed_give_the_same_weights_in_two_processes_and_the_core_is_rebuilt(tmp_path):
    import os
    import subprocess
    import sys

    from safetensors.torch import load_file

    from samprompt.methods.saving import WEIGHTS_FILE
    from tests.training.test_kill import ROOT

    run_training_config(_random_core_config(tmp_path / "a"))
    run_training_config(_random_core_config(tmp_path / "b"))
    path = tmp_path / "config.json"
    path.write_text(json.dumps(_random_core_config(tmp_path / "c")))
    done = subprocess.run([sys.executable, "-m", "samprompt.cli", "train", "--config", str(path)], cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())},   # same sums
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    weights = [load_file(str(tmp_path / run / "trained" / WEIGHTS_FILE)) for run in "abc"]
    assert weights[0] and all(set(w) == set(weights[0]) for w in weights)
    for key in weights[0]:
        assert torch.equal(weights[0][key], weights[1][key]) and torch.equal(weights[0][key], weights[2][key]), key
    model = samprompt.load(tmp_path / "c" / "trained")          # its random-init core, rebuilt from the seed
    assert model.core.describe().weights == "random:seed=3"
    same = samprompt.build_sam("micro", pretrained=False, seed=3)
    plain = same.sam.state_dict()
    loaded = {name.replace(".base_layer", ""): value for name, value in model.core.sam.state_dict().items()
              if "lora_" not in name}
    assert set(loaded) == set(plain)
    for name, value in loaded.items():
        assert torch.equal(value, plain[name]), name
    state = torch.get_rng_state()
    samprompt.build_sam("micro", pretrained=False, seed=3)
    assert torch.equal(state, torch.get_rng_state())            # the caller's random state is left alone
