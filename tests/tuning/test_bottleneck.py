import pytest
import torch

from samprompt.errors import ConfigError
from samprompt.tuning import BottleneckSettings, add_bottleneck_adapters, remove_bottleneck_adapters
from tests.helpers import embedding_loss, train_steps


def test_adapters_start_as_identity_and_sit_in_the_second_half(core, image):
    reference = core.encode([image]).embeddings
    blocks = add_bottleneck_adapters(core, BottleneckSettings())
    assert blocks == [2, 3]
    assert core.sam.image_encoder.blocks[2].attn_adapter.down.out_features == 8  # 0.25 x 32
    assert not hasattr(core.sam.image_encoder.blocks[1], "attn_adapter")
    torch.testing.assert_close(core.encode([image]).embeddings, reference)
    trainable = {n for n, p in core.named_parameters() if p.requires_grad}
    assert trainable and all("_adapter." in n for n in trainable)


def test_adapters_train_and_removal_restores_the_core(core, image):
    reference = core.encode([image]).embeddings
    base = {n: p.clone() for n, p in core.named_parameters()}
    add_bottleneck_adapters(core, BottleneckSettings(blocks="all"))
    losses = train_steps(core, embedding_loss(core, image), steps=10, lr=5e-2)
    assert losses[-1] < 0.9 * losses[0]
    for name, value in base.items():
        assert torch.equal(dict(core.named_parameters())[name], value)
    remove_bottleneck_adapters(core)
    torch.testing.assert_close(core.encode([image]).embeddings, reference)
    with pytest.raises(ConfigError, match="no bottleneck adapters"):
        remove_bottleneck_adapters(core)


def test_mlp_adapter_is_parallel_and_scaled(core):
    add_bottleneck_adapters(core, BottleneckSettings(blocks=(0,), mlp_scale=0.5))
    block = core.sam.image_encoder.blocks[0]
    with torch.no_grad():
        block.mlp_adapter.up.bias.fill_(1.0)
    x = torch.randn(2, 5, 32)
    expected = block.mlp.lin2(block.mlp.act(block.mlp.lin1(x))) + 0.5
    torch.testing.assert_close(block.mlp(x), expected)


def test_settings_validate():
    with pytest.raises(ConfigError, match="ratio"):
        BottleneckSettings(ratio=0)
    with pytest.raises(ConfigError, match="mlp_scale"):
        BottleneckSettings(mlp_scale=-1)
