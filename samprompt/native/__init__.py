"""The native method: SAM's own prompts (points, boxes, masks) on the shared core, tuned with adapters."""
from samprompt.native.method import NativeMethod, NativeRecipe
from samprompt.native.task import NativeTask

__all__ = ["NativeMethod", "NativeRecipe", "NativeTask"]
