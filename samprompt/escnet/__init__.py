"""ESC-Net: open-vocabulary semantic segmentation with CLIP-correlation pseudo-prompts and SAM blocks."""
from samprompt.clip.dense import DenseClip, correlation
from samprompt.escnet.config import ESCNetConfig
from samprompt.escnet.model import ESCNet, ESCNetOutput
from samprompt.escnet.sliding import sliding_window_logits
from samprompt.prompts.pseudo import PseudoPrompts, PseudoPromptSettings, pseudo_prompts
from samprompt.utils.kmeans import batched_kmeans

__all__ = ["DenseClip", "ESCNet", "ESCNetConfig", "ESCNetOutput", "PseudoPromptSettings", "PseudoPrompts",
           "batched_kmeans", "correlation", "pseudo_prompts", "sliding_window_logits"]
