"""ESC-Net: open-vocabulary semantic segmentation with CLIP-correlation pseudo-prompts and SAM blocks."""
from samprompt.clip.dense import DenseClip, correlation
from samprompt.escnet.config import ESCNetConfig
from samprompt.escnet.kmeans import batched_kmeans
from samprompt.escnet.model import ESCNet, ESCNetOutput
from samprompt.escnet.pseudo_prompts import PseudoPrompts, PseudoPromptSettings, pseudo_prompts
from samprompt.escnet.sliding import sliding_window_logits

__all__ = ["DenseClip", "ESCNet", "ESCNetConfig", "ESCNetOutput", "PseudoPromptSettings", "PseudoPrompts",
           "batched_kmeans", "correlation", "pseudo_prompts", "sliding_window_logits"]
