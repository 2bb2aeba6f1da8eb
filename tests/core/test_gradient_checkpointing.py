import torch

from samprompt.core.gradient_checkpointing import CheckpointedBlock, use_gradient_checkpointing
from samprompt.tuning import LoraSettings, add_lora
from tests.helpers import randomize_lora_b


def lora_gradients(core, images) -> dict[str, torch.Tensor]:
    core.zero_grad()
    core.sam.image_encoder(images).square().mean().backward()
    return {n: p.grad.clone() for n, p in core.named_parameters() if p.requires_grad}


def test_checkpointing_gives_the_same_gradients(core):
    add_lora(core, LoraSettings(targets=("encoder.qkv",), rank=2))
    randomize_lora_b(core)
    images = torch.randn(2, 3, core.image_size, core.image_size)
    plain = lora_gradients(core, images)
    use_gradient_checkpointing(core)
    assert all(isinstance(block, CheckpointedBlock) for block in core.sam.image_encoder.blocks)
    checkpointed = lora_gradients(core, images)
    assert plain.keys() == checkpointed.keys() and plain
    assert all(torch.allclose(plain[k], checkpointed[k], atol=1e-6) for k in plain)
    use_gradient_checkpointing(core, False)
    assert not any(isinstance(block, CheckpointedBlock) for block in core.sam.image_encoder.blocks)


def test_frozen_inference_is_unchanged(core):
    images = torch.randn(1, 3, core.image_size, core.image_size)
    with torch.no_grad():
        before = core.sam.image_encoder(images)
        use_gradient_checkpointing(core)
        after = core.sam.image_encoder(images)
    assert torch.equal(before, after)
