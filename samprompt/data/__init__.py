"""Datasets: the procedural shapes world (and, later, loaders of real benchmarks)."""
from samprompt.data.shapes import COLOURS, SHAPE_CLASSES, Scene, ShapesConfig, ShapesWorld
from samprompt.data.shapes_datasets import (
    ShapesInteractive,
    ShapesReferring,
    ShapesSemantic,
    ShapesVideo,
    split_seed,
)

__all__ = [
    "COLOURS", "SHAPE_CLASSES", "Scene", "ShapesConfig", "ShapesInteractive", "ShapesReferring", "ShapesSemantic",
    "ShapesVideo", "ShapesWorld", "split_seed",
]
