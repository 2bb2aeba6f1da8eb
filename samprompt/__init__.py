"""samprompt: new kinds of prompts for a frozen Segment Anything Model."""
from samprompt.core import (
    ImageFeatures,
    MaskPrediction,
    SamConfig,
    SamCore,
    available_variants,
    build_sam,
    register_variant,
)
from samprompt.model import PromptedSam
from samprompt.predictor import Predictor
from samprompt.prompts import CombinedPrompts, NativePrompts, PromptGenerator, Prompts

__version__ = "0.1.0"

__all__ = [
    "CombinedPrompts", "ImageFeatures", "MaskPrediction", "NativePrompts", "Predictor", "PromptGenerator",
    "PromptedSam", "Prompts", "SamConfig", "SamCore", "available_variants", "build_sam", "register_variant",
    "__version__",
]
