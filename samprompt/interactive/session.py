"""`InteractiveSession`: click by click on one image, its embedding computed once."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from samprompt.core.base import Core
from samprompt.core.images import ImageLike
from samprompt.core.sam_core import SamCore
from samprompt.core.structures import ImageFeatures, MaskPrediction
from samprompt.errors import ConfigError, EmptyHistoryError, PromptError
from samprompt.interactive.clicks import Click, click_tensors
from samprompt.metrics.masks import binary_mask_iou
from samprompt.model import PromptedSam
from samprompt.prompts.base import PromptGenerator
from samprompt.prompts.combine import CombinedPrompts
from samprompt.prompts.native import NativePrompts


@dataclass
class ClickStep:
    """The state after one click.

    mask: H x W boolean result; sam_mask: SAM's own mask for the same clicks (equal to `mask`
    without a refiner); low_res_logits: 1 x 1 x h x w SAM logits fed back at the next click;
    refined_logits / error_area: what the refiner hands to its next call (None without one);
    decoder_seconds / refiner_seconds: time spent in SAM's prompt encoder + decoder and in the refiner.
    """

    click: Click
    mask: np.ndarray
    sam_mask: np.ndarray
    low_res_logits: Tensor
    refined_logits: Tensor | None
    error_area: Tensor | None
    decoder_seconds: float
    refiner_seconds: float


@dataclass
class SessionStart:
    """The mask a session starts from before any click, given by a prompt module (text, class names...).

    mask: H x W boolean; low_res_logits: 1 x 1 x h x w SAM logits, SAM's mask input at the first
    click; inputs: what the start model was given (e.g. {"text": "the red circle"}); row: which of
    its prompt rows the session continues.
    """

    mask: np.ndarray
    low_res_logits: Tensor
    inputs: Mapping[str, Any] = field(default_factory=dict)
    row: int = 0


START_ROLES = ("mask", "choice")
# start_role="choice": the IoU at which the start mask and one of SAM's masks count as the same object
# (the match criterion of detection's AP@0.5 and of referring segmentation's prec@0.5).
CHOICE_MIN_IOU = 0.5


def click_part(generator: PromptGenerator) -> NativePrompts | None:
    """The `NativePrompts` that takes a session's clicks: the generator itself or a part of it."""
    if isinstance(generator, NativePrompts):
        return generator
    if isinstance(generator, CombinedPrompts):
        return next((g for g in generator.generators if isinstance(g, NativePrompts)), None)
    return None


def takes_inputs(generator: PromptGenerator, inputs: Mapping[str, Any]) -> bool:
    """Whether `generator` (or one of its combined parts) names every input of `inputs` as its prompt."""
    parts = list(generator.generators) if isinstance(generator, CombinedPrompts) else [generator]
    named = {name for part in parts for name in getattr(part, "prompt_inputs", ())}
    return bool(inputs) and set(inputs) <= named


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class InteractiveSession:
    """Interactive segmentation of one object: `session.click(x, y, positive=True) -> mask`.

    The image is encoded once, at construction; each click runs only SAM's prompt encoder
    and mask decoder on all clicks so far, with the previous low-res logits as SAM's mask
    input, then (with `refine`) the model's refiner. The first click asks SAM for its three
    ambiguity masks and keeps the one with the best predicted IoU, as SAM recommends for a
    single click; later clicks use the single-mask output.

    A session can start from another prompt: `start_with` (a `PromptedSam` on the same core,
    e.g. RefSAM or class-name prompts) runs once on the same encoding with `start_inputs`
    (e.g. {"text": "the red circle"}); row `start_row` of its prediction is the mask before the
    first click, and its low-res logits are SAM's mask input at the first click (which then
    uses the single-mask output). `reset` and `undo` go back to that mask.

    Args:
        model: a `PromptedSam` whose generator takes the clicks through `NativePrompts`
            (original-image frame), alone (e.g. `SAMRef`) or in a `CombinedPrompts` (e.g. text +
            clicks); or a bare `SamCore` (SAM alone).
        image: H x W x 3 uint8 array, RGB PIL image or 3 x H x W tensor.
        refine: use the model's refiner (False: SAM alone on the same model, to compare).
        start_with / start_inputs / start_row: the prompt the session starts from (None: nothing).
        start_role: what the start mask does. "mask" (default): it is the session's mask before
            any click, and SAM's mask input at the first click, which corrects it. "choice": the
            session starts from nothing, as clicks alone do, and the start mask only chooses among
            SAM's three masks for the first click: the one it overlaps most, where that IoU is at
            least `CHOICE_MIN_IOU` (the two masks then show the same object); otherwise SAM's own
            choice by predicted IoU. No refiner and no `keep_start` with "choice".
        keep_start: give the start inputs to `model` again with every click (its generator
            takes both, e.g. text + clicks in one `CombinedPrompts`), so the first prompt stays
            in force instead of living on only as the mask input.
        features: the image's encoding, when already computed (`core.encode` of this one image, with
            `keep_images=True` where the refiner or the start model needs pixels, and
            `keep_intermediate=True` where a start model reads intermediate features): `image` is then
            not encoded again (e.g. several images encoded in one batch, see `click_sessions`).
    """

    def __init__(self, model: PromptedSam | SamCore, image: ImageLike, *, refine: bool = True,
                 start_with: PromptedSam | None = None, start_inputs: Mapping[str, Any] | None = None,
                 start_row: int = 0, keep_start: bool = False, start_role: str = "mask",
                 features: ImageFeatures | None = None) -> None:
        for name, value in (("refine", refine), ("keep_start", keep_start)):
            if not isinstance(value, (bool, np.bool_)):
                raise ConfigError(f"{name} must be True or False, got {value!r}")
        if isinstance(start_row, (bool, np.bool_)) or not isinstance(start_row, (int, np.integer)):
            raise PromptError(f"start_row must be an int (a row of the start model's prediction), got {start_row!r}")
        if start_inputs is not None and not isinstance(start_inputs, Mapping):
            raise ConfigError(f"start_inputs must be a mapping of the start model's inputs (e.g. {{'text': ...}}), "
                              f"got {type(start_inputs).__name__}")
        if not isinstance(model, (Core, PromptedSam)):
            raise ConfigError(f"model must be a core (SamCore, Sam2Core) or a PromptedSam, got "
                              f"{type(model).__name__}")
        if start_with is not None and not isinstance(start_with, PromptedSam):
            raise ConfigError("start_with must be a PromptedSam on the session's core, got "
                              f"{type(start_with).__name__}")
        self.bare_core = isinstance(model, Core)   # SAM alone: sessions on the same core can be clicked together
        if isinstance(model, Core):
            model = PromptedSam(model, NativePrompts())
        clicks = click_part(model.generator)
        if clicks is None or clicks.frame != "original":
            raise ConfigError("model must be a SamCore or a PromptedSam whose generator takes clicks through "
                              "NativePrompts() in original-image pixels (alone or in CombinedPrompts), got a "
                              f"PromptedSam with {type(model.generator).__name__}"
                              + (f" (frame={clicks.frame!r})" if clicks is not None else ""))
        if keep_start and (start_with is None or not takes_inputs(model.generator, start_inputs or {})):
            raise ConfigError(f"keep_start: the session model must take the start inputs {sorted(start_inputs or {})} "
                              f"with its clicks; {type(model.generator).__name__} does not")
        if start_role not in START_ROLES:
            raise ConfigError(f"start_role must be one of {START_ROLES}, got {start_role!r}")
        if start_role == "choice" and (start_with is None or keep_start or (refine and model.refiner is not None)):
            raise ConfigError("start_role='choice' needs a start_with model, and neither keep_start nor a refiner "
                              "(the start mask only chooses among SAM's masks for the first click)")
        self.keep_start = keep_start
        self.start_role = start_role
        if start_with is not None and start_with.core is not model.core:
            raise ConfigError("start_with must run on the session model's core (one encoder pass serves both), "
                              "got a model on another core")
        if start_with is None and start_inputs:
            raise ConfigError(f"start_inputs {sorted(start_inputs)} need a start_with model")
        self.model = model
        self.refiner = model.refiner if refine else None
        keep_images = model.refiner is not None if refine else False
        if start_with is not None:
            keep_images = keep_images or start_with.needs_images
        model.activate_adapter()
        if features is None:
            with torch.no_grad():
                features = model.core.encode(image if isinstance(image, Tensor) else [image],
                                             keep_intermediate=start_with is not None, keep_images=keep_images)
        elif len(features) != 1 or (keep_images and features.images is None):
            raise ConfigError(f"features must be the encoding of this one image"
                              f"{' with its encoder input kept (keep_images=True)' if keep_images else ''}, got "
                              f"features of {len(features)} images"
                              f"{' without their input' if keep_images and features.images is None else ''}")
        self.features = features
        self.height, self.width = self.features.original_sizes[0]
        self.steps: list[ClickStep] = []
        self.start = None if start_with is None else self._start(start_with, dict(start_inputs or {}), start_row)

    def _start(self, model: PromptedSam, inputs: dict[str, Any], row: int) -> SessionStart:
        with torch.no_grad():
            prediction = model(features=self.features, multimask_output=False, **inputs)
        if not 0 <= row < len(prediction.low_res_logits):
            raise PromptError(f"start_row {row} is not one of the {len(prediction.low_res_logits)} prompt rows "
                              f"the start model gave for {sorted(inputs)}")
        if int(prediction.batch_index[row]) != 0:
            raise PromptError(f"start_row {row} belongs to image {int(prediction.batch_index[row])}; a session has one")
        mask = (prediction.logits[row][0] > 0).cpu().numpy()
        return SessionStart(mask, prediction.low_res_logits[row:row + 1, :1], inputs, row)

    # ------------------------------------------------------------------ state
    @property
    def clicks(self) -> list[Click]:
        return [step.click for step in self.steps]

    @property
    def mask(self) -> np.ndarray:
        """The current H x W boolean mask (before the first click: the start's, or empty, as with
        `start_role="choice"`)."""
        if self.steps:
            return self.steps[-1].mask
        if self.start is not None and self.start_role == "mask":
            return self.start.mask
        return np.zeros((self.height, self.width), dtype=bool)

    def undo(self) -> np.ndarray:
        """Forget the last click; returns the mask as it was before it (the start's before the first)."""
        if not self.steps:
            raise EmptyHistoryError("nothing to undo: no click yet")
        self.steps.pop()
        return self.mask

    def reset(self) -> None:
        """Forget every click, back to the start (the image embedding is kept)."""
        self.steps.clear()

    def use_refiner(self, enabled: bool = True) -> None:
        """Switch the model's refiner on or off for the clicks to come (forgets the clicks so far),
        so that one encoding serves both, e.g. to compare them on the same object."""
        if enabled and (self.model.refiner is None or self.features.images is None):
            raise ConfigError("use_refiner(True): this session cannot refine: its model has no refiner, or it was "
                              "opened with refine=False and its encoding kept no image")
        self.refiner = self.model.refiner if enabled else None
        self.reset()

    # ------------------------------------------------------------------ click
    def click(self, x: float, y: float, positive: bool = True) -> np.ndarray:
        """Add a click at pixel (x = column, y = row) of the original image; returns the H x W boolean mask."""
        return click_sessions([self], [(x, y, positive)])[0]


def _checked_click(session: InteractiveSession, x: float, y: float, positive: bool) -> Click:
    if not (0 <= x < session.width and 0 <= y < session.height):   # NaN fails every comparison: refused too
        raise PromptError(f"click at (x={x:g}, y={y:g}) lies outside the {session.width} x {session.height} "
                          "(W x H) image")
    if positive not in (True, False):   # 0.5 would silently become a positive click
        raise PromptError(f"positive must be True / False (or 1 / 0), got {positive!r}")
    return Click(int(x), int(y), bool(positive))


def _joined_inputs(inputs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The start inputs of several sessions (one prompt row each) as one batch, row i on image i:
    strings and lists of strings joined into one list, tensors concatenated along their first axis."""
    joined: dict[str, Any] = {}
    for name in inputs[0]:
        values = [i[name] for i in inputs]
        if all(isinstance(v, str) for v in values):
            joined[name] = list(values)
        elif all(isinstance(v, (list, tuple)) and len(v) == 1 for v in values):
            joined[name] = [v[0] for v in values]
        elif all(isinstance(v, Tensor) and len(v) == 1 for v in values):
            joined[name] = torch.cat(values)
        else:
            raise ConfigError(f"keep_start: the start input {name!r} of several sessions cannot be joined into one "
                              f"batch; each must be one row (a string, a one-item list or a 1 x ... tensor), got "
                              f"{[type(v).__name__ for v in values]}")
    return joined


def _chosen_by_start(prediction: MaskPrediction, starts: list[np.ndarray], best: Tensor) -> Tensor:
    """Per row, the index of SAM's mask that the row's start mask (H x W) overlaps most, where that IoU
    reaches `CHOICE_MIN_IOU`; else `best` (SAM's choice by predicted IoU)."""
    chosen = best.clone()
    for i, start in enumerate(starts):
        overlaps = [binary_mask_iou((logits > 0).cpu().numpy(), start) for logits in prediction.logits[i]]
        if max(overlaps) >= CHOICE_MIN_IOU:
            chosen[i] = int(np.argmax(overlaps))
    return chosen


def _stacked(tensors: list[Tensor]) -> Tensor:
    """The rows of several sessions as one batch (one session's tensor passed on as it is)."""
    return tensors[0] if len(tensors) == 1 else torch.cat(tensors)


def _same_state(sessions: Sequence[InteractiveSession]) -> None:
    first = sessions[0]
    for session in sessions[1:]:
        same_model = session.model is first.model or (
            session.bare_core and first.bare_core and session.model.core is first.model.core)
        if not same_model or session.refiner is not first.refiner or session.keep_start != first.keep_start:
            raise ConfigError("click_sessions: every session must use the same model, refiner setting and "
                              "keep_start")
        if len(session.steps) != len(first.steps) or (session.start is None) != (first.start is None) \
                or session.start_role != first.start_role:
            raise ConfigError(f"click_sessions: every session must have made the same number of clicks from the "
                              f"same kind of start, got {len(first.steps)} and {len(session.steps)} clicks")


def click_sessions(sessions: Sequence[InteractiveSession], clicks: Sequence[tuple[float, float, bool] | Click]
                   ) -> list[np.ndarray]:
    """One click on each of several sessions (one model, the same number of clicks so far), run as one
    batch: one prompt-encoder, decoder and refiner call for all of them, row i on session i's image.
    Each session records its `ClickStep` as `InteractiveSession.click` does (which is this, for one
    session); the decoder and refiner seconds of a step are the batch's divided by its rows.

    Args:
        sessions: the sessions (each of one image).
        clicks: one (x, y, positive) or `Click` per session, in original-image pixels.
    Returns:
        the H x W boolean mask of each session after its click.
    """
    if len(sessions) != len(clicks) or not sessions:
        raise ConfigError(f"click_sessions needs one click per session, got {len(clicks)} clicks for "
                          f"{len(sessions)} sessions")
    _same_state(sessions)
    made = [_checked_click(session, *((c.x, c.y, c.positive) if isinstance(c, Click) else c))
            for session, c in zip(sessions, clicks)]
    first = sessions[0]
    model, refiner = first.model, first.refiner
    core, device = model.core, model.core.device
    rows = len(sessions)
    features = first.features if rows == 1 else ImageFeatures.concatenate([s.features for s in sessions])
    previous = [s.steps[-1] if s.steps else None for s in sessions]
    points, labels = click_tensors([s.clicks + [c] for s, c in zip(sessions, made)], device)
    masks = None
    if previous[0] is not None:
        masks = _stacked([p.low_res_logits for p in previous])
    elif first.start is not None and first.start_role == "mask":
        masks = _stacked([s.start.low_res_logits for s in sessions])
    model.activate_adapter()  # a start model on the same core may run with another adapter
    with torch.no_grad():
        started = time.perf_counter()
        kept = {}
        if first.keep_start and first.start is not None:
            kept = dict(first.start.inputs) if rows == 1 else _joined_inputs([s.start.inputs for s in sessions])
        prompts = model.generator(core, features, points=points, labels=labels, masks=masks, **kept)
        prediction = core.decode(features, prompts, multimask_output=masks is None)
        best = prediction.iou_predictions.argmax(dim=1)
        if first.start_role == "choice" and previous[0] is None:
            best = _chosen_by_start(prediction, [s.start.mask for s in sessions], best)
        sam_logits = [prediction.logits[i][int(best[i])] for i in range(rows)]
        _synchronize(device)
        decoded = time.perf_counter()
        low_res = prediction.low_res_logits[torch.arange(rows), best].unsqueeze(1)
        refined = None
        if refiner is not None:
            refined = refiner(core, features, prompts, prediction, points=points, labels=labels,
                              previous_logits=None if previous[0] is None else
                              _stacked([p.refined_logits for p in previous]),
                              previous_error_area=None if previous[0] is None else
                              _stacked([p.error_area for p in previous]))
            low_res = refined.low_res_logits
        _synchronize(device)
        finished = time.perf_counter()
    decoder_seconds = (decoded - started) / rows
    refiner_seconds = (finished - decoded) / rows if refiner is not None else 0.0
    results = []
    for i, (session, click) in enumerate(zip(sessions, made)):
        sam_mask = (sam_logits[i] > 0).cpu().numpy()
        mask = sam_mask if refined is None else (refined.logits[i][0] > 0).cpu().numpy()
        session.steps.append(ClickStep(
            click, mask, sam_mask, low_res[i:i + 1],
            None if refined is None else refined.refined_logits[i:i + 1],
            None if refined is None else refined.error_area[i:i + 1], decoder_seconds, refiner_seconds))
        results.append(mask)
    return results
