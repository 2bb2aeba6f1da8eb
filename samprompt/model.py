"""`PromptedSam`: a frozen core, a prompt generator and an optional refiner, composed."""
from __future__ import annotations

import inspect
from typing import Any, Callable

from torch import nn

from samprompt.core.base import require_family
from samprompt.core.images import Images
from samprompt.core.sam_core import SamCore
from samprompt.core.structures import ImageFeatures, MaskPrediction
from samprompt.errors import PromptError
from samprompt.prompts.base import PromptGenerator, accepted_inputs


def _input_names(function: Callable[..., Any]) -> set[str]:
    """The keyword inputs `function` names (core, features and the refiner's positional inputs aside)."""
    skip = {"self", "core", "features", "prompts", "prediction"}
    return {p.name for p in inspect.signature(function).parameters.values()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in skip}


BASE_CORE = ""  # `PromptedSam.adapter` for the core without any LoRA adapter


class PromptedSam(nn.Module):
    """Images + generator inputs -> masks.

    The trainable parameters are exactly those of the generator, of the refiner and of
    any adapters attached to the core (the core itself is frozen).

    A refiner is an `nn.Module` called as
    `refiner(core, features, prompts, prediction, **inputs) -> MaskPrediction`, receiving
    the inputs its `forward` names.

    `adapter` names the core's LoRA adapter this model runs with: several models share one core,
    each with its own trained adapter (e.g. "text" and "clicks"), and every call switches to its
    own (`samprompt.load(path, core=core, adapter="text")` sets it). `BASE_CORE` ("") runs the core
    with every LoRA adapter off (SAM as it was); None: whatever is active.
    """

    adapter: str | None = None

    def __init__(self, core: SamCore, generator: PromptGenerator, refiner: nn.Module | None = None,
                 *, multimask_output: bool = False) -> None:
        super().__init__()
        require_family(core, getattr(generator, "core_families", ("sam",)), type(generator).__name__)
        if refiner is not None:
            require_family(core, getattr(refiner, "core_families", ("sam",)), type(refiner).__name__)
        self.core = core
        self.generator = generator
        self.refiner = refiner
        self.multimask_output = multimask_output

    def forward(self, images: Images | None = None, *, features: ImageFeatures | None = None,
                multimask_output: bool | None = None, **inputs: Any) -> MaskPrediction:
        """Segment: encode `images` once (or reuse `features`), prompt, decode, refine.

        Returns a `MaskPrediction` for every prompt row the generator produced.
        """
        if (images is None) == (features is None):
            raise PromptError("give either images or precomputed features (exactly one), got "
                              f"{'both' if images is not None else 'neither'}")
        self.activate_adapter()
        if features is None:
            features = self.core.encode(images, keep_images=self.needs_images)
        multimask = self.multimask_output if multimask_output is None else multimask_output
        generator_inputs = accepted_inputs(self.generator.forward, inputs)
        refiner_inputs = accepted_inputs(self.refiner.forward, inputs) if self.refiner is not None else {}
        unused = sorted(set(inputs) - set(generator_inputs) - set(refiner_inputs))
        if unused:
            takes = sorted(_input_names(self.generator.forward)
                           | (_input_names(self.refiner.forward) if self.refiner is not None else set()))
            raise PromptError(f"{type(self.generator).__name__} takes no inputs named {unused}; expected some of "
                              f"{takes}")
        prompts = self.generator(self.core, features, **generator_inputs)
        prediction = self.core.decode(features, prompts, multimask_output=multimask)
        if self.refiner is not None:
            prediction = self.refiner(self.core, features, prompts, prediction, **refiner_inputs)
        return prediction

    def activate_adapter(self) -> None:
        """Switch the core to this model's LoRA adapter (`adapter`), when it names one."""
        if self.adapter is not None:
            from samprompt.tuning.lora import active_lora, use_lora

            wanted = self.adapter or None
            if active_lora(self.core) != wanted:
                use_lora(self.core, wanted)

    @property
    def needs_images(self) -> bool:
        """Whether the encoder pass must keep its input (for the generator or the refiner)."""
        return self.refiner is not None or bool(getattr(self.generator, "needs_images", False))

    def session(self, image: Any, *, refine: bool = True, clicks: "PromptedSam | SamCore | None" = None,
                row: int = 0, start_role: str = "mask", **inputs: Any) -> Any:
        """An `InteractiveSession` on `image` (encoded once): click, undo, reset.

        Without `inputs` this model takes the clicks (its generator must take them).
        With inputs (e.g. `text=["the red circle"]`, `classes=[...]`), this model's mask for them
        (prompt row `row`) is where the session starts. The clicks then go to `clicks` (a model on
        the same core, e.g. SAM-REF), or by default to this model itself with the same inputs kept
        in every prompt when it takes clicks too (a text + click model), else to SAM alone on this
        core with the start mask as SAM's mask input. A `clicks` model that takes the inputs too
        keeps them as well. With `start_role="choice"` the session starts from nothing instead, and
        the start mask only chooses among SAM's masks for the first click (clicks go to SAM alone
        unless `clicks` names another model; see `InteractiveSession`).
        """
        from samprompt.interactive.session import InteractiveSession, click_part, takes_inputs

        if not inputs:
            return InteractiveSession(clicks if clicks is not None else self, image, refine=refine)
        if clicks is None and click_part(self.generator) is not None and start_role != "choice":
            clicks = self
        keep = isinstance(clicks, PromptedSam) and takes_inputs(clicks.generator, inputs) and start_role != "choice"
        return InteractiveSession(clicks if clicks is not None else self.core, image, refine=refine,
                                  start_with=self, start_inputs=inputs, start_row=row, keep_start=keep,
                                  start_role=start_role)

    def trainable_parameters(self) -> dict[str, nn.Parameter]:
        """Name -> parameter for every parameter that requires a gradient."""
        return {name: p for name, p in self.named_parameters() if p.requires_grad}
