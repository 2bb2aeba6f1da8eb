"""RefSAM: referring (text) segmentation of images and video on a frozen SAM."""
from samprompt.refsam.config import PRESETS, RefSAMConfig, refsam_preset
from samprompt.refsam.layers import CrossModalMLP, DenseAttention, HierarchicalDenseAttention, ImplicitTrackingModule
from samprompt.refsam.model import RefSAM
from samprompt.refsam.prompt import RefSAMPrompt
from samprompt.refsam.tracker import RefSAMVideoTracker

__all__ = ["PRESETS", "CrossModalMLP", "DenseAttention", "HierarchicalDenseAttention", "ImplicitTrackingModule",
           "RefSAM", "RefSAMConfig", "RefSAMPrompt", "RefSAMVideoTracker", "refsam_preset"]
