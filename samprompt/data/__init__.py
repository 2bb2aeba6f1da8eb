"""Datasets: the procedural shapes world and loaders of real benchmarks in their released layouts."""
from samprompt.data.interactive import INTERACTIVE_BENCHMARKS, SBD, MaskFolder, interactive_dataset
from samprompt.data.refer import RefCOCO
from samprompt.data.registry import DatasetSpec, available_datasets, get_dataset, register_dataset
from samprompt.data.shapes import COLOURS, SHAPE_CLASSES, Scene, ShapesConfig, ShapesWorld
from samprompt.data.shapes_datasets import (
    ShapesInstances,
    ShapesInteractive,
    ShapesReferring,
    ShapesSemantic,
    ShapesVideo,
    split_seed,
)
from samprompt.data.video_refer import RefDAVIS17, RefYouTubeVOS

__all__ = [
    "COLOURS", "INTERACTIVE_BENCHMARKS", "SBD", "SHAPE_CLASSES", "DatasetSpec", "MaskFolder", "RefCOCO",
    "RefDAVIS17", "RefYouTubeVOS", "Scene", "ShapesConfig", "ShapesInstances", "ShapesInteractive", "ShapesReferring",
    "ShapesSemantic", "ShapesVideo", "ShapesWorld", "available_datasets", "get_dataset", "interactive_dataset",
    "register_dataset", "split_seed",
]
