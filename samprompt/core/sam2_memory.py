"""SAM 2's video memory over a `Sam2Core`: online tracking, one frame at a time.

`Sam2MemoryTracker` drives `sam2.modeling.sam2_base.SAM2Base.track_step` — the step that
Meta's `SAM2VideoPredictor` runs for each frame — with its own memory bank, so frames arrive
one by one (a camera, a stream) instead of as a whole video loaded up front:

    tracker = Sam2MemoryTracker(core)
    tracker.condition(first_frame, masks)     # masks: N x H x W, one row per object
    for frame in rest:
        out = tracker.track(frame)            # out.masks: N x H x W bool

Each object is one row of SAM 2's batch (the frame's features are computed once and expanded
to the N rows, as in the video predictor). The first frame's masks enter as SAM 2's mask
prompt (`use_mask_input_as_output_without_sam`: the mask becomes the frame's output and its
memory); every later frame attends to the memories of the conditioning frame and of the last
`num_maskmem - 1` frames and to the object pointers of up to `max_obj_ptrs_in_encoder` frames
(memory attention), then SAM 2's decoder predicts the mask and the object score. Older frames
are dropped from the bank, so memory stays bounded however long the stream runs.

Gradients flow through everything when called outside `torch.no_grad` (memory training,
`samprompt.pretrain.sam2_memory`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from samprompt.core.images import Images
from samprompt.core.sam2_core import Backbone, Sam2Core
from samprompt.errors import ConfigError, PromptError


@dataclass
class VideoFrame:
    """One frame's backbone features in SAM 2's flattened layout.

    Attributes:
        vision_feats: per level (finest first) HW x B x C.
        vision_pos: the matching positional encodings, HW x B x C.
        feat_sizes: per level (h, w).
        original_size: (H, W) of the frame as given.
    """

    vision_feats: list[Tensor]
    vision_pos: list[Tensor]
    feat_sizes: list[tuple[int, int]]
    original_size: tuple[int, int]

    def expand(self, rows: int) -> "VideoFrame":
        """The same frame for `rows` objects (batch 1 -> rows, no copy)."""
        if self.vision_feats[0].shape[1] == rows:
            return self
        return VideoFrame([f.expand(-1, rows, -1) for f in self.vision_feats],
                          [p.expand(-1, rows, -1) for p in self.vision_pos], self.feat_sizes, self.original_size)


@dataclass
class TrackOutput:
    """SAM 2's answer for one frame, N objects.

    Attributes:
        low_res_logits: N x 1 x 4h x 4w mask logits (the decoder's resolution).
        logits: N x 1 x S x S logits at the model's input size (S = image_size).
        object_score_logits: N x 1; > 0 where SAM 2 sees the object in the frame.
        masks: N x H x W boolean masks at the frame's original size (None while training).
    """

    low_res_logits: Tensor
    logits: Tensor
    object_score_logits: Tensor
    masks: Tensor | None = None


def video_frame(backbone: Backbone) -> VideoFrame:
    """A backbone pass over B frames of one size -> the frame for the memory (SAM 2's features
    without the image-mode `no_mem_embed`: memory attention takes its place)."""
    sizes = set(backbone.original_sizes)
    if len(sizes) > 1:
        raise PromptError(f"images: the frames of one step must share a size, got {sorted(sizes)}")
    return VideoFrame(backbone.vision_feats, backbone.vision_pos, backbone.feat_sizes,
                      tuple(backbone.original_sizes[0]))


def encode_frames(core: Sam2Core, images: Images) -> VideoFrame:
    """B frames (all of one size) -> their `VideoFrame`."""
    return video_frame(core.run_backbone(images, keep_intermediate=False))


class Sam2MemoryTracker:
    """Online multi-object tracking with SAM 2's memory attention and object pointers (module
    docstring). One tracker follows one stream; `reset` starts another."""

    def __init__(self, core: Sam2Core) -> None:
        if getattr(core, "family", None) != "sam2":
            raise ConfigError(f"core: SAM 2's memory needs a SAM 2 core (build_sam('sam2_tiny' / "
                              f"'sam2.1_hiera_t' ...)), got a {getattr(core, 'family', type(core).__name__)!r} core")
        self.core = core
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the memory bank, the frame count and the number of objects."""
        self.bank: dict[str, dict[int, dict]] = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
        self.frame_index = 0
        self.objects: int | None = None

    @property
    def kept_frames(self) -> int:
        """Tracked frames kept in the bank: what memory attention and the pointers look back on."""
        sam = self.core.sam
        return max(sam.num_maskmem, sam.max_obj_ptrs_in_encoder if sam.use_obj_ptrs_in_encoder else 0)

    def condition(self, frame: Images | VideoFrame, masks: Tensor) -> TrackOutput:
        """Start (or re-anchor) the objects on this frame from N x H x W masks (bool or
        probabilities in [0, 1] at the frame's size); this frame becomes a conditioning memory."""
        frame = frame if isinstance(frame, VideoFrame) else encode_frames(self.core, [frame])
        masks = torch.as_tensor(masks)
        if masks.ndim != 3 or tuple(masks.shape[1:]) != frame.original_size:
            raise PromptError(f"masks must be N x H x W at the frame's size {frame.original_size}, got "
                              f"{tuple(masks.shape)}")
        if self.objects is not None and masks.shape[0] != self.objects:
            raise PromptError(f"masks: this stream tracks {self.objects} objects, got {masks.shape[0]} masks "
                              "(reset() to start another)")
        size = self.core.sam.image_size
        dtype = frame.vision_feats[-1].dtype
        mask_input = F.interpolate(masks.to(frame.vision_feats[-1].device, torch.float32)[:, None], (size, size),
                                   mode="bilinear", align_corners=False, antialias=True)
        mask_input = (mask_input >= 0.5).to(dtype)   # SAM2VideoPredictor.add_new_mask binarises too
        return self._step(frame.expand(masks.shape[0]), mask_input, conditioning=True)

    def track(self, frame: Images | VideoFrame) -> TrackOutput:
        """The objects on the next frame, from memory alone."""
        if self.objects is None:
            raise PromptError("track() before condition(): give the objects' masks on a first frame")
        frame = frame if isinstance(frame, VideoFrame) else encode_frames(self.core, [frame])
        return self._step(frame.expand(self.objects), None, conditioning=False)

    def _step(self, frame: VideoFrame, mask_input: Tensor | None, conditioning: bool) -> TrackOutput:
        sam, index = self.core.sam, self.frame_index
        if mask_input is not None:
            self.objects = mask_input.shape[0]
        # SAM2Base returns the object score only outside training mode, and memory training needs
        # it: the step always runs in eval mode (which here only turns memory attention's dropout off).
        training = sam.training
        sam.train(False)
        try:
            out = sam.track_step(frame_idx=index, is_init_cond_frame=conditioning,
                                 current_vision_feats=frame.vision_feats, current_vision_pos_embeds=frame.vision_pos,
                                 feat_sizes=frame.feat_sizes, point_inputs=None, mask_inputs=mask_input,
                                 output_dict=self.bank, num_frames=index + 1, run_mem_encoder=True)
        finally:
            sam.train(training)
        score = out.pop("object_score_logits")
        self.bank["cond_frame_outputs" if conditioning else "non_cond_frame_outputs"][index] = out
        self.bank["non_cond_frame_outputs"].pop(index - self.kept_frames, None)
        self.frame_index += 1
        result = TrackOutput(out["pred_masks"], out["pred_masks_high_res"], score)
        if not torch.is_grad_enabled():
            result.masks = F.interpolate(result.logits.float(), frame.original_size, mode="bilinear",
                                         align_corners=False)[:, 0] > 0
        return result
