"""The training contract between a method's task and the `Trainer`.

A task turns dataset items into a loss in two halves:

- `sample(item, rng) -> sample` and `collate(samples) -> batch` run inside
  `torch.utils.data.DataLoader` workers (`TrainConfig.num_workers`): decoding, augmentation,
  prompt drawing, resizing — everything that needs no model. `rng` is a NumPy generator seeded
  by (seed, step, micro-step, slot), so a batch is the same whichever worker draws it and
  whether or not the run was resumed. The batch is a typed dataclass of the task's own.
- `batch_loss(step, batch) -> scalar` runs in the training process: it encodes images (or
  takes them from the feature cache), runs the model and computes the loss. `step` carries
  the unwrapped model (its core, its generator), the callable to run the forward pass with
  (the distributed wrapper, when there is one) and a per-step `torch.Generator` for any
  draw that depends on the model's output.

`TrainingTask.loss(model, items)` runs both halves in one call, for tests and notebooks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Hashable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from samprompt.core.images import ImageLike
from samprompt.core.sam_core import SamCore
from samprompt.core.structures import ImageFeatures
from samprompt.errors import ConfigError
from samprompt.training.feature_cache import FeatureCache


@dataclass
class Step:
    """What `batch_loss` gets besides the batch.

    Attributes:
        model: the model being trained, unwrapped (use it for `model.core`, `model.generator`...).
        forward: call this for the differentiable forward pass (the distributed wrapper when
            training on several processes, else `model` itself).
        generator: a `torch.Generator` seeded for this step (model-dependent random draws).
        index: the optimizer step.
    """

    model: nn.Module
    forward: Callable[..., Any]
    generator: torch.Generator
    index: int = 0

    def integers(self, low: int, high: int) -> int:
        """A uniform integer in [low, high) from the step's generator."""
        return int(torch.randint(low, high, (), generator=self.generator))


class TrainingTask:
    """Base of the tasks: `sample` / `collate` (in DataLoader workers) and `batch_loss` (in training)."""

    def sample(self, item: dict[str, Any], rng: np.random.Generator) -> Any:
        return item

    def collate(self, samples: list[Any]) -> Any:
        return samples

    def batch_loss(self, step: Step, batch: Any) -> Tensor:
        raise NotImplementedError

    def loss(self, model: nn.Module, items: Sequence[dict[str, Any]], seed: int = 0) -> Tensor:
        """Both halves at once on `items` (seeded by `seed`): the loss the trainer would compute."""
        samples = [self.sample(item, np.random.default_rng((seed, 0, 0, slot))) for slot, item in enumerate(items)]
        step = Step(model, model, torch.Generator().manual_seed(seed))
        return self.batch_loss(step, self.collate(samples))


class FunctionTask(TrainingTask):
    """A plain `loss_fn(model, items)` as a task (items pass through the workers unchanged)."""

    def __init__(self, loss_fn: Callable[[nn.Module, list[dict[str, Any]]], Tensor]) -> None:
        self.loss_fn = loss_fn

    def batch_loss(self, step: Step, batch: list[dict[str, Any]]) -> Tensor:
        return self.loss_fn(step.forward, batch)


def as_task(task: TrainingTask | Callable[..., Tensor]) -> TrainingTask:
    return task if isinstance(task, TrainingTask) else FunctionTask(task)


def encode_images(core: SamCore, images: Sequence[ImageLike], ids: Sequence[Hashable] | None = None,
                  cache: FeatureCache | None = None, *, keep_intermediate: bool = True,
                  keep_images: bool = False) -> ImageFeatures:
    """The features of `images`: from `cache` (by `ids`) when there is one, else one encoder pass.

    The cache must keep what is asked for (`keep_intermediate`, `keep_images`).
    """
    if cache is None or ids is None:
        return core.encode(list(images), keep_intermediate=keep_intermediate, keep_images=keep_images)
    missing = [what for what, needed, kept in (
        ("the encoder input (keep_images=True)", keep_images, cache.keep_images),
        ("the intermediate features (keep_intermediate=True)", keep_intermediate, cache.keep_intermediate),
    ) if needed and not kept]
    if missing:
        raise ConfigError(f"this task needs the feature cache to keep {' and '.join(missing)}")
    return cache.encode(list(images), list(ids))
