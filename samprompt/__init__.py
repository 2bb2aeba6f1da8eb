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
from samprompt.methods import Method, available_methods, get_method, load, register_method, save
from samprompt.model import PromptedSam
from samprompt.predictor import Predictor
from samprompt.prompts import CombinedPrompts, NativePrompts, PromptGenerator, Prompts
from samprompt.version import __version__

__all__ = [
    "CombinedPrompts", "ImageFeatures", "MaskPrediction", "Method", "NativePrompts", "Predictor", "PromptGenerator",
    "PromptedSam", "Prompts", "SamConfig", "SamCore", "available_methods", "available_variants", "build_sam",
    "get_method", "load", "register_method", "register_variant", "save",
    "__version__",
]
