"""`SAMRefRefiner`: the global and local fusion refiners and the dynamic selector, after SAM's decoder."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from samprompt.core.sam_core import SamCore
from samprompt.core.structures import ImageFeatures, MaskPrediction, Prompts
from samprompt.errors import PromptError
from samprompt.prompts.native import original_to_input_frame
from samprompt.samref.click_maps import click_maps
from samprompt.samref.config import SAMRefConfig
from samprompt.samref.fusion import FusionOutput, FusionRefiner
from samprompt.samref.window import crop, detail_windows, paste


@dataclass
class RefinedPrediction(MaskPrediction):
    """SAM's prediction, refined. `logits` / `masks` (original size) are the refined result;
    `low_res_logits` and `iou_predictions` stay SAM's (for the chosen mask, P x 1 x ...), since
    SAM's mask input takes back its own logits at the next click.

    All frame maps are P x 1 x R x R in the padded encoder frame resampled to R = `global_size`:
        coarse_logits: SAM's logits upsampled.
        refined_logits: the final result (global, local pasted in its window, selector applied).
        global_output: the global refiner's error / refined / blended maps.
        local_output: the local refiner's maps on the K windows (K x 1 x L x L), or None.
        windows: P x 4 detail windows (x0, y0, x1, y1) in the frame; -1 where there is none.
        error_area: P, pixels the global error map marks (sigmoid > 0.5) inside the image.
        kept_previous: P, where the selector pasted the local result onto the previous mask.
    """

    coarse_logits: Tensor | None = field(default=None, repr=False)
    refined_logits: Tensor | None = field(default=None, repr=False)
    global_output: FusionOutput | None = field(default=None, repr=False)
    local_output: FusionOutput | None = field(default=None, repr=False)
    windows: Tensor | None = None
    error_area: Tensor | None = None
    kept_previous: Tensor | None = None

    @property
    def local_rows(self) -> Tensor:
        """Indexes of the rows that have a detail window (the rows of `local_output`)."""
        return torch.nonzero(self.windows[:, 0] >= 0).flatten()


class SAMRefRefiner(nn.Module):
    """SAM-REF's lightweight refiner (late fusion: it never runs SAM's image encoder).

    Called by `PromptedSam` after SAM's decoder with the same clicks. The global fusion
    refiner sees the whole (padded) image at `global_size`; the local one sees the detail
    window cropped from the full-resolution encoder input and resampled to `local_size`.
    The dynamic selector pastes the local result onto the global result, or onto the
    previous mask when the global error area grew by more than `selector_ratio` since the
    previous click (a click that made SAM's whole mask worse should only act locally).

    Args:
        core: the SAM core it refines (gives the embedding width and the frame size).
        config: the architecture and inference settings.
    """

    # It reads the encoder input, the embedding and core.input_coords / core.upscale only: on SAM 2
    # the frame is the whole square input (no padding).
    core_families = ("sam", "sam2")

    def __init__(self, core: SamCore, config: SAMRefConfig = SAMRefConfig()) -> None:
        super().__init__()
        self.config = config
        self.global_size = config.global_size or core.image_size
        self.global_refiner = FusionRefiner(core.prompt_dim, config.width, config.blocks)
        self.local_refiner = FusionRefiner(core.prompt_dim, config.width, config.blocks) if config.local else None

    # --------------------------------------------------------------- frames
    def _frame_scale(self, features: ImageFeatures) -> float:
        if features.images is None:
            raise PromptError("SAM-REF looks at the image again: features.images is None; encode with "
                              "keep_images=True (PromptedSam does so when it has a refiner)")
        return self.global_size / features.images.shape[-1]

    def valid_sizes(self, features: ImageFeatures, batch_index: Tensor) -> Tensor:
        """P x 2 (H, W) of each row's image inside the R x R frame (the rest is padding)."""
        scale = self._frame_scale(features)
        sizes = torch.tensor(features.input_sizes, dtype=torch.float64)[batch_index.cpu()]
        return (sizes * scale).ceil().long().clamp(1, self.global_size)

    def frame_points(self, core: SamCore, features: ImageFeatures, points: Tensor, batch_index: Tensor) -> Tensor:
        """P x N x 2 (x, y) pixel coordinates of the original images -> continuous R-frame positions."""
        scale = self._frame_scale(features)
        points = torch.as_tensor(points, dtype=torch.float32, device=batch_index.device)
        return (original_to_input_frame(core, points, batch_index, features) + 0.5) * scale

    def frame_targets(self, masks: list[Tensor] | list[np.ndarray], features: ImageFeatures, batch_index: Tensor
                      ) -> Tensor:
        """Per-row H x W binary masks at the original size -> P x 1 x R x R soft targets in the frame."""
        scale = self._frame_scale(features)
        side = features.images.shape[-1]
        out = []
        for mask, image in zip(masks, batch_index.tolist()):
            mask = torch.as_tensor(np.asarray(mask) if not isinstance(mask, Tensor) else mask)
            h, w = features.input_sizes[image]
            resized = F.interpolate(mask.to(features.images.device, torch.float32)[None, None], size=(h, w),
                                    mode="bilinear", align_corners=False)
            padded = F.pad(resized, (0, side - w, 0, side - h))
            out.append(padded if scale == 1 else F.interpolate(padded, size=(self.global_size,) * 2,
                                                               mode="area" if scale < 1 else "bilinear"))
        return torch.cat(out)

    def _images(self, features: ImageFeatures, batch_index: Tensor) -> Tensor:
        images = features.images.index_select(0, batch_index)
        if images.shape[-1] == self.global_size:
            return images
        return F.interpolate(images.float(), size=(self.global_size,) * 2, mode="bilinear", align_corners=False,
                             antialias=images.shape[-1] > self.global_size).to(images.dtype)

    # -------------------------------------------------------------- forward
    def forward(self, core: SamCore, features: ImageFeatures, prompts: Prompts, prediction: MaskPrediction, *,
                points: Tensor | None = None, labels: Tensor | None = None,
                previous_logits: Tensor | None = None, previous_error_area: Tensor | None = None
                ) -> RefinedPrediction:
        """Refine the P rows of `prediction` (the mask with the best predicted IoU when SAM gave several).

        Args:
            points / labels: the rows' clicks as given to `NativePrompts` (original-image
                pixels, P x N x 2 and P x N); None for prompts without clicks.
            previous_logits: P x 1 x R x R, the previous click's `refined_logits` (None at the
                first click): the detail window is where the new mask differs from it, and the
                selector may keep it.
            previous_error_area: P, the previous click's `error_area`.
        Returns:
            a `RefinedPrediction`.
        """
        index = prediction.batch_index
        rows = len(prediction)
        size = self.global_size
        best = prediction.iou_predictions.argmax(dim=1)
        chosen = torch.arange(rows, device=index.device)
        coarse_low = prediction.low_res_logits[chosen, best].unsqueeze(1)                  # P x 1 x 4h x 4w
        coarse = F.interpolate(coarse_low.float(), size=(size, size), mode="bilinear", align_corners=False)
        embeddings = features.embeddings.index_select(0, index)
        if points is None:
            frame_points = torch.zeros(rows, 0, 2, device=index.device)
            labels = torch.zeros(rows, 0, dtype=torch.long, device=index.device)
        else:
            if points.shape[0] != rows:
                raise PromptError(f"the refiner got clicks for {points.shape[0]} rows, the prediction has {rows}")
            frame_points = self.frame_points(core, features, points, index)
            labels = torch.as_tensor(labels, device=index.device)
        maps = click_maps(frame_points, labels, (size, size), self.config.click_radius)
        global_output = self.global_refiner(self._images(features, index), maps, coarse, embeddings)
        valid = self.valid_sizes(features, index)
        inside = self._inside(valid, size, global_output.error.device)
        error_area = ((global_output.error[:, 0] > 0) & inside).sum((-2, -1)).float()

        final = global_output.blended
        local_output, windows = None, torch.full((rows, 4), -1, dtype=torch.long, device=index.device)
        kept_previous = torch.zeros(rows, dtype=torch.bool, device=index.device)
        if self.local_refiner is not None:
            windows = detail_windows(global_output.blended.detach(), previous_logits, valid, self.config.window_margin,
                                     max(4, int(self.config.min_window * size)))
            local_rows = torch.nonzero(windows[:, 0] >= 0).flatten()
            if len(local_rows):
                local_output = self._local(features, index, local_rows, windows[local_rows], frame_points, labels,
                                           global_output.blended, embeddings)
                base = global_output.blended
                if previous_logits is not None and previous_error_area is not None:
                    kept_previous = error_area > self.config.selector_ratio * previous_error_area.to(
                        error_area.device).clamp(min=1)
                    base = torch.where(kept_previous[:, None, None, None], previous_logits.to(base.dtype), base)
                final = paste(base, local_output.blended, windows[local_rows], local_rows)
        refined = RefinedPrediction(
            low_res_logits=coarse_low,
            iou_predictions=prediction.iou_predictions[chosen, best].unsqueeze(1),
            mask_tokens=prediction.mask_tokens[chosen, best].unsqueeze(1),
            batch_index=index,
            coarse_logits=coarse, refined_logits=final, global_output=global_output, local_output=local_output,
            windows=windows, error_area=error_area, kept_previous=kept_previous,
        )
        if prediction.logits is not None:
            refined.logits = core.upscale(final, index, features)
        return refined

    @staticmethod
    def _inside(valid: Tensor, size: int, device: torch.device) -> Tensor:
        grid = torch.arange(size, device=device)
        valid = valid.to(device)
        return (grid[None, :, None] < valid[:, 0, None, None]) & (grid[None, None, :] < valid[:, 1, None, None])

    def _local(self, features: ImageFeatures, index: Tensor, rows: Tensor, windows: Tensor, frame_points: Tensor,
               labels: Tensor, global_logits: Tensor, embeddings: Tensor) -> FusionOutput:
        """The local refiner on K windows (K x 4 in the R frame) of rows `rows`."""
        local = self.config.local_size
        images = features.images
        image_crops = crop(images, windows, index[rows], local, scale=images.shape[-1] / self.global_size)
        coarse_crops = crop(global_logits, windows, rows, local)
        embedding_crops = crop(embeddings, windows, rows, local // 4,
                               scale=embeddings.shape[-1] / self.global_size)
        origin = windows[:, :2].to(frame_points.dtype)[:, None, :]
        side = (windows[:, 2:] - windows[:, :2]).to(frame_points.dtype)[:, None, :]
        points = (frame_points[rows] - origin) * (local / side)
        maps = click_maps(points, labels[rows], (local, local), self.config.click_radius)
        return self.local_refiner(image_crops, maps, coarse_crops, embedding_crops)
