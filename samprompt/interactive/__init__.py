"""Interactive segmentation: sessions, the RITM click simulator and its metrics."""
from samprompt.interactive.clicks import Click, mask_iou, next_click
from samprompt.interactive.metrics import number_of_clicks, summarize
from samprompt.interactive.protocol import (
    ObjectRun,
    compare_refiner,
    evaluate_interactive,
    run_object,
    seconds_per_click,
    summarize_runs,
)
from samprompt.interactive.session import ClickStep, InteractiveSession

__all__ = [
    "Click", "ClickStep", "InteractiveSession", "ObjectRun", "compare_refiner", "evaluate_interactive", "mask_iou",
    "next_click", "number_of_clicks", "run_object", "seconds_per_click", "summarize", "summarize_runs",
]
