"""One trainer for every prompt module, built on Hugging Face accelerate.

Single process on CPU, or several processes / GPUs under `accelerate launch` or `torchrun`;
mixed precision and gradient accumulation come from accelerate. Batches are drawn from a
generator seeded by (seed, step, micro-step), sampled and collated by the task in DataLoader
workers, so a run resumed from a checkpoint sees the same batches and continues the same loss
curve, with or without workers. Only trained tensors are checkpointed
(`samprompt.methods.save_trained`), atomically, with the optimizer state beside them.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, PartialState
from accelerate.utils import DistributedType
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm.auto import tqdm

from samprompt.errors import ConfigError
from samprompt.methods.saving import load_trained, save_trained
from samprompt.training.task import Step, TrainingTask, as_task
from samprompt.utils.dataclass_config import from_dict
from samprompt.utils.files import atomic_directory, recover_leftovers, save_state, writable_directory

LossFn = Callable[[nn.Module, list[dict[str, Any]]], Tensor]
EvalFn = Callable[[nn.Module], dict[str, float]]
CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "trainer_state.pt"


@dataclass
class TrainConfig:
    """How to train.

    Attributes:
        steps: optimizer steps.
        batch_size: items per micro-batch and process.
        lr: default learning rate.
        module_lrs: parameter-name prefix -> learning rate (the longest matching prefix wins),
            e.g. {"generator.mlp": 1e-3, "core.sam.mask_decoder": 1e-6}.
        weight_decay: AdamW weight decay.
        grad_accum: micro-batches per optimizer step.
        mixed_precision: "no", "bf16" or "fp16" (accelerate's autocast).
        max_grad_norm: gradient clipping (None: off).
        warmup_steps: linear warm-up, then cosine decay to 0.
        eval_every / checkpoint_every: period in steps (0: only at the end).
        output_dir: where checkpoints go (None: no checkpoints).
        seed: seeds the batch order and every random draw of a step. On a CPU one seed gives
            bit-identical weights; on a GPU up to the nondeterminism of its kernels (atomic adds in
            some backward passes, see PyTorch's reproducibility notes).
        progress: show a tqdm bar.
        num_workers: DataLoader worker processes that sample and collate batches (0: in this process).
        cpu: force CPU; None means CPU exactly when torch sees no accelerator (so that
            `torchrun` on a CPU machine runs multi-process with gloo).
    """

    steps: int = 100
    batch_size: int = 8
    lr: float = 1e-3
    module_lrs: dict[str, float] = field(default_factory=dict)
    weight_decay: float = 0.0
    grad_accum: int = 1
    mixed_precision: str = "no"
    max_grad_norm: float | None = 1.0
    warmup_steps: int = 0
    eval_every: int = 0
    checkpoint_every: int = 0
    output_dir: str | None = None
    seed: int = 0
    progress: bool = True
    num_workers: int = 0
    cpu: bool | None = None

    def __post_init__(self) -> None:
        problems = []
        for name in ("steps", "batch_size", "grad_accum"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("eval_every", "checkpoint_every", "warmup_steps", "num_workers"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.lr <= 0 or any(v <= 0 for v in self.module_lrs.values()):
            problems.append("learning rates must be positive")
        if self.mixed_precision not in ("no", "bf16", "fp16"):
            problems.append(f"mixed_precision must be 'no', 'bf16' or 'fp16', got {self.mixed_precision!r}")
        if self.checkpoint_every and not self.output_dir:
            problems.append("checkpoint_every needs an output_dir")
        if problems:
            raise ConfigError("invalid TrainConfig: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        return from_dict(cls, data, "training")


@dataclass
class TrainResult:
    losses: list[float]
    evaluations: list[dict[str, float]]
    steps_done: int
    resumed_from: int


def parameter_groups(model: nn.Module, lr: float, module_lrs: dict[str, float], weight_decay: float
                     ) -> list[dict[str, Any]]:
    """AdamW groups of the trainable parameters: one per learning rate."""
    groups: dict[float, list[nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        matches = [prefix for prefix in module_lrs if name.startswith(prefix)]
        rate = module_lrs[max(matches, key=len)] if matches else lr
        groups.setdefault(rate, []).append(parameter)
    if not groups:
        raise ConfigError(f"model {type(model).__name__} has no trainable parameter; expected at least one with "
                          "requires_grad=True")
    unused = [p for p in module_lrs if not any(n.startswith(p) for n, _ in model.named_parameters())]
    if unused:
        raise ConfigError(f"module_lrs prefixes {unused} match no parameter")
    return [{"params": params, "lr": rate, "initial_lr": rate, "weight_decay": weight_decay}
            for rate, params in groups.items()]


def has_accelerator() -> bool:
    """Whether torch sees a GPU or another accelerator."""
    if hasattr(torch, "accelerator"):
        return torch.accelerator.is_available()
    return torch.cuda.is_available()


def accelerator_for(config: TrainConfig) -> Accelerator:
    """accelerate keeps one device and one precision per process and refuses (or, from CPU to GPU,
    silently ignores) another; in a single process each Trainer starts from its own config instead.
    Under a distributed launcher the launcher's state is kept."""
    cpu = config.cpu if config.cpu is not None else not has_accelerator()
    if AcceleratorState._shared_state and PartialState().distributed_type == DistributedType.NO:
        AcceleratorState._reset_state(reset_partial_state=True)
    return Accelerator(mixed_precision=config.mixed_precision, gradient_accumulation_steps=config.grad_accum,
                       cpu=cpu)


def lr_factor(step: int, steps: int, warmup: int) -> float:
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


class StepSamples(Dataset):
    """`task.sample(dataset[index], rng)` for keys (step, micro-step, slot, index), the rng seeded by
    (seed, step, micro-step, slot): the same sample whichever worker draws it."""

    def __init__(self, dataset: Dataset, task: TrainingTask, seed: int) -> None:
        self.dataset, self.task, self.seed = dataset, task, seed

    def __getitem__(self, key: tuple[int, int, int, int]) -> Any:
        step, micro, slot, index = key
        return self.task.sample(self.dataset[index], np.random.default_rng((self.seed, step, micro, slot)))


class StepBatches(Sampler):
    """The keys of every micro-batch from `start` to `stop` (see `Trainer.batch_indices`)."""

    def __init__(self, trainer: "Trainer", start: int, stop: int) -> None:
        self.trainer, self.start, self.stop = trainer, start, stop

    def __len__(self) -> int:
        return (self.stop - self.start) * self.trainer.config.grad_accum

    def __iter__(self) -> Iterator[list[tuple[int, int, int, int]]]:
        for step in range(self.start, self.stop):
            for micro in range(self.trainer.config.grad_accum):
                indices = self.trainer.batch_indices(step, micro)
                yield [(step, micro, slot, index) for slot, index in enumerate(indices)]


class Trainer:
    """Trains the parameters of `model` that require grad on a task's loss.

    Batches are sampled and collated by the task in `DataLoader` workers
    (`config.num_workers`; see `samprompt.training.task`), the loss computed in this process.

    Args:
        model: typically a `PromptedSam`; the frozen core is left alone.
        task: a `TrainingTask` (sample / collate / batch_loss), or a plain function
            `loss(model, items)` called with the (possibly distributed-wrapped) model and a list
            of dataset items.
        dataset: any map-style dataset.
        config: a `TrainConfig`.
        eval_fn: called with the unwrapped model every `eval_every` steps and at the end,
            on the main process; returns metrics.
    """

    def __init__(self, model: nn.Module, task: TrainingTask | LossFn, dataset: Dataset, config: TrainConfig,
                 eval_fn: EvalFn | None = None, accelerator: Accelerator | None = None) -> None:
        self.config = config
        if config.output_dir:   # proven writable now, not after the last step
            writable_directory(config.output_dir, "train.output_dir")
        self.task = as_task(task)
        self.dataset = dataset
        self.eval_fn = eval_fn
        self.accelerator = accelerator or accelerator_for(config)
        self.optimizer = torch.optim.AdamW(
            parameter_groups(model, config.lr, config.module_lrs, config.weight_decay)
        )
        self.model, self.optimizer = self.accelerator.prepare(model, self.optimizer)
        self.step = 0
        self.losses: list[float] = []
        self.evaluations: list[dict[str, float]] = []

    @property
    def unwrapped(self) -> nn.Module:
        return self.accelerator.unwrap_model(self.model)

    # ------------------------------------------------------------------ batches
    def batch_indices(self, step: int, micro: int) -> list[int]:
        """The dataset indexes this process uses at (step, micro-step): fixed by the seed."""
        count = self.config.batch_size * self.accelerator.num_processes
        generator = torch.Generator().manual_seed(
            self.config.seed * 1_000_003 + step * self.config.grad_accum + micro
        )
        everyone = torch.randint(len(self.dataset), (count,), generator=generator).tolist()
        rank = self.accelerator.process_index
        return everyone[rank * self.config.batch_size:(rank + 1) * self.config.batch_size]

    def batches(self, start: int, stop: int) -> DataLoader:
        """The collated micro-batches of steps [start, stop), in order (workers draw them ahead)."""
        workers = self.config.num_workers
        return DataLoader(StepSamples(self.dataset, self.task, self.config.seed),
                          batch_sampler=StepBatches(self, start, stop), collate_fn=self.task.collate,
                          num_workers=workers, prefetch_factor=2 if workers else None)

    def step_generator(self, step: int) -> torch.Generator:
        """The `torch.Generator` a task draws from at `step` (the same on every resume)."""
        return torch.Generator().manual_seed(self.config.seed * 7_919 + step)

    # --------------------------------------------------------------- train loop
    def fit(self, until: int | None = None) -> TrainResult:
        """Train to `config.steps` (or stop early at step `until`, checkpointing as if interrupted)."""
        config = self.config
        resumed_from = self.resume() if config.output_dir else 0
        last = config.steps if until is None else min(until, config.steps)
        bar = tqdm(total=config.steps, initial=self.step, desc="train", disable=not config.progress
                   or not self.accelerator.is_local_main_process, dynamic_ncols=True)
        self.model.train()
        batches = iter(self.batches(self.step, last))
        while self.step < last:
            factor = lr_factor(self.step, config.steps, config.warmup_steps)
            for group in self.optimizer.param_groups:
                group["lr"] = group["initial_lr"] * factor
            torch.manual_seed(config.seed * 7_919 + self.step)
            step = Step(self.unwrapped, self.model, self.step_generator(self.step), self.step)
            step_loss = 0.0
            for _ in range(config.grad_accum):
                batch = next(batches)
                with self.accelerator.accumulate(self.model), self.accelerator.autocast():
                    loss = self.task.batch_loss(step, batch)
                    if not torch.isfinite(loss):
                        raise FloatingPointError(f"loss became {loss.item()} at step {self.step}")
                    self.accelerator.backward(loss)
                    if self.accelerator.sync_gradients and config.max_grad_norm:
                        self.accelerator.clip_grad_norm_(
                            [p for p in self.model.parameters() if p.requires_grad], config.max_grad_norm)
                    self.optimizer.step()
                    self.optimizer.zero_grad()
                step_loss += loss.detach().float().item() / config.grad_accum
            self.losses.append(float(self.accelerator.reduce(torch.tensor(step_loss), "mean")))
            self.step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{self.losses[-1]:.4f}")
            if config.eval_every and self.step % config.eval_every == 0 and self.step < config.steps:
                self.evaluate()
            if config.checkpoint_every and self.step % config.checkpoint_every == 0:
                self.save_checkpoint()
        bar.close()
        if self.eval_fn is not None and self.step == config.steps:
            self.evaluate()
        if config.output_dir:
            self.save_checkpoint()
        return TrainResult(self.losses, self.evaluations, self.step, resumed_from)

    def evaluate(self) -> dict[str, float] | None:
        if self.eval_fn is None:
            return None
        metrics = None
        if self.accelerator.is_main_process:
            self.model.eval()
            with torch.no_grad():
                metrics = {"step": self.step, **self.eval_fn(self.unwrapped)}
            self.model.train()
            self.evaluations.append(metrics)
        self.accelerator.wait_for_everyone()
        return metrics

    # -------------------------------------------------------------- checkpoints
    @property
    def checkpoint_dir(self) -> Path:
        if not self.config.output_dir:
            raise ConfigError("this trainer has no output_dir")
        return Path(self.config.output_dir) / CHECKPOINT_DIR

    def save_checkpoint(self) -> Path:
        """Write trained weights, optimizer state and the loss curve atomically (main process)."""
        if self.accelerator.is_main_process:
            with atomic_directory(self.checkpoint_dir) as staging:
                save_trained(self.unwrapped, staging / "model", metadata={"step": self.step})
                save_state({"step": self.step, "losses": self.losses, "evaluations": self.evaluations,
                            "optimizer": self.optimizer.state_dict()}, staging / STATE_FILE)
                (staging / "train_config.json").write_text(json.dumps(asdict(self.config), indent=2))
        self.accelerator.wait_for_everyone()
        return self.checkpoint_dir

    def resume(self) -> int:
        """Continue from `output_dir/checkpoint` if it exists; returns the step resumed from. What a
        kill during a checkpoint write left behind is repaired first (`recover_leftovers`): the
        previous checkpoint is found again if the new one was not complete."""
        directory = self.checkpoint_dir
        if self.accelerator.is_main_process:
            recover_leftovers(directory)
        self.accelerator.wait_for_everyone()
        if not (directory / STATE_FILE).is_file():
            return 0
        load_trained(self.unwrapped, directory / "model")
        state = torch.load(directory / STATE_FILE, map_location="cpu", weights_only=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.losses, self.evaluations = state["step"], list(state["losses"]), list(state["evaluations"])
        return self.step
