"""Ref-YouTube-VOS and Ref-DAVIS17 loaders on fixtures written in the released layouts."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from samprompt.data import RefDAVIS17, RefYouTubeVOS

PALETTE = [0, 0, 0, 200, 0, 0, 0, 200, 0] + [0] * (256 * 3 - 9)


def object_ids(frame: int) -> np.ndarray:
    """A 24 x 32 id map: object 1 moves right one pixel per frame, object 2 stays."""
    ids = np.zeros((24, 32), np.uint8)
    ids[4:10, 2 + frame:8 + frame] = 1
    ids[15:20, 20:30] = 2
    return ids


def write_frame(path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(path)


def write_annotation(path, ids: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    annotation = Image.fromarray(ids, mode="P")
    annotation.putpalette(PALETTE)
    annotation.save(path)


@pytest.fixture
def ytvos_root(tmp_path):
    root = tmp_path / "ref-youtube-vos"
    frames = ["00000", "00005", "00010", "00015"]
    meta = {"videos": {"abc123": {"frames": frames, "expressions": {
        "0": {"exp": "a red thing moving right", "obj_id": "1"},
        "1": {"exp": "the green box at the bottom", "obj_id": "2"}}}}}
    valid = {"videos": {"zzz999": {"frames": frames[:3], "expressions": {"0": {"exp": "a person"}}}}}
    for split, content in (("train", meta), ("valid", valid)):
        (root / "meta_expressions" / split).mkdir(parents=True)
        (root / "meta_expressions" / split / "meta_expressions.json").write_text(json.dumps(content))
        for video, info in content["videos"].items():
            for t, name in enumerate(info["frames"]):
                write_frame(root / split / "JPEGImages" / video / f"{name}.jpg", t)
                if split == "train":
                    write_annotation(root / split / "Annotations" / video / f"{name}.png", object_ids(t))
    return root


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


@pytest.fixture
def davis_root(tmp_path):
    root = tmp_path / "DAVIS"
    for video in ("bike-packing", "dogs-jump"):
        for t in range(3):
            write_frame(root / "JPEGImages" / "480p" / video / f"{t:05d}.jpg", t)
            write_annotation(root / "Annotations" / "480p" / video / f"{t:05d}.png", object_ids(t))
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("bike-packing\n")
    (root / "davis_text_annotations").mkdir()
    (root / "davis_text_annotations" / "Davis17_annot1_full_video.txt").write_text(
        'bike-packing 1 "a man riding a bike"\nbike-packing 2 "the green bag"\ndogs-jump 1 "a dog"\n')
    return root


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
