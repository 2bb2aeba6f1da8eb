"""Text-prompted video on SAM 2's memory: RefSAM finds the objects, SAM 2 tracks them.

RefSAM (on a SAM 2 core) segments what each expression refers to on the first frame; those masks
are SAM 2's mask prompt (`samprompt.core.sam2_memory.Sam2MemoryTracker`), and every later frame
comes from SAM 2's memory attention and object pointers — online, one frame at a time, several
expressions per video (one memory row each). `reanchor_every` hands RefSAM's answer to the
memory again every k frames (a new conditioning frame), for long streams where the memory alone
may drift. `compare_video_paths` scores this path against RefSAM's own track token on the same
clips (DAVIS J, F, J&F over every frame, and the seconds per frame).
"""
from __future__ import annotations

import time
from typing import Any, Iterable, Iterator, Sequence

import torch
from torch import Tensor

from samprompt.core.images import ImageLike
from samprompt.core.sam2_memory import Sam2MemoryTracker, video_frame
from samprompt.errors import ConfigError
from samprompt.metrics.davis import mean_video_scores, video_scores
from samprompt.refsam.model import RefSAM
from samprompt.refsam.tracker import RefSAMVideoTracker


class RefSAMMemoryTracker:
    """E expressions on a stream of frames: RefSAM on the first frame (and every
    `reanchor_every` frames), SAM 2's memory in between.

        tracker = RefSAMMemoryTracker(model, ["the red circle", "the star"])
        for masks in tracker.run(frames):      # masks: E x H x W bool
            ...
    """

    def __init__(self, model: RefSAM, texts: str | Sequence[str], reanchor_every: int | None = None) -> None:
        if getattr(model.core, "family", None) != "sam2":
            raise ConfigError(f"model: SAM 2's memory needs RefSAM on a SAM 2 core, got a "
                              f"{getattr(model.core, 'family', '?')!r} core (use RefSAMVideoTracker's track token)")
        if reanchor_every is not None and (isinstance(reanchor_every, bool) or not isinstance(reanchor_every, int)
                                           or reanchor_every <= 0):
            raise ConfigError(f"reanchor_every must be a positive number of frames or None, got {reanchor_every!r}")
        self.model = model
        self.text = model.generator.encode_text(texts)
        self.reanchor_every = reanchor_every
        self.memory = Sam2MemoryTracker(model.core)

    def reset(self) -> None:
        """Forget the stream (call between videos)."""
        self.memory.reset()

    @torch.no_grad()
    def step(self, frame: ImageLike) -> Tensor:
        """E x H x W boolean masks for the next frame."""
        index, core = self.memory.frame_index, self.model.core
        anchor = index == 0 or (self.reanchor_every is not None and index % self.reanchor_every == 0)
        backbone = core.run_backbone([frame], keep_intermediate=anchor)   # one encoder pass serves both
        if not anchor:
            return self.memory.track(video_frame(backbone)).masks
        prediction = self.model(features=core.features_from(backbone), text=self.text)
        masks = torch.stack([m[0] for m in prediction.masks])
        self.memory.condition(video_frame(backbone), masks)
        return masks

    def run(self, frames: Iterable[ImageLike]) -> Iterator[Tensor]:
        """Masks for every frame of a new video (resets first)."""
        self.reset()
        for frame in frames:
            yield self.step(frame)


def _scored(make_tracker: Any, clips: Sequence[dict[str, Any]]) -> dict[str, float]:
    per_video, seconds, frames = [], 0.0, 0
    for clip in clips:
        started = time.perf_counter()
        predictions = [masks[0].cpu().numpy() for masks in make_tracker(clip).run(clip["frames"])]
        seconds += time.perf_counter() - started
        frames += len(predictions)
        per_video.append(video_scores(predictions, list(clip["masks"])))
    return {**mean_video_scores(per_video), "seconds_per_frame": seconds / max(frames, 1)}


def compare_video_paths(model: RefSAM, clips: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """RefSAM's track token against SAM 2's memory (RefSAM on the first frame), on the same
    clips: J, F, J&F over all frames (the first one included: RefSAM answers it on both paths)
    and the seconds per frame, text encoding included."""
    model.eval()
    results = {}
    if model.generator.tracker is not None:
        results["track_token"] = _scored(lambda clip: RefSAMVideoTracker(model, [clip["text"]]), clips)
    results["sam2_memory"] = _scored(lambda clip: RefSAMMemoryTracker(model, [clip["text"]]), clips)
    return results
