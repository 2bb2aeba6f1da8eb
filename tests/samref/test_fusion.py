import pytest
import torch

from samprompt.samref.fusion import FusionRefiner, blend


def test_blend_follows_the_error_map():
    refined, coarse = torch.full((1, 1, 2, 2), 3.0), torch.full((1, 1, 2, 2), -2.0)
    assert torch.equal(blend(torch.full_like(refined, -100.0), refined, coarse), coarse)
    assert torch.equal(blend(torch.full_like(refined, 100.0), refined, coarse), refined)
    assert torch.allclose(blend(torch.zeros_like(refined), refined, coarse), torch.full_like(refined, 0.5))


def test_fusion_shapes_and_gradients():
    torch.manual_seed(0)
    net = FusionRefiner(embedding_dim=32, width=16, blocks=2)
    out = net(torch.randn(3, 3, 32, 32), torch.zeros(3, 2, 32, 32), torch.randn(3, 1, 32, 32),
              torch.randn(3, 32, 4, 4))
    for tensor in (out.error, out.refined, out.blended):
        assert tensor.shape == (3, 1, 32, 32)
    out.blended.sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_fusion_refuses_frames_not_divisible_by_four():
    net = FusionRefiner(embedding_dim=8, width=8, blocks=1)
    with pytest.raises(ValueError, match="divisible by 4"):
        net(torch.randn(1, 3, 30, 30), torch.zeros(1, 2, 30, 30), torch.zeros(1, 1, 30, 30), torch.zeros(1, 8, 4, 4))


def test_fusion_runs_in_bfloat16():
    net = FusionRefiner(embedding_dim=8, width=8, blocks=1).to(torch.bfloat16)
    out = net(torch.randn(1, 3, 16, 16), torch.zeros(1, 2, 16, 16), torch.zeros(1, 1, 16, 16), torch.zeros(1, 8, 2, 2))
    assert out.blended.dtype == torch.bfloat16
