"""Online referring video object segmentation: one frame at a time, constant memory."""
from __future__ import annotations

from typing import Iterable, Iterator, Sequence

import torch
from torch import Tensor

from samprompt.core.images import ImageLike
from samprompt.core.structures import MaskPrediction
from samprompt.errors import ConfigError
from samprompt.refsam.model import RefSAM


class RefSAMVideoTracker:
    """Segments the objects that E expressions refer to, frame by frame.

    Keeps one track token per expression (E x 1 x C, detached), so memory does not grow with
    the video's length. The text is encoded once per video.

        tracker = RefSAMVideoTracker(model, ["the dog on the left", "the ball"])
        for masks in tracker.run(frames):      # frames: any iterable of H x W x 3 images
            ...                                # masks: E x H x W bool
    """

    def __init__(self, model: RefSAM, texts: str | Sequence[str]) -> None:
        if model.generator.tracker is None:
            raise ConfigError("model: this RefSAM was built without tracking (RefSAMConfig.tracking=False); "
                              "a VideoTracker needs tracking=True")
        self.model = model
        self.text = model.generator.encode_text(texts)
        self.track: Tensor | None = None
        self.frames_seen = 0

    def reset(self) -> None:
        """Forget the track (call between videos)."""
        self.track = None
        self.frames_seen = 0

    @torch.no_grad()
    def predict(self, frame: ImageLike) -> MaskPrediction:
        """The prediction for the next frame (E rows), updating the track tokens."""
        features = self.model.core.encode([frame])
        prediction = self.model(features=features, text=self.text, track=self.track)
        self.track = self.model.next_track(prediction, self.track).detach()
        self.frames_seen += 1
        return prediction

    def step(self, frame: ImageLike) -> Tensor:
        """E x H x W boolean masks for the next frame."""
        return torch.stack([masks[0] for masks in self.predict(frame).masks])

    def run(self, frames: Iterable[ImageLike]) -> Iterator[Tensor]:
        """Masks for every frame of a new video (resets first)."""
        self.reset()
        for frame in frames:
            yield self.step(frame)
