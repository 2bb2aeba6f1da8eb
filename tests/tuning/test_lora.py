import pytest
import torch
import torch.nn.functional as F
from peft.tuners.lora import LoraLayer

from samprompt import NativePrompts, PromptedSam
from samprompt.errors import ConfigError, UnknownNameError
from samprompt.tuning import (
    LoraSettings,
    active_lora,
    add_lora,
    merge_lora,
    parameter_report,
    remove_lora,
    unmerge_lora,
    use_lora,
)
from tests.helpers import disk_target, embedding_loss, randomize_lora_b, train_steps


def base_weights(core):
    return {n: p.detach().clone() for n, p in core.named_parameters() if "lora_" not in n}


def box_model_and_loss(core, image):
    model = PromptedSam(core, NativePrompts())
    features = core.encode([image])
    target = disk_target(core.mask_input_size[0])
    box = torch.tensor([[10.0, 10.0, 60.0, 40.0]])

    def loss():
        # The encoder runs inside the loss so that encoder LoRA gets gradients.
        out = model([image], boxes=box)
        return F.binary_cross_entropy_with_logits(out.low_res_logits, target)

    return model, features, loss


def test_readable_targets_select_the_right_modules(core):
    names = add_lora(core, LoraSettings(targets=("encoder.qkv", "decoder.mlp"), encoder_blocks="second_half"))
    assert names == ["image_encoder.blocks.2.attn.qkv", "image_encoder.blocks.3.attn.qkv",
                     "mask_decoder.transformer.layers.0.mlp.lin1", "mask_decoder.transformer.layers.0.mlp.lin2",
                     "mask_decoder.transformer.layers.1.mlp.lin1", "mask_decoder.transformer.layers.1.mlp.lin2"]
    adapted = {n for n, m in core.sam.named_modules() if isinstance(m, LoraLayer)}
    assert adapted == set(names)


@pytest.mark.parametrize("targets", [("encoder.qkv", "encoder.proj"), ("encoder.mlp",), ("decoder.attn",),
                                     ("decoder.mlp",)])
def test_lora_trains_while_the_core_stays_bit_identical(core, image, targets):
    add_lora(core, LoraSettings(targets=targets, rank=4, alpha=8))
    before = base_weights(core)
    if targets[0].startswith("encoder"):
        model, loss = core, embedding_loss(core, image)
    else:
        model, _, loss = box_model_and_loss(core, image)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    losses = train_steps(model, loss, steps=20, lr=5e-2)
    assert losses[-1] < 0.95 * losses[0]
    for name, value in base_weights(core).items():
        assert torch.equal(value, before[name]), name


def test_lora_keeps_a_deliberately_unfrozen_decoder_trainable(core):
    core.sam.mask_decoder.iou_prediction_head.requires_grad_(True)
    add_lora(core, LoraSettings())
    assert all(p.requires_grad for p in core.sam.mask_decoder.iou_prediction_head.parameters())
    assert not core.sam.image_encoder.blocks[0].attn.qkv.base_layer.weight.requires_grad


def test_named_adapters_switch_and_merge(core, image):
    model, features, _ = box_model_and_loss(core, image)
    box = torch.tensor([[10.0, 10.0, 60.0, 40.0]])
    plain = model([image], boxes=box).low_res_logits
    add_lora(core, LoraSettings(targets=("encoder.qkv", "decoder.attn")), name="first")
    add_lora(core, LoraSettings(targets=("decoder.attn",), rank=2), name="second")
    randomize_lora_b(core, std=0.5)  # make both adapters non-trivial
    assert active_lora(core) == "second"
    assert all("second" in n for n, p in core.named_parameters() if p.requires_grad)
    second = model([image], boxes=box).low_res_logits
    use_lora(core, "first")
    assert all("first" in n for n, p in core.named_parameters() if p.requires_grad)
    first = model([image], boxes=box).low_res_logits
    assert not torch.allclose(first, second, atol=1e-3) and not torch.allclose(first, plain, atol=1e-3)
    use_lora(core, None)
    torch.testing.assert_close(model([image], boxes=box).low_res_logits, plain)
    assert not any(p.requires_grad for p in core.parameters())

    use_lora(core, "first")
    before = core.sam.image_encoder.blocks[0].attn.qkv.base_layer.weight.clone()
    merge_lora(core)
    assert not torch.equal(core.sam.image_encoder.blocks[0].attn.qkv.base_layer.weight, before)
    torch.testing.assert_close(model([image], boxes=box).low_res_logits, first, atol=1e-4, rtol=1e-4)
    unmerge_lora(core)
    torch.testing.assert_close(core.sam.image_encoder.blocks[0].attn.qkv.base_layer.weight, before)
    remove_lora(core, "second")
    with pytest.raises(ConfigError, match="no LoRA adapter named 'second'"):
        use_lora(core, "second")


def test_lora_targets_must_be_known_names():
    with pytest.raises(UnknownNameError, match=r"unknown adapter targets \['encoder.query'\]"):
        LoraSettings(targets=("encoder.query",))
    with pytest.raises(ConfigError, match="at least one"):
        LoraSettings(targets=())


@pytest.mark.parametrize("kwargs, message", [
    (dict(rank=0), "rank must be positive"),
    (dict(dropout=1.0), "dropout"),
    (dict(encoder_blocks="first_half"), "block selection"),
])
def test_lora_settings_validate(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        LoraSettings(**kwargs)


def test_adding_twice_or_out_of_range_blocks_fails(core):
    add_lora(core, LoraSettings(), name="a")
    with pytest.raises(ConfigError, match="already has a LoRA adapter named 'a'"):
        add_lora(core, LoraSettings(), name="a")
    with pytest.raises(ConfigError, match=r"within \[0, 4\)"):
        add_lora(core, LoraSettings(encoder_blocks=(7,)), name="b")


def test_parameter_report_counts_trainable_and_total(core):
    total = sum(p.numel() for p in core.parameters())
    add_lora(core, LoraSettings(targets=("encoder.qkv",), rank=2))
    report = parameter_report(core)
    lora = sum(p.numel() for n, p in core.named_parameters() if "lora_" in n)
    # qkv is 32 -> 96 in 4 blocks: rank 2 adds 2 x (32 + 96) per block.
    assert report.trainable == lora == 4 * 2 * (32 + 96)
    assert report.total == total + lora
    assert "trainable" in str(report) and f"{lora:,}" in str(report)
