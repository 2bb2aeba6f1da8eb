"""Running the click protocol over objects: IoU curves, NoC / NoF / k-mIoU and seconds per click."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from samprompt.core.base import Core
from samprompt.core.sam_core import SamCore
from samprompt.core.structures import ImageFeatures
from samprompt.errors import ConfigError, ImageFormatError
from samprompt.interactive.clicks import Click, next_click
from samprompt.interactive.session import InteractiveSession, click_sessions
from samprompt.metrics.interactive import DEFAULT_THRESHOLDS, check_protocol, summarize
from samprompt.metrics.masks import binary_mask_iou
from samprompt.model import PromptedSam


@dataclass
class ObjectRun:
    """One object's interaction: the clicks, the IoU after each (of the result and of SAM's own
    mask for the same clicks), the time each click took in the decoder and the refiner, and the
    IoU of the mask the session started from (None: it started from nothing)."""

    clicks: list[Click] = field(default_factory=list)
    ious: list[float] = field(default_factory=list)
    sam_ious: list[float] = field(default_factory=list)
    decoder_seconds: list[float] = field(default_factory=list)
    refiner_seconds: list[float] = field(default_factory=list)
    start_iou: float | None = None


class _ObjectProtocol:
    """One object's click protocol in progress: where its next click goes, and what each click gave."""

    def __init__(self, session: InteractiveSession, gt: np.ndarray, ignore: np.ndarray | None, max_clicks: int,
                 clicks: Sequence[Click] | None) -> None:
        check_protocol(max_clicks)
        gt = np.asarray(gt, dtype=bool)
        if gt.shape != (session.height, session.width):
            raise ImageFormatError(f"gt is {gt.shape}, expected the session image's H x W "
                                   f"{(session.height, session.width)}")
        session.reset()
        self.session, self.gt, self.ignore, self.given = session, gt, ignore, clicks
        self.done = False
        starts = session.start is not None and session.start_role == "mask"   # NoC counts from the start mask
        visible = gt if ignore is None else gt & ~np.asarray(ignore, dtype=bool)
        if not visible.any():  # RITM: an object with no pixel outside the ignore region has no IoU (0 / 0): it fails
            undefined = float("nan")
            self.run = ObjectRun(ious=[undefined], sam_ious=[undefined], start_iou=undefined if starts else None)
            self.done = True
            return
        self.run = ObjectRun(start_iou=binary_mask_iou(session.mask, gt, ignore) if starts else None)
        self.limit = max_clicks if clicks is None else min(max_clicks, len(clicks))

    def next_click(self) -> Click | None:
        """The next click, or None when the protocol is over for this object (then `run` is complete)."""
        if self.done:
            return None
        k = len(self.run.clicks)
        click = None
        if k < self.limit:
            click = self.given[k] if self.given is not None else next_click(
                self.gt, self.session.mask, clicked=self.run.clicks, ignore=self.ignore)
        if click is None:
            self.done = True
            if not self.run.ious:  # the mask the session started from was already perfect: nothing to click
                self.run.ious.append(self.run.start_iou if self.run.start_iou is not None else 1.0)
                self.run.sam_ious.append(self.run.ious[-1])
        return click

    def record(self, click: Click, mask: np.ndarray) -> None:
        step = self.session.steps[-1]
        self.run.clicks.append(click)
        self.run.ious.append(binary_mask_iou(mask, self.gt, self.ignore))
        self.run.sam_ious.append(binary_mask_iou(step.sam_mask, self.gt, self.ignore))
        self.run.decoder_seconds.append(step.decoder_seconds)
        self.run.refiner_seconds.append(step.refiner_seconds)


def run_object(session: InteractiveSession, gt: np.ndarray, *, ignore: np.ndarray | None = None,
               max_clicks: int = 20, clicks: Sequence[Click] | None = None) -> ObjectRun:
    """Click until `max_clicks` (or until the mask is perfect), each click placed by `next_click`
    on the current mask's errors, or replaying the given `clicks` (to compare models on the same clicks)."""
    return run_objects([session], [gt], ignores=[ignore], max_clicks=max_clicks,
                       clicks=None if clicks is None else [clicks])[0]


def run_objects(sessions: Sequence[InteractiveSession], gts: Sequence[np.ndarray], *,
                ignores: Sequence[np.ndarray | None] | None = None, max_clicks: int = 20,
                clicks: Sequence[Sequence[Click]] | None = None) -> list[ObjectRun]:
    """`run_object` on several objects (one session each, one model) in lockstep: at every round each
    object still clicking gets its next click, and all of them run as one batch (`click_sessions`).
    Each object's clicks and IoUs are its own, as `run_object` gives them (to float rounding)."""
    ignores = [None] * len(sessions) if ignores is None else ignores
    given = [None] * len(sessions) if clicks is None else clicks
    if not len(sessions) == len(gts) == len(ignores) == len(given):
        raise ConfigError(f"run_objects needs one ground truth, ignore map and click list per session, got "
                          f"{len(sessions)} sessions, {len(gts)} gts, {len(ignores)} ignores, {len(given)} click lists")
    objects = [_ObjectProtocol(s, gt, ignore, max_clicks, c) for s, gt, ignore, c in zip(sessions, gts, ignores, given)]
    while True:
        pending = [(o, click) for o in objects if (click := o.next_click()) is not None]
        if not pending:
            return [o.run for o in objects]
        masks = click_sessions([o.session for o, _ in pending], [click for _, click in pending])
        for (o, click), mask in zip(pending, masks):
            o.record(click, mask)


def seconds_per_click(runs: Sequence[ObjectRun]) -> dict[str, float]:
    decoder = [s for r in runs for s in r.decoder_seconds]
    refiner = [s for r in runs for s in r.refiner_seconds]
    return {"decoder": float(np.mean(decoder)) if decoder else 0.0,
            "refiner": float(np.mean(refiner)) if refiner else 0.0}


def evaluate_interactive(model: PromptedSam | SamCore, items: Iterable[dict[str, Any]], *, refine: bool = True,
                         max_clicks: int = 20, thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
                         replay: Sequence[ObjectRun] | None = None, progress: bool = False,
                         start_with: PromptedSam | None = None,
                         start_inputs: Callable[[dict[str, Any]], Mapping[str, Any]] | None = None,
                         start_row: Callable[[dict[str, Any]], int] | None = None, keep_start: bool = False,
                         start_role: str = "mask", batch_size: int = 1) -> tuple[dict[str, Any], list[ObjectRun]]:
    """The click protocol on every item ({"image", "mask"[, "ignore"]}): one session per object.

    With `replay` (the runs of an earlier evaluation on the same items), each object gets the
    same clicks as there instead of clicks placed on this model's own errors.

    With `start_with` (a prompt module on the same core), each session starts from its mask for
    `start_inputs(item)` (e.g. `lambda item: {"text": item["expression"]}`), row `start_row(item)`
    (default 0), and the first click corrects that mask: "text (or class names) first, then clicks".
    NoC counts the clicks after it (0 when it already reaches the threshold). With `keep_start`,
    `model` gets the start inputs again with every click (see `InteractiveSession`). With
    `start_role="choice"` the start mask only chooses among SAM's masks at the first click: the
    session starts from nothing and NoC counts every click, as for clicks alone.

    With `batch_size` > 1, that many objects are encoded in one batch and clicked in lockstep
    (`run_objects`): the same protocol and, to float rounding, the same clicks and IoUs, several
    times faster on a CPU; the seconds per click are then the batch's divided by its rows (a
    throughput, not one click's latency: measure that with `batch_size=1`).

    Returns:
        the summary (NoC@t, NoF@t, 5-mIoU, mean IoU per click, seconds per click for the decoder
        and the refiner) and the per-object runs.
    """
    check_protocol(max_clicks, thresholds)
    items = list(items)
    runs: list[ObjectRun] = []
    with tqdm(total=len(items), desc="clicks", disable=not progress) as bar:
        for first, group, features in _encoded_groups(model, items, batch_size, refine, start_with):
            sessions = []
            for item, encoded in zip(group, features):
                start = {} if start_with is None else {
                    "start_with": start_with, "start_inputs": start_inputs(item) if start_inputs else {},
                    "start_row": start_row(item) if start_row else 0, "keep_start": keep_start,
                    "start_role": start_role}
                sessions.append(InteractiveSession(model, item["image"], refine=refine, features=encoded, **start))
            given = None if replay is None else [replay[first + i].clicks for i in range(len(group))]
            runs += run_objects(sessions, [item["mask"] for item in group],
                                ignores=[item.get("ignore") for item in group], max_clicks=max_clicks, clicks=given)
            bar.update(len(group))
    return summarize_runs(runs, thresholds, max_clicks), runs


def _encoded_groups(model: PromptedSam | SamCore, items: list[dict[str, Any]], batch_size: int, refine: bool,
                    start_with: PromptedSam | None
                    ) -> Iterator[tuple[int, list[dict[str, Any]], list[ImageFeatures | None]]]:
    """The items in groups of `batch_size`: (index of the group's first item, the group, one
    `ImageFeatures` per item from one encoder pass, with what the sessions need kept: the input for
    a refiner or a start model that looks at pixels, the intermediate maps for a start). A group of
    one gets None: its session encodes its image itself."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive int (objects clicked in one batch), got {batch_size!r}")
    core = model if isinstance(model, Core) else model.core
    keep_images = refine and isinstance(model, PromptedSam) and model.refiner is not None
    keep_images = keep_images or (start_with is not None and start_with.needs_images)
    for first in range(0, len(items), batch_size):
        group = items[first:first + batch_size]
        if len(group) == 1:
            yield first, group, [None]
            continue
        if isinstance(model, PromptedSam):
            model.activate_adapter()
        with torch.no_grad():
            features = core.encode([item["image"] for item in group], keep_intermediate=start_with is not None,
                                   keep_images=keep_images)
        yield first, group, [features.select([i]) for i in range(len(group))]


def summarize_runs(runs: Sequence[ObjectRun], thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
                   max_clicks: int = 20) -> dict[str, Any]:
    """`summarize` of the runs' IoU curves, with their seconds per click."""
    starts = [r.start_iou for r in runs]
    summary: dict[str, Any] = summarize([r.ious for r in runs], thresholds, max_clicks,
                                        start_ious=None if any(s is None for s in starts) else starts)
    summary["seconds_per_click"] = seconds_per_click(runs)
    return summary


def compare_refiner(model: PromptedSam, items: Iterable[dict[str, Any]], *, max_clicks: int = 20,
                    thresholds: Sequence[float] = DEFAULT_THRESHOLDS, same_clicks: bool = True,
                    progress: bool = False, batch_size: int = 1) -> dict[str, tuple[dict[str, Any], list[ObjectRun]]]:
    """The click protocol with and without the model's refiner, each image encoded once.

    Returns (summary, runs) per comparison: "sam_alone" (refiner off), "refined" (on, its own
    clicks) and, with `same_clicks`, "refined_on_sam_clicks" (on, replaying SAM alone's clicks):
    what `evaluate_interactive` gives with `refine=False`, `refine=True` and `replay=`. With
    `batch_size` > 1 the objects are clicked in lockstep, as there (seconds per click then a
    throughput).
    """
    check_protocol(max_clicks, thresholds)
    names = ("sam_alone", "refined") + (("refined_on_sam_clicks",) if same_clicks else ())
    runs: dict[str, list[ObjectRun]] = {name: [] for name in names}
    items = list(items)
    with tqdm(total=len(items), desc="clicks", disable=not progress) as bar:
        for first, group, features in _encoded_groups(model, items, batch_size, True, None):
            sessions = [InteractiveSession(model, item["image"], features=encoded)
                        for item, encoded in zip(group, features)]
            for name in names:
                for session in sessions:
                    session.use_refiner(name != "sam_alone")
                given = [r.clicks for r in runs["sam_alone"][first:]] if name == "refined_on_sam_clicks" else None
                runs[name] += run_objects(sessions, [item["mask"] for item in group],
                                          ignores=[item.get("ignore") for item in group], max_clicks=max_clicks,
                                          clicks=given)
            bar.update(len(group))
    return {name: (summarize_runs(runs[name], thresholds, max_clicks), runs[name]) for name in names}

