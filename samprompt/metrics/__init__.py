"""Segmentation metrics (referring images, DAVIS-style video, semantic maps)."""
from samprompt.metrics.davis import boundary_map, contour_accuracy, mean_video_scores, region_similarity, video_scores
from samprompt.metrics.referring import PRECISION_THRESHOLDS, ReferringScores, intersection_union
from samprompt.metrics.semantic import IGNORE_INDEX, ConfusionMatrix, format_iou_table

__all__ = ["IGNORE_INDEX", "PRECISION_THRESHOLDS", "ConfusionMatrix", "ReferringScores", "boundary_map",
           "contour_accuracy", "format_iou_table", "intersection_union", "mean_video_scores", "region_similarity",
           "video_scores"]
