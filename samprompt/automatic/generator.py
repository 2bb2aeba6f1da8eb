"""`AutomaticMaskGenerator`: "segment everything" on any core, record for record segment-anything's.

The pipeline is `SamAutomaticMaskGenerator`'s, step for step, over the same grids, crops and
thresholds (`samprompt.automatic.config`):

1. for every crop (layer 0: the whole image), one encoder pass over the crop;
2. a single foreground click at every grid point, decoded `points_per_batch` at a time with
   the three ambiguity masks each;
3. masks whose predicted IoU is at most `pred_iou_thresh` are dropped, then those whose
   stability score (IoU of the masks thresholded at +-`stability_score_offset` around the mask
   threshold, on the original-size logits) is below `stability_score_thresh`;
4. masks whose box comes within 20 px of a crop edge that is not an image edge are dropped;
5. box NMS at `box_nms_thresh` within a crop (by predicted IoU), then across crops at
   `crop_nms_thresh` (the smaller crop wins); optional hole and island removal below
   `min_mask_region_area` with NMS again (unchanged masks win).

What is faster: segment-anything upscales every decoded mask to the original size before it
filters by predicted IoU; here the predicted IoU is read first and only the survivors are
upscaled (the upscaling of each mask is independent of the others, so the masks are the same).
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torchvision.ops import batched_nms

from samprompt.automatic.config import AutomaticMaskConfig
from samprompt.automatic.geometry import box_xywh, mask_boxes, near_crop_edge, place_masks, shift_boxes, shift_points
from samprompt.automatic.grids import crop_boxes, layer_point_grids
from samprompt.automatic.regions import remove_small_regions
from samprompt.automatic.rle import masks_to_rle, rle_area, rle_to_coco, rle_to_mask
from samprompt.core.base import Core
from samprompt.core.images import image_array
from samprompt.core.structures import Prompts
from samprompt.errors import ConfigError
from samprompt.utils.dataclass_config import from_dict


@dataclass
class MaskCandidates:
    """N masks found so far, in the image's frame once a crop is done.

    Attributes:
        rles: N uncompressed RLEs (`samprompt.automatic.rle`) of the full-image masks.
        boxes: N x 4 int64 xyxy boxes (inclusive pixel indices).
        iou_predictions: N float, the decoder's predicted IoU.
        points: N x 2 float64, the click that made each mask.
        stability: N float, the stability score.
        crop_boxes: N x 4 int64 xyxy crop each mask came from.
    """

    rles: list[dict[str, Any]]
    boxes: Tensor
    iou_predictions: Tensor
    points: Tensor
    stability: Tensor
    crop_boxes: Tensor

    def __len__(self) -> int:
        return len(self.rles)

    def select(self, keep: Tensor) -> "MaskCandidates":
        """The candidates at `keep` (indices or a boolean mask), in that order."""
        index = torch.nonzero(keep).flatten() if keep.dtype == torch.bool else keep
        rows = index.tolist()
        return MaskCandidates([self.rles[i] for i in rows], *(getattr(self, f.name)[index.to(
            getattr(self, f.name).device)] for f in fields(self)[1:]))

    @staticmethod
    def concatenate(parts: list["MaskCandidates"]) -> "MaskCandidates":
        return MaskCandidates([r for p in parts for r in p.rles],
                              *(torch.cat([getattr(p, f.name) for p in parts]) for f in fields(MaskCandidates)[1:]))


BACKENDS = ("pytorch", "onnxruntime")


def onnx_prompt_session(core: Core) -> Any:
    """An ONNX Runtime session of the core's multimask prompt decoder (exported to a temporary folder)."""
    from samprompt.errors import ExportError
    from samprompt.export.graphs import prompt_decoder_graph
    from samprompt.export.onnx import export_graph, onnx_session, prepared_copy

    if core.family != "sam":
        # SAM 2 upscales its raw logits and the exported graph returns them clamped to +/-32 (what
        # SAM2ImagePredictor hands back as low_res_masks), so masks near a clamp would move
        raise ConfigError(f"backend='onnxruntime' decodes on SAM (segment-anything) cores; this {core.family} core "
                          f"({core.variant}) decodes with backend='pytorch'")
    try:
        _, _, copied = prepared_copy(core)
    except ExportError as error:
        raise ConfigError(f"backend='onnxruntime' needs a core whose prompt decoder exports to ONNX: {error}") from None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "prompt_decoder.onnx"
        export_graph(prompt_decoder_graph(copied), path)
        return onnx_session(path)


def _core_of(model: Any) -> Core:
    core = model if isinstance(model, Core) else getattr(model, "core", None)
    if not isinstance(core, Core):
        raise ConfigError(f"AutomaticMaskGenerator needs a core from samprompt.build_sam (or a model or Predictor "
                          f"holding one as .core), got {type(model).__name__}")
    return core


class AutomaticMaskGenerator:
    """Masks for everything in an image, from a grid of clicks (module docstring).

    Same constructor arguments and `generate` output as `segment_anything.SamAutomaticMaskGenerator`
    (which takes a `Sam`; this takes a core, or a `PromptedSam` / `Predictor` holding one, of
    either family, adapters included).

    Args:
        model: a core, or an object with the core as `.core`.
        config: an `AutomaticMaskConfig`; or give its fields as keywords instead.
        backend: where the clicks are decoded: "pytorch" (the core itself), or "onnxruntime"
            (the core's prompt decoder exported once to ONNX, `samprompt.export`, and run by ONNX
            Runtime on the CPU: about 3x faster on vit_b's decoder; masks equal to float
            tolerance, SAM cores only). The export is taken when the generator is made: weights
            or adapters changed later are not in it (make a new generator).
    """

    def __init__(self, model: Any, config: AutomaticMaskConfig | None = None, *, backend: str = "pytorch",
                 **settings: Any) -> None:
        self.core = _core_of(model)
        if backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.backend = backend
        if config is not None and settings:
            raise ConfigError("give either config or keyword settings, not both")
        if config is None:
            config = from_dict(AutomaticMaskConfig, settings, "automatic mask generation")
        if not isinstance(config, AutomaticMaskConfig):
            raise ConfigError(f"config must be an AutomaticMaskConfig, got {type(config).__name__}")
        self.config = config
        self.point_grids = list(config.point_grids) if config.point_grids is not None else layer_point_grids(
            config.points_per_side, config.crop_n_layers, config.crop_n_points_downscale_factor)
        self.mask_threshold = float(getattr(self.core.sam, "mask_threshold", 0.0))
        self._session = onnx_prompt_session(self.core) if backend == "onnxruntime" else None

    @torch.no_grad()
    def generate(self, image: Any) -> list[dict[str, Any]]:
        """Mask records for one image, as `SamAutomaticMaskGenerator.generate` writes them.

        Args:
            image: H x W x 3 uint8 RGB array (or an RGB PIL image).
        Returns:
            One dict per mask: "segmentation" (H x W bool, or an RLE dict by `output_mode`),
            "area" (pixels), "bbox" (x, y, w, h), "predicted_iou", "point_coords" ([[x, y]]),
            "stability_score", "crop_box" (x, y, w, h).
        """
        return self.records(self.candidates(image))

    @torch.no_grad()
    def candidates(self, image: Any) -> MaskCandidates:
        """The masks that survive every filter, before they are written as records."""
        array = image_array(image, "image")
        size = array.shape[:2]
        boxes, layers = crop_boxes(size, self.config.crop_n_layers, self.config.crop_overlap_ratio)
        found = MaskCandidates.concatenate([self._crop(array, box, layer) for box, layer in zip(boxes, layers)])
        if len(boxes) > 1 and len(found):
            crops = found.crop_boxes
            preference = 1 / ((crops[:, 2] - crops[:, 0]) * (crops[:, 3] - crops[:, 1]))
            found = found.select(batched_nms(found.boxes.float(), preference, torch.zeros(len(found)),
                                             iou_threshold=self.config.crop_nms_thresh))
        if self.config.min_mask_region_area > 0 and len(found):
            found = self._clean_regions(found)
        return found

    def _crop(self, image: np.ndarray, crop_box: list[int], layer: int) -> MaskCandidates:
        x0, y0, x1, y1 = crop_box
        crop = image[y0:y1, x0:x1]
        crop_size = crop.shape[:2]
        features = self.core.encode([crop], keep_intermediate=False)
        points = self.point_grids[layer] * np.array(crop_size)[None, ::-1]
        step = self.config.points_per_batch
        parts = [self._batch(features, points[i:i + step], crop_size, crop_box, image.shape[:2])
                 for i in range(0, len(points), step)]
        found = MaskCandidates.concatenate(parts)
        found = found.select(batched_nms(found.boxes.float(), found.iou_predictions, torch.zeros(len(found)),
                                         iou_threshold=self.config.box_nms_thresh))
        found.boxes = shift_boxes(found.boxes, crop_box)
        found.points = shift_points(found.points, crop_box)
        found.crop_boxes = torch.tensor([crop_box], dtype=torch.long).repeat(len(found), 1)
        return found

    def _decode(self, features: Any, coords: Tensor) -> tuple[Tensor, Tensor]:
        """P single clicks (P x 2, input frame) -> P x 3 x 4h x 4w low-res logits to upscale, P x 3 IoUs."""
        core = self.core
        if self._session is not None:
            rows = len(coords)
            h, w = core.mask_input_size
            padded = torch.cat([coords[:, None].float().cpu(), torch.zeros(rows, 1, 2)], dim=1)
            low_res, iou = self._session.run(None, {
                "image_embeddings": features.embeddings.float().cpu().numpy(), "point_coords": padded.numpy(),
                "point_labels": np.tile(np.array([[1.0, -1.0]], np.float32), (rows, 1)),
                "mask_input": np.zeros((rows, 1, h, w), np.float32), "has_mask_input": np.zeros(rows, np.float32)})
            return torch.from_numpy(low_res).to(core.device), torch.from_numpy(iou)
        labels = torch.ones(len(coords), 1, dtype=torch.int, device=core.device)
        sparse, dense = core.embed_prompts(points=(coords[:, None, :].to(core.device), labels))
        prediction = core.decode(features, Prompts(sparse, dense), multimask_output=True, upscale=False)
        return prediction.logits_to_upscale, prediction.iou_predictions

    def _batch(self, features: Any, points: np.ndarray, crop_size: tuple[int, int], crop_box: list[int],
               image_size: tuple[int, int]) -> MaskCandidates:
        core, config = self.core, self.config
        low_res, iou = self._decode(features, core.grid_coords(points, crop_size))
        per_point = iou.shape[1]
        low_res = low_res.flatten(0, 1)
        iou = iou.flatten(0, 1).float().cpu()
        clicks = torch.as_tensor(points).repeat_interleave(per_point, dim=0)
        keep = iou > config.pred_iou_thresh if config.pred_iou_thresh > 0 else torch.ones_like(iou, dtype=torch.bool)
        index = torch.nonzero(keep).flatten()
        low_res, iou, clicks = low_res[index.to(low_res.device)], iou[index], clicks[index]
        logits = torch.cat(core.upscale(low_res[:, None], torch.zeros(len(index), dtype=torch.long,
                                                                      device=low_res.device), features)) \
            if len(index) else low_res.new_zeros(0, *crop_size)
        stability = stability_score(logits, self.mask_threshold, config.stability_score_offset).cpu()
        if config.stability_score_thresh > 0:
            stable = stability >= config.stability_score_thresh
            logits, iou, clicks, stability = logits[stable.to(logits.device)], iou[stable], clicks[stable], \
                stability[stable]
        masks = logits > self.mask_threshold
        boxes = mask_boxes(masks).cpu()
        inside = ~near_crop_edge(boxes, crop_box, [0, 0, image_size[1], image_size[0]])
        if not bool(inside.all()):
            masks, boxes, iou, clicks, stability = masks[inside.to(masks.device)], boxes[inside], iou[inside], \
                clicks[inside], stability[inside]
        rles = masks_to_rle(place_masks(masks, crop_box, image_size))
        return MaskCandidates(rles, boxes, iou, clicks, stability, torch.zeros(len(rles), 4, dtype=torch.long))

    def _clean_regions(self, found: MaskCandidates) -> MaskCandidates:
        """Fill small holes, then drop small islands; NMS again, masks that needed no change first."""
        area = self.config.min_mask_region_area
        cleaned, unchanged = [], []
        for rle in found.rles:
            mask, holes_changed = remove_small_regions(rle_to_mask(rle), area, "holes")
            mask, islands_changed = remove_small_regions(mask, area, "islands")
            cleaned.append(torch.as_tensor(mask))
            unchanged.append(float(not (holes_changed or islands_changed)))
        masks = torch.stack(cleaned)
        boxes = mask_boxes(masks)
        keep = batched_nms(boxes.float(), torch.as_tensor(unchanged), torch.zeros(len(boxes)),
                           iou_threshold=max(self.config.box_nms_thresh, self.config.crop_nms_thresh))
        for i in keep.tolist():
            if not unchanged[i]:
                found.rles[i] = masks_to_rle(masks[i][None])[0]
                found.boxes[i] = boxes[i]
        return found.select(keep)

    def records(self, found: MaskCandidates) -> list[dict[str, Any]]:
        """Candidates -> segment-anything's mask records, segmentations in `output_mode`."""
        mode = self.config.output_mode
        records = []
        for i, rle in enumerate(found.rles):
            segmentation = rle_to_mask(rle) if mode == "binary_mask" else rle_to_coco(rle) if mode == "coco_rle" \
                else rle
            records.append({
                "segmentation": segmentation, "area": rle_area(rle), "bbox": box_xywh(found.boxes[i].tolist()),
                "predicted_iou": float(found.iou_predictions[i]), "point_coords": [found.points[i].tolist()],
                "stability_score": float(found.stability[i]), "crop_box": box_xywh(found.crop_boxes[i].tolist()),
            })
        return records


def stability_score(logits: Tensor, threshold: float, offset: float) -> Tensor:
    """N x H x W logits -> N: |logits > threshold + offset| / |logits > threshold - offset| (the
    first mask lies inside the second, so this is their IoU; NaN for an empty wider mask)."""
    inner = (logits > threshold + offset).sum(dim=(-2, -1), dtype=torch.int32)
    outer = (logits > threshold - offset).sum(dim=(-2, -1), dtype=torch.int32)
    return inner / outer
