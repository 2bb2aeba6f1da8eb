import numpy as np
import pytest
import torch

from samprompt.errors import PromptError
from samprompt.refsam import RefSAM, refsam_preset
from samprompt.text import CachedTextEncoder, load_text_encoder


def test_each_text_is_encoded_once_and_features_match(text_encoder):
    cached = CachedTextEncoder(text_encoder, max_texts=2)
    first = cached(["a red circle", "the big blue square on the left"])
    assert text_encoder.calls == 1 and cached.misses == 2
    again = cached(["the big blue square on the left", "a red circle", "a red circle"])
    assert text_encoder.calls == 1 and cached.hits == 3
    direct = text_encoder(["the big blue square on the left"])
    assert torch.equal(again.tokens[0], direct.tokens[0]) and torch.equal(again.sentence[0], direct.sentence[0])
    assert torch.equal(again.padding_mask[1], first.padding_mask[0][:again.tokens.shape[1]])
    cached(["a third text"])                       # beyond max_texts: the least recently used goes
    assert len(cached) == 2 and text_encoder.calls == 3     # (one direct call above)
    cached(["a red circle"])                       # used most recently before: kept
    assert text_encoder.calls == 3
    cached(["the big blue square on the left"])    # dropped: encoded again
    assert text_encoder.calls == 4
    with pytest.raises(PromptError, match="empty"):
        cached([" "])


def test_refsam_gives_the_same_masks_with_cached_open_clip_features(core):
    torch.manual_seed(0)
    encoder = load_text_encoder("shapes")
    model = RefSAM(core, encoder, refsam_preset("prompts_only")).eval()
    image = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    texts = [["the red circle", "a small green triangle on the right"]]
    with torch.no_grad():
        plain = model([image], text=texts)
        model.generator.text_encoder = CachedTextEncoder(encoder)
        cached = model([image], text=texts)
        cached_again = model([image], text=texts)
    assert model.generator.text_encoder.hits == 2
    assert torch.allclose(plain.low_res_logits, cached.low_res_logits, atol=1e-4)
    assert torch.equal(cached.low_res_logits, cached_again.low_res_logits)
