import json
from unittest import mock

import pytest
import torch

import samprompt
from samprompt import NativePrompts, PromptedSam
from samprompt.errors import CheckpointError, CheckpointNotFoundError
from samprompt.methods import load_trained, save_trained
from samprompt.methods import saving as saving_module
from samprompt.tuning import BottleneckSettings, LoraSettings, add_bottleneck_adapters, add_lora
from tests.helpers import LearnedTokens


def trained_model(seed: int = 0):
    torch.manual_seed(seed)
    core = samprompt.build_sam("micro")
    core.sam.mask_decoder.iou_prediction_head.requires_grad_(True)  # an unfrozen decoder part
    add_lora(core, LoraSettings(targets=("encoder.qkv", "decoder.attn"), rank=2), name="task")
    add_bottleneck_adapters(core, BottleneckSettings())
    model = PromptedSam(core, LearnedTokens(core.prompt_dim))
    with torch.no_grad():
        for parameter in model.trainable_parameters().values():
            parameter.add_(torch.randn_like(parameter) * 0.3)
    return model


def fresh_model(variant: str = "micro", seed: int = 0):
    """The same frozen core as `trained_model(seed)`, with the trainable parts scrambled."""
    torch.manual_seed(seed)
    core = samprompt.build_sam(variant)
    core.sam.mask_decoder.iou_prediction_head.requires_grad_(True)
    model = PromptedSam(core, LearnedTokens(core.prompt_dim))
    with torch.no_grad():
        for parameter in model.trainable_parameters().values():
            parameter.normal_()
    return model


def test_round_trip_reproduces_outputs_exactly(tmp_path, image):
    model = trained_model()
    expected = model([image]).low_res_logits
    save_trained(model, tmp_path / "run")
    config = json.loads((tmp_path / "run" / "adapter_config.json").read_text())
    assert config["adapters"]["lora"]["task"]["rank"] == 2 and config["adapters"]["bottleneck"]["ratio"] == 0.25
    assert config["method"] is None and config["core"]["variant"] == "micro"
    assert any("iou_prediction_head" in k for k in config["tensors"]), "the unfrozen decoder part must be saved"
    assert not any("qkv.base_layer" in k for k in config["tensors"]), "frozen weights must not be saved"

    other = fresh_model()
    assert not torch.equal(other([image]).low_res_logits, expected)
    load_trained(other, tmp_path / "run")
    assert torch.equal(other([image]).low_res_logits, expected)
    assert set(other.trainable_parameters()) == set(model.trainable_parameters())


def test_loading_onto_another_variant_fails_clearly(tmp_path):
    save_trained(trained_model(), tmp_path / "run")
    with pytest.raises(CheckpointError, match="saved for SAM variant 'micro', but this core is 'tiny'"):
        load_trained(fresh_model("tiny"), tmp_path / "run")


def test_loading_into_a_model_with_other_trained_parts_fails(tmp_path):
    save_trained(trained_model(), tmp_path / "run")
    core = samprompt.build_sam("micro")
    core.sam.mask_decoder.iou_prediction_head.requires_grad_(True)
    with pytest.raises(CheckpointError, match="saved tensors the model lacks"):
        load_trained(PromptedSam(core, NativePrompts()), tmp_path / "run")


def test_missing_directory_is_reported(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="adapter_config.json"):
        load_trained(fresh_model(), tmp_path / "nothing")


def test_failed_save_leaves_the_previous_files_intact(tmp_path, image):
    target = tmp_path / "run"
    first = trained_model(seed=0)
    save_trained(first, target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    with mock.patch.object(saving_module, "save_file", side_effect=OSError("disk full")):
        with pytest.raises(OSError, match="disk full"):
            save_trained(trained_model(seed=1), target)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"], "no temporary directory may remain"


def test_corrupt_weights_are_reported(tmp_path):
    save_trained(trained_model(), tmp_path / "run")
    weights = tmp_path / "run" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_trained(fresh_model(), tmp_path / "run")
