from __future__ import annotations

import numpy as np
import pytest
import torch

from samprompt import PromptedSam
from samprompt.data import ShapesConfig, ShapesReferring, ShapesVideo
from samprompt.prompts import LearnedConstantPrompt
from samprompt.refsam import RefSAM, RefSAMConfig
from samprompt.refsam.task import RefSAMTask, pseudo_clip
from samprompt.training import FeatureCache
from tests.helpers import train_steps

WORLD = ShapesConfig(image_size=64)


def test_pseudo_clip_moves_image_and_mask_together():
    image = np.zeros((64, 64, 3), np.uint8)
    image[20:30, 10:25] = 255
    mask = image[..., 0] > 0
    frames, masks = pseudo_clip(image, mask, 4, np.random.default_rng(0), max_shift=0.2)
    assert len(frames) == len(masks) == 4 and np.array_equal(masks[0], mask)
    for frame, moved in zip(frames[1:], masks[1:]):
        assert frame.shape == image.shape and moved.dtype == bool
        bright = frame[..., 0] > 127
        overlap = (bright & moved).sum() / max((bright | moved).sum(), 1)
        assert overlap > 0.8
        assert not np.array_equal(moved, mask)


def test_training_lowers_the_loss_on_images_and_clips(core, text_encoder):
    torch.manual_seed(0)
    # the micro core is random-init: its decoder must learn too for the loss to move quickly
    model = RefSAM(core, text_encoder, RefSAMConfig(adapters=None, train_decoder=True))
    task = RefSAMTask(frames=2, cache=FeatureCache(core))
    items = [ShapesReferring("train", 4, WORLD)[i] for i in range(4)] + [ShapesVideo("train", 2, 3, WORLD)[0]]
    losses = train_steps(model, lambda: task.loss(model, items), steps=25, lr=1e-2)
    assert losses[-1] < 0.8 * losses[0]
    assert task.cache.hits > 0  # pseudo-clips repeat, so their frames are cached


def test_gradient_reaches_the_tracking_module_through_the_clip(core, text_encoder):
    model = RefSAM(core, text_encoder, RefSAMConfig(adapters=None))
    item = ShapesVideo("train", 1, 3, WORLD)[0]
    RefSAMTask(frames=3).loss(model, [item]).backward()
    assert model.generator.tracker.norm3.weight.grad.abs().sum() > 0


def test_evaluation_reports_image_and_video_scores(core, text_encoder):
    task = RefSAMTask()
    model = RefSAM(core, text_encoder, RefSAMConfig(adapters=None))
    images = task.evaluate_images(model, [ShapesReferring("test", 3, WORLD)[i] for i in range(3)], batch_size=2)
    assert set(images) == {"miou", "oiou", "prec@0.5", "prec@0.6", "prec@0.7", "prec@0.8", "prec@0.9", "count"}
    assert images["count"] == 3 and 0 <= images["miou"] <= 1
    videos = [ShapesVideo("test", 2, 3, WORLD)[i] for i in range(2)]
    scores = task.evaluate_videos(model, videos)
    assert scores["count"] == 2 and scores["J&F"] == pytest.approx((scores["J"] + scores["F"]) / 2)
    baseline = PromptedSam(core, LearnedConstantPrompt(core.prompt_dim))
    assert task.evaluate_videos(baseline, videos)["count"] == 2


def test_cached_video_frames_are_keyed_by_their_frame_index(core, text_encoder):
    """Clips start at random frames; a cache keyed by position in the clip would mix frames up."""
    task = RefSAMTask(frames=2, cache=FeatureCache(core))
    item = ShapesVideo("train", 1, 5, WORLD)[0]
    for seed in range(6):
        frames, masks, keys = task.clip_of(item, np.random.default_rng(seed))
        first = int(keys[0].rsplit("#", 1)[1])
        assert keys == [f"{item['id']}#{first}", f"{item['id']}#{first + 1}"]
        assert np.array_equal(frames[1], item["frames"][first + 1]) and np.array_equal(masks[0], item["masks"][first])
        cached = task.encode(None, frames, keys).embeddings
        torch.testing.assert_close(cached, core.encode(frames).embeddings)
