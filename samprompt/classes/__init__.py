"""Class names as prompts on SAM's own decoder (`samprompt.prompts.ClassPrompts`), as a registered method."""
from samprompt.classes.method import ClassPromptMethod, ClassPromptRecipe
from samprompt.classes.task import ClassPromptTask, evaluate_classes

__all__ = ["ClassPromptMethod", "ClassPromptRecipe", "ClassPromptTask", "evaluate_classes"]
