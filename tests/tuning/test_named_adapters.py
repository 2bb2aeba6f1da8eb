"""Named LoRA adapters per prompt kind on one core, switched per call."""
from __future__ import annotations

import pytest
import torch

import samprompt
from samprompt.errors import CheckpointError, ConfigError
from samprompt.model import PromptedSam
from samprompt.prompts import NativePrompts
from samprompt.refsam.clicks import RefSAMWithClicks
from samprompt.refsam.config import RefSAMConfig
from samprompt.tuning import LoraSettings, active_lora, add_bottleneck_adapters, add_lora
from samprompt.tuning.lora import rename_lora
from tests.helpers import randomize_lora_b

LORA = LoraSettings(targets=("decoder.attn",), rank=2)
POINTS, LABELS = torch.tensor([[[20.0, 15.0]]]), torch.ones(1, 1, dtype=torch.int)


def micro_core() -> samprompt.SamCore:
    torch.manual_seed(0)
    return samprompt.build_sam("micro")


def trained_clicks(tmp_path, seed: int) -> tuple[PromptedSam, str]:
    core = micro_core()
    add_lora(core, LORA)
    torch.manual_seed(seed)
    randomize_lora_b(core, std=0.5)
    model = PromptedSam(core, NativePrompts())
    path = tmp_path / f"clicks{seed}"
    samprompt.save(model, path)
    return model, str(path)


def trained_text(tmp_path, text_encoder) -> tuple[RefSAMWithClicks, str]:
    core = micro_core()
    model = RefSAMWithClicks(core, text_encoder, RefSAMConfig(adapters=None, tracking=False, lora=LORA))
    torch.manual_seed(7)
    randomize_lora_b(core, std=0.5)
    path = tmp_path / "text"
    samprompt.save(model, path)
    return model, str(path)


def test_rename_keeps_the_adapters_tensors_and_activity():
    core = micro_core()
    add_lora(core, LORA)
    randomize_lora_b(core, std=0.5)
    image = torch.randint(0, 256, (1, 3, 40, 40), dtype=torch.uint8)
    model = PromptedSam(core, NativePrompts())
    with torch.no_grad():
        before = model(image, points=POINTS, labels=LABELS).low_res_logits
        rename_lora(core, "default", "clicks")
        after = model(image, points=POINTS, labels=LABELS).low_res_logits
    assert sorted(core.adapters.lora) == ["clicks"] and active_lora(core) == "clicks"
    torch.testing.assert_close(after, before)


def test_two_adapters_on_one_core_switch_per_call_and_equal_separately_loaded_models(tmp_path, text_encoder, image):
    text_alone, text_path = trained_text(tmp_path, text_encoder)
    clicks_alone, clicks_path = trained_clicks(tmp_path, seed=3)
    with torch.no_grad():
        expected_text = text_alone([image], text=["the red circle"]).low_res_logits
        expected_clicks = clicks_alone([image], points=POINTS, labels=LABELS).low_res_logits
    core = micro_core()
    text = samprompt.load(text_path, core=core, adapter="text", text_encoder=text_encoder)
    clicks = samprompt.load(clicks_path, core=core, adapter="clicks")
    assert sorted(core.adapters.lora) == ["clicks", "text"] and (text.adapter, clicks.adapter) == ("text", "clicks")
    encoder_calls = [0]
    core.sam.image_encoder.register_forward_hook(lambda *_: encoder_calls.__setitem__(0, encoder_calls[0] + 1))
    with torch.no_grad():
        features = core.encode([image])         # decoder-only adapters: one encoding serves both kinds
        for _ in range(2):                      # alternate: each call switches to its own adapter
            torch.testing.assert_close(text(features=features, text=["the red circle"]).low_res_logits,
                                       expected_text)
            torch.testing.assert_close(clicks(features=features, points=POINTS, labels=LABELS).low_res_logits,
                                       expected_clicks)
    assert encoder_calls[0] == 1
    assert not torch.allclose(expected_clicks, text(features=features, points=POINTS, labels=LABELS).low_res_logits)


def test_a_model_on_a_shared_core_saves_only_its_own_adapter(tmp_path, image):
    _, first = trained_clicks(tmp_path, seed=3)
    _, second = trained_clicks(tmp_path, seed=4)
    core = micro_core()
    a = samprompt.load(first, core=core, adapter="a")
    samprompt.load(second, core=core, adapter="b")
    samprompt.save(a, tmp_path / "a_again")
    saved = samprompt.methods.saving.read_saved_config(tmp_path / "a_again")
    assert list(saved["adapters"]["lora"]) == ["default"] and all(".b." not in k for k in saved["tensors"])
    with torch.no_grad():
        reloaded = samprompt.load(tmp_path / "a_again", core=micro_core())
        torch.testing.assert_close(reloaded([image], points=POINTS, labels=LABELS).low_res_logits,
                                   a([image], points=POINTS, labels=LABELS).low_res_logits)


def test_named_loading_refuses_what_cannot_be_named(tmp_path):
    _, path = trained_clicks(tmp_path, seed=3)
    core = micro_core()
    samprompt.load(path, core=core, adapter="a")
    with pytest.raises(ConfigError, match="already has a LoRA adapter of that name"):
        samprompt.load(path, core=core, adapter="a")
    bottleneck_core = micro_core()
    add_bottleneck_adapters(bottleneck_core, samprompt.tuning.BottleneckSettings(ratio=0.25))
    model = PromptedSam(bottleneck_core, NativePrompts())
    samprompt.save(model, tmp_path / "bottleneck")
    with pytest.raises(CheckpointError, match="0 LoRA adapters"):
        samprompt.load(tmp_path / "bottleneck", core=micro_core(), adapter="x")


def test_a_model_on_the_base_core_runs_without_any_adapter(tmp_path, image):
    from samprompt.model import BASE_CORE

    core = micro_core()
    with torch.no_grad():
        sam = PromptedSam(core, NativePrompts())([image], points=POINTS, labels=LABELS).low_res_logits
    _, path = trained_clicks(tmp_path, seed=3)
    tuned = samprompt.load(path, core=core, adapter="tuned")
    base = PromptedSam(core, NativePrompts())
    base.adapter = BASE_CORE
    with torch.no_grad():
        tuned_out = tuned([image], points=POINTS, labels=LABELS).low_res_logits
        torch.testing.assert_close(base([image], points=POINTS, labels=LABELS).low_res_logits, sam)
        torch.testing.assert_close(tuned([image], points=POINTS, labels=LABELS).low_res_logits, tuned_out)
    assert not torch.allclose(tuned_out, sam, atol=1e-4)
    with torch.no_grad():
        base.generator.register_parameter("scale", torch.nn.Parameter(torch.ones(1)))   # something trained
    samprompt.methods.saving.save_trained(base, tmp_path / "base")
    saved = samprompt.methods.saving.read_saved_config(tmp_path / "base")
    assert saved["adapters"]["lora"] == {} and saved["tensors"] == ["generator.scale"]


def test_loading_a_named_adapter_never_overwrites_an_adapter_of_the_saved_name(tmp_path, image):
    core = micro_core()
    add_lora(core, LORA)                                     # another model's adapter, called "default"
    randomize_lora_b(core, std=0.5)
    other = PromptedSam(core, NativePrompts())
    other.adapter = "default"
    with torch.no_grad():
        before = other([image], points=POINTS, labels=LABELS).low_res_logits
    _, path = trained_clicks(tmp_path, seed=3)                 # saved under "default" too
    loaded = samprompt.load(path, core=core, adapter="clicks")
    assert sorted(core.adapters.lora) == ["clicks", "default"]
    with torch.no_grad():
        torch.testing.assert_close(other([image], points=POINTS, labels=LABELS).low_res_logits, before)
        assert not torch.allclose(loaded([image], points=POINTS, labels=LABELS).low_res_logits, before, atol=1e-4)


def test_a_model_without_lora_loaded_on_a_shared_core_runs_on_the_base_core(tmp_path, image, text_encoder):
    text = RefSAMWithClicks(micro_core(), text_encoder, RefSAMConfig(adapters=None, tracking=False)).eval()
    with torch.no_grad():
        for parameter in text.text_prompt.parameters():
            parameter.add_(0.01)
        expected = text([image], text=["the red circle"]).low_res_logits
    samprompt.save(text, tmp_path / "text")
    _, tuned_path = trained_clicks(tmp_path, seed=3)
    core = micro_core()
    samprompt.load(tuned_path, core=core, adapter="tuned")
    loaded = samprompt.load(tmp_path / "text", core=core, text_encoder=text_encoder)
    assert loaded.adapter == ""
    with torch.no_grad():
        torch.testing.assert_close(loaded([image], text=["the red circle"]).low_res_logits, expected)
    assert samprompt.load(tuned_path, core=micro_core()).adapter is None                  # a core of its own
    clash = micro_core()
    add_lora(clash, LORA)
    with pytest.raises(ConfigError, match="adapter='<a new name>'"):
        samprompt.load(tuned_path, core=clash)


def test_a_model_with_a_named_adapter_reloads_its_own_checkpoint(tmp_path, image):
    _, path = trained_clicks(tmp_path, seed=3)
    core = micro_core()
    model = samprompt.load(path, core=core, adapter="mine")
    samprompt.methods.saving.save_trained(model, tmp_path / "checkpoint")       # as the trainer checkpoints
    with torch.no_grad():
        before = model([image], points=POINTS, labels=LABELS).low_res_logits
        for name, parameter in core.named_parameters():
            if ".mine." in name:
                parameter.zero_()
    samprompt.methods.saving.load_trained(model, tmp_path / "checkpoint")     # as a resumed run reloads it
    assert sorted(core.adapters.lora) == ["mine"]
    with torch.no_grad():
        torch.testing.assert_close(model([image], points=POINTS, labels=LABELS).low_res_logits, before)
