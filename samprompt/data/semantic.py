"""Semantic-segmentation benchmarks in their usual prepared layouts (image folder + label PNGs).

Every item is {"image": H x W x 3 uint8, "label": H x W uint8 (index into the class list,
255 = ignore), "id": file stem}. Images and labels are paired by file stem.

Layouts (the `root` given is the dataset's own folder), as prepared by the CAT-Seg /
detectron2 scripts:
- ade20k-150:        ADEChallengeData2016/ images/{training,validation}/*.jpg,
                     annotations_detectron2/{training,validation}/*.png (0..149, 255);
                     with `raw_labels=True` the released annotations/{...}/*.png (0 = other -> 255,
                     k -> k - 1).
- coco-stuff-171:    coco-stuff/ images/{train2017,val2017}/*.jpg,
                     annotations_detectron2/{train2017,val2017}/*.png (0..170, 255).
- pascal-context-59: VOCdevkit/VOC2010/ JPEGImages/*.jpg, annotations_detectron2/pc59_val/*.png
                     (0..58, background 255).
- voc-20:            VOCdevkit/VOC2012/ JPEGImages/*.jpg, annotations_detectron2/{train,val}/*.png
                     (0..19, background 255).
- voc-21:            VOCdevkit/VOC2012/ JPEGImages/*.jpg, SegmentationClass/*.png (palette PNGs:
                     0 = background, 1..20, 255 = void), listed by ImageSets/Segmentation/<split>.txt.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from torch.utils.data import Dataset

from samprompt.data.files import open_image, read_rgb
from samprompt.data.registry import DatasetSpec, register_dataset
from samprompt.errors import ConfigError, DatasetError, UnknownNameError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def class_list(name: str) -> tuple[str, ...]:
    """A shipped class-name list ("ade20k_150", "coco_stuff_171", "pascal_context_59", "voc_20"),
    one name per label id."""
    path = resources.files("samprompt.data") / "class_lists" / f"{name}.txt"
    if not path.is_file():
        known = sorted(p.name[:-4] for p in (resources.files("samprompt.data") / "class_lists").iterdir())
        raise UnknownNameError(f"unknown class list {name!r}; shipped: {known}")
    return tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def read_label(path: Path) -> np.ndarray:
    """A single-channel (L or palette) label PNG as H x W uint8 class indexes."""
    image = open_image(path, "label map")
    if image.mode not in ("L", "P"):
        raise DatasetError(f"{str(path)!r}: label maps must be single-channel (L or P) PNGs, got mode "
                           f"{image.mode!r}")
    return np.asarray(image, dtype=np.uint8).copy()


def read_image(path: Path) -> np.ndarray:
    """H x W x 3 uint8 (`samprompt.data.files.read_rgb`: errors name the file)."""
    return read_rgb(path)


class SemanticFolder(Dataset):
    """Images and label maps paired by file stem.

    Args:
        image_dir / label_dir: the two folders.
        classes: the names of label ids 0..K-1.
        ids: restrict to these stems (e.g. from a split list); default: every labelled image.
        reduce_zero_label: labels store 0 = unlabelled and classes from 1 (raw ADE20K):
            0 -> 255, k -> k - 1.
    """

    def __init__(self, image_dir: str | Path, label_dir: str | Path, classes: Sequence[str],
                 ids: Sequence[str] | None = None, reduce_zero_label: bool = False, label_suffix: str = ".png") -> None:
        self.image_dir, self.label_dir = Path(image_dir), Path(label_dir)
        for folder in (self.image_dir, self.label_dir):
            if not folder.is_dir():
                raise FileNotFoundError(f"dataset folder {str(folder)!r} does not exist")
        self.classes = tuple(classes)
        self.reduce_zero_label = reduce_zero_label
        labels = {p.stem: p for p in self.label_dir.iterdir() if p.suffix == label_suffix}
        images = {p.stem: p for p in self.image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
        stems = sorted(labels) if ids is None else list(ids)
        missing = [s for s in stems if s not in images or s not in labels]
        if missing:
            raise DatasetError(f"{len(missing)} items lack an image in {str(self.image_dir)!r} or a label in "
                               f"{str(self.label_dir)!r}, e.g. {missing[:3]}")
        if not stems:
            raise DatasetError(f"no label maps ({label_suffix}) in {str(self.label_dir)!r}")
        self.items = [(images[s], labels[s]) for s in stems]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image_path, label_path = self.items[index]
        image, label = read_image(image_path), read_label(label_path)
        if image.shape[:2] != label.shape:
            raise DatasetError(f"{image_path.stem}: image {image.shape[:2]} and label {label.shape} differ in size")
        if self.reduce_zero_label:
            label = np.where(label == 0, 255, label.astype(np.int16) - 1).astype(np.uint8)
        bad = np.unique(label[(label != 255) & (label >= len(self.classes))])
        if bad.size:
            raise DatasetError(f"{str(label_path)!r}: label values {bad[:5].tolist()} are not classes "
                               f"0..{len(self.classes) - 1} or 255")
        return {"image": image, "label": label, "id": image_path.stem}


@dataclass(frozen=True)
class SemanticBenchmark:
    """Where a benchmark's split lives under its root, and its class list."""

    classes: str | tuple[str, ...]
    images: str
    labels: str
    splits: tuple[str, ...]
    split_lists: str | None = None

    def class_names(self) -> tuple[str, ...]:
        return class_list(self.classes) if isinstance(self.classes, str) else self.classes


BENCHMARKS: dict[str, SemanticBenchmark] = {
    "ade20k-150": SemanticBenchmark("ade20k_150", "images/{split}", "annotations_detectron2/{split}",
                                    ("training", "validation")),
    "coco-stuff-171": SemanticBenchmark("coco_stuff_171", "images/{split}", "annotations_detectron2/{split}",
                                        ("train2017", "val2017")),
    "pascal-context-59": SemanticBenchmark("pascal_context_59", "JPEGImages", "annotations_detectron2/pc59_{split}",
                                           ("val",)),
    "voc-20": SemanticBenchmark("voc_20", "JPEGImages", "annotations_detectron2/{split}", ("train", "val")),
    "voc-21": SemanticBenchmark(("background",) + class_list("voc_20"), "JPEGImages", "SegmentationClass",
                                ("train", "val"), split_lists="ImageSets/Segmentation/{split}.txt"),
}


def semantic_dataset(name: str, root: str | Path, split: str, *, raw_labels: bool = False) -> SemanticFolder:
    """A benchmark split from its prepared layout (see the module docstring)."""
    if name not in BENCHMARKS:
        raise UnknownNameError(f"unknown semantic benchmark {name!r}; known: {sorted(BENCHMARKS)}")
    spec = BENCHMARKS[name]
    if split not in spec.splits:
        raise ConfigError(f"{name} has splits {list(spec.splits)}, not {split!r}")
    root = Path(root)
    labels = spec.labels.format(split=split)
    if raw_labels:
        if name != "ade20k-150":
            raise ConfigError("raw_labels applies to ade20k-150 (its released annotations/ folder) only")
        labels = f"annotations/{split}"
    ids = None
    if spec.split_lists:
        listing = root / spec.split_lists.format(split=split)
        if not listing.is_file():
            raise FileNotFoundError(f"split list {str(listing)!r} does not exist")
        ids = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    return SemanticFolder(root / spec.images.format(split=split), root / labels, spec.class_names(), ids,
                          reduce_zero_label=raw_labels)


def _register(name: str) -> None:
    def build(root: str, split: str, raw_labels: bool = False) -> SemanticFolder:
        return semantic_dataset(name, root, split, raw_labels=raw_labels)
    register_dataset(DatasetSpec(name, "semantic", build, f"{name}: {len(BENCHMARKS[name].class_names())} classes, "
                                                          f"splits {', '.join(BENCHMARKS[name].splits)}"))


for _name in BENCHMARKS:
    _register(_name)

