"""CLIP through open_clip: the small shapes-world CLIP the package ships, and any local model."""
from samprompt.clip.models import ClipBundle, load_clip, shapes_clip_config, shipped_clip_dir

__all__ = ["ClipBundle", "load_clip", "shapes_clip_config", "shipped_clip_dir"]
