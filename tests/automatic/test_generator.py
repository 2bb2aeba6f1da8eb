"""`AutomaticMaskGenerator` against segment-anything's and SAM 2's own generators, record for record."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from segment_anything import SamAutomaticMaskGenerator

import samprompt
from samprompt.automatic import AutomaticMaskConfig, AutomaticMaskGenerator
from samprompt.data import ShapesInteractive
from samprompt.errors import ConfigError


def scene(index: int) -> np.ndarray:
    return ShapesInteractive("test", size=8)[index]["image"]


def wide_scene() -> np.ndarray:
    """A 4:3 image of two shapes-world scenes side by side, cut: the resize is not square."""
    return np.ascontiguousarray(np.concatenate([scene(4), scene(5)], axis=1)[:120, 40:200])


def assert_same_records(ours: list[dict[str, Any]], theirs: list[dict[str, Any]], *, tolerance: float = 0.0) -> None:
    assert len(ours) == len(theirs)
    for mine, reference in zip(ours, theirs):
        assert mine.keys() == reference.keys()
        for key, value in reference.items():
            if isinstance(value, np.ndarray):
                assert value.dtype == mine[key].dtype and np.array_equal(mine[key], value), key
            elif key in ("predicted_iou", "stability_score", "point_coords") and tolerance:
                assert np.allclose(mine[key], value, atol=tolerance, rtol=0), key
            else:
                assert mine[key] == value, key


@pytest.fixture(scope="module")
def exact_core() -> samprompt.SamCore:
    """The shipped tiny core with segment-anything's own attention: bit-identical embeddings."""
    return samprompt.build_sam("tiny", fast_attention=False)


SETTINGS = [
    dict(points_per_side=8, pred_iou_thresh=0.5, stability_score_thresh=0.8),
    dict(points_per_side=6, crop_n_layers=1, pred_iou_thresh=0.5, stability_score_thresh=0.7,
         crop_n_points_downscale_factor=2, crop_overlap_ratio=0.25),
    dict(points_per_side=8, pred_iou_thresh=0.4, stability_score_thresh=0.6, min_mask_region_area=40),
    dict(points_per_side=8, pred_iou_thresh=0.5, stability_score_thresh=0.8, box_nms_thresh=0.5,
         output_mode="uncompressed_rle"),
    dict(points_per_side=None, point_grids=[np.random.RandomState(0).rand(40, 2)], pred_iou_thresh=0.5,
         stability_score_thresh=0.8, output_mode="coco_rle"),
]


@pytest.mark.parametrize("settings", SETTINGS, ids=["grid", "crops", "regions", "rle", "explicit-grid-coco"])
@pytest.mark.parametrize("image", [scene(0), wide_scene()], ids=["square", "wide"])
def test_records_equal_segment_anythings(exact_core: samprompt.SamCore, settings: dict, image: np.ndarray) -> None:
    theirs = SamAutomaticMaskGenerator(exact_core.sam, **settings).generate(image)
    ours = AutomaticMaskGenerator(exact_core, **settings).generate(image)
    assert len(theirs) >= 2   # enough masks that equality says something
    assert_same_records(ours, theirs)


def test_region_cleaning_changes_masks(exact_core: samprompt.SamCore) -> None:
    """The min_mask_region_area setting above is not idle: it changes what comes out."""
    settings = dict(points_per_side=8, pred_iou_thresh=0.4, stability_score_thresh=0.6)
    plain = AutomaticMaskGenerator(exact_core, **settings).generate(scene(0))
    cleaned = AutomaticMaskGenerator(exact_core, **settings, min_mask_region_area=40).generate(scene(0))
    plain_masks = {r["segmentation"].tobytes() for r in plain}
    assert any(r["segmentation"].tobytes() not in plain_masks for r in cleaned) or len(cleaned) != len(plain)


def test_batch_size_does_not_change_results(exact_core: samprompt.SamCore) -> None:
    settings = dict(points_per_side=8, pred_iou_thresh=0.5, stability_score_thresh=0.8)
    one_pass = AutomaticMaskGenerator(exact_core, **settings, points_per_batch=64).generate(scene(4))
    small = AutomaticMaskGenerator(exact_core, **settings, points_per_batch=5).generate(scene(4))
    assert len(one_pass) >= 3
    assert_same_records(small, one_pass, tolerance=1e-5)


def test_default_fast_attention_core_agrees() -> None:
    """The default core's fused attention (swapped into segment-anything's own modules) differs
    from segment-anything's attention in the last bits: the same records as segment-anything's
    generator on those modules, and the same masks as on the exact ones."""
    fast = samprompt.build_sam("tiny")
    settings = dict(points_per_side=8, pred_iou_thresh=0.5, stability_score_thresh=0.8)
    ours = AutomaticMaskGenerator(fast, **settings).generate(scene(0))
    assert_same_records(ours, SamAutomaticMaskGenerator(fast.sam, **settings).generate(scene(0)))
    exact = samprompt.build_sam("tiny", fast_attention=False)
    reference = SamAutomaticMaskGenerator(exact.sam, **settings).generate(scene(0))
    assert len(ours) == len(reference) >= 2
    for mine, ref in zip(ours, reference):
        mask, ref_mask = mine["segmentation"], ref["segmentation"]
        assert (mask & ref_mask).sum() / (mask | ref_mask).sum() > 0.99
        assert abs(mine["predicted_iou"] - ref["predicted_iou"]) < 1e-4


def test_sam2_records_equal_sam2s_generator() -> None:
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

    core = samprompt.build_sam("sam2_micro", seed=0)
    image = np.ascontiguousarray(np.concatenate([scene(0), scene(1)[:64]], axis=0))
    for settings in (dict(points_per_side=8, pred_iou_thresh=0.0, stability_score_thresh=0.0),
                     dict(points_per_side=6, crop_n_layers=1, pred_iou_thresh=0.0, stability_score_thresh=0.0,
                          box_nms_thresh=0.9)):
        reference = SAM2AutomaticMaskGenerator(core.sam, **settings)
        side = core.image_size
        reference.predictor._bb_feat_sizes = [(side // 4, side // 4), (side // 8, side // 8), (side // 16, side // 16)]
        theirs = reference.generate(image)
        assert len(theirs) >= 3
        assert_same_records(AutomaticMaskGenerator(core, **settings).generate(image), theirs, tolerance=1e-5)


def test_nothing_found_is_an_empty_list(core: samprompt.SamCore) -> None:
    """With crops and no mask passing (a random-init core), segment-anything's generator fails on
    its empty crop table; ours returns no masks."""
    settings = dict(points_per_side=4, crop_n_layers=1)
    with pytest.raises(IndexError):
        SamAutomaticMaskGenerator(core.sam, **settings).generate(scene(0))
    assert AutomaticMaskGenerator(core, **settings).generate(scene(0)) == []


def test_accepts_a_model_or_predictor_holding_the_core(exact_core: samprompt.SamCore) -> None:
    settings = dict(points_per_side=8, pred_iou_thresh=0.5, stability_score_thresh=0.8)
    direct = AutomaticMaskGenerator(exact_core, **settings).generate(scene(0))
    via_predictor = AutomaticMaskGenerator(samprompt.Predictor(exact_core), **settings).generate(scene(0))
    via_model = AutomaticMaskGenerator(samprompt.PromptedSam(exact_core, samprompt.NativePrompts()),
                                       **settings).generate(scene(0))
    assert_same_records(via_predictor, direct)
    assert_same_records(via_model, direct)


@pytest.mark.parametrize("settings, message", [
    (dict(points_per_side=0), "points_per_side"),
    (dict(points_per_side=8.5), "points_per_side"),
    (dict(points_per_batch=0), "points_per_batch"),
    (dict(pred_iou_thresh=1.5), "pred_iou_thresh"),
    (dict(stability_score_thresh=float("nan")), "stability_score_thresh"),
    (dict(stability_score_offset=-1.0), "stability_score_offset"),
    (dict(box_nms_thresh=-0.1), "box_nms_thresh"),
    (dict(crop_overlap_ratio=1.0), "crop_overlap_ratio"),
    (dict(crop_n_layers=-1), "crop_n_layers"),
    (dict(output_mode="png"), "output_mode"),
    (dict(point_grids=[np.zeros((4, 2))]), "exactly one"),
    (dict(points_per_side=None, point_grids=[np.full((4, 2), 2.0)]), "point_grids\\[0\\]"),
    (dict(points_per_side=None, point_grids=[np.zeros((4, 3))]), "point_grids\\[0\\]"),
    (dict(points_per_side=None, point_grids=[np.zeros((4, 2))], crop_n_layers=1), "one per layer"),
    (dict(points_per_side=2, crop_n_layers=2, crop_n_points_downscale_factor=2), "no points"),
    (dict(points_per_sides=8), "unknown"),
])
def test_bad_settings_name_the_setting(exact_core: samprompt.SamCore, settings: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AutomaticMaskGenerator(exact_core, **settings)


def test_bad_inputs(exact_core: samprompt.SamCore) -> None:
    with pytest.raises(ConfigError, match="core"):
        AutomaticMaskGenerator(torch.nn.Linear(2, 2))
    with pytest.raises(ConfigError, match="not both"):
        AutomaticMaskGenerator(exact_core, AutomaticMaskConfig(), points_per_side=4)
    with pytest.raises(samprompt.errors.ImageFormatError):
        AutomaticMaskGenerator(exact_core, points_per_side=4).generate(np.zeros((10, 10), dtype=np.uint8))


def test_onnxruntime_backend_finds_the_same_masks() -> None:
    core = samprompt.build_sam("tiny")
    settings = dict(points_per_side=8, pred_iou_thresh=0.5, stability_score_thresh=0.8, crop_n_layers=1)
    reference = AutomaticMaskGenerator(core, **settings).generate(wide_scene())
    exported = AutomaticMaskGenerator(core, backend="onnxruntime", **settings).generate(wide_scene())
    assert len(exported) == len(reference) >= 2
    for ours, theirs in zip(exported, reference):
        mask, ref_mask = ours["segmentation"], theirs["segmentation"]
        assert (mask & ref_mask).sum() / (mask | ref_mask).sum() > 0.99
        assert abs(ours["predicted_iou"] - theirs["predicted_iou"]) < 1e-4 and ours["bbox"] == theirs["bbox"]


def test_backend_errors() -> None:
    with pytest.raises(ConfigError, match="backend must be one of pytorch, onnxruntime"):
        AutomaticMaskGenerator(samprompt.build_sam("micro"), backend="tensorrt")
    with pytest.raises(ConfigError, match="backend=.onnxruntime. decodes on SAM .segment-anything. cores"):
        AutomaticMaskGenerator(samprompt.build_sam("sam2_micro", seed=0), backend="onnxruntime")
