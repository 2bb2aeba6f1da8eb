"""Automatic mask generation ("segment everything") on any core."""
from samprompt.automatic.config import OUTPUT_MODES, AutomaticMaskConfig
from samprompt.automatic.generator import AutomaticMaskGenerator, MaskCandidates
from samprompt.automatic.rle import masks_to_rle, rle_area, rle_to_coco, rle_to_mask

__all__ = ["OUTPUT_MODES", "AutomaticMaskConfig", "AutomaticMaskGenerator", "MaskCandidates", "masks_to_rle",
           "rle_area", "rle_to_coco", "rle_to_mask"]
