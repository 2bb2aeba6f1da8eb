from __future__ import annotations

import torch

from samprompt.refsam import CrossModalMLP, DenseAttention, HierarchicalDenseAttention, ImplicitTrackingModule


def test_cross_modal_mlp_shape_and_hidden_layers():
    for k in (0, 1, 3):
        mlp = CrossModalMLP(24, 8, hidden_layers=k)
        linear = [m for m in mlp.modules() if isinstance(m, torch.nn.Linear)]
        assert len(linear) == k + 2
        assert linear[0].out_features == 12
        assert mlp(torch.randn(2, 5, 24)).shape == (2, 5, 8)


def test_dense_attention_ignores_padding_tokens():
    torch.manual_seed(0)
    layer = DenseAttention(image_dim=12, dim=8)
    image, tokens = torch.randn(2, 12, 4, 4), torch.randn(2, 5, 8)
    padding = torch.tensor([[False, False, True, True, True], [False] * 5])
    out = layer(image, tokens, padding)
    assert out.shape == (2, 8, 4, 4)
    garbage = tokens.clone()
    garbage[0, 2:] = 100 * torch.randn(3, 8)
    torch.testing.assert_close(layer(image, garbage, padding), out)
    # without the mask the same garbage would change the result
    assert not torch.allclose(layer(image, garbage), layer(image, tokens))


def test_hda_fuses_levels_and_starts_at_zero():
    torch.manual_seed(0)
    hda = HierarchicalDenseAttention([12, 12, 12], 8)
    images, tokens = [torch.randn(3, 12, 4, 4) for _ in range(3)], torch.randn(3, 6, 8)
    assert torch.count_nonzero(hda(images, tokens)) == 0
    torch.nn.init.normal_(hda.fuse.weight)
    out = hda(images, tokens)
    assert out.shape == (3, 8, 4, 4) and out.abs().sum() > 0


def test_tracking_module_uses_mask_tokens_and_previous_track():
    torch.manual_seed(0)
    module = ImplicitTrackingModule(16, heads=8)
    mask_tokens = torch.randn(2, 1, 16)
    first = module(mask_tokens)
    assert first.shape == (2, 1, 16)
    second = module(mask_tokens, first)
    assert second.shape == (2, 1, 16) and not torch.allclose(first, second)
    assert not torch.allclose(module(torch.randn(2, 1, 16)), first)
