import pytest
import torch
from segment_anything.modeling.image_encoder import Attention
from segment_anything.modeling.transformer import Attention as TokenAttention

import samprompt
from samprompt.core import fast_attention
from samprompt.core.fast_attention import (
    SdpaAttention,
    SdpaTokenAttention,
    use_sdpa_attention,
    uses_sdpa_attention,
)
from samprompt.prompts.native import NativePrompts
from samprompt.tuning import LoraSettings, add_lora
from tests.helpers import randomize_lora_b


def encoder_outputs(core, images, fast: bool) -> torch.Tensor:
    use_sdpa_attention(core, fast)
    with torch.no_grad():
        return core.sam.image_encoder(images)


def random_position_tables(core) -> None:
    with torch.no_grad():
        for block in core.sam.image_encoder.blocks:
            block.attn.rel_pos_h.normal_(0, 0.5)
            block.attn.rel_pos_w.normal_(0, 0.5)


def test_cores_use_fused_attention_by_default_and_can_opt_out():
    assert uses_sdpa_attention(samprompt.build_sam("micro"))
    plain = samprompt.build_sam("micro", fast_attention=False)
    assert not uses_sdpa_attention(plain)
    assert all(type(block.attn) is Attention for block in plain.sam.image_encoder.blocks)
    decoder_layers = [m for m in plain.sam.mask_decoder.modules() if isinstance(m, TokenAttention)]
    assert len(decoder_layers) == 7 and all(type(m) is TokenAttention for m in decoder_layers)
    use_sdpa_attention(plain)
    assert all(type(m) is SdpaTokenAttention for m in decoder_layers)


def test_fused_decoder_attention_agrees_with_ragged_prompts():
    torch.manual_seed(0)
    core = samprompt.build_sam("micro", pretrained=False)
    features = core.encode(list(torch.randint(0, 256, (2, 40, 64, 3), dtype=torch.uint8).numpy()))
    points = torch.tensor([[[10.0, 12.0], [30.0, 20.0]], [[5.0, 5.0], [0.0, 0.0]]])
    labels = torch.tensor([[1, 0], [1, 1]])
    padding = torch.tensor([[False, False], [False, True]])  # row 1 has one real click

    def decode(fast: bool) -> torch.Tensor:
        use_sdpa_attention(core, fast)
        with torch.no_grad():
            prompts = NativePrompts()(core, features, points=points, labels=labels, point_padding=padding)
            return core.decode(features, prompts).low_res_logits

    assert torch.allclose(decode(True), decode(False), atol=1e-5)


@pytest.mark.parametrize("variant", ["micro", "tiny"])
def test_fused_attention_agrees_with_segment_anything(variant):
    torch.manual_seed(0)
    core = samprompt.build_sam(variant, pretrained=False)
    random_position_tables(core)  # so that the relative-position terms matter
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


@pytest.mark.parametrize("block_elements, banded_blocks", [(1 << 30, 0), (4096, 2), (300, 4), (1, 4)])
def test_cpu_banded_attention_agrees_for_every_band(monkeypatch, block_elements, banded_blocks):
    # micro: global blocks hold 2 heads x 64² scores per image, windowed blocks 2 x 16²; 4096
    # bands the global blocks only (32 queries a band), 300 every block (9 or 2 queries), 1 one query.
    torch.manual_seed(0)
    core = samprompt.build_sam("micro", pretrained=False)
    random_position_tables(core)
    images = torch.randn(3, 3, core.image_size, core.image_size)
    reference = encoder_outputs(core, images, fast=False)
    monkeypatch.setattr(fast_attention, "CPU_SCORE_BLOCK", block_elements)
    calls = []
    original = SdpaAttention._banded_attention
    monkeypatch.setattr(SdpaAttention, "_banded_attention", lambda *a: calls.append(1) or original(*a))
    assert torch.allclose(encoder_outputs(core, images, fast=True), reference, atol=1e-4, rtol=1e-4)
    assert len(calls) == banded_blocks


def test_training_takes_the_fused_kernel_with_the_same_gradients(monkeypatch):
    torch.manual_seed(0)
    core = samprompt.build_sam("micro", pretrained=False, frozen=False)
    random_position_tables(core)
    images = torch.randn(2, 3, core.image_size, core.image_size)
    weights = torch.randn(1, core.sam.prompt_encoder.embed_dim, 1, 1)

    def gradients(fast: bool) -> list[torch.Tensor]:
        use_sdpa_attention(core, fast)
        core.zero_grad()
        (core.sam.image_encoder(images) * weights).sum().backward()
        return [p.grad.clone() for p in core.sam.image_encoder.parameters()]

    reference = gradients(False)
    monkeypatch.setattr(fast_attention, "CPU_SCORE_BLOCK", 1)
    monkeypatch.setattr(SdpaAttention, "_banded_attention", lambda *a: pytest.fail("banded path under autograd"))
    for fused, plain in zip(gradients(True), reference):
        assert torch.allclose(fused, plain, atol=1e-4, rtol=1e-3)


def test_cpu_banded_attention_in_bfloat16(monkeypatch):
    torch.manual_seed(0)
    core = samprompt.build_sam("micro", pretrained=False)
    random_position_tables(core)
    core.to(torch.bfloat16)
    images = torch.randn(1, 3, core.image_size, core.image_size, dtype=torch.bfloat16)
    reference = encoder_outputs(core, images, fast=False).float()
    monkeypatch.setattr(fast_attention, "CPU_SCORE_BLOCK", 300)
    banded = encoder_outputs(core, images, fast=True)
    assert banded.dtype == torch.bfloat16
    assert (banded.float() - reference).abs().max() < 0.05 * reference.abs().max()
