"""SAM 2's video memory behind `Sam2MemoryTracker`, on the random-init `sam2_micro` size."""
from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("sam2")

import samprompt  # noqa: E402
from samprompt.core.sam2_memory import Sam2MemoryTracker, encode_frames  # noqa: E402
from samprompt.data import ShapesVideo  # noqa: E402
from samprompt.errors import ConfigError, PromptError, UnknownVariantError  # noqa: E402
from samprompt.pretrain.sam2_memory import MemoryModel, MemoryTask  # noqa: E402


@pytest.fixture(scope="module")
def micro():
    return samprompt.build_sam("sam2_micro", seed=0)


@pytest.fixture(scope="module")
def clip():
    return ShapesVideo("test", 1, frames=4)[0]


def test_small_variants_are_sam2_architectures_scaled_down():
    micro = samprompt.build_sam("sam2_micro", seed=0)
    assert micro.family == "sam2" and micro.describe().architecture["image_size"] == 128
    assert micro.embedding_size == (8, 8) and micro.prompt_dim == 32
    tiny = samprompt.build_sam("sam2_tiny", pretrained=False, seed=0)
    assert tiny.describe().weights == "random:seed=0" and tiny.embedding_size == (16, 16)
    assert 3.0e6 < sum(p.numel() for p in tiny.parameters()) < 3.3e6   # 3.12 M: width 128, SAM 1 tiny's decoder shape
    assert tiny.sam.memory_attention is not None and tiny.sam.num_maskmem == 7
    with pytest.raises(UnknownVariantError, match="sam2_tiny"):
        samprompt.build_sam("sam2_small")


def test_tracker_conditions_on_masks_then_tracks_every_object(micro, clip):
    tracker = Sam2MemoryTracker(micro)
    first = torch.as_tensor(clip["masks"][0])
    with torch.no_grad():
        given = tracker.condition(clip["frames"][0], torch.stack([first, ~first]))
        assert given.masks.shape == (2, *first.shape)
        assert torch.equal(given.masks[0], first)   # SAM 2 takes a mask prompt as the frame's output
        out = tracker.track(clip["frames"][1])
    assert out.masks.shape == (2, *first.shape) and out.masks.dtype == torch.bool
    assert out.low_res_logits.shape == (2, 1, 32, 32) and out.logits.shape == (2, 1, 128, 128)
    assert out.object_score_logits.shape == (2, 1)
    assert set(tracker.bank["cond_frame_outputs"]) == {0} and set(tracker.bank["non_cond_frame_outputs"]) == {1}


def test_memory_stays_bounded_on_a_long_stream(micro, clip):
    tracker = Sam2MemoryTracker(micro)
    frame = encode_frames(micro, [clip["frames"][0]])
    with torch.no_grad():
        tracker.condition(frame, torch.as_tensor(clip["masks"][0])[None])
        for _ in range(tracker.kept_frames + 5):
            tracker.track(frame)
    kept = tracker.bank["non_cond_frame_outputs"]
    assert len(kept) == tracker.kept_frames and max(kept) == tracker.kept_frames + 5
    tracker.reset()
    assert tracker.frame_index == 0 and not tracker.bank["cond_frame_outputs"]


def test_the_memory_changes_what_the_tracked_frame_predicts(micro, clip):
    """The same frame after two different first masks: memory attention reads them."""
    outputs = []
    for mask in (clip["masks"][0], np.zeros_like(clip["masks"][0])):
        tracker = Sam2MemoryTracker(micro)
        with torch.no_grad():
            tracker.condition(clip["frames"][0], torch.as_tensor(mask)[None])
            outputs.append(tracker.track(clip["frames"][1]).low_res_logits)
    assert not torch.allclose(outputs[0], outputs[1])


def test_bad_use_is_refused_with_the_argument_named(micro, clip, core):
    tracker = Sam2MemoryTracker(micro)
    with pytest.raises(PromptError, match="before condition"):
        tracker.track(clip["frames"][0])
    with pytest.raises(PromptError, match="masks must be N x H x W"):
        tracker.condition(clip["frames"][0], torch.zeros(1, 5, 5, dtype=torch.bool))
    with torch.no_grad():
        tracker.condition(clip["frames"][0], torch.as_tensor(clip["masks"][0])[None])
    with pytest.raises(PromptError, match="tracks 1 objects"):
        tracker.condition(clip["frames"][1], torch.as_tensor(clip["masks"][1:3]))
    with pytest.raises(ConfigError, match="SAM 2 core"):
        Sam2MemoryTracker(core)


def test_memory_training_moves_memory_attention_and_not_the_image_encoder():
    core = samprompt.build_sam("sam2_micro", seed=1, frozen=False)
    model = MemoryModel(core)
    clips = [ShapesVideo("train", 2, frames=3)[i] for i in range(2)]
    loss = MemoryTask().loss(model, clips)
    assert torch.isfinite(loss)
    loss.backward()
    grads = {n: p.grad for n, p in core.sam.named_parameters()}
    assert all(g is None for n, g in grads.items() if n.startswith("image_encoder."))
    assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if n.startswith("memory_attention."))
    assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if n.startswith("memory_encoder."))
    assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if "obj_score" in n)
