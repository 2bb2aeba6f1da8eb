"""The `PromptGenerator` base module (its output, `Prompts`, is a core structure: `samprompt.core.structures`)."""
from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Callable, Mapping

from torch import nn

from samprompt.core.structures import Prompts, resolve_batch_index

if TYPE_CHECKING:
    from samprompt.core.sam_core import SamCore
    from samprompt.core.structures import ImageFeatures

__all__ = ["PromptGenerator", "Prompts", "accepted_inputs", "resolve_batch_index"]


class PromptGenerator(nn.Module):
    """Base class of prompt generators: modules that turn inputs into `Prompts`.

    Subclasses implement `forward(core, features, **inputs) -> Prompts`, naming the inputs
    they take as keyword arguments (e.g. `text`, `points`). They read the image only
    through `features` (the shared encoder pass) and may use the frozen core's parts
    (its prompt encoder, its width) but own none of them. A generator that looks at the
    pixels again (through `core.input_pixels`) sets `needs_images`, so that the encoder pass
    keeps its input.
    """

    needs_images: bool = False
    prompt_inputs: tuple[str, ...] = ()
    # The core families ("sam", "sam2") whose parts this generator knows how to use.
    core_families: tuple[str, ...] = ("sam",)

    def given(self, inputs: Mapping[str, Any]) -> bool:
        """Whether `inputs` hold a prompt for this generator: one of its `prompt_inputs` is given
        (not None); always True for a generator that names none. `CombinedPrompts` leaves out a
        generator whose prompt is not given, e.g. the click part when only text is given."""
        return not self.prompt_inputs or any(inputs.get(name) is not None for name in self.prompt_inputs)

    def forward(self, core: "SamCore", features: "ImageFeatures", **inputs: Any) -> Prompts:
        raise NotImplementedError(f"{type(self).__name__} must implement forward(core, features, **inputs)")


def accepted_inputs(function: Callable[..., Any], inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The subset of `inputs` that `function` takes as keyword arguments (all, if it takes **kwargs)."""
    parameters = inspect.signature(function).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return dict(inputs)
    names = {p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    return {k: v for k, v in inputs.items() if k in names}
