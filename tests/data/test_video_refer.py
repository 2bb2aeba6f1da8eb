"""Ref-YouTube-VOS and Ref-DAVIS17 loaders on fixtures written in the released layouts."""
from __future__ import annotations

import numpy as np
import pytest

from samprompt.data import RefDAVIS17, RefYouTubeVOS
from samprompt.errors import DatasetError
from tests.video_fixtures import object_ids


def test_ref_youtube_vos_train_items(ytvos_root):
    dataset = RefYouTubeVOS(ytvos_root, "train")
    assert len(dataset) == 2
    item = dataset[0]
    assert item["frames"].shape == (4, 24, 32, 3) and item["masks"].shape == (4, 24, 32)
    assert item["text"] == "a red thing moving right" and item["id"] == "abc123/0"
    for t in range(4):
        np.testing.assert_array_equal(item["masks"][t], object_ids(t) == 1)
    assert dataset[1]["masks"][0].sum() == 50
    thinned = RefYouTubeVOS(ytvos_root, "train", frame_stride=2, max_frames=1)[0]
    assert thinned["frame_names"] == ["00000"] and thinned["frames"].shape[0] == 1


def test_ref_youtube_vos_valid_has_no_masks(ytvos_root):
    dataset = RefYouTubeVOS(ytvos_root, "valid")
    item = dataset[0]
    assert "masks" not in item and item["frame_names"] == ["00000", "00005", "00010"]
    assert len(list(dataset.iter_frames(0))) == 3


def test_ref_youtube_vos_errors(ytvos_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="meta_expressions.json"):
        RefYouTubeVOS(tmp_path, "train")
    (ytvos_root / "train" / "JPEGImages" / "abc123" / "00010.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="00010.jpg"):
        RefYouTubeVOS(ytvos_root, "train")[0]


@pytest.mark.parametrize("meta, expected", [
    ("[1]", "must hold"),
    ('{"videos": {"v": {"expressions": {}}}}', r"video 'v' must have an 'expressions' object and a 'frames'"),
    ('{"videos": {"v": {"expressions": {"a": {"exp": "x"}}, "frames": []}}}', "expression ids must be integers"),
    ('{"videos": {"v": {"expressions": {"0": {"text": "x"}}, "frames": []}}}', "expression 0 must have an 'exp'"),
    ('{"videos": {"v": {"expressions": {"0": {"exp": "x", "obj_id": "one"}}, "frames": []}}}', "obj_id 'one'"),
    ("{broken", "not valid JSON"),
])
def test_a_wrongly_structured_meta_expressions_file_is_named(ytvos_root, meta, expected):
    path = ytvos_root / "meta_expressions" / "train" / "meta_expressions.json"
    path.write_text(meta)
    with pytest.raises(DatasetError, match=expected) as error:
        RefYouTubeVOS(ytvos_root, "train")
    assert "meta_expressions.json" in str(error.value)


def test_a_folder_for_an_annotation_and_a_truncated_frame_are_named(ytvos_root):
    annotation = ytvos_root / "train" / "Annotations" / "abc123" / "00000.png"
    annotation.unlink()
    annotation.mkdir()
    with pytest.raises(DatasetError, match="00000.png' is a folder, expected a file"):
        RefYouTubeVOS(ytvos_root, "train")[0]
    frame = ytvos_root / "train" / "JPEGImages" / "abc123" / "00005.jpg"
    frame.write_bytes(frame.read_bytes()[:100])
    with pytest.raises(DatasetError, match="frame .*00005.jpg.* cannot be read"):
        RefYouTubeVOS(ytvos_root, "train")[0]


def test_ref_davis17_items(davis_root):
    dataset = RefDAVIS17(davis_root, "val", annotator=1, full_video=True)
    assert [(e.video, e.object_id, e.text) for e in dataset.expressions] == [
        ("bike-packing", 1, "a man riding a bike"), ("bike-packing", 2, "the green bag")]
    item = dataset[1]
    assert item["frames"].shape == (3, 24, 32, 3) and item["id"] == "bike-packing/1"
    np.testing.assert_array_equal(item["masks"][2], object_ids(2) == 2)
    with pytest.raises(FileNotFoundError, match="Davis17_annot2.txt"):
        RefDAVIS17(davis_root, "val", annotator=2, full_video=False)
    with pytest.raises(ValueError, match="annotator"):
        RefDAVIS17(davis_root, annotator=3)
