"""Tiny Ref-YouTube-VOS / DAVIS trees written in the released layouts (used by several test modules)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

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
