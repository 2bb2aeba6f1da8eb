"""Class names as a prompt generator on the core (`ClassPrompts`)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from samprompt import PromptedSam
from samprompt.clip.models import load_clip
from samprompt.errors import ConfigError, PromptError
from samprompt.prompts import ClassPrompts, CombinedPrompts, NativePrompts
from samprompt.prompts.classes import semantic_map
from samprompt.prompts.pseudo import PseudoPromptSettings
from tests.conftest import random_image

CLASSES = ["background", "circle", "square"]


@pytest.fixture
def generator(core) -> ClassPrompts:
    torch.manual_seed(0)
    return ClassPrompts(load_clip(), core.prompt_dim, settings=PseudoPromptSettings(regions=3)).eval()


@pytest.fixture
def pictures(rng) -> list[np.ndarray]:
    return [random_image(rng, 50, 70), random_image(rng, 64, 40)]


def count_encoder_calls(core) -> list[int]:
    calls = [0]
    core.sam.image_encoder.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_one_row_per_image_and_class_image_major_from_one_encoder_pass(core, generator, pictures):
    calls = count_encoder_calls(core)
    model = PromptedSam(core, generator)
    with torch.no_grad():
        prediction = model(pictures, classes=CLASSES)
    assert calls[0] == 1
    assert prediction.low_res_logits.shape == (6, 1, *core.mask_input_size)
    assert prediction.batch_index.tolist() == [0, 0, 0, 1, 1, 1]
    assert [tuple(m.shape[-2:]) for m in prediction.masks] == [(50, 70)] * 3 + [(64, 40)] * 3


def test_pseudo_points_land_where_clip_correlation_peaks_in_the_input_frame(core, generator, pictures):
    features = core.encode(pictures, keep_images=True)
    pseudo = generator.pseudo_prompts(core, features, CLASSES, [0, 1])
    assert pseudo.points.shape == (6, 3, 2) and bool(((pseudo.points >= 0) & (pseudo.points <= 1)).all())
    # the pseudo prompts are those of the correlation computed on each image's unpadded pixels
    pixels = core.input_pixels(features)
    side = generator.clip.image_size
    batch = torch.cat([F.interpolate(p[None].float(), size=(side, side), mode="bilinear") for p in pixels])
    direct = generator.clip.correlation_map(batch, CLASSES)
    assert direct.shape[:2] == (2, 3)
    correlation = generator.correlation(core, features, CLASSES, [0, 1])
    assert torch.allclose(F.interpolate(correlation, size=(side, side), mode="bilinear"), direct, atol=1e-5)


def test_input_pixels_give_back_the_resized_image(core, pictures):
    features = core.encode(pictures, keep_images=True)
    pixels = core.input_pixels(features)
    assert [tuple(p.shape) for p in pixels] == [(3, *size) for size in features.input_sizes]
    resized = core.transform.apply_image(pictures[0])                  # what segment-anything feeds its encoder
    assert np.abs(pixels[0].permute(1, 2, 0).numpy() - resized).max() < 1e-3
    with pytest.raises(ConfigError, match="keep_images=True"):
        core.input_pixels(core.encode(pictures))


def test_pseudo_mask_covers_only_the_image_part_of_the_mask_frame(core, generator, pictures):
    features = core.encode(pictures, keep_images=True)
    pseudo = generator.pseudo_prompts(core, features, CLASSES, [1])
    masks = generator._dense_masks(core, features, pseudo, [1], len(CLASSES))
    h, w = features.input_sizes[1]
    mh, mw = core.mask_input_size
    width = round(w * mw / core.image_size)
    assert masks.shape == (3, 1, mh, mw)
    assert bool((masks[..., width:] == -generator.mask_logit).all())               # padding: background
    inside = masks[..., :width]
    assert torch.equal(inside > 0, F.interpolate(pseudo.masks.unsqueeze(1).float(), size=(mh, width)) > 0)


def test_class_images_select_the_images_that_get_rows(core, generator, pictures):
    features = core.encode(pictures, keep_images=True)
    both = generator(core, features, classes=CLASSES)
    second = generator(core, features, classes=CLASSES, class_images=[1])
    assert second.batch_index.tolist() == [1, 1, 1]
    assert torch.allclose(second.sparse, both.sparse[3:], atol=1e-5)
    assert torch.allclose(second.dense, both.dense[3:], atol=1e-5)
    with pytest.raises(PromptError, match="class_images"):
        generator(core, features, classes=CLASSES, class_images=[2])


def test_empty_regions_are_padding_and_changing_a_padded_token_changes_nothing(core, generator, pictures):
    features = core.encode(pictures, keep_images=True)
    prompts = generator(core, features, classes=CLASSES)
    assert prompts.padding_mask.shape == prompts.sparse.shape[:2]
    assert not bool(prompts.padding_mask[:, -2:].any())                 # SAM's pad point and the class token
    padded = prompts.padding_mask.nonzero()
    if not len(padded):
        pytest.skip("no empty region in this draw")
    altered = prompts.sparse.clone()
    altered[padded[:, 0], padded[:, 1]] = 123.0
    before = core.decode(features, prompts, multimask_output=False).low_res_logits
    after = core.decode(features, type(prompts)(altered, prompts.dense, prompts.padding_mask, prompts.batch_index),
                        multimask_output=False).low_res_logits
    assert torch.allclose(before, after, atol=1e-5)


def test_class_token_and_mask_logit_train_and_clip_stays_frozen(core, generator, pictures):
    model = PromptedSam(core, generator).train()
    assert set(model.trainable_parameters()) == {"generator.class_token.weight", "generator.class_token.bias",
                                                 "generator.mask_logit"}
    model(pictures, classes=CLASSES).low_res_logits.sum().backward()
    assert all(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in model.trainable_parameters().values())
    assert not generator.clip.clip.training


def test_combined_with_clicks_per_row_equals_the_sum_of_its_parts(core, generator, pictures):
    features = core.encode(pictures, keep_images=True)
    clicks = NativePrompts()
    points = torch.tensor([[[10.0, 12.0]]] * 6)
    labels = torch.ones(6, 1, dtype=torch.long)
    index = torch.tensor([0, 0, 0, 1, 1, 1])
    combined = CombinedPrompts(generator, clicks)
    assert combined.needs_images and PromptedSam(core, combined).needs_images
    joined = combined(core, features, classes=CLASSES, points=points, labels=labels, batch_index=index)
    alone = generator(core, features, classes=CLASSES)
    click = clicks(core, features, points=points, labels=labels, batch_index=index)
    assert torch.equal(joined.sparse, torch.cat([alone.sparse, click.sparse], dim=1))
    assert torch.equal(joined.dense, alone.dense)


def test_bad_class_lists_are_refused(core, generator, pictures):
    features = core.encode(pictures, keep_images=True)
    for bad in ([], "circle", ["circle", "circle"], ["circle", ""], None, ["circle", 1], {"circle"},
                (name for name in CLASSES)):
        with pytest.raises(PromptError, match="class"):
            generator(core, features, classes=bad)
    with pytest.raises(ConfigError, match="prompt_dim"):
        ClassPrompts(load_clip(), 0)


def test_semantic_map_falls_to_background_where_no_class_mask_is_positive():
    logits = torch.tensor([[[[-1.0, 2.0]], [[-3.0, 1.0]], [[-0.5, 3.0]]]])          # 1 x 3 x 1 x 2
    assert semantic_map(logits, ["circle", "background", "square"]).tolist() == [[[1, 2]]]
    assert semantic_map(logits, ["circle", "star", "square"]).tolist() == [[[2, 2]]]   # argmax without background
    assert semantic_map(logits, ["circle", "background", "square"], background=None).tolist() == [[[2, 2]]]
    with pytest.raises(PromptError, match="logits"):
        semantic_map(logits, ["circle"])
