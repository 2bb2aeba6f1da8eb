"""Text-prompted video on SAM 2's memory (RefSAM on the first frame, SAM 2 tracks)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("sam2")

import samprompt  # noqa: E402
from samprompt.data import ShapesVideo  # noqa: E402
from samprompt.errors import ConfigError  # noqa: E402
from samprompt.refsam import RefSAM, RefSAMConfig  # noqa: E402
from samprompt.refsam.memory import RefSAMMemoryTracker, compare_video_paths  # noqa: E402


@pytest.fixture(scope="module")
def model():
    from tests.helpers import WordHashEncoder

    torch.manual_seed(0)
    model = RefSAM(samprompt.build_sam("sam2_micro", seed=0), WordHashEncoder(), RefSAMConfig(adapters=None))
    for parameter in model.trainable_parameters().values():
        nn.init.normal_(parameter, std=0.2)
    return model.eval()


def test_refsam_answers_the_first_frame_and_the_memory_the_rest(model):
    clip = ShapesVideo("test", 1, frames=4)[0]
    tracker = RefSAMMemoryTracker(model, ["the red circle", "a star"])
    masks = list(tracker.run(clip["frames"]))
    assert len(masks) == 4 and all(m.shape == (2, *clip["masks"][0].shape) for m in masks)
    first = torch.stack([m[0] for m in model([clip["frames"][0]], text=["the red circle", "a star"]).masks])
    assert torch.equal(masks[0], first)
    assert set(tracker.memory.bank["cond_frame_outputs"]) == {0}
    assert set(tracker.memory.bank["non_cond_frame_outputs"]) == {1, 2, 3}


def test_reanchoring_makes_refsam_answer_again(model):
    clip = ShapesVideo("test", 1, frames=5)[0]
    tracker = RefSAMMemoryTracker(model, "the red circle", reanchor_every=2)
    masks = list(tracker.run(clip["frames"]))
    assert set(tracker.memory.bank["cond_frame_outputs"]) == {0, 2, 4}
    again = model([clip["frames"][2]], text=["the red circle"]).masks[0][0]
    assert torch.equal(masks[2][0], again)
    with pytest.raises(ConfigError, match="reanchor_every"):
        RefSAMMemoryTracker(model, "x", reanchor_every=0)


def test_a_sam1_refsam_is_pointed_to_its_track_token(core, text_encoder):
    with pytest.raises(ConfigError, match="track token"):
        RefSAMMemoryTracker(RefSAM(core, text_encoder, RefSAMConfig(adapters=None)), "x")


def test_both_video_paths_are_scored_on_the_same_clips(model):
    clips = [ShapesVideo("test", 2, frames=3)[i] for i in range(2)]
    results = compare_video_paths(model, clips)
    assert set(results) == {"track_token", "sam2_memory"}
    for scores in results.values():
        assert scores["count"] == 2 and 0 <= scores["J"] <= 1 and scores["seconds_per_frame"] > 0
        assert np.isclose(scores["J&F"], (scores["J"] + scores["F"]) / 2)
