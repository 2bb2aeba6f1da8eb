"""Training from a JSON-style config (what `samprompt train --config FILE` runs).

    {
      "task": "native",                      # the prompt module; more come with the method issues
      "variant": "tiny", "checkpoint": null, # the core (null: the shipped weights of the variant)
      "lora": {"targets": ["decoder.attn"], "rank": 4},      # optional, LoraSettings fields
      "bottleneck": {"ratio": 0.25},                          # optional, BottleneckSettings fields
      "data": {"split": "train", "size": 400, "shapes": {"noise": 40}},  # shapes world
      "eval_items": 100,
      "train": {"steps": 100, "batch_size": 8, "lr": 1e-3, "output_dir": "runs/native"}
    }

Writes `<output_dir>/checkpoint` (resumable), `<output_dir>/trained` (only trained tensors)
and `<output_dir>/metrics.json`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import samprompt
from samprompt.data import ShapesConfig, ShapesInteractive
from samprompt.errors import ConfigError
from samprompt.tasks.native import NativeTask
from samprompt.training import FeatureCache, TrainConfig, Trainer
from samprompt.tuning import BottleneckSettings, LoraSettings, add_bottleneck_adapters, add_lora, save_trained
from samprompt.utils.files import atomic_file

TASKS = ("native",)
KEYS = {"task", "variant", "checkpoint", "lora", "bottleneck", "data", "eval_items", "train"}


def run_training_config(config: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(config) - KEYS)
    if unknown:
        raise ConfigError(f"unknown config keys {unknown}; known: {sorted(KEYS)}")
    task_name = config.get("task", "native")
    if task_name not in TASKS:
        raise ConfigError(f"unknown task {task_name!r}; available: {list(TASKS)}")
    train = TrainConfig.from_dict(config.get("train", {}))
    if not train.output_dir:
        raise ConfigError("train.output_dir is required")
    if not config.get("lora") and not config.get("bottleneck"):
        raise ConfigError("the native task trains adapters: give 'lora' and/or 'bottleneck' settings")

    core = samprompt.build_sam(config.get("variant", "tiny"), checkpoint=config.get("checkpoint"))
    if config.get("lora"):
        add_lora(core, LoraSettings(**config["lora"]))
    if config.get("bottleneck"):
        add_bottleneck_adapters(core, BottleneckSettings(**config["bottleneck"]))
    model = samprompt.PromptedSam(core, samprompt.NativePrompts())

    data = dict(config.get("data", {}))
    world = ShapesConfig(**data.pop("shapes", {}))
    dataset = ShapesInteractive(data.pop("split", "train"), data.pop("size", 1000), world)
    if data:
        raise ConfigError(f"unknown data options {sorted(data)}")
    task = NativeTask(cache=FeatureCache(core))
    eval_items = [ShapesInteractive("val", config.get("eval_items", 100), world)[i]
                  for i in range(config.get("eval_items", 100))]
    result = Trainer(model, task.loss, dataset, train, eval_fn=lambda m: task.evaluate(m, eval_items)).fit()

    out = Path(train.output_dir)
    save_trained(model, out / "trained", metadata={"config": json.dumps(config)})
    metrics = {"losses": result.losses, "evaluations": result.evaluations, "resumed_from": result.resumed_from}
    with atomic_file(out / "metrics.json") as staging:
        staging.write_text(json.dumps(metrics, indent=2))
    print(json.dumps(result.evaluations[-1], indent=2))
    return metrics
