from __future__ import annotations

import pytest
import torch
from torch import nn

import samprompt
from samprompt.errors import CheckpointError, UnknownNameError
from samprompt.refsam import RefSAM, RefSAMConfig, refsam_preset
from samprompt.text import TextEncoder
from samprompt.tuning import parameter_report


class WidthOnlyEncoder(TextEncoder):
    """Stands in for T5-3b (width 1024) where only parameter counts matter."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.unused = nn.Parameter(torch.zeros(1), requires_grad=False)


def test_several_expressions_per_image_share_one_encoder_pass(core, text_encoder, image):
    model = RefSAM(core, text_encoder, RefSAMConfig(adapters=None))
    calls = []
    handle = core.sam.image_encoder.register_forward_hook(lambda *_: calls.append(1))
    prediction = model([image, image[:30]], text=[["the red circle", "a star", "the ring"], ["the square"]])
    handle.remove()
    assert len(calls) == 1
    assert prediction.low_res_logits.shape[:2] == (4, 1)
    assert prediction.batch_index.tolist() == [0, 0, 0, 1]
    assert prediction.masks[3].shape == (1, 30, 70)


def test_paper_split_trains_prompt_modules_adapters_and_decoder_only(core, text_encoder):
    model = RefSAM(core, text_encoder, refsam_preset("paper"))
    trainable = model.trainable_parameters()
    assert any(name.startswith("generator.mlp") for name in trainable)
    assert any(name.startswith("generator.dense_attention") for name in trainable)
    assert any(name.startswith("generator.tracker") for name in trainable)
    assert any("_adapter." in name for name in trainable)
    assert any(name.startswith("core.sam.mask_decoder") for name in trainable)
    frozen_parts = ("generator.text_encoder", "core.sam.prompt_encoder", "core.sam.image_encoder.blocks.0.attn.qkv",
                    "core.sam.image_encoder.patch_embed")
    assert not any(name.startswith(frozen_parts) for name in trainable)
    with pytest.raises(UnknownNameError, match="available"):
        refsam_preset("biggest")


@pytest.mark.slow
def test_vit_b_parameter_report_is_close_to_the_paper():
    """Paper: 9.9M learnable for ViT-B (T5-3b text features, width 1024)."""
    counts = {}
    for tracking in (False, True):
        with torch.device("meta"):
            core = samprompt.build_sam("vit_b", pretrained=False)
            model = RefSAM(core, WidthOnlyEncoder(1024), RefSAMConfig(train_decoder=True, tracking=tracking))
        counts[tracking] = parameter_report(model).trainable
    assert abs(counts[False] - 9.9e6) / 9.9e6 < 0.03
    assert counts[True] - counts[False] == pytest.approx(1.3e6, rel=0.02)  # the tracking module


def test_save_and_load_round_trip(core, text_encoder, image, tmp_path):
    torch.manual_seed(0)
    model = RefSAM(core, text_encoder, RefSAMConfig(dense="da"))
    for parameter in model.trainable_parameters().values():
        nn.init.normal_(parameter, std=0.1)
    expected = model([image], text=["the red circle"]).low_res_logits
    samprompt.save(model, tmp_path / "refsam")
    torch.manual_seed(0)
    fresh_core = samprompt.build_sam("micro")
    loaded = samprompt.load(tmp_path / "refsam", fresh_core, text_encoder=text_encoder)
    assert loaded.config == model.config
    torch.testing.assert_close(loaded([image], text=["the red circle"]).low_res_logits, expected)


def test_load_refuses_weights_of_another_model(core, text_encoder, tmp_path):
    from tests.helpers import LearnedTokens

    samprompt.methods.save_trained(samprompt.PromptedSam(core, LearnedTokens(core.prompt_dim)), tmp_path / "other")
    with pytest.raises(CheckpointError, match="not a registered method"):
        samprompt.load(tmp_path / "other", core, text_encoder=text_encoder)
    with pytest.raises(CheckpointError, match="do not fit RefSAM"):
        samprompt.methods.load_trained(RefSAM(core, text_encoder), tmp_path / "other")


def test_bf16_autocast_forward_and_backward(core, text_encoder, image):
    model = RefSAM(core, text_encoder, RefSAMConfig(train_decoder=True))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        prediction = model([image], text=["the red circle", "a star"])
        track = model.next_track(prediction)
        again = model([image], text=["the red circle", "a star"], track=track)
    again.low_res_logits.float().mean().backward()
    assert model.generator.mlp.layers[0].weight.grad is not None
    assert model.generator.tracker.norm3.weight.grad is not None


def test_bf16_model(core, text_encoder, image):
    model = RefSAM(core, text_encoder, RefSAMConfig(adapters=None)).to(torch.bfloat16)
    prediction = model([image], text="the red circle")
    assert prediction.low_res_logits.dtype == torch.bfloat16


def test_optional_lora_trains_and_round_trips(core, text_encoder, image, tmp_path):
    from samprompt.tuning import LoraSettings

    config = RefSAMConfig(adapters=None, lora=LoraSettings(targets=("encoder.proj",), rank=4))
    model = RefSAM(core, text_encoder, config)
    lora = [n for n in model.trainable_parameters() if ".lora_" in n]
    assert lora and all("image_encoder" in n and "attn.proj" in n for n in lora)
    for name in lora:
        nn.init.normal_(model.trainable_parameters()[name], std=0.05)
    expected = model([image], text="a star").low_res_logits
    samprompt.save(model, tmp_path / "lora")
    torch.manual_seed(0)
    loaded = samprompt.load(tmp_path / "lora", samprompt.build_sam("micro"), text_encoder=text_encoder)
    torch.testing.assert_close(loaded([image], text="a star").low_res_logits, expected)
