"""`samprompt demo`: fine-tune and evaluate every registered method on shapes world, offline, on CPU.

Each method with a demo section (`Method.demo_key`) trains on the shipped small core and
scores itself against baselines; its section is in its own package (`<method>/demo.py`).
The sections run in registry order; metrics.json holds them under their `demo_key`, the table
printed at the end joins each method's own table.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from samprompt.data import ShapesConfig
from samprompt.errors import ConfigError
from samprompt.methods.registry import Method, available_methods, get_method
from samprompt.utils.files import atomic_file, writable_directory
from samprompt.version import __version__

# The world the native and SAM-REF sections fine-tune and score on: noisier, smaller objects.
HARDER_WORLD = ShapesConfig(noise=40.0, radius_fraction=(0.05, 0.14), max_objects=6)


# Objects the sections' click protocols click together, one batch per round (`evaluate_interactive`,
# `compare_refiner`): the same clicks and IoUs as one at a time, about 2.5x faster on the CPU.
PROTOCOL_BATCH = 25
QUICK_EVAL_ITEMS = 100
FULL_EVAL_ITEMS = 200
# --core: the shipped small core of each family the demo runs every module on.
DEMO_CORES = {"sam": "tiny", "sam2": "sam2_tiny"}


@dataclass
class DemoSettings:
    """How big the demo is.

    Attributes:
        full: the full demo (each method's `demo_steps`, 200 held-out items) instead of the quick
            one (`demo_quick_steps`, 100 items).
        steps: training steps by method name (a method not named uses its preset's steps).
        eval_items: held-out items scored per model (None: the preset's).
        only: the methods to run (None: every method with a demo section).
        core: the core family every section builds its shipped small core of (`DEMO_CORES`).
    """

    full: bool = False
    steps: Mapping[str, int] = field(default_factory=dict)
    train_images: int = 400
    eval_items: int | None = None
    overlays: int = 6
    seed: int = 0
    progress: bool = True
    only: tuple[str, ...] | None = None
    core: str = "sam"

    def __post_init__(self) -> None:
        if self.core not in DEMO_CORES:
            raise ConfigError(f"core must be one of {sorted(DEMO_CORES)}, got {self.core!r}")
        if self.eval_items is None:
            self.eval_items = FULL_EVAL_ITEMS if self.full else QUICK_EVAL_ITEMS
        for name in ("train_images", "eval_items"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        for name, value in self.steps.items():
            if value <= 0:
                raise ConfigError(f"steps of {name!r} must be positive, got {value}")

    def build_core(self, pretrained: bool = True) -> Any:
        """A fresh shipped small core of the chosen family (each section builds its own; with
        `pretrained=False` the same architecture at random init). Where no weights are installed
        the core is drawn from `seed`, so that the models saved on it can rebuild it."""
        from samprompt.core.registry import build_sam, has_shipped_weights

        variant = DEMO_CORES[self.core]
        seed = self.seed if pretrained and not has_shipped_weights(variant) else None
        return build_sam(variant, pretrained=pretrained, seed=seed)

    def steps_of(self, method: Method) -> int:
        return self.steps.get(method.name, preset_steps(method, self.full))


def decoder_lrs(core: Any, lr: float) -> dict[str, float]:
    """`TrainConfig.module_lrs` entry giving the core's mask decoder `lr`, in a model that holds
    the core as `.core` (the decoder's name differs between the families)."""
    from samprompt.tuning.targets import layout_of

    return {f"core.sam.{layout_of(core.sam).decoder}": lr}


def preset_steps(method: Method, full: bool) -> int:
    """A method's training steps in the full or the quick demo."""
    return method.demo_steps if full or method.demo_quick_steps is None else method.demo_quick_steps


def demo_methods(only: tuple[str, ...] | None = None) -> list[Method]:
    """The registered methods that have a demo section, in registry order (or those of `only`)."""
    methods = [get_method(name) for name in (only or available_methods())]
    return sorted((m for m in methods if m.demo_key is not None), key=lambda m: (m.demo_order, m.name))


def aligned(rows: list[tuple[str, ...]]) -> str:
    """Rows of cells as left-aligned columns."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in rows)


def format_table(metrics: dict[str, Any]) -> str:
    tables = [method.demo_table(metrics["modules"][method.demo_key]) for method in demo_methods()
              if method.demo_key in metrics["modules"]]
    return "\n\n".join(t for t in tables if t)


def run_demo(out: str | Path, settings: DemoSettings = DemoSettings()) -> dict[str, Any]:
    out = writable_directory(out, "--out")
    started = time.time()
    core = settings.build_core().describe()
    metrics: dict[str, Any] = {"samprompt": __version__, "core": f"{core.variant} ({core.weights})",
                               "preset": "full" if settings.full else "quick",
                               "settings": asdict(settings), "modules": {}}
    metrics["section_seconds"] = {}
    for method in demo_methods(settings.only):
        section_started = time.time()
        metrics["modules"][method.demo_key] = method.demo(out, settings.steps_of(method), settings)
        metrics["section_seconds"][method.demo_key] = round(time.time() - section_started, 1)
    metrics["seconds"] = round(time.time() - started, 1)
    with atomic_file(out / "metrics.json") as staging:
        staging.write_text(json.dumps(metrics, indent=2))
    print(format_table(metrics))
    print(f"metrics: {out / 'metrics.json'}; captioned pictures (image + prompt | prediction | ground truth): "
          f"{out / 'overlays'}; plots: {out / 'plots'}")
    return metrics
