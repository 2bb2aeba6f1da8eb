import pytest
import torch

import samprompt
from samprompt.core import SamConfig, describe_sam, get_variant
from samprompt.errors import ConfigError, UnknownVariantError


@pytest.mark.parametrize("name", samprompt.available_variants())
def test_every_variant_builds_with_its_declared_architecture(name):
    config = get_variant(name)
    with torch.device("meta"):  # full-size variants: shapes only, no memory
        sam = config.build()
    facts = describe_sam(sam)
    assert facts["encoder_embed_dim"] == config.encoder_embed_dim
    assert facts["encoder_depth"] == config.encoder_depth
    assert facts["encoder_global_attn_indexes"] == list(config.encoder_global_attn_indexes)
    assert facts["prompt_embed_dim"] == config.prompt_embed_dim


def test_official_variants_match_segment_anything_builders():
    from segment_anything import sam_model_registry

    for name in ("vit_b", "vit_l", "vit_h"):
        with torch.device("meta"):
            ours = get_variant(name).build().state_dict()
            theirs = sam_model_registry[name]().state_dict()
        assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}


def test_global_attention_blocks_of_vit_b_are_the_papers():
    assert get_variant("vit_b").encoder_global_attn_indexes == (2, 5, 8, 11)


def test_unknown_variant_names_the_choices():
    with pytest.raises(UnknownVariantError, match="vit_x.*available variants: .*vit_b"):
        samprompt.build_sam("vit_x")


@pytest.mark.parametrize("change, message", [
    (dict(image_size=100), "not a multiple of patch_size"),
    (dict(encoder_num_heads=5), "not divisible"),
    (dict(encoder_global_attn_indexes=(3, 1)), "increasing block indexes"),
    (dict(encoder_global_attn_indexes=(1, 9)), "increasing block indexes"),
    (dict(prompt_embed_dim=36), "multiple of 8"),
    (dict(encoder_depth=0), "must be positive"),
])
def test_config_validates_itself(change, message):
    base = get_variant("micro").to_dict()
    base.update(change)
    with pytest.raises(ConfigError, match=message):
        SamConfig(**base)


def test_register_variant_refuses_duplicates():
    with pytest.raises(ValueError, match="already registered"):
        samprompt.register_variant(get_variant("micro"))
