"""Segmentation metrics (binary masks, referring images, DAVIS-style video, semantic maps, interactive clicks)."""
from samprompt.metrics.davis import boundary_map, contour_accuracy, mean_video_scores, region_similarity, video_scores
from samprompt.metrics.interactive import DEFAULT_THRESHOLDS, number_of_clicks, padded_curve, summarize
from samprompt.metrics.masks import as_bool_mask, binary_mask_iou, intersection_union
from samprompt.metrics.referring import PRECISION_THRESHOLDS, ReferringScores
from samprompt.metrics.semantic import IGNORE_INDEX, ConfusionMatrix, format_iou_table

__all__ = ["DEFAULT_THRESHOLDS", "IGNORE_INDEX", "PRECISION_THRESHOLDS", "ConfusionMatrix", "ReferringScores",
           "as_bool_mask", "binary_mask_iou", "boundary_map", "contour_accuracy", "format_iou_table",
           "intersection_union", "mean_video_scores", "number_of_clicks", "padded_curve", "region_similarity",
           "summarize", "video_scores"]
