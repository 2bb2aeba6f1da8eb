"""`CombinedPrompts`: several generators prompting the same rows (e.g. text + a click)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

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

    `parts` (P x G booleans, one column per generator) says which parts each row uses: the
    tokens of an absent part are padding (masked out of attention) and its dense prompt is
    left out (SAM's no-mask embedding where no present part gives one), so a row equals what
    its present parts give alone. Training with parts dropped at random makes one model serve
    every combination (e.g. text alone, a click alone, both).
    """

    def __init__(self, *generators: PromptGenerator) -> None:
        super().__init__()
        if not generators:
            raise ConfigError("generators: CombinedPrompts needs at least one generator, got none")
        self.generators = nn.ModuleList(generators)

    @property
    def needs_images(self) -> bool:  # type: ignore[override]
        return any(generator.needs_images for generator in self.generators)

    @property
    def core_families(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(f for f in ("sam", "sam2") if all(f in g.core_families for g in self.generators))

    def forward(self, core: "SamCore", features: "ImageFeatures", *, parts: Tensor | None = None,
                **inputs: Any) -> Prompts:
        """Every generator whose prompt is given (`PromptGenerator.given`) on the same rows.

        A generator whose prompt is absent from `inputs` is left out (text alone on a text + click
        model gives what the text part gives alone); `parts` leaves parts out row by row.
        """
        used: set[str] = set()
        outputs, columns = [], []
        for column, generator in enumerate(self.generators):
            own = accepted_inputs(generator.forward, inputs)
            used.update(own)
            if generator.given(own):
                outputs.append(generator(core, features, **own))
                columns.append(column)
        unused = sorted(set(inputs) - used)
        if unused:
            raise PromptError(f"no generator takes the inputs {unused}")
        if not outputs:
            wanted = sorted({name for g in self.generators for name in g.prompt_inputs})
            raise PromptError(f"no prompt given: give at least one of {wanted}")
        if parts is None:
            return Prompts.concatenate(outputs)
        parts = torch.as_tensor(parts)
        if parts.ndim != 2 or parts.shape[1] != len(self.generators):
            raise PromptError(f"parts must be P x {len(self.generators)} (one column per generator), got shape "
                              f"{tuple(parts.shape)}")
        return self._with_parts(core, outputs, parts[:, columns])

    def _with_parts(self, core: "SamCore", outputs: list[Prompts], parts: Tensor) -> Prompts:
        rows = len(outputs[0])
        parts = torch.as_tensor(parts, device=outputs[0].sparse.device)
        if parts.dtype != torch.bool or parts.shape != (rows, len(outputs)):
            raise PromptError(f"parts must be a {rows} x {len(outputs)} boolean tensor (rows x generators), got "
                              f"{parts.dtype} {tuple(parts.shape)}")
        if not bool(parts.any(dim=1).all()):
            empty = torch.nonzero(~parts.any(dim=1)).flatten().tolist()
            raise PromptError(f"parts: rows {empty} use no generator; every row needs at least one part")
        masked = []
        dense_sum, dense_present = None, torch.zeros_like(parts[:, 0])   # shapes from tensors: traceable (ONNX)
        for column, output in enumerate(outputs):
            present = parts[:, column]
            padding = output.padding_mask if output.padding_mask is not None else \
                torch.zeros(output.sparse.shape[:2], dtype=torch.bool, device=output.sparse.device)
            masked.append(Prompts(output.sparse, None, padding | ~present[:, None], output.batch_index))
            if output.dense is not None:
                part = output.dense * present.view(-1, 1, 1, 1).to(output.dense.dtype)
                dense_sum = part if dense_sum is None else dense_sum + part
                dense_present = dense_present | present
        joined = Prompts.concatenate(masked)
        if dense_sum is not None:
            filler = core.no_mask_dense(1, dense_sum.shape[-2:]).to(dense_sum.dtype)
            dense_sum = dense_sum + filler * (~dense_present).view(-1, 1, 1, 1).to(dense_sum.dtype)
        return Prompts(joined.sparse, dense_sum, joined.padding_mask, joined.batch_index)
