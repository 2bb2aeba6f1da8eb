"""ESC-Net: open-vocabulary semantic segmentation with CLIP-correlation pseudo-prompts (in progress)."""
from samprompt.escnet.kmeans import batched_kmeans

__all__ = ["batched_kmeans"]
