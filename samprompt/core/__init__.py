"""The frozen SAM core: variants, checkpoints, encode / decode."""
from samprompt.core.config import CoreInfo, SamConfig, describe_sam
from samprompt.core.registry import available_variants, build_sam, get_variant, register_variant, registered_variants
from samprompt.core.sam_core import SamCore
from samprompt.core.structures import ImageFeatures, MaskPrediction, Prompts, resolve_batch_index
from samprompt.core.weights import load_sam_checkpoint, read_state_dict

__all__ = [
    "CoreInfo", "ImageFeatures", "MaskPrediction", "Prompts", "SamConfig", "SamCore", "available_variants", "build_sam",
    "describe_sam", "get_variant", "load_sam_checkpoint", "read_state_dict", "register_variant",
    "registered_variants", "resolve_batch_index",
]
