"""Interactive segmentation: sessions, the RITM click simulator and its metrics.

The metrics live in `samprompt.metrics.interactive` (NoC / NoF / k-mIoU) and
`samprompt.metrics.masks` (`binary_mask_iou`); they are re-exported here for convenience.
"""
from samprompt.interactive.clicks import Click, next_click
from samprompt.interactive.protocol import (
    ObjectRun,
    compare_refiner,
    evaluate_interactive,
    run_object,
    seconds_per_click,
    summarize_runs,
)
from samprompt.interactive.session import ClickStep, InteractiveSession, SessionStart
from samprompt.metrics.interactive import number_of_clicks, summarize
from samprompt.metrics.masks import binary_mask_iou

__all__ = [
    "Click", "ClickStep", "InteractiveSession", "ObjectRun", "binary_mask_iou", "compare_refiner",
    "evaluate_interactive", "next_click", "number_of_clicks", "run_object", "seconds_per_click", "SessionStart",
    "summarize", "summarize_runs",
]
