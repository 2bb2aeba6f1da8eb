from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from samprompt.clip.dense import DenseClip, check_classes, correlation
from samprompt.clip.models import load_clip
from samprompt.errors import ConfigError, ImageFormatError, PromptError


def test_dense_features_have_the_grid_of_the_chosen_input_size():
    clip = DenseClip(load_clip(), image_size=128, skip_layers=(0, 2))
    assert clip.grid == 16 and clip.clip.visual.positional_embedding.shape[0] == 1 + 16 * 16
    dense, skips = clip.encode_image(torch.randint(0, 256, (2, 3, 50, 70), dtype=torch.uint8))
    assert dense.shape == (2, clip.embed_dim, 16, 16)
    assert torch.allclose(dense.norm(dim=1), torch.ones(2, 16, 16), atol=1e-5)
    assert [tuple(s.shape) for s in skips] == [(2, clip.width, 16, 16)] * 2


def test_resized_positional_embedding_keeps_the_class_position_and_native_size_is_untouched():
    bundle = load_clip()
    original = bundle.model.visual.positional_embedding.detach().clone()
    DenseClip(bundle)                                            # native size: no change
    assert torch.equal(bundle.model.visual.positional_embedding, original)
    DenseClip(bundle, image_size=96)
    assert torch.equal(bundle.model.visual.positional_embedding[0], original[0])
    assert bundle.model.visual.positional_embedding.shape[0] == 1 + 12 * 12


def test_native_dense_tokens_match_open_clips_own_projection_of_the_last_block():
    bundle = load_clip()
    clip = DenseClip(bundle)
    images = torch.randint(0, 256, (1, 3, 64, 64), dtype=torch.uint8)
    dense, _ = clip.encode_image(images)
    visual = bundle.model.visual
    out = visual.forward_intermediates(clip.normalise(images), indices=[clip.depth - 1], intermediates_only=True,
                                       output_fmt="NLC", normalize_intermediates=True)
    expected = F.normalize(out["image_intermediates"][0] @ visual.proj, dim=-1)       # 1 x 64 x E
    assert torch.allclose(dense.flatten(2).transpose(1, 2), expected, atol=1e-5)


def test_class_embeddings_are_cached_per_name(monkeypatch):
    clip = DenseClip(load_clip(), templates=("a {}", "a photo of a {}"))
    calls = []
    encode = clip.clip.encode_text
    monkeypatch.setattr(clip.clip, "encode_text", lambda tokens, normalize: calls.append(len(tokens))
                        or encode(tokens, normalize=normalize))
    first = clip.encode_classes(["circle", "star"])
    again = clip.encode_classes(["star", "circle", "ring"])
    assert calls == [4, 2]                                       # 2 names x 2 templates, then only "ring"
    assert torch.equal(again[0], first[1]) and torch.equal(again[1], first[0])
    assert torch.allclose(first.norm(dim=1), torch.ones(2))


def test_correlation_is_the_cosine_of_patch_and_class():
    dense = F.normalize(torch.randn(2, 8, 3, 4), dim=1)
    text = F.normalize(torch.randn(5, 8), dim=1)
    corr = correlation(dense, text)
    assert corr.shape == (2, 5, 3, 4)
    assert torch.allclose(corr[1, 3, 2, 1], torch.dot(dense[1, :, 2, 1], text[3]))


BAD_CLASS_LISTS = [
    ([], "got an empty list"), ("cat", "got str 'cat'"), (None, "got NoneType None"), ({"cat", "dog"}, "got set"),
    ((c for c in ["cat"]), "got generator"), ({"cat": 0}, "got dict"), (3, "got int 3"),
    (np.array([["cat"]]), "got ndarray"), (["cat", " "], "non-empty strings"), (["cat", None], r"\[None\]"),
    (["cat", 3], r"\[3\]"), ([b"cat"], "non-empty strings"), (["cat", "cat"], "unique"),
]


@pytest.mark.parametrize("classes, problem", BAD_CLASS_LISTS)
def test_bad_class_lists_are_refused(classes, problem):
    with pytest.raises(PromptError, match=problem):
        check_classes(classes)


def test_class_lists_come_back_as_lists_of_str():
    assert check_classes(("cat", "dog")) == ["cat", "dog"]
    names = check_classes(np.array(["cat", "dog"]))
    assert names == ["cat", "dog"] and all(type(n) is str for n in names)


def test_bad_settings_and_images_are_refused():
    with pytest.raises(ConfigError, match="skip_layers"):
        DenseClip(load_clip(), skip_layers=(3,))
    with pytest.raises(ConfigError, match="multiple of the patch size"):
        DenseClip(load_clip(), image_size=100)
    with pytest.raises(ConfigError, match="exactly one"):
        DenseClip(load_clip(), templates=("a photo",))
    clip = DenseClip(load_clip())
    with pytest.raises(ImageFormatError, match="B x 3 x H x W"):
        clip.encode_image(torch.zeros(1, 4, 64, 64))
    with pytest.raises(ImageFormatError, match="dtype"):
        clip.encode_image(torch.zeros(1, 3, 64, 64, dtype=torch.int32))
