from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from samprompt.refsam import RefSAM, RefSAMConfig, RefSAMVideoTracker


@pytest.fixture
def model(core, text_encoder):
    torch.manual_seed(0)
    model = RefSAM(core, text_encoder, RefSAMConfig(adapters=None))
    for parameter in model.trainable_parameters().values():
        nn.init.normal_(parameter, std=0.2)
    return model.eval()


def frames(rng, count=4):
    return [rng.randint(0, 256, (40, 56, 3), dtype=np.uint8) for _ in range(count)]


def test_track_token_changes_the_next_frame(model, rng):
    video = frames(rng)
    tracker = RefSAMVideoTracker(model, ["the red circle", "a star"])
    first = tracker.predict(video[0])
    assert tracker.track.shape == (2, 1, model.core.prompt_dim)
    with_track = tracker.predict(video[1]).low_res_logits
    without_track = model([video[1]], text=["the red circle", "a star"]).low_res_logits
    assert not torch.allclose(with_track, without_track)
    assert first.low_res_logits.shape == with_track.shape


def test_tracker_resets_between_videos_and_keeps_constant_memory(model, rng):
    video_a, video_b = frames(rng), frames(rng)
    tracker = RefSAMVideoTracker(model, "the red circle")
    fresh_b = [m.clone() for m in RefSAMVideoTracker(model, "the red circle").run(video_b)]
    shapes = []
    for masks in tracker.run(video_a):
        assert masks.shape == (1, 40, 56) and masks.dtype == torch.bool
        shapes.append(tuple(tracker.track.shape))
    assert set(shapes) == {(1, 1, model.core.prompt_dim)} and not tracker.track.requires_grad
    after_a = list(tracker.run(video_b))          # run() starts a new video
    assert tracker.frames_seen == len(video_b)
    for a, b in zip(after_a, fresh_b):
        assert torch.equal(a, b)


def test_first_frame_equals_image_mode(model, rng):
    video = frames(rng, 1)
    tracker = RefSAMVideoTracker(model, ["a star"])
    torch.testing.assert_close(tracker.predict(video[0]).low_res_logits,
                               model([video[0]], text=["a star"]).low_res_logits)


def test_tracking_needs_a_tracking_module(core, text_encoder):
    model = RefSAM(core, text_encoder, RefSAMConfig(tracking=False, adapters=None))
    with pytest.raises(ValueError, match="without tracking"):
        RefSAMVideoTracker(model, ["a"])
