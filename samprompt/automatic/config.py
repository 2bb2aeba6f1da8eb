"""`AutomaticMaskConfig`: the settings of automatic mask generation, checked when made."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from samprompt.errors import ConfigError

OUTPUT_MODES = ("binary_mask", "uncompressed_rle", "coco_rle")


def _check_fraction(name: str, value: Any, *, upper_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            0.0 <= value < 1.0 if upper_open else 0.0 <= value <= 1.0):
        raise ConfigError(f"{name} must be a number in [0, 1{')' if upper_open else ']'}, got {value!r}")


def _check_count(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")


@dataclass
class AutomaticMaskConfig:
    """segment-anything's `SamAutomaticMaskGenerator` settings, with its names and defaults.

    Attributes:
        points_per_side: an n x n grid of single-click prompts per crop (None: `point_grids`).
        points_per_batch: clicks decoded together (memory vs speed; results do not depend on it).
        pred_iou_thresh: keep masks whose predicted IoU is above this (0: no filter).
        stability_score_thresh: keep masks whose stability score is at least this (0: no filter).
        stability_score_offset: the logit offset of the stability score.
        box_nms_thresh: box IoU above which a crop's lower-scoring duplicate is dropped.
        crop_n_layers: crop layers beyond the whole image (layer i: (2^i)² crops).
        crop_nms_thresh: box IoU above which duplicates across crops are dropped (smaller crops win).
        crop_overlap_ratio: overlap of neighbouring first-layer crops, a share of the short side.
        crop_n_points_downscale_factor: layer i's grid has points_per_side / factor^i per side.
        point_grids: explicit normalised n_i x 2 grids in [0, 1], one per layer (instead of
            `points_per_side`).
        min_mask_region_area: fill holes and drop islands smaller than this many pixels (0: off).
        output_mode: "binary_mask" (H x W bool), "uncompressed_rle" or "coco_rle".
    """

    points_per_side: int | None = 32
    points_per_batch: int = 64
    pred_iou_thresh: float = 0.88
    stability_score_thresh: float = 0.95
    stability_score_offset: float = 1.0
    box_nms_thresh: float = 0.7
    crop_n_layers: int = 0
    crop_nms_thresh: float = 0.7
    crop_overlap_ratio: float = 512 / 1500
    crop_n_points_downscale_factor: int = 1
    point_grids: Sequence[np.ndarray] | None = field(default=None, repr=False)
    min_mask_region_area: int = 0
    output_mode: str = "binary_mask"

    def __post_init__(self) -> None:
        if (self.points_per_side is None) == (self.point_grids is None):
            raise ConfigError("give exactly one of points_per_side and point_grids, got "
                              f"points_per_side={self.points_per_side!r} and "
                              f"point_grids={'None' if self.point_grids is None else 'a list'}")
        if self.points_per_side is not None:
            _check_count("points_per_side", self.points_per_side, 1)
        _check_count("points_per_batch", self.points_per_batch, 1)
        _check_count("crop_n_layers", self.crop_n_layers, 0)
        _check_count("crop_n_points_downscale_factor", self.crop_n_points_downscale_factor, 1)
        _check_count("min_mask_region_area", self.min_mask_region_area, 0)
        for name in ("pred_iou_thresh", "stability_score_thresh", "box_nms_thresh", "crop_nms_thresh"):
            _check_fraction(name, getattr(self, name))
        _check_fraction("crop_overlap_ratio", self.crop_overlap_ratio, upper_open=True)
        offset = self.stability_score_offset
        if isinstance(offset, bool) or not isinstance(offset, (int, float)) or not np.isfinite(offset) or offset < 0:
            raise ConfigError(f"stability_score_offset must be a finite number >= 0, got {offset!r}")
        if self.output_mode not in OUTPUT_MODES:
            raise ConfigError(f"output_mode must be one of {', '.join(OUTPUT_MODES)}, got {self.output_mode!r}")
        if self.points_per_side is not None and self.points_per_side // self.crop_n_points_downscale_factor ** \
                self.crop_n_layers < 1:
            raise ConfigError(f"points_per_side={self.points_per_side} leaves no points in crop layer "
                              f"{self.crop_n_layers} with crop_n_points_downscale_factor="
                              f"{self.crop_n_points_downscale_factor}")
        if self.point_grids is not None:
            self.point_grids = [self._checked_grid(i, g) for i, g in enumerate(self.point_grids)]
            if len(self.point_grids) < self.crop_n_layers + 1:
                raise ConfigError(f"point_grids has {len(self.point_grids)} grids; crop_n_layers="
                                  f"{self.crop_n_layers} needs one per layer, {self.crop_n_layers + 1}")

    @staticmethod
    def _checked_grid(index: int, grid: Any) -> np.ndarray:
        array = np.asarray(grid)
        if array.ndim != 2 or array.shape[1] != 2 or len(array) == 0 or not np.issubdtype(array.dtype, np.number):
            raise ConfigError(f"point_grids[{index}] must be a non-empty n x 2 array of (x, y) in [0, 1], "
                              f"got shape {array.shape} {array.dtype}")
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            raise ConfigError(f"point_grids[{index}] must hold normalised (x, y) in [0, 1], got values from "
                              f"{array.min()!r} to {array.max()!r}")
        return array


# Settings for the shipped small SAM core (shapes world, 128 px scenes): its predicted IoUs and
# stability scores run lower than a full SAM's, so segment-anything's thresholds (0.88 / 0.95)
# keep about one mask per scene. Chosen on the shapes-world val split (docs/deploy.md).
SHIPPED_CORE_SETTINGS: dict[str, Any] = {"points_per_side": 16, "pred_iou_thresh": 0.6,
                                         "stability_score_thresh": 0.7, "min_mask_region_area": 20}


def settings_for(core: Any) -> dict[str, Any]:
    """Default settings for a core: `SHIPPED_CORE_SETTINGS` on the shipped small SAM core,
    segment-anything's defaults (an empty dict) on anything else."""
    return dict(SHIPPED_CORE_SETTINGS) if getattr(core, "family", None) == "sam" and \
        getattr(core, "weights", None) == "shipped" else {}
