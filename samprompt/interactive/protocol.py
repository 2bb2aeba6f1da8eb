"""Running the click protocol over objects: IoU curves, NoC / NoF / k-mIoU and seconds per click."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
from tqdm.auto import tqdm

from samprompt.core.sam_core import SamCore
from samprompt.errors import ImageFormatError
from samprompt.interactive.clicks import Click, next_click
from samprompt.interactive.session import InteractiveSession
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


def run_object(session: InteractiveSession, gt: np.ndarray, *, ignore: np.ndarray | None = None,
               max_clicks: int = 20, clicks: Sequence[Click] | None = None) -> ObjectRun:
    """Click until `max_clicks` (or until the mask is perfect), each click placed by `next_click`
    on the current mask's errors, or replaying the given `clicks` (to compare models on the same clicks)."""
    check_protocol(max_clicks)
    gt = np.asarray(gt, dtype=bool)
    if gt.shape != (session.height, session.width):
        raise ImageFormatError(f"gt is {gt.shape}, expected the session image's H x W "
                               f"{(session.height, session.width)}")
    session.reset()
    visible = gt if ignore is None else gt & ~np.asarray(ignore, dtype=bool)
    if not visible.any():  # RITM: an object with no pixel outside the ignore region has no IoU (0 / 0): it fails
        undefined = float("nan")
        return ObjectRun(ious=[undefined], sam_ious=[undefined],
                         start_iou=None if session.start is None else undefined)
    run = ObjectRun(start_iou=None if session.start is None else binary_mask_iou(session.mask, gt, ignore))
    limit = max_clicks if clicks is None else min(max_clicks, len(clicks))
    for k in range(limit):
        click = clicks[k] if clicks is not None else next_click(gt, session.mask, clicked=run.clicks, ignore=ignore)
        if click is None:
            break
        mask = session.click(click.x, click.y, click.positive)
        step = session.steps[-1]
        run.clicks.append(click)
        run.ious.append(binary_mask_iou(mask, gt, ignore))
        run.sam_ious.append(binary_mask_iou(step.sam_mask, gt, ignore))
        run.decoder_seconds.append(step.decoder_seconds)
        run.refiner_seconds.append(step.refiner_seconds)
    if not run.ious:  # the mask the session started from was already perfect: nothing to click
        run.ious.append(run.start_iou if run.start_iou is not None else 1.0)
        run.sam_ious.append(run.ious[-1])
    return run


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
                         start_row: Callable[[dict[str, Any]], int] | None = None, keep_start: bool = False
                         ) -> tuple[dict[str, Any], list[ObjectRun]]:
    """The click protocol on every item ({"image", "mask"[, "ignore"]}): one session per object.

    With `replay` (the runs of an earlier evaluation on the same items), each object gets the
    same clicks as there instead of clicks placed on this model's own errors.

    With `start_with` (a prompt module on the same core), each session starts from its mask for
    `start_inputs(item)` (e.g. `lambda item: {"text": item["expression"]}`), row `start_row(item)`
    (default 0), and the first click corrects that mask: "text (or class names) first, then clicks".
    NoC counts the clicks after it (0 when it already reaches the threshold). With `keep_start`,
    `model` gets the start inputs again with every click (see `InteractiveSession`).

    Returns:
        the summary (NoC@t, NoF@t, 5-mIoU, mean IoU per click, seconds per click for the decoder
        and the refiner) and the per-object runs.
    """
    check_protocol(max_clicks, thresholds)
    runs = []
    for i, item in enumerate(tqdm(items, desc="clicks", disable=not progress)):
        start = {} if start_with is None else {
            "start_with": start_with, "start_inputs": start_inputs(item) if start_inputs else {},
            "start_row": start_row(item) if start_row else 0, "keep_start": keep_start}
        session = InteractiveSession(model, item["image"], refine=refine, **start)
        given = replay[i].clicks if replay is not None else None
        runs.append(run_object(session, item["mask"], ignore=item.get("ignore"), max_clicks=max_clicks,
                               clicks=given))
    return summarize_runs(runs, thresholds, max_clicks), runs


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
                    progress: bool = False) -> dict[str, tuple[dict[str, Any], list[ObjectRun]]]:
    """The click protocol with and without the model's refiner, each image encoded once.

    Returns (summary, runs) per comparison: "sam_alone" (refiner off), "refined" (on, its own
    clicks) and, with `same_clicks`, "refined_on_sam_clicks" (on, replaying SAM alone's clicks):
    what `evaluate_interactive` gives with `refine=False`, `refine=True` and `replay=`.
    """
    check_protocol(max_clicks, thresholds)
    names = ("sam_alone", "refined") + (("refined_on_sam_clicks",) if same_clicks else ())
    runs: dict[str, list[ObjectRun]] = {name: [] for name in names}
    for item in tqdm(items, desc="clicks", disable=not progress):
        session = InteractiveSession(model, item["image"])
        object_runs = {}
        for name in names:
            session.use_refiner(name != "sam_alone")
            given = object_runs["sam_alone"].clicks if name == "refined_on_sam_clicks" else None
            object_runs[name] = run_object(session, item["mask"], ignore=item.get("ignore"), max_clicks=max_clicks,
                                           clicks=given)
            runs[name].append(object_runs[name])
    return {name: (summarize_runs(runs[name], thresholds, max_clicks), runs[name]) for name in names}
