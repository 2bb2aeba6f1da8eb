"""The two scripts that make the small SAM 2 core, end to end on tiny settings."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

pytest.importorskip("sam2")

import samprompt  # noqa: E402
from samprompt.errors import ConfigError  # noqa: E402
from samprompt.pretrain import sam2_memory, tiny_sam  # noqa: E402


def test_image_then_memory_training_write_loadable_weights_and_one_record_chain(tmp_path):
    image_out, memory_out = tmp_path / "image", tmp_path / "memory"
    tiny_sam.main(["--variant", "sam2_tiny", "--decoder-from-tiny", "--recipe", "interactive", "--iterations", "2",
                   "--steps", "1",
                   "--batch-size", "2", "--eval-items", "3", "--click-items", "1", "--out", str(image_out),
                   "--work-dir", str(tmp_path / "work_image")])
    image_record = json.loads((image_out / "sam2_tiny.json").read_text())
    assert image_record["args"]["variant"] == "sam2_tiny" and "box_miou" in image_record["metrics"]
    assert len(image_record["metrics"]["click_protocol"]["miou_per_click"]) == 20
    assert image_record["args"]["decoder_from_tiny"] and image_record["decoder_start"]["core"]["variant"] == "tiny"
    assert "command" in image_record["decoder_start"]["record"]   # how the SAM 1 tiny weights were made

    record = sam2_memory.main(["--init", str(image_out / "sam2_tiny.safetensors"), "--steps", "1",
                               "--batch-size", "2", "--frames", "2", "--eval-clips", "1", "--eval-items", "3",
                               "--click-items", "1", "--out", str(memory_out),
                               "--work-dir", str(tmp_path / "work_memory")])
    assert record["init_record"] == image_record
    assert set(record["video_after"]) == {"J", "F", "J&F", "count", "seconds_per_frame"}
    assert "box_miou" in record["metrics"]
    weights = memory_out / "sam2_tiny.safetensors"
    core = samprompt.build_sam("sam2_tiny", checkpoint=weights)
    stored = load_file(str(weights))
    assert any(key.startswith("memory_attention.") for key in stored)
    before = load_file(str(image_out / "sam2_tiny.safetensors"))
    assert all(torch.equal(stored[k], before[k]) for k in stored if k.startswith("image_encoder."))   # frozen
    assert any(not torch.equal(stored[k], before[k]) for k in stored if k.startswith("memory_attention."))
    assert torch.equal(core.sam.state_dict()["memory_attention.norm.weight"],
                       stored["memory_attention.norm.weight"].float())
    assert any(not torch.equal(stored[k], before[k]) for k in stored if k.startswith("sam_mask_decoder."))

    frozen_out = tmp_path / "memory_only"
    record = sam2_memory.main(["--init", str(image_out / "sam2_tiny.safetensors"), "--steps", "1", "--freeze-decoder",
                               "--imperfect-first", "0.5", "--memory-from", str(weights),
                               "--batch-size", "2", "--frames", "2", "--eval-clips", "1", "--eval-items", "1",
                               "--click-items", "1", "--out", str(frozen_out),
                               "--work-dir", str(tmp_path / "work_frozen")])
    assert record["args"]["imperfect_first"] == 0.5
    assert record["memory_from_record"] == json.loads((memory_out / "sam2_tiny.json").read_text())
    assert set(record["video_after_imperfect_first"]) == set(record["video_after"])
    stored = load_file(str(frozen_out / "sam2_tiny.safetensors"))
    image_path = ("image_encoder.", "sam_prompt_encoder.", "sam_mask_decoder.")
    video_only = "sam_mask_decoder.pred_obj_score_head."
    assert all(torch.equal(stored[k], before[k]) for k in stored if k.startswith(image_path)
               and not k.startswith(video_only))
    assert any(not torch.equal(stored[k], before[k]) for k in stored if k.startswith(video_only))
    assert any(not torch.equal(stored[k], before[k]) for k in stored if k.startswith("memory_attention."))


@pytest.mark.parametrize("argv", [["--decoder-from-tiny"], ["--variant", "sam2_tiny", "--decoder-from-tiny",
                                                            "--init", "weights.safetensors"]])
def test_the_decoder_start_is_only_for_a_fresh_sam2_tiny(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        tiny_sam.parse_args(argv)
    assert exit_info.value.code == 2
    assert "--decoder-from-tiny starts a fresh sam2_tiny" in capsys.readouterr().err


def square_mask(size: int = 64) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    mask[20:44, 16:40] = True
    return mask


def test_imperfect_first_masks_overlap_the_object_differ_from_it_and_are_reproducible():
    truth = square_mask()
    drawn = [sam2_memory.imperfect_mask(truth, np.random.default_rng(seed)) for seed in range(40)]
    ious = np.array([(m & truth).sum() / (m | truth).sum() for m in drawn])
    assert all(m.shape == truth.shape and m.dtype == bool and m.any() for m in drawn)
    assert (ious < 1).mean() > 0.8 and (ious > 0).mean() > 0.8 and 0.3 < ious.mean() < 0.9
    assert np.array_equal(drawn[7], sam2_memory.imperfect_mask(truth, np.random.default_rng(7)))
    assert not sam2_memory.imperfect_mask(np.zeros((8, 8), bool), np.random.default_rng(0)).any()


def test_the_memory_task_starts_a_share_of_clips_from_imperfect_masks():
    clip = {"frames": np.zeros((2, 64, 64, 3), np.uint8), "masks": np.stack([square_mask()] * 2)}
    exact = [sam2_memory.MemoryTask(0.0).sample(clip, np.random.default_rng(s))["first"] for s in range(10)]
    assert all(np.array_equal(first, clip["masks"][0]) for first in exact)
    task = sam2_memory.MemoryTask(1.0)
    batch = task.collate([task.sample(clip, np.random.default_rng(s)) for s in range(10)])
    assert batch.first.shape == (10, 64, 64) and batch.masks.shape == (10, 2, 64, 64)
    assert sum(not np.array_equal(first, clip["masks"][0]) for first in batch.first) >= 8
    with pytest.raises(ConfigError, match="imperfect_first must be a share in \\[0, 1\\], got 1.5"):
        sam2_memory.MemoryTask(1.5)


def test_the_memory_script_refuses_a_share_outside_zero_to_one(capsys):
    with pytest.raises(SystemExit) as exit_info:
        sam2_memory.parse_args(["--init", "w.safetensors", "--imperfect-first", "2"])
    assert exit_info.value.code == 2
    assert "--imperfect-first is a share of the clips, in [0, 1]; got 2.0" in capsys.readouterr().err


def test_take_memory_carries_the_video_path_and_leaves_the_image_path():
    core = samprompt.build_sam("sam2_tiny", pretrained=False, seed=0)
    source = samprompt.build_sam("sam2_tiny", pretrained=False, seed=1)
    before = {name: value.clone() for name, value in core.sam.state_dict().items()}
    taken = sam2_memory.take_memory(core, source)
    assert any(name.startswith("memory_attention.") for name in taken)
    assert any(name.startswith(sam2_memory.VIDEO_ONLY) for name in taken)
    image_path = ("image_encoder.", "sam_prompt_encoder.", "sam_mask_decoder.")
    after, given = core.sam.state_dict(), source.sam.state_dict()
    for name in after:
        from_source = name in taken
        assert from_source == (name.startswith(sam2_memory.VIDEO_ONLY) or not name.startswith(image_path)), name
        assert torch.equal(after[name], given[name] if from_source else before[name]), name
    assert any(not torch.equal(before[name], given[name]) for name in taken)   # the copy changed something
