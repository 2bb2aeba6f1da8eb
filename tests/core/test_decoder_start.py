"""Starting a SAM 2 core's decoder and prompt encoder from a trained SAM 1 core."""
from __future__ import annotations

import pytest
import torch

pytest.importorskip("sam2")

import samprompt  # noqa: E402
from samprompt.core.decoder_start import start_decoder_from_sam1  # noqa: E402
from samprompt.core.sam2_core import SAM2_VARIANTS, Sam2Variant, build_sam2_core, small_sam2_overrides  # noqa: E402
from samprompt.errors import CheckpointError, ConfigError  # noqa: E402


@pytest.fixture(scope="module")
def pair():
    return samprompt.build_sam("sam2_tiny", pretrained=False, seed=0), samprompt.build_sam("tiny")


def test_sam2_tiny_has_sam1_tinys_decoder_shape_and_says_so(pair):
    sam2, sam1 = pair
    facts = sam2.describe().architecture
    assert (facts["prompt_embed_dim"], facts["decoder_depth"], facts["decoder_heads"], facts["decoder_mlp_dim"]) == (
        128, 2, 4, 512)
    assert sam1.describe().architecture["decoder_mlp_dim"] == 512
    official = build_sam2_core("sam2.1_hiera_t", image_size=256, seed=0).describe().architecture
    assert (official["decoder_heads"], official["decoder_mlp_dim"]) == (8, 2048)   # SAM2Base's fixed shape


def test_the_copied_decoder_computes_what_sam1s_computes(pair):
    sam2, sam1 = pair
    written = start_decoder_from_sam1(sam2, sam1)
    assert "sam_mask_decoder.transformer.layers.0.mlp.layers.0.weight" in written
    assert "sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix" in written
    state = sam2.sam.state_dict()
    assert torch.equal(state["sam_mask_decoder.iou_token.weight"], sam1.sam.mask_decoder.iou_token.weight)
    assert torch.equal(state["sam_prompt_encoder.not_a_point_embed.weight"],
                       sam1.sam.prompt_encoder.not_a_point_embed.weight)
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(1, 128, 8, 8, generator=generator)
    position = torch.randn(1, 128, 8, 8, generator=generator)
    tokens = torch.randn(1, 7, 128, generator=generator)
    with torch.no_grad():
        ours = sam2.sam.sam_mask_decoder.transformer(image, position, tokens)
        theirs = sam1.sam.mask_decoder.transformer(image, position, tokens)
        for a, b in zip(ours, theirs):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        coords = torch.rand(1, 3, 2, generator=generator) * 64
        torch.testing.assert_close(sam2.sam.sam_prompt_encoder.pe_layer.forward_with_coords(coords, (64, 64)),
                                   sam1.sam.prompt_encoder.pe_layer.forward_with_coords(coords, (64, 64)))
    assert torch.equal(sam2.sam.sam_prompt_encoder.point_embeddings[1].weight,
                       sam1.sam.prompt_encoder.point_embeddings[1].weight)


def test_wrong_families_and_other_decoder_shapes_are_named(pair):
    sam2, sam1 = pair
    with pytest.raises(ConfigError, match="target must be a SAM 2 core.*family 'sam'"):
        start_decoder_from_sam1(sam1, sam1)
    with pytest.raises(ConfigError, match="source must be a SAM 1 core.*family 'sam2'"):
        start_decoder_from_sam1(sam2, sam2)
    micro = samprompt.build_sam("sam2_micro", pretrained=False, seed=0)
    with pytest.raises(ConfigError, match=r"width: SAM 2 32 vs SAM 1 128.*heads: SAM 2 8 vs SAM 1 4"):
        start_decoder_from_sam1(micro, sam1)


def test_a_decoder_shape_that_does_not_divide_or_does_not_match_a_file_is_named(monkeypatch, pair, tmp_path):
    overrides = small_sam2_overrides(128, trunk_dim=16, stages=(1, 1, 2, 1), global_blocks=(3,), dim=32,
                                     memory_dim=16, memory_layers=1)
    monkeypatch.setitem(SAM2_VARIANTS, "sam2_micro", Sam2Variant("sam2.1_hiera_t", overrides=overrides,
                                                                 decoder_heads=5))
    with pytest.raises(ConfigError, match="decoder_heads must divide the decoder width 32, got 5"):
        build_sam2_core("sam2_micro")
    path = tmp_path / "sam2_tiny.pt"
    torch.save({"model": pair[0].sam.state_dict()}, path)
    monkeypatch.setitem(SAM2_VARIANTS, "sam2_tiny", Sam2Variant(
        "sam2.1_hiera_t", overrides=SAM2_VARIANTS["sam2_tiny"].overrides, decoder_heads=4, decoder_mlp_dim=256))
    with pytest.raises(CheckpointError, match=r"of another shape.*mlp\.layers\.0\.weight: file \(512, 128\)"):
        build_sam2_core("sam2_tiny", path)
