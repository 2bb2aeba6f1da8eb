"""Semantic-segmentation loaders on tiny fixtures written in the benchmarks' prepared layouts."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samprompt.data.semantic import BENCHMARKS, SemanticFolder, class_list, semantic_dataset
from samprompt.errors import ConfigError, DatasetError, UnknownNameError


def write_pair(image_dir: Path, label_dir: Path, stem: str, label: np.ndarray, palette: bool = False) -> None:
    image_dir.mkdir(parents=True, exist_ok=True)
    label_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(stem))
    Image.fromarray(rng.integers(0, 256, label.shape + (3,), dtype=np.uint8)).save(image_dir / f"{stem}.jpg")
    # VOC's SegmentationClass PNGs are palette images: the pixel values are palette indexes
    picture = _palette(label) if palette else Image.fromarray(label)
    picture.save(label_dir / f"{stem}.png")


def _palette(label: np.ndarray) -> Image.Image:
    picture = Image.new("P", (label.shape[1], label.shape[0]))
    picture.putpalette([v for i in range(256) for v in (i, 255 - i, (7 * i) % 256)])
    picture.putdata(label.flatten().tolist())
    return picture


def test_shipped_class_lists_have_the_benchmark_sizes():
    sizes = {"ade20k_150": 150, "coco_stuff_171": 171, "pascal_context_59": 59, "voc_20": 20}
    for name, size in sizes.items():
        names = class_list(name)
        assert len(names) == size and len(set(names)) == size and all(n == n.strip() and n for n in names)
    assert class_list("voc_20")[0] == "aeroplane" and class_list("ade20k_150")[:3] == ("wall", "building", "sky")
    assert len(BENCHMARKS["voc-21"].class_names()) == 21
    with pytest.raises(UnknownNameError, match="unknown class list"):
        class_list("ade20k_847")


def test_ade20k_prepared_and_raw_labels(tmp_path):
    root = tmp_path / "ADEChallengeData2016"
    prepared = np.array([[0, 149, 255], [7, 7, 255]], np.uint8)
    write_pair(root / "images/validation", root / "annotations_detectron2/validation", "ADE_val_00000001", prepared)
    raw = np.array([[1, 150, 0], [8, 8, 0]], np.uint8)            # released: 0 = other, classes from 1
    write_pair(root / "images/validation", root / "annotations/validation", "ADE_val_00000001", raw)
    dataset = semantic_dataset("ade20k-150", root, "validation")
    item = dataset[0]
    assert len(dataset) == 1 and item["id"] == "ADE_val_00000001" and item["image"].shape == (2, 3, 3)
    assert np.array_equal(item["label"], prepared) and len(dataset.classes) == 150
    raw_item = semantic_dataset("ade20k-150", root, "validation", raw_labels=True)[0]
    assert np.array_equal(raw_item["label"], prepared)


def test_coco_stuff_and_pascal_context_layouts(tmp_path):
    coco = tmp_path / "coco-stuff"
    write_pair(coco / "images/val2017", coco / "annotations_detectron2/val2017", "000000000139",
               np.array([[0, 170], [255, 90]], np.uint8))
    write_pair(coco / "images/val2017", coco / "annotations_detectron2/val2017", "000000000285",
               np.zeros((3, 2), np.uint8))
    dataset = semantic_dataset("coco-stuff-171", coco, "val2017")
    assert [dataset[i]["id"] for i in range(len(dataset))] == ["000000000139", "000000000285"]
    assert dataset[0]["label"][0, 1] == 170 and len(dataset.classes) == 171
    context = tmp_path / "VOCdevkit/VOC2010"
    write_pair(context / "JPEGImages", context / "annotations_detectron2/pc59_val", "2008_000002",
               np.array([[58, 255]], np.uint8))
    assert semantic_dataset("pascal-context-59", context, "val")[0]["label"].tolist() == [[58, 255]]


def test_voc20_and_voc21_with_palette_labels_and_split_lists(tmp_path):
    root = tmp_path / "VOCdevkit/VOC2012"
    raw = np.array([[0, 15, 255], [20, 1, 0]], np.uint8)
    for stem in ("2007_000033", "2007_000042"):
        write_pair(root / "JPEGImages", root / "SegmentationClass", stem, raw, palette=True)
    write_pair(root / "JPEGImages", root / "annotations_detectron2/val", "2007_000033",
               np.array([[255, 14, 255], [19, 0, 255]], np.uint8))
    (root / "ImageSets/Segmentation").mkdir(parents=True)
    (root / "ImageSets/Segmentation/val.txt").write_text("2007_000042\n")
    voc21 = semantic_dataset("voc-21", root, "val")
    assert len(voc21) == 1 and voc21[0]["id"] == "2007_000042"
    assert np.array_equal(voc21[0]["label"], raw)                 # palette indexes, not colours
    assert voc21.classes[0] == "background" and voc21.classes[15] == "person"
    voc20 = semantic_dataset("voc-20", root, "val")
    assert voc20[0]["label"][1, 0] == 19 and voc20.classes[19] == "tvmonitor"


def test_problems_are_named(tmp_path):
    with pytest.raises(UnknownNameError, match="unknown semantic benchmark"):
        semantic_dataset("ade-847", tmp_path, "val")
    with pytest.raises(ConfigError, match="splits"):
        semantic_dataset("pascal-context-59", tmp_path, "train")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        semantic_dataset("voc-20", tmp_path, "val")
    images, labels = tmp_path / "img", tmp_path / "lab"
    write_pair(images, labels, "a", np.array([[3]], np.uint8))
    (images / "b.jpg").write_bytes((images / "a.jpg").read_bytes())
    with pytest.raises(DatasetError, match="lack an image"):
        SemanticFolder(images, labels, ["x", "y"], ids=["a", "b"])
    with pytest.raises(DatasetError, match="label values \\[3\\]"):
        SemanticFolder(images, labels, ["x", "y"])[0]
    Image.new("RGB", (1, 1)).save(labels / "a.png")
    with pytest.raises(DatasetError, match="single-channel"):
        SemanticFolder(images, labels, ["x", "y", "z", "w"])[0]
