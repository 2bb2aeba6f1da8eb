"""`CombinedPrompts`: several generators prompting the same rows (e.g. text + a click)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import nn

from samprompt.core.structures import Prompts
from samprompt.errors import ConfigError, PromptError
from samprompt.prompts.base import PromptGenerator, accepted_inputs

if TYPE_CHECKING:
    from samprompt.core.sam_core import SamCore
    from samprompt.core.structures import ImageFeatures


class CombinedPrompts(PromptGenerator):
    """Runs several generators and joins their prompts.

    Each generator receives the keyword inputs its `forward` names; tokens are
    concatenated in the given order and dense prompts are summed (a generator that gives
    no dense prompt adds nothing). Every generator must produce the same rows.
    """

    def __init__(self, *generators: PromptGenerator) -> None:
        super().__init__()
        if not generators:
            raise ConfigError("generators: CombinedPrompts needs at least one generator, got none")
        self.generators = nn.ModuleList(generators)

    @property
    def needs_images(self) -> bool:  # type: ignore[override]
        return any(generator.needs_images for generator in self.generators)

    def forward(self, core: "SamCore", features: "ImageFeatures", **inputs: Any) -> Prompts:
        used: set[str] = set()
        parts = []
        for generator in self.generators:
            own = accepted_inputs(generator.forward, inputs)
            used.update(own)
            parts.append(generator(core, features, **own))
        unused = sorted(set(inputs) - used)
        if unused:
            raise PromptError(f"no generator takes the inputs {unused}")
        return Prompts.concatenate(parts)
