"""Shapes world as torch `Dataset`s, one per task, with disjoint seeds per split.

Item layouts (shared with the real-dataset loaders):
- referring:   {"image": H x W x 3 uint8, "mask": H x W bool, "text": str, "id": str}
- semantic:    {"image": H x W x 3 uint8, "label": H x W uint8 (index into `classes`), "id": str}
- interactive: {"image": H x W x 3 uint8, "mask": H x W bool, "id": str}
- video:       {"frames": T x H x W x 3 uint8, "masks": T x H x W bool, "text": str, "id": str}
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np
from torch.utils.data import ConcatDataset, Dataset

from samprompt.data.registry import DatasetSpec, register_dataset
from samprompt.data.shapes import Scene, ShapesConfig, ShapesWorld
from samprompt.errors import ConfigError
from samprompt.utils.dataclass_config import from_dict

SPLITS = {"train": 0, "val": 1, "test": 2}
_SPLIT_STRIDE = 10**9  # seeds of different splits never meet


def split_seed(split: str, index: int) -> int:
    """The scene seed of item `index` of `split`."""
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    if not 0 <= index < _SPLIT_STRIDE:
        raise IndexError(f"item index {index} out of range")
    return SPLITS[split] * _SPLIT_STRIDE + index


class _ShapesDataset(Dataset):
    def __init__(self, split: str = "train", size: int = 1000, config: ShapesConfig = ShapesConfig()) -> None:
        split_seed(split, 0)
        if size <= 0:
            raise ConfigError(f"size must be positive, got {size}")
        self.split, self.size, self.world = split, size, ShapesWorld(config)

    def __len__(self) -> int:
        return self.size

    def _seed(self, index: int) -> int:
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} out of range for a dataset of {self.size} items")
        return split_seed(self.split, index)

    @property
    def classes(self) -> tuple[str, ...]:
        return ("background",) + self.world.config.classes

    def _referred(self, seed: int, draw: Callable[[int], list[Scene]]) -> tuple[list[Scene], int]:
        """Scenes drawn from `seed` and the object (index) whose first-scene expression is used.

        Rarely every object is ambiguous; then a seed outside every split's range is tried.
        """
        scenes = draw(seed)
        while not scenes[0].expressions:
            seed += _SPLIT_STRIDE * len(SPLITS)
            scenes = draw(seed)
        return scenes, _choose(seed, sorted(scenes[0].expressions))


def _choose(seed: int, options: list[int]) -> int:
    return options[np.random.default_rng(seed).integers(len(options))]


class ShapesReferring(_ShapesDataset):
    """One referring expression and its object's mask per item, with the object's class name
    ("class") and the scene's class map ("label", 0 = background, 1 + index into the world's
    classes), so that the same objects can be prompted by text, by class names or by clicks."""

    def __getitem__(self, index: int) -> dict[str, Any]:
        (scene,), target = self._referred(self._seed(index), lambda seed: [self.world.scene(seed)])
        return {"image": scene.image, "mask": scene.masks[target], "text": scene.expressions[target],
                "class": scene.objects[target].shape, "label": scene.class_map, "id": f"{self.split}-{index}-{target}"}


class ShapesSemantic(_ShapesDataset):
    """Images and class maps; `classes[label]` names each pixel (0 is background)."""

    def __getitem__(self, index: int) -> dict[str, Any]:
        scene = self.world.scene(self._seed(index))
        return {"image": scene.image, "label": scene.class_map, "id": f"{self.split}-{index}"}


class ShapesInstances(_ShapesDataset):
    """Every object of a scene: instance masks and their class names, for instance segmentation."""

    def __getitem__(self, index: int) -> dict[str, Any]:
        scene = self.world.scene(self._seed(index))
        visible = [k for k in range(len(scene.masks)) if scene.masks[k].any()]
        return {"image": scene.image, "masks": scene.masks[visible],
                "labels": [scene.objects[k].shape for k in visible], "id": f"{self.split}-{index}"}


class ShapesInteractive(_ShapesDataset):
    """One object mask per item, for click-based segmentation."""

    def __getitem__(self, index: int) -> dict[str, Any]:
        seed = self._seed(index)
        scene = self.world.scene(seed)
        areas = scene.masks.reshape(len(scene.masks), -1).sum(1)
        target = _choose(seed, [k for k in range(len(areas)) if areas[k] > 0])
        return {"image": scene.image, "mask": scene.masks[target], "id": f"{self.split}-{index}-{target}"}


class ShapesVideo(_ShapesDataset):
    """Short clips of moving objects with an expression for one object, described on frame 0."""

    def __init__(self, split: str = "train", size: int = 200, frames: int = 4,
                 config: ShapesConfig = ShapesConfig()) -> None:
        super().__init__(split, size, config)
        if frames <= 0:
            raise ConfigError(f"frames must be positive, got {frames}")
        self.frames = frames

    def __getitem__(self, index: int) -> dict[str, Any]:
        clip, target = self._referred(self._seed(index), lambda seed: self.world.clip(seed, self.frames))
        return {"frames": np.stack([s.image for s in clip]), "masks": np.stack([s.masks[target] for s in clip]),
                "text": clip[0].expressions[target], "id": f"{self.split}-{index}-{target}"}


def _world(shapes: Mapping[str, Any] | None) -> ShapesConfig:
    return from_dict(ShapesConfig, dict(shapes or {}), "shapes world")


def shapes_interactive(split: str = "train", size: int = 1000, shapes: Mapping[str, Any] | None = None) -> Dataset:
    """Shapes-world objects with their masks; `shapes`: `ShapesConfig` fields."""
    return ShapesInteractive(split, size, _world(shapes))


def shapes_referring(split: str = "train", size: int = 1000, videos: int = 200, frames: int = 3,
                     shapes: Mapping[str, Any] | None = None) -> Dataset:
    """Referring images and, with `videos`, moving clips of `frames` frames."""
    world = _world(shapes)
    parts: list[Dataset] = [ShapesReferring(split, size, world)]
    if videos:
        parts.append(ShapesVideo(split, videos, frames, world))
    return parts[0] if len(parts) == 1 else ConcatDataset(parts)


def shapes_semantic(split: str = "train", size: int = 1000, shapes: Mapping[str, Any] | None = None) -> Dataset:
    """Shapes-world scenes with label maps over `("background",) + classes`."""
    return ShapesSemantic(split, size, _world(shapes))


for _kind, _build in (("interactive", shapes_interactive), ("referring", shapes_referring),
                      ("semantic", shapes_semantic)):
    register_dataset(DatasetSpec("shapes", _kind, _build, "the procedural shapes world (no files)", needs_root=False))

