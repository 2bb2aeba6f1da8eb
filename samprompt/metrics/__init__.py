"""Segmentation metrics (referring images, DAVIS-style video, semantic maps)."""
from samprompt.metrics.davis import boundary_map, contour_accuracy, mean_video_scores, region_similarity, video_scores
from samprompt.metrics.semantic import IGNORE_INDEX, ConfusionMatrix, format_iou_table
from samprompt.metrics.referring import PRECISION_THRESHOLDS, ReferringScores, intersection_union

__all__ = ["IGNORE_INDEX", "PRECISION_THRESHOLDS", "ConfusionMatrix", "format_iou_table", "ReferringScores", "boundary_map", "contour_accuracy", "intersection_union",
           "mean_video_scores", "region_similarity", "video_scores"]
