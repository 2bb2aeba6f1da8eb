"""The two scripts that make the small SAM 2 core, end to end on tiny settings."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

pytest.importorskip("sam2")

import samprompt  # noqa: E402
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
    sam2_memory.main(["--init", str(image_out / "sam2_tiny.safetensors"), "--steps", "1", "--freeze-decoder",
                      "--batch-size", "2", "--frames", "2", "--eval-clips", "1", "--eval-items", "1",
                      "--click-items", "1", "--out", str(frozen_out), "--work-dir", str(tmp_path / "work_frozen")])
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
