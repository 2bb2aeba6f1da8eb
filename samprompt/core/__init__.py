"""The frozen SAM core: variants, checkpoints, encode / decode."""
from samprompt.core.checkpoint import load_sam_checkpoint, read_state_dict
from samprompt.core.config import SamConfig, describe_sam
from samprompt.core.registry import available_variants, build_sam, get_variant, register_variant
from samprompt.core.sam_core import SamCore
from samprompt.core.structures import ImageFeatures, MaskPrediction

__all__ = [
    "ImageFeatures", "MaskPrediction", "SamConfig", "SamCore", "available_variants", "build_sam",
    "describe_sam", "get_variant", "load_sam_checkpoint", "read_state_dict", "register_variant",
]
