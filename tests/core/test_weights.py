import pytest
import torch
from safetensors.torch import save_file

import samprompt
from samprompt.errors import CheckpointError, CheckpointNotFoundError


def test_official_vit_b_checkpoint_format_loads(tmp_path):
    torch.manual_seed(1)
    from segment_anything import sam_model_registry

    source = sam_model_registry["vit_b"]()
    path = tmp_path / "sam_vit_b_01ec64.pth"
    torch.save(source.state_dict(), path)  # exactly how the official files are written
    core = samprompt.build_sam("vit_b", checkpoint=path)
    loaded = core.sam.state_dict()
    for key, value in source.state_dict().items():
        assert torch.equal(loaded[key], value), key
    assert core.variant == "vit_b"


def test_safetensors_and_wrapped_state_dicts_load(tmp_path, core):
    state = core.sam.state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "micro.safetensors"))
    torch.save({"model": state}, tmp_path / "wrapped.pth")
    for path in (tmp_path / "micro.safetensors", tmp_path / "wrapped.pth"):
        other = samprompt.build_sam("micro", checkpoint=path)
        assert torch.equal(other.sam.mask_decoder.iou_token.weight, core.sam.mask_decoder.iou_token.weight)


def test_missing_checkpoint_names_file_and_variant(tmp_path):
    path = tmp_path / "nope.pth"
    with pytest.raises(CheckpointNotFoundError, match=r"nope\.pth.*'micro'.*does not exist"):
        samprompt.build_sam("micro", checkpoint=path)


def test_truncated_checkpoint_is_reported_as_such(tmp_path, core):
    path = tmp_path / "cut.pth"
    torch.save(core.sam.state_dict(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pth.*'micro'.*truncated or corrupt"):
        samprompt.build_sam("micro", checkpoint=path)


def test_garbage_file_is_reported(tmp_path):
    path = tmp_path / "junk.pth"
    path.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        samprompt.build_sam("micro", checkpoint=path)


def test_checkpoint_of_another_variant_says_what_it_is(tmp_path, core):
    path = tmp_path / "micro.pth"
    torch.save(core.sam.state_dict(), path)
    with pytest.raises(CheckpointError) as info:
        samprompt.build_sam("tiny", checkpoint=path)
    message = str(info.value)
    assert "micro.pth" in message and "'tiny'" in message
    assert "of another shape" in message and "looks like micro" in message
