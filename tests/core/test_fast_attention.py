import pytest
import torch
from segment_anything.modeling.image_encoder import Attention

import samprompt
from samprompt.core.fast_attention import SdpaAttention, use_sdpa_attention, uses_sdpa_attention
from samprompt.tuning import LoraSettings, add_lora
from tests.helpers import randomize_lora_b


def encoder_outputs(core, images, fast: bool) -> torch.Tensor:
    use_sdpa_attention(core, fast)
    with torch.no_grad():
        return core.sam.image_encoder(images)


def test_cores_use_fused_attention_by_default_and_can_opt_out():
    assert uses_sdpa_attention(samprompt.build_sam("micro"))
    plain = samprompt.build_sam("micro", fast_attention=False)
    assert not uses_sdpa_attention(plain)
    assert all(type(block.attn) is Attention for block in plain.sam.image_encoder.blocks)


@pytest.mark.parametrize("variant", ["micro", "tiny"])
def test_fused_attention_agrees_with_segment_anything(variant):
    torch.manual_seed(0)
    core = samprompt.build_sam(variant, pretrained=False)
    with torch.no_grad():  # random relative-position tables, so that the bias matters
        for block in core.sam.image_encoder.blocks:
            block.attn.rel_pos_h.normal_(0, 0.5)
            block.attn.rel_pos_w.normal_(0, 0.5)
    images = torch.randn(2, 3, core.image_size, core.image_size)
    reference = encoder_outputs(core, images, fast=False)
    fused = encoder_outputs(core, images, fast=True)
    assert torch.allclose(fused, reference, atol=1e-4, rtol=1e-4)
    assert isinstance(core.sam.image_encoder.blocks[0].attn, SdpaAttention)


def test_fused_attention_keeps_keys_and_works_under_lora(core):
    keys = set(core.state_dict())
    use_sdpa_attention(core, False)
    assert set(core.state_dict()) == keys
    add_lora(core, LoraSettings(targets=("encoder.qkv",), rank=2))
    randomize_lora_b(core)
    images = torch.randn(1, 3, core.image_size, core.image_size)
    assert torch.allclose(encoder_outputs(core, images, True), encoder_outputs(core, images, False), atol=1e-4)


def test_fused_attention_in_bfloat16(core):
    core.to(torch.bfloat16)
    images = torch.randn(1, 3, core.image_size, core.image_size, dtype=torch.bfloat16)
    fused = encoder_outputs(core, images, True).float()
    reference = encoder_outputs(core, images, False).float()
    assert fused.dtype == torch.float32 and (fused - reference).abs().max() < 0.1 * reference.abs().max()
