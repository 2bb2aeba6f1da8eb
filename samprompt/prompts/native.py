"""SAM's own prompts (points, boxes, mask logits) as a `PromptGenerator`."""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from samprompt.core.structures import Prompts, resolve_batch_index
from samprompt.errors import ConfigError, PromptError
from samprompt.prompts.base import PromptGenerator

if TYPE_CHECKING:
    from samprompt.core.sam_core import SamCore
    from samprompt.core.structures import ImageFeatures

_FRAMES = ("original", "input")


def check_in_range(xy: Tensor, sizes: Tensor, what: str, ignore: Tensor | None = None) -> None:
    """Raise if any xy (P x K x 2) lies outside [0, W] x [0, H] of its row's size (P x 2, as H, W)
    or is not finite (NaN compares false with every bound, so it is tested on its own)."""
    limits = sizes.flip(-1)[:, None, :].to(xy.dtype)  # P x 1 x 2 as (W, H)
    outside = ((xy < 0) | (xy > limits) | ~torch.isfinite(xy)).any(-1)
    if ignore is not None:
        outside &= ~ignore
    if bool(outside.any()):
        row, k = (int(v) for v in torch.nonzero(outside)[0])
        h, w = sizes[row].tolist()
        raise PromptError(f"{what} {k} of prompt row {row} at (x={xy[row, k, 0].item():g}, "
                          f"y={xy[row, k, 1].item():g}) lies outside its {w} x {h} (W x H) image")


def original_to_input_frame(core: "SamCore", xy: Tensor, index: Tensor, features: "ImageFeatures") -> Tensor:
    """P x K x 2 (x, y) coordinates in original-image pixels of each row's image (`index`, P)
    -> the encoder-input frame (`core.input_coords`: SAM's longest-side resize, or SAM 2's square one)."""
    if len(features) == 1:    # every row is on image 0 (no boolean indexing: the path stays traceable)
        return core.input_coords(xy, features.original_sizes[0])
    out = torch.empty_like(xy)
    for image in torch.unique(index).tolist():
        members = index == image
        out[members] = core.input_coords(xy[members], features.original_sizes[image])
    return out


class NativePrompts(PromptGenerator):
    """Points, boxes and mask inputs through SAM's own prompt encoder.

    Coordinates are (x, y) pixels of the original image by default (`frame="original"`),
    or of the resized encoder input (`frame="input"`, as `SamPredictor.predict_torch`).
    This module has no parameters: it uses the core's prompt encoder.
    """

    prompt_inputs = ("points", "boxes", "masks")
    core_families = ("sam", "sam2")   # only the core's prompt encoder and input_coords

    def __init__(self, frame: str = "original") -> None:
        super().__init__()
        if frame not in _FRAMES:
            raise ConfigError(f"frame must be one of {_FRAMES}, got {frame!r}")
        self.frame = frame

    def forward(self, core: "SamCore", features: "ImageFeatures", *, points: Tensor | None = None,
                labels: Tensor | None = None, boxes: Tensor | None = None, masks: Tensor | None = None,
                batch_index: Tensor | None = None, point_padding: Tensor | None = None) -> Prompts:
        """Embed P prompt rows.

        Args:
            points: P x N x 2 (x, y) click coordinates.
            labels: P x N, 1 foreground, 0 background, -1 "not a point" (SAM's padding).
            boxes: P x 4 (x0, y0, x1, y1) boxes.
            masks: P x 1 x H x W mask logits at `core.mask_input_size` (e.g. a previous
                prediction's `low_res_logits`).
            batch_index: P image indexes (see `Prompts.batch_index`).
            point_padding: P x N boolean, True for points that only fill ragged rows; they
                are masked out of attention (unlike label -1, which SAM attends to).
        """
        if points is None and boxes is None and masks is None:
            raise PromptError("give at least one of points, boxes or masks")
        for name, tensor, ndim, shape in (("points", points, 3, "P x N x 2"), ("boxes", boxes, 2, "P x 4"),
                                          ("masks", masks, 4, "P x 1 x H x W")):
            if tensor is not None and (not isinstance(tensor, Tensor) or tensor.ndim != ndim):
                got = tuple(tensor.shape) if isinstance(tensor, Tensor) else type(tensor).__name__
                raise PromptError(f"{name} must be a {shape} tensor, got {got}")
        rows = next(t.shape[0] for t in (points, boxes, masks) if t is not None)
        for name, tensor in (("boxes", boxes), ("masks", masks)):
            if tensor is not None and tensor.shape[0] != rows:
                raise PromptError(f"{name} has {tensor.shape[0]} rows, other prompts have {rows}")
        index = resolve_batch_index(batch_index, rows, len(features), core.device)
        sizes_source = features.original_sizes if self.frame == "original" else features.input_sizes
        sizes = torch.tensor(sizes_source, device=core.device).index_select(0, index)  # P x 2 (H, W)

        point_pair = None
        if points is not None:
            point_pair = self._points(core, points, labels, sizes, index, features, point_padding)
        box_tensor = None
        if boxes is not None:
            box_tensor = self._boxes(core, boxes, sizes, index, features)
        if masks is not None:
            expected = (rows, 1, *core.mask_input_size)
            if tuple(masks.shape) != expected:
                raise PromptError(f"mask prompts must have shape {expected}, got {tuple(masks.shape)}")
            if not masks.is_floating_point() or not bool(torch.isfinite(masks).all()):
                raise PromptError(f"mask prompts must be finite float logits, got dtype {masks.dtype}"
                                  + ("" if not masks.is_floating_point() else " with NaN or infinite values"))
        sparse, dense = core.embed_prompts(point_pair, box_tensor, masks)

        padding = None
        if point_padding is not None:
            # SAM puts the box corners after the points, SAM 2 before them (two tokens).
            start = 2 if box_tensor is not None and getattr(core, "boxes_before_points", False) else 0
            padding = torch.zeros(sparse.shape[:2], dtype=torch.bool, device=sparse.device)
            padding[:, start:start + point_padding.shape[1]] = point_padding.to(sparse.device)
        return Prompts(sparse, dense if masks is not None else None, padding, index)

    def _to_input_frame(self, core: "SamCore", xy: Tensor, index: Tensor, features: "ImageFeatures") -> Tensor:
        return xy if self.frame == "input" else original_to_input_frame(core, xy, index, features)

    def _points(self, core: "SamCore", points: Tensor, labels: Tensor | None, sizes: Tensor, index: Tensor,
                features: "ImageFeatures", point_padding: Tensor | None) -> tuple[Tensor, Tensor]:
        if labels is None:
            raise PromptError("points need labels (1 foreground, 0 background)")
        points = torch.as_tensor(points, device=core.device, dtype=torch.float32)
        labels = torch.as_tensor(labels, device=core.device)
        if points.shape[-1] != 2:  # the rank is checked in forward
            raise PromptError(f"points must be P x N x 2, got shape {tuple(points.shape)}")
        if labels.shape != points.shape[:2]:
            raise PromptError(f"labels must have shape {tuple(points.shape[:2])}, got {tuple(labels.shape)}")
        if point_padding is not None and point_padding.shape != labels.shape:
            raise PromptError(f"point_padding must have shape {tuple(labels.shape)}, got {tuple(point_padding.shape)}")
        bad = ~((labels == 1) | (labels == 0) | (labels == -1))
        if bool(bad.any()):
            raise PromptError(f"point labels must be 1, 0 or -1, got {sorted(set(labels[bad].tolist()))}")
        check_in_range(points, sizes, "point", ignore=labels == -1)
        return self._to_input_frame(core, points, index, features), labels.to(torch.int)

    def _boxes(self, core: "SamCore", boxes: Tensor, sizes: Tensor, index: Tensor,
               features: "ImageFeatures") -> Tensor:
        boxes = torch.as_tensor(boxes, device=core.device, dtype=torch.float32)
        if boxes.shape[-1] != 4:  # the rank is checked in forward
            raise PromptError(f"boxes must be P x 4 (x0, y0, x1, y1), got shape {tuple(boxes.shape)}")
        if bool((boxes[:, 2:] < boxes[:, :2]).any()):
            raise PromptError("boxes must have x0 <= x1 and y0 <= y1")
        corners = boxes.reshape(-1, 2, 2)
        check_in_range(corners, sizes, "box corner")
        return self._to_input_frame(core, corners, index, features).reshape(-1, 4)
