"""Segmentation metrics (referring images, DAVIS-style video)."""
from samprompt.metrics.davis import boundary_map, contour_accuracy, mean_video_scores, region_similarity, video_scores
from samprompt.metrics.referring import PRECISION_THRESHOLDS, ReferringScores, intersection_union

__all__ = ["PRECISION_THRESHOLDS", "ReferringScores", "boundary_map", "contour_accuracy", "intersection_union",
           "mean_video_scores", "region_similarity", "video_scores"]
