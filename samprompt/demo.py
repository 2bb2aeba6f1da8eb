"""`samprompt demo`: fine-tune and evaluate every registered method on shapes world, offline, on CPU.

Each method with a demo section (`Method.demo_key`) trains on the shipped small core and
scores itself against baselines; its section is in its own package (`<method>/demo.py`).
The sections that need no other section's models run side by side in lanes (`demo_lanes`,
`DemoSettings.jobs`), those that load others' models (`Method.demo_uses`) after them;
metrics.json holds them under their `demo_key`, in registry order, and the table printed at the
end joins each method's own table.
"""
from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
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
# Sections side by side by default: these small models keep two cores busy poorly from one process
# (two threads ran the quick demo about 1.5x faster than one, not 2x).
DEFAULT_JOBS = min(2, os.cpu_count() or 1)


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
        jobs: how many sections run side by side, each lane in its own process with its share
            of the CPU threads (`demo_lanes`); the sections that use other sections' models run
            after them, alone, with every thread. 1: one after the other in this process.
            Figures depend on it (a matrix product summed over other threads rounds differently);
            a given value reproduces them.
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
    jobs: int = DEFAULT_JOBS

    def __post_init__(self) -> None:
        if self.core not in DEMO_CORES:
            raise ConfigError(f"core must be one of {sorted(DEMO_CORES)}, got {self.core!r}")
        if isinstance(self.jobs, bool) or not isinstance(self.jobs, int) or self.jobs < 1:
            raise ConfigError(f"jobs must be a positive int, got {self.jobs!r}")
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


def demo_lanes(methods: list[Method], jobs: int) -> tuple[list[list[Method]], list[Method]]:
    """Split the demo's sections into `jobs` lanes that run side by side, and those that run after.

    A section that uses other sections' models (`Method.demo_uses`) runs after the lanes. The
    others are split so that the longest lane is as short as can be (`Method.demo_quick_seconds`):
    every split is tried where there are few (the demo's five sections on two lanes: 32), else
    each section goes to the lane with the least work so far, longest first. Each lane keeps the
    demo's order. Returns (lanes, sections after), deterministic for a given list and `jobs`.
    """
    after = [m for m in methods if m.demo_uses]
    first = [m for m in methods if not m.demo_uses]
    count = max(1, min(jobs, len(first)))
    seconds = [m.demo_quick_seconds for m in first]

    def longest(assignment: tuple[int, ...]) -> float:
        return max(sum(s for s, lane in zip(seconds, assignment) if lane == k) for k in range(count))

    if count ** len(first) <= 4096:
        assignment = min(itertools.product(range(count), repeat=len(first)), key=lambda a: (longest(a), a))
    else:
        load = [0.0] * count
        chosen = [0] * len(first)
        for i in sorted(range(len(first)), key=lambda i: -seconds[i]):
            chosen[i] = load.index(min(load))
            load[chosen[i]] += seconds[i]
        assignment = tuple(chosen)
    lanes = [[m for m, lane in zip(first, assignment) if lane == k] for k in range(count)]
    return [lane for lane in lanes if lane], after


def run_sections(names: list[str], out: Path, settings: DemoSettings,
                 threads: int | None = None) -> list[tuple[str, dict[str, Any], float]]:
    """Run the demo sections of the methods `names` one after the other; (demo_key, results,
    seconds) per section. With `threads`, torch's CPU threads are set first (a lane's process)."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    done = []
    for name in names:
        method = get_method(name)
        started = time.time()
        results = method.demo(out, settings.steps_of(method), settings)
        done.append((method.demo_key, results, round(time.time() - started, 1)))
    return done


def run_lanes(lanes: list[list[Method]], out: Path, settings: DemoSettings) -> list[tuple[str, dict[str, Any], float]]:
    """Each lane in its own process (started fresh, as `spawn` does), with this process's torch
    threads shared out among the lanes, progress bars off (they would interleave); one line per
    lane as it finishes."""
    import torch

    threads = max(1, torch.get_num_threads() // len(lanes))
    quiet = replace(settings, progress=False)
    context = multiprocessing.get_context("spawn")
    done: list[tuple[str, dict[str, Any], float]] = []
    with ProcessPoolExecutor(max_workers=len(lanes), mp_context=context) as pool:
        futures = [pool.submit(run_sections, [m.name for m in lane], out, quiet, threads) for lane in lanes]
        if settings.progress:
            print(f"demo: {len(lanes)} lanes side by side, {threads} thread(s) each: "
                  + "; ".join(", ".join(m.name for m in lane) for lane in lanes), flush=True)
        for future in as_completed(futures):
            finished = future.result()
            if settings.progress:
                print("demo: done " + ", ".join(f"{key} ({seconds:.0f} s)" for key, _, seconds in finished), flush=True)
            done += finished
    return done


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
    methods = demo_methods(settings.only)
    lanes, after = demo_lanes(methods, settings.jobs)
    if len(lanes) > 1:
        done = run_lanes(lanes, out, settings)
        metrics["lanes"] = [[m.demo_key for m in lane] for lane in lanes]
    else:
        done = run_sections([m.name for lane in lanes for m in lane], out, settings)
    done += run_sections([m.name for m in after], out, settings)
    by_key = {key: (results, seconds) for key, results, seconds in done}
    metrics["modules"] = {m.demo_key: by_key[m.demo_key][0] for m in methods}
    metrics["section_seconds"] = {m.demo_key: by_key[m.demo_key][1] for m in methods}
    metrics["seconds"] = round(time.time() - started, 1)
    with atomic_file(out / "metrics.json") as staging:
        staging.write_text(json.dumps(metrics, indent=2))
    print(format_table(metrics))
    print(f"metrics: {out / 'metrics.json'}; captioned pictures (image + prompt | prediction | ground truth): "
          f"{out / 'overlays'}; plots: {out / 'plots'}")
    return metrics
