"""`StackedPrompts`: rows of different kinds (text, class names, clicks...) in one batch, one decoder call."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from torch import nn

from samprompt.core.structures import Prompts
from samprompt.errors import ConfigError, PromptError
from samprompt.prompts.base import PromptGenerator, accepted_inputs

if TYPE_CHECKING:
    from samprompt.core.sam_core import SamCore
    from samprompt.core.structures import ImageFeatures


class StackedPrompts(PromptGenerator):
    """Named generators, each making its own rows; the rows stacked into one batch.

    `CombinedPrompts` joins several prompts on the same rows (text + a click on one object);
    `StackedPrompts` puts rows of different kinds side by side (some rows from text, some from
    class names, some from clicks, on any of the images), so that one encoder pass per image and
    one decoder call serve them all. Each row equals what its generator gives alone (tokens are
    padded, padding is masked out of attention).

    Called with one mapping of inputs per name, e.g.
    `model(images, text={"text": [...], "batch_index": [0, 1]}, clicks={"points": ..., "labels": ...})`;
    names not given make no rows. Rows come in the order the generators were named;
    `last_kinds` holds the name of every row of the last call.
    """

    def __init__(self, **generators: PromptGenerator) -> None:
        super().__init__()
        if not generators:
            raise ConfigError("generators: StackedPrompts needs at least one named generator, got none")
        self.kinds = nn.ModuleDict(generators)
        self.last_kinds: list[str] = []

    @property
    def core_families(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(f for f in ("sam", "sam2") if all(f in g.core_families for g in self.kinds.values()))

    @property
    def needs_images(self) -> bool:  # type: ignore[override]
        return any(generator.needs_images for generator in self.kinds.values())

    def forward(self, core: "SamCore", features: "ImageFeatures", **inputs: Mapping[str, Any]) -> Prompts:
        unknown = sorted(set(inputs) - set(self.kinds))
        if unknown:
            raise PromptError(f"StackedPrompts has no generator named {unknown}; named: {list(self.kinds)}")
        parts, kinds = [], []
        for name, generator in self.kinds.items():
            given = inputs.get(name)
            if given is None:
                continue
            if not isinstance(given, Mapping):
                raise PromptError(f"{name}: give a mapping of that generator's inputs, got {type(given).__name__}")
            own = accepted_inputs(generator.forward, given)
            if set(given) - set(own):
                raise PromptError(f"{name}: {type(generator).__name__} takes no inputs {sorted(set(given) - set(own))}")
            prompts = generator(core, features, **own)
            parts.append(prompts)
            kinds += [name] * len(prompts)
        if not parts:
            raise PromptError(f"no rows: give the inputs of at least one of {list(self.kinds)}")
        self.last_kinds = kinds
        return Prompts.stack(parts, len(features), lambda rows: core.no_mask_dense(rows))
