"""How many parameters a model has and how many of them train."""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class ParameterReport:
    """Trainable and total parameter counts, overall and per top-level part."""

    trainable: int
    total: int
    parts: tuple[tuple[str, int, int], ...]  # (name, trainable, total)

    @property
    def trainable_fraction(self) -> float:
        return self.trainable / self.total if self.total else 0.0

    def __str__(self) -> str:
        width = max([len(name) for name, _, _ in self.parts] + [5])
        lines = [f"{'part':<{width}}  {'trainable':>12}  {'total':>12}"]
        for name, trainable, total in self.parts:
            lines.append(f"{name:<{width}}  {trainable:>12,}  {total:>12,}")
        lines.append(f"{'all':<{width}}  {self.trainable:>12,}  {self.total:>12,}  "
                     f"({100 * self.trainable_fraction:.2f}% trainable)")
        return "\n".join(lines)


def parameter_report(model: nn.Module, depth: int = 2) -> ParameterReport:
    """Count parameters, grouped by the first `depth` components of their names.

    Shared parameters are counted once.
    """
    seen: set[int] = set()
    parts: dict[str, list[int]] = {}
    for name, parameter in model.named_parameters():
        if id(parameter) in seen:
            continue
        seen.add(id(parameter))
        part = ".".join(name.split(".")[:depth])
        counts = parts.setdefault(part, [0, 0])
        counts[1] += parameter.numel()
        if parameter.requires_grad:
            counts[0] += parameter.numel()
    rows = tuple((name, t, n) for name, (t, n) in parts.items())
    return ParameterReport(sum(r[1] for r in rows), sum(r[2] for r in rows), rows)
