from __future__ import annotations

import torch

from samprompt.escnet.layers import ClassLinearAttention, GuidedWindowAttention, SamTwoWayBlocks, UpsamplingDecoder


def test_sam_blocks_hold_the_decoders_weights_and_random_init_does_not(core):
    decoder = core.sam.mask_decoder
    blocks = SamTwoWayBlocks(decoder)
    reference = decoder.transformer.layers.state_dict()
    copied = blocks.layers.state_dict()
    assert copied.keys() == reference.keys()
    assert all(torch.equal(copied[k], reference[k]) for k in reference)
    assert all(p.requires_grad for p in blocks.parameters())
    assert not any(p.requires_grad for p in decoder.parameters())          # the core stays frozen
    random = SamTwoWayBlocks(decoder, random_init=True).layers.state_dict()
    assert not torch.equal(random["0.self_attn.q_proj.weight"], reference["0.self_attn.q_proj.weight"])


def test_sam_blocks_run_on_class_maps(core):
    blocks = SamTwoWayBlocks(core.sam.mask_decoder)
    dim = core.prompt_dim
    out = blocks(torch.randn(3, dim, 5, 6), torch.randn(dim, 5, 6), torch.randn(3, 4, dim), torch.randn(3, dim, 5, 6))
    assert out.shape == (3, dim, 5, 6)


def test_window_attention_stays_inside_its_windows():
    torch.manual_seed(0)
    attention = GuidedWindowAttention(dim=8, guidance_dim=3, heads=2, window=4).eval()
    x, guidance = torch.randn(2, 8, 5, 7), torch.randn(2, 3, 5, 7)
    out = attention(x, guidance)
    assert out.shape == x.shape
    changed = x.clone()
    changed[:, :, 0, 0] += 5.0 * torch.randn(8)                             # a cell of the top-left window
    diff = (attention(changed, guidance) - out).abs().amax(dim=(0, 1))
    assert diff[:4, :4].min() > 1e-4 and diff[4:].max() == 0 and diff[:, 4:].max() == 0


def test_shifted_windows_mix_across_the_unshifted_borders():
    torch.manual_seed(0)
    attention = GuidedWindowAttention(dim=8, guidance_dim=3, heads=2, window=4, shift=2).eval()
    x, guidance = torch.randn(1, 8, 8, 8), torch.randn(1, 3, 8, 8)
    changed = x.clone()
    changed[:, :, 3, 3] += 5.0 * torch.randn(8)
    diff = (attention(changed, guidance) - attention(x, guidance)).abs().amax(dim=(0, 1))
    # shifted by 2, the window holding (3, 3) spans rows and columns 2..5
    assert diff[2:6, 2:6].min() > 1e-4 and diff[6:].max() == 0 and diff[:2].max() == 0


def test_class_attention_is_permutation_equivariant_and_chunkable():
    torch.manual_seed(0)
    attention = ClassLinearAttention(dim=8, guidance_dim=4, heads=2).eval()
    x, guide = torch.randn(2, 5, 8, 3, 4), torch.randn(5, 4)
    out = attention(x, guide)
    assert out.shape == x.shape
    order = torch.tensor([3, 0, 4, 1, 2])
    assert torch.allclose(attention(x[:, order], guide[order]), out[:, order], atol=1e-5)
    first, second = attention.summarise(x[:, :2], guide[:2]), attention.summarise(x[:, 2:], guide[2:])
    summary = (first[0] + second[0], first[1] + second[1])
    chunked = torch.cat([attention(x[:, :2], guide[:2], summary), attention(x[:, 2:], guide[2:], summary)], dim=1)
    assert torch.allclose(chunked, out, atol=1e-5)
    # the other classes matter: attending over a subset gives another result
    assert not torch.allclose(attention(x[:, :2], guide[:2]), out[:, :2], atol=1e-4)


def test_decoder_upsamples_each_class_map_with_skips():
    decoder = UpsamplingDecoder(dim=8, skip_width=6, stage_dims=(5, 4))
    skips = decoder.project_skips((torch.randn(2, 6, 3, 4), torch.randn(2, 6, 3, 4)))
    assert [tuple(s.shape) for s in skips] == [(2, 5, 6, 8), (2, 4, 12, 16)]
    assert decoder(torch.randn(2, 3, 8, 3, 4), skips).shape == (2, 3, 12, 16)
