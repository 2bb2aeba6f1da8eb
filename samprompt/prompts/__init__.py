"""Prompt generators: modules that turn inputs into SAM's sparse and dense prompts."""
from samprompt.prompts.base import PromptGenerator, Prompts, accepted_inputs
from samprompt.prompts.classes import ClassPrompts
from samprompt.prompts.combine import CombinedPrompts
from samprompt.prompts.fixed import FixedNativePrompt, LearnedConstantPrompt
from samprompt.prompts.native import NativePrompts
from samprompt.prompts.stack import StackedPrompts

__all__ = ["ClassPrompts", "CombinedPrompts", "FixedNativePrompt", "LearnedConstantPrompt", "NativePrompts",
           "PromptGenerator", "Prompts", "StackedPrompts", "accepted_inputs"]
