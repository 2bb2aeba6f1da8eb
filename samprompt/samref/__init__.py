"""SAM-REF: a lightweight refiner that looks at the image again after SAM's decoder, per click."""
from samprompt.samref.config import SAMRefConfig
from samprompt.samref.fusion import FusionOutput, FusionRefiner, blend
from samprompt.samref.model import SAMRef
from samprompt.samref.refiner import RefinedPrediction, SAMRefRefiner

__all__ = ["FusionOutput", "FusionRefiner", "RefinedPrediction", "SAMRef", "SAMRefConfig", "SAMRefRefiner", "blend"]
