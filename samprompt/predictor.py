"""`Predictor`: a drop-in for `segment_anything.SamPredictor` on a `SamCore`, plus batching."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from samprompt.core.base import Core
from samprompt.core.images import Images
from samprompt.core.notices import warn_once_about_shipped_models
from samprompt.core.sam_core import SamCore
from samprompt.core.structures import ImageFeatures
from samprompt.errors import ConfigError, ImageFormatError, PromptError, UsageError
from samprompt.prompts.native import NativePrompts, check_in_range

Prediction = tuple[np.ndarray, np.ndarray, np.ndarray]


def _shape(value: object) -> tuple[int, ...]:
    return tuple(value.shape) if isinstance(value, (np.ndarray, Tensor)) else tuple(np.shape(value))


def _values(value: object) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, Tensor) else np.asarray(value)


def check_point_arrays(coords: object, labels: object, coords_name: str, labels_name: str, *, rows: bool) -> None:
    """Clicks as `SamPredictor` takes them, checked before any reshape: N x 2 coordinates and N
    labels (with `rows`, K x N x 2 and K x N), labels exactly 1, 0 or -1, coordinates finite."""
    shape, label_shape = _shape(coords), _shape(labels)
    wanted = "K x N x 2" if rows else "N x 2"
    if len(shape) != (3 if rows else 2) or shape[-1] != 2:
        raise PromptError(f"{coords_name} must be {wanted} (x, y) pixels, got shape {shape}")
    if label_shape != shape[:-1]:
        raise PromptError(f"{labels_name} must have shape {shape[:-1]} (one label per point of {coords_name}), "
                          f"got {label_shape}")
    values = _values(labels)
    bad = ~np.isin(values, (1, 0, -1))
    if bad.any():
        raise PromptError(f"{labels_name} must be 1, 0 or -1 (foreground, background, padding), got "
                          f"{sorted(set(values[bad].tolist()))[:5]}")
    if not np.isfinite(_values(coords).astype(np.float64)).all():
        raise PromptError(f"{coords_name} holds NaN or infinite coordinates")


def check_box_array(box: object, name: str, *, rows: bool) -> None:
    """A box as `SamPredictor` takes it: 4 numbers x0, y0, x1, y1 (with `rows`, K x 4), finite."""
    shape = _shape(box)
    if (rows and (len(shape) != 2 or shape[-1] != 4)) or (not rows and shape not in ((4,), (1, 4))):
        raise PromptError(f"{name} must be {'K x 4' if rows else '4'} numbers (x0, y0, x1, y1), got shape {shape}")
    if not np.isfinite(_values(box).astype(np.float64)).all():
        raise PromptError(f"{name} holds NaN or infinite coordinates")


class Predictor:
    """Same methods, arguments and outputs as `segment_anything.SamPredictor`.

    `set_image` / `predict` / `predict_torch` / `get_image_embedding` / `reset_image` behave as
    SAM's. Added: `set_images` encodes several images in one encoder pass and
    `predict_batch` decodes any number of prompts on each of them in one decoder pass.
    """

    def __init__(self, core: SamCore) -> None:
        if not isinstance(core, Core):
            raise ConfigError(f"Predictor needs a core from samprompt.build_sam (SAM or SAM 2.1), got "
                              f"{type(core).__name__}")
        self.core = core
        self.model = core.sam
        self.transform = core.transform if isinstance(core, SamCore) else core.transforms
        # SAM 2 has no image_format / mask_threshold attributes: its image predictor takes RGB and 0.
        self.image_format = getattr(self.model, "image_format", "RGB")
        self.mask_threshold = getattr(self.model, "mask_threshold", 0.0)
        self._input_frame = NativePrompts(frame="input")
        self._original_frame = NativePrompts(frame="original")
        self.reset_image()

    @property
    def device(self) -> torch.device:
        return self.core.device

    def reset_image(self) -> None:
        self.is_image_set = False
        self.image_features: ImageFeatures | None = None
        self.features: Tensor | None = None
        self.original_size: tuple[int, int] | None = None
        self.input_size: tuple[int, int] | None = None

    # ----------------------------------------------------------------- images
    @torch.no_grad()
    def set_image(self, image: np.ndarray, image_format: str = "RGB") -> None:
        """Encode one H x W x 3 uint8 image (`image_format` 'RGB' or 'BGR')."""
        if image_format not in ("RGB", "BGR"):
            raise ImageFormatError(f"image_format must be 'RGB' or 'BGR', got {image_format!r}")
        if image_format != self.image_format and isinstance(image, np.ndarray):
            image = image[..., ::-1]
        self._set_features(self.core.encode([image], keep_intermediate=False))

    @torch.no_grad()
    def set_torch_image(self, transformed_image: Tensor, original_image_size: tuple[int, ...]) -> None:
        """Encode a 1 x 3 x H x W image already resized with `self.transform` (as SAM's)."""
        if not isinstance(self.core, SamCore):
            raise UsageError("set_torch_image takes SAM 1's resized input; on a SAM 2.1 core use set_image")
        size = self.core.image_size
        if transformed_image.ndim != 4 or transformed_image.shape[1] != 3 or max(transformed_image.shape[2:]) != size:
            raise ImageFormatError(f"set_torch_image needs a B x 3 x H x W tensor with long side {size}, "
                                   f"got {tuple(transformed_image.shape)}")
        batch = self.model.preprocess(transformed_image.to(self.device)).to(self.core.dtype)
        embeddings = self.model.image_encoder(batch)
        self._set_features(ImageFeatures(
            embeddings=embeddings,
            input_sizes=(tuple(transformed_image.shape[-2:]),),
            original_sizes=(tuple(original_image_size[:2]),),
        ))

    @torch.no_grad()
    def set_images(self, images: Images) -> None:
        """Encode several images (arrays, PIL images or a tensor batch) in one encoder pass."""
        self._set_features(self.core.encode(images, keep_intermediate=False))

    def _set_features(self, features: ImageFeatures) -> None:
        if self.core.weights == "shipped":
            warn_once_about_shipped_models(self.core.describe())
        self.reset_image()
        self.image_features = features
        self.features = features.embeddings
        self.original_size = features.original_sizes[0]
        self.input_size = features.input_sizes[0]
        self.is_image_set = True

    def get_image_embedding(self) -> Tensor:
        """The 1 x C x h x w embedding of the current image (B x ... after `set_images`)."""
        self._require_image()
        return self.features

    def _require_image(self) -> ImageFeatures:
        if not self.is_image_set or self.image_features is None:
            raise UsageError("An image must be set with .set_image(...) before mask prediction.")
        return self.image_features

    # ---------------------------------------------------------------- predict
    def predict(self, point_coords: np.ndarray | None = None, point_labels: np.ndarray | None = None,
                box: np.ndarray | None = None, mask_input: np.ndarray | None = None,
                multimask_output: bool = True, return_logits: bool = False) -> Prediction:
        """As `SamPredictor.predict`: prompts in original-image pixels, numpy in and out.

        Returns masks C x H x W, IoU predictions C, low-res logits C x h x w.
        """
        features = self._require_image()
        coords = labels = boxes = masks = None
        original = features.original_sizes[0]
        size = torch.tensor([original])
        if point_coords is not None:
            if point_labels is None:
                raise PromptError("point_labels must be supplied if point_coords is supplied.")
            check_point_arrays(point_coords, point_labels, "point_coords", "point_labels", rows=False)
            # Checked here so that errors quote the caller's (original-frame) coordinates.
            check_in_range(torch.as_tensor(np.asarray(point_coords), dtype=torch.float).reshape(1, -1, 2), size,
                           "point", ignore=torch.as_tensor(np.asarray(point_labels)).reshape(1, -1) == -1)
            coords = self.core.input_coords(np.asarray(point_coords), original).to(self.device)[None]
            labels = torch.as_tensor(point_labels, dtype=torch.int, device=self.device)[None]
        if box is not None:
            check_box_array(box, "box", rows=False)
            check_in_range(torch.as_tensor(np.asarray(box), dtype=torch.float).reshape(1, -1, 2), size, "box corner")
            corners = self.core.input_coords(np.asarray(box).reshape(-1, 2, 2), original)
            boxes = corners.to(self.device).reshape(1, 4)
        if mask_input is not None:
            expected = (1, *self.core.mask_input_size)
            if tuple(np.shape(mask_input)) != expected:
                raise PromptError(f"mask_input must be 1 x H x W logits of shape {expected} (a previous "
                                  f"low-res output), got {tuple(np.shape(mask_input))}")
            masks = torch.as_tensor(mask_input, dtype=torch.float, device=self.device)[None]
        out = self.predict_torch(coords, labels, boxes, masks, multimask_output, return_logits)
        out = (t[0].detach().cpu() for t in out)
        return tuple((t.float() if t.is_floating_point() else t).numpy() for t in out)  # type: ignore[return-value]

    @torch.no_grad()
    def predict_torch(self, point_coords: Tensor | None, point_labels: Tensor | None,
                      boxes: Tensor | None = None, mask_input: Tensor | None = None,
                      multimask_output: bool = True, return_logits: bool = False
                      ) -> tuple[Tensor, Tensor, Tensor]:
        """As `SamPredictor.predict_torch`: B prompt rows on the current image, coordinates
        already in the encoder's input frame (`core.input_coords`).

        Returns masks B x C x H x W, IoU B x C, low-res logits B x C x h x w.
        """
        features = self._require_image()
        if len(features) != 1:
            raise PromptError(f"predict_torch works on one image, {len(features)} are set; after set_images "
                              "use predict_batch")
        prompts = self._input_frame(self.core, features, points=point_coords, labels=point_labels,
                                    boxes=boxes, masks=mask_input)
        prediction = self.core.decode(features, prompts, multimask_output=multimask_output)
        logits = torch.stack(prediction.logits)
        masks = logits if return_logits else logits > self.mask_threshold
        return masks, prediction.iou_predictions, prediction.low_res_logits

    @torch.no_grad()
    def predict_batch(self, point_coords: Sequence[np.ndarray | Tensor | None] | None = None,
                      point_labels: Sequence[np.ndarray | Tensor | None] | None = None,
                      boxes: Sequence[np.ndarray | Tensor | None] | None = None,
                      multimask_output: bool = True, return_logits: bool = False,
                      ) -> list[tuple[Tensor, Tensor, Tensor]]:
        """Many prompts on each image set by `set_images`, decoded in one pass.

        Args:
            point_coords: per image, K_i x N_i x 2 points in original-image pixels (N may
                differ between images: shorter rows are padded and masked out).
            point_labels: per image, K_i x N_i labels.
            boxes: per image, K_i x 4 boxes (give boxes or points, or both with equal K_i).
        Returns:
            per image, (masks K_i x C x H x W, IoU K_i x C, low-res logits K_i x C x h x w),
            equal to calling `predict_torch` on each image separately.
        """
        features = self._require_image()
        count = len(features)
        for name, value in (("point_coords", point_coords), ("point_labels", point_labels), ("boxes", boxes)):
            if value is not None and len(value) != count:
                raise PromptError(f"{name} needs one entry per image ({count}), got {len(value)}")
        if point_coords is None and boxes is None:
            raise PromptError("give point_coords (with point_labels) or boxes")

        def as_tensor(value: np.ndarray | Tensor | None, dtype: torch.dtype) -> Tensor | None:
            return None if value is None else torch.as_tensor(value, dtype=dtype, device=self.device)

        for i in range(count):
            coords_i = point_coords[i] if point_coords is not None else None
            labels_i = point_labels[i] if point_labels is not None else None
            if coords_i is not None:
                if labels_i is None:
                    raise PromptError(f"point_labels[{i}] must be supplied since point_coords[{i}] is")
                check_point_arrays(coords_i, labels_i, f"point_coords[{i}]", f"point_labels[{i}]", rows=True)
            if boxes is not None and boxes[i] is not None:
                check_box_array(boxes[i], f"boxes[{i}]", rows=True)
                if coords_i is not None and len(boxes[i]) != len(coords_i):
                    raise PromptError(f"image {i} has {len(coords_i)} point rows and {len(boxes[i])} boxes; with both, "
                                      "give one box per point row")
        point_rows = [as_tensor(p, torch.float) for p in point_coords] if point_coords is not None else None
        label_rows = [as_tensor(p, torch.int) for p in point_labels] if point_labels is not None else None
        box_rows = [as_tensor(b, torch.float) for b in boxes] if boxes is not None else None
        rows_per_image = [
            next((t.shape[0] for t in candidates if t is not None), 0)
            for candidates in zip(point_rows or [None] * count, box_rows or [None] * count)
        ]
        batch_index = torch.repeat_interleave(torch.arange(count, device=self.device),
                                              torch.tensor(rows_per_image, device=self.device))
        kwargs: dict[str, Tensor] = {"batch_index": batch_index}
        if point_rows is not None:
            if label_rows is None:
                raise PromptError("point_labels must be supplied if point_coords is supplied.")
            width = max(p.shape[1] for p in point_rows if p is not None)
            coords, labels, padding = [], [], []
            for p, lab in zip(point_rows, label_rows):
                if p is None:
                    continue
                extra = width - p.shape[1]
                coords.append(torch.cat([p, p.new_zeros(p.shape[0], extra, 2)], 1))
                labels.append(torch.cat([lab, lab.new_full((lab.shape[0], extra), -1)], 1))
                pad = torch.zeros(p.shape[0], width, dtype=torch.bool, device=self.device)
                pad[:, p.shape[1]:] = True
                padding.append(pad)
            kwargs.update(points=torch.cat(coords), labels=torch.cat(labels), point_padding=torch.cat(padding))
        if box_rows is not None:
            kwargs["boxes"] = torch.cat([b.reshape(-1, 4) for b in box_rows if b is not None])
        prompts = self._original_frame(self.core, features, **kwargs)
        prediction = self.core.decode(features, prompts, multimask_output=multimask_output)
        results = []
        start = 0
        for image, rows in enumerate(rows_per_image):
            logits = prediction.logits[start:start + rows]
            h, w = features.original_sizes[image]
            stacked = torch.stack(logits) if rows else prediction.low_res_logits.new_zeros(0, 0, h, w)
            masks = stacked if return_logits else stacked > self.mask_threshold
            results.append((masks, prediction.iou_predictions[start:start + rows],
                            prediction.low_res_logits[start:start + rows]))
            start += rows
        return results
