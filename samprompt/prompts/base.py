"""The prompt contract: `Prompts` and the `PromptGenerator` base module."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from samprompt.errors import PromptError

if TYPE_CHECKING:
    from samprompt.core.sam_core import SamCore
    from samprompt.core.structures import ImageFeatures


@dataclass
class Prompts:
    """Prompt embeddings for P prompt rows, ready for `SamCore.decode`.

    Attributes:
        sparse: P x N x C prompt tokens (C = the core's prompt width, 256 for official SAM).
        dense: P x C x h x w dense prompt, or None for SAM's learned "no mask" embedding.
        padding_mask: P x N boolean, True where a token is padding (ragged N); padding
            tokens are masked out of attention, so they never change the result.
        batch_index: P, which image of the `ImageFeatures` each row belongs to. None means
            one row per image (P == B) or, with a single image, every row on that image.
    """

    sparse: Tensor
    dense: Tensor | None = None
    padding_mask: Tensor | None = None
    batch_index: Tensor | None = None

    def __post_init__(self) -> None:
        if self.sparse.ndim != 3:
            raise PromptError(f"sparse prompts must be P x N x C, got shape {tuple(self.sparse.shape)}")
        rows, tokens = self.sparse.shape[:2]
        if self.dense is not None and (self.dense.ndim != 4 or self.dense.shape[:2] != (rows, self.sparse.shape[2])):
            raise PromptError(f"dense prompts must be {rows} x {self.sparse.shape[2]} x h x w, "
                              f"got shape {tuple(self.dense.shape)}")
        if self.padding_mask is not None:
            if self.padding_mask.shape != (rows, tokens) or self.padding_mask.dtype != torch.bool:
                raise PromptError(f"padding_mask must be a bool tensor of shape {(rows, tokens)}, got "
                                  f"{self.padding_mask.dtype} {tuple(self.padding_mask.shape)}")
        if self.batch_index is not None and self.batch_index.shape != (rows,):
            raise PromptError(f"batch_index must have shape ({rows},), got {tuple(self.batch_index.shape)}")

    def __len__(self) -> int:
        return self.sparse.shape[0]

    @property
    def dim(self) -> int:
        return self.sparse.shape[2]

    def resolve_batch_index(self, num_images: int) -> Tensor:
        """The image index of every row, checked against `num_images`."""
        return resolve_batch_index(self.batch_index, len(self), num_images, self.sparse.device)

    def append_tokens(self, tokens: Tensor, padding_mask: Tensor | None = None) -> "Prompts":
        """Prompts with P x E x C extra tokens appended after the sparse ones (e.g. a track token)."""
        if tokens.ndim != 3 or tokens.shape[0] != len(self) or tokens.shape[2] != self.dim:
            raise PromptError(f"extra tokens must be {len(self)} x E x {self.dim}, got {tuple(tokens.shape)}")
        return Prompts.concatenate([self, Prompts(tokens.to(self.sparse.dtype), None, padding_mask, self.batch_index)])

    @staticmethod
    def concatenate(parts: Sequence["Prompts"]) -> "Prompts":
        """Join the tokens of prompts for the same rows; dense prompts add up (None counts as absent)."""
        if not parts:
            raise PromptError("nothing to concatenate")
        rows = len(parts[0])
        for p in parts:
            if len(p) != rows:
                raise PromptError(f"cannot combine prompts with {rows} and {len(p)} rows")
        indexes = [p.batch_index for p in parts if p.batch_index is not None]
        for other in indexes[1:]:
            if not torch.equal(indexes[0], other):
                raise PromptError("cannot combine prompts whose rows belong to different images")
        sparse = torch.cat([p.sparse for p in parts], dim=1)
        padding = None
        if any(p.padding_mask is not None for p in parts):
            padding = torch.cat([
                p.padding_mask if p.padding_mask is not None
                else torch.zeros(p.sparse.shape[:2], dtype=torch.bool, device=p.sparse.device)
                for p in parts
            ], dim=1)
        dense_parts = [p.dense for p in parts if p.dense is not None]
        dense = None
        if dense_parts:
            dense = dense_parts[0]
            for extra in dense_parts[1:]:
                dense = dense + extra
        return Prompts(sparse, dense, padding, indexes[0] if indexes else None)

    def to(self, *args: Any, **kwargs: Any) -> "Prompts":
        return replace(self, sparse=self.sparse.to(*args, **kwargs),
                       dense=None if self.dense is None else self.dense.to(*args, **kwargs))


def resolve_batch_index(batch_index: Tensor | Sequence[int] | None, rows: int, num_images: int,
                        device: torch.device) -> Tensor:
    """The image index of each of `rows` prompt rows (see `Prompts.batch_index`); a tensor or a list."""
    if batch_index is None:
        if rows == num_images:
            return torch.arange(rows, device=device)
        if num_images == 1:
            return torch.zeros(rows, dtype=torch.long, device=device)
        raise PromptError(f"{rows} prompt rows for {num_images} images: give a batch_index "
                          "saying which image each row belongs to")
    index = torch.as_tensor(batch_index, device=device).long()
    if index.shape != (rows,):
        raise PromptError(f"batch_index must have shape ({rows},), got {tuple(index.shape)}")
    if rows and (int(index.min()) < 0 or int(index.max()) >= num_images):
        raise PromptError(f"batch_index values must be in [0, {num_images}), got {index.tolist()}")
    return index


class PromptGenerator(nn.Module):
    """Base class of prompt generators: modules that turn inputs into `Prompts`.

    Subclasses implement `forward(core, features, **inputs) -> Prompts`, naming the inputs
    they take as keyword arguments (e.g. `text`, `points`). They read the image only
    through `features` (the shared encoder pass) and may use the frozen core's parts
    (its prompt encoder, its width) but own none of them.
    """

    def forward(self, core: "SamCore", features: "ImageFeatures", **inputs: Any) -> Prompts:
        raise NotImplementedError(f"{type(self).__name__} must implement forward(core, features, **inputs)")


def accepted_inputs(function: Callable[..., Any], inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The subset of `inputs` that `function` takes as keyword arguments (all, if it takes **kwargs)."""
    parameters = inspect.signature(function).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return dict(inputs)
    names = {p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    return {k: v for k, v in inputs.items() if k in names}
