import json

import pytest
import torch

import samprompt
from samprompt import NativePrompts, PromptedSam
from samprompt.errors import CheckpointError, CheckpointNotFoundError
from samprompt.methods import load_trained, save_trained
from samprompt.tuning import BottleneckSettings, LoraSettings, add_bottleneck_adapters, add_lora
from tests.helpers import LearnedTokens, file_size_limit


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
    with file_size_limit(1024), pytest.raises(OSError, match="File too large"):   # a real refused write
        save_trained(trained_model(seed=1), target)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"], "no temporary directory may remain"


def test_corrupt_weights_are_reported(tmp_path):
    save_trained(trained_model(), tmp_path / "run")
    weights = tmp_path / "run" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_trained(fresh_model(), tmp_path / "run")


def test_nan_or_integer_weights_in_a_saved_folder_are_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    save_trained(trained_model(), tmp_path / "run")
    weights = tmp_path / "run" / "adapter_model.safetensors"
    tensors = load_file(str(weights))
    key = sorted(tensors)[0]
    for value, expected in ((torch.full_like(tensors[key], float("nan")), "NaN or infinite"),
                            (tensors[key].round().to(torch.int32), "dtype torch.int32")):
        save_file({**tensors, key: value}, str(weights))
        with pytest.raises(CheckpointError, match=f"tensor '{key}'.*{expected}"):
            load_trained(fresh_model(), tmp_path / "run")


@pytest.mark.parametrize("change, expected", [
    (lambda c: c.pop("core"), "'core' must be an object"),
    (lambda c: c.update(core={"variant": 3, "architecture": {}}), "'core' must be an object"),
    (lambda c: c.update(method="native"), "'method' must be null or an object"),
    (lambda c: c.update(adapters=[1]), "'adapters' must be null or an object"),
    (lambda c: c["adapters"].update(lora={"default": 4}), "'adapters.lora' must be"),
    (lambda c: c.update(tensors="all"), "'tensors' must be a list"),
])
def test_a_wrongly_structured_adapter_config_is_named(tmp_path, change, expected):
    save_trained(trained_model(), tmp_path / "run")
    path = tmp_path / "run" / "adapter_config.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=f"adapter_config.json'?: {expected}"):
        load_trained(fresh_model(), tmp_path / "run")


def test_a_folder_given_as_a_sam_checkpoint_is_named(tmp_path):
    with pytest.raises(CheckpointError, match="is a folder; expected the checkpoint file"):
        samprompt.build_sam("micro", checkpoint=tmp_path)


def write_0_1_0_folder(model, directory, metadata: dict) -> None:
    """`model`'s trained tensors in the layout samprompt 0.1.0 wrote (format 1: adapters at the top
    level, the method's config as JSON inside the metadata)."""
    from safetensors.torch import save_file

    from samprompt.methods.saving import trained_state_dict
    from samprompt.tuning import active_lora

    core = model.core
    tensors = {k: v.contiguous() for k, v in trained_state_dict(model).items()}
    directory.mkdir(parents=True)
    save_file(tensors, str(directory / "adapter_model.safetensors"), metadata={"format": "samprompt-trained/1"})
    config = {
        "format": "samprompt-trained/1",
        "core": {"prefix": "core", "variant": core.variant, "architecture": samprompt.core.describe_sam(core.sam)},
        "lora": {name: s.to_dict() for name, s in core.adapters.lora.items()}, "active_lora": active_lora(core),
        "bottleneck": None if core.adapters.bottleneck is None else core.adapters.bottleneck.to_dict(),
        "model_class": type(model).__name__, "tensors": sorted(tensors), "metadata": metadata,
    }
    (directory / "adapter_config.json").write_text(json.dumps(config, indent=2))


def test_folders_written_by_0_1_0_still_load(tmp_path, image, text_encoder):
    from samprompt.refsam import RefSAM, RefSAMConfig

    torch.manual_seed(0)
    core = samprompt.build_sam("micro")
    refsam = RefSAM(core, text_encoder, RefSAMConfig(dense="da", track_heads=2))
    with torch.no_grad():
        for parameter in refsam.trainable_parameters().values():
            parameter.add_(torch.randn_like(parameter) * 0.1)
    info = {"config": refsam.config.to_dict(), "text_encoder": None}
    write_0_1_0_folder(refsam, tmp_path / "refsam", {"refsam": json.dumps(info), "step": 3})
    torch.manual_seed(0)
    loaded = samprompt.load(tmp_path / "refsam", samprompt.build_sam("micro"), text_encoder=text_encoder)
    assert isinstance(loaded, RefSAM) and loaded.config == refsam.config
    assert loaded.core.adapters.bottleneck == refsam.config.adapters
    with torch.no_grad():
        expected = refsam.eval()([image], text="a star").low_res_logits
        assert torch.equal(loaded([image], text="a star").low_res_logits, expected)
    assert samprompt.methods.read_saved_config(tmp_path / "refsam")["metadata"] == {"step": 3}

    torch.manual_seed(1)
    native_core = samprompt.build_sam("micro")
    add_lora(native_core, LoraSettings(targets=("decoder.attn",), rank=2))
    native = PromptedSam(native_core, NativePrompts())
    with torch.no_grad():
        for parameter in native.trainable_parameters().values():
            parameter.add_(torch.randn_like(parameter) * 0.1)
    write_0_1_0_folder(native, tmp_path / "native", {"config": "{}"})
    torch.manual_seed(1)
    loaded = samprompt.load(tmp_path / "native", samprompt.build_sam("micro"))
    assert type(loaded) is PromptedSam and isinstance(loaded.generator, NativePrompts)
    boxes = torch.tensor([[5.0, 5.0, 40.0, 30.0]])
    with torch.no_grad():
        expected = native.eval()([image], boxes=boxes).low_res_logits
        assert torch.equal(loaded([image], boxes=boxes).low_res_logits, expected)


def test_the_saved_config_names_the_method_at_the_top_level(tmp_path):
    from samprompt.samref import SAMRef, SAMRefConfig

    model = SAMRef(samprompt.build_sam("micro"), SAMRefConfig(width=8, blocks=1, local_size=32))
    samprompt.save(model, tmp_path / "samref")
    config = json.loads((tmp_path / "samref" / "adapter_config.json").read_text())
    assert config["format"] == "samprompt-trained/2"
    assert config["method"] == {"name": "samref", "model_class": "SAMRef"}
    assert config["method_config"]["config"]["width"] == 8 and isinstance(config["method_config"], dict)
    assert config["core"]["weights"] == "random" and config["core"]["family"] == "sam"
    assert all(name.startswith("refiner.") for name in config["tensors"])
    with pytest.raises(samprompt.errors.SamPromptError, match="not a model of a registered method"):
        samprompt.save(PromptedSam(model.core, LearnedTokens(model.core.prompt_dim)), tmp_path / "other")


def test_load_refuses_components_the_method_does_not_take(tmp_path, text_encoder):
    from samprompt.refsam import RefSAM, RefSAMConfig

    core = samprompt.build_sam("micro")
    samprompt.save(RefSAM(core, text_encoder, RefSAMConfig(dense="sentence", adapters=None)), tmp_path / "refsam")
    with pytest.raises(samprompt.errors.UnknownNameError, match=r"unknown components \['clip'\].*'refsam'.*"
                                                                r"\['text_encoder'\]"):
        samprompt.load(tmp_path / "refsam", core, clip=object())
    assert isinstance(samprompt.load(tmp_path / "refsam", core, text_encoder=text_encoder), RefSAM)
