"""Frozen text encoders (open_clip, Hugging Face) behind one interface."""
from samprompt.text.cache import CachedTextEncoder
from samprompt.text.encoders import (
                                     HuggingFaceTextEncoder,
                                     OpenClipTextEncoder,
                                     TextEncoder,
                                     TextFeatures,
                                     check_texts,
                                     load_text_encoder,
)

__all__ = ["CachedTextEncoder", "HuggingFaceTextEncoder", "OpenClipTextEncoder", "TextEncoder", "TextFeatures",
           "check_texts", "load_text_encoder"]
