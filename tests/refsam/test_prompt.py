from __future__ import annotations

import pytest
import torch

from samprompt.errors import ConfigError, PromptError
from samprompt.refsam import RefSAMConfig, RefSAMPrompt


def make(core, text_encoder, **config):
    return RefSAMPrompt.for_core(core, text_encoder, RefSAMConfig(**config))


@pytest.mark.parametrize("dense", ["hda", "da", "sentence"])
def test_prompt_shapes(core, text_encoder, image, dense):
    generator = make(core, text_encoder, dense=dense)
    features = core.encode([image, image[:40]])
    prompts = generator(core, features, text=[["the red circle", "a star"], ["the small blue square on left"]])
    # sentence token + 6 word slots (longest text) + track slot
    assert prompts.sparse.shape == (3, 1 + 6 + 1, core.prompt_dim)
    assert prompts.dense.shape == (3, core.prompt_dim, *core.embedding_size)
    assert prompts.batch_index.tolist() == [0, 0, 1]
    assert prompts.padding_mask[0].tolist() == [False] * 4 + [True] * 3 + [True]  # no track yet
    assert prompts.padding_mask[2].tolist() == [False] * 7 + [True]


def test_hda_reads_all_but_the_last_global_block(core, text_encoder):
    generator = make(core, text_encoder)
    assert generator.hda_blocks == core.global_attn_blocks[:-1]
    with pytest.raises(ConfigError, match="are not feature levels of this core"):
        make(core, text_encoder, hda_blocks=(0,))


def test_padding_tokens_do_not_change_the_prediction(core, text_encoder, image):
    """The same expression alone and batched beside a longer one (more padding) decodes alike,
    and garbage written into its padding positions changes nothing."""
    torch.manual_seed(0)
    generator = make(core, text_encoder)
    for parameter in generator.parameters():
        if parameter.requires_grad:
            torch.nn.init.normal_(parameter, std=0.5)
    features = core.encode([image])
    alone = core.decode(features, generator(core, features, text=["the red circle"]))
    both = core.decode(features, generator(core, features, text=["the red circle", "a b c d e f g h i j"]))
    torch.testing.assert_close(both.low_res_logits[:1], alone.low_res_logits, atol=1e-4, rtol=1e-4)

    text = generator.encode_text(["the red circle", "a b c d e f g h i j"])
    text.tokens[0, 3:] = 1e3 * torch.randn_like(text.tokens[0, 3:])
    garbage = core.decode(features, generator(core, features, text=text))
    torch.testing.assert_close(garbage.low_res_logits, both.low_res_logits, atol=1e-4, rtol=1e-4)


def test_text_changes_the_prediction(core, text_encoder, image):
    torch.manual_seed(0)
    generator = make(core, text_encoder)
    torch.nn.init.normal_(generator.dense_attention.fuse.weight, std=0.5)
    features = core.encode([image])
    prediction = core.decode(features, generator(core, features, text=["the red circle", "a blue star"]))
    assert not torch.allclose(prediction.low_res_logits[0], prediction.low_res_logits[1])


def test_bad_text_and_track_are_refused(core, text_encoder, image):
    generator = make(core, text_encoder)
    features = core.encode([image, image])
    with pytest.raises(PromptError, match="empty"):
        generator(core, features, text=["the circle", ""])
    with pytest.raises(PromptError, match="batch_index"):
        generator(core, features, text=["a", "b", "c"])
    with pytest.raises(PromptError, match="track tokens must be"):
        generator(core, features, text=["a", "b"], track=torch.zeros(3, 1, core.prompt_dim))
    no_tracking = make(core, text_encoder, tracking=False)
    with pytest.raises(PromptError, match="without tracking"):
        no_tracking(core, features, text=["a", "b"], track=torch.zeros(2, 1, core.prompt_dim))


def test_hda_needs_intermediate_features(core, text_encoder, image):
    generator = make(core, text_encoder)
    features = core.encode([image], keep_intermediate=False)
    with pytest.raises(PromptError, match="keep_intermediate"):
        generator(core, features, text="the circle")


def test_config_validation():
    with pytest.raises(ConfigError, match="dense"):
        RefSAMConfig(dense="conv")
    with pytest.raises(ConfigError, match="mlp_hidden_layers"):
        RefSAMConfig(mlp_hidden_layers=-1)
    with pytest.raises(ConfigError, match="hda_blocks"):
        RefSAMConfig(hda_blocks="first")
    config = RefSAMConfig(hda_blocks=[1], lora={"targets": ["decoder.attn"], "rank": 2})
    assert RefSAMConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="unknown RefSAM options"):
        RefSAMConfig.from_dict({"heads": 3})
