"""Training from a JSON-style config (what `samprompt train --config FILE` runs).

Native points / boxes (adapters on the core):

    {
      "task": "native",
      "variant": "tiny", "checkpoint": null, # the core (null: the shipped weights of the variant)
      "lora": {"targets": ["decoder.attn"], "rank": 4},      # LoraSettings fields
      "bottleneck": {"ratio": 0.25},                          # BottleneckSettings fields
      "gradient_checkpointing": false,       # recompute encoder blocks in backward (less memory)
      "data": {"split": "train", "size": 400, "shapes": {"noise": 40}},  # shapes world
      "eval_items": 100,
      "train": {"steps": 100, "batch_size": 8, "lr": 1e-3, "output_dir": "runs/native"}
    }

RefSAM (text):

    {
      "task": "refsam",
      "variant": "vit_b", "checkpoint": "sam_vit_b_01ec64.pth",
      "refsam": "paper",                     # a preset name or RefSAMConfig fields
      "text_encoder": "hf:/models/t5-3b",    # "shapes" (shipped CLIP), "open_clip:<name>", "hf:<dir>"
      "text_encoder_weights": null,          # the local weights file of an open_clip model
      "clip_frames": 2,                      # frames per training clip (pseudo-clips from stills)
      "data": [{"dataset": "refcoco", "root": "/data/refer", "name": "refcoco", "split": "train"},
               {"dataset": "ref-youtube-vos", "root": "/data/rvos", "frame_stride": 5}],
      "train": {"steps": 20000, "batch_size": 8, "lr": 1e-4,
                "module_lrs": {"generator.mlp": 1e-3, "generator.dense_attention": 1e-3,
                               "core.sam.mask_decoder": 1e-6}, "output_dir": "runs/refsam"}
    }

ESC-Net (class names; the SAM blocks get `sam_lr`, CLIP's attention `clip_lr` when tuned):

    {
      "task": "escnet",
      "variant": "vit_b", "checkpoint": "sam_vit_b_01ec64.pth",
      "escnet": {"clip_image_size": 384, "templates": ["A photo of a {} in the scene."]},  # ESCNetConfig fields
      "clip": "ViT-B-16", "clip_weights": "/models/ViT-B-16.bin",   # "shapes": the shipped CLIP
      "size": 384,                                 # training images resized to size x size
      "sam_lr": 2e-6, "clip_lr": 2e-6,
      "data": {"dataset": "coco-stuff-171", "root": "/data/coco-stuff", "split": "train2017"},
      "train": {"steps": 80000, "batch_size": 4, "lr": 2e-4, "output_dir": "runs/escnet"}
    }

SAM-REF (clicks; SAM frozen, trained on cached embeddings):

    {
      "task": "samref",
      "variant": "vit_b", "checkpoint": "sam_vit_b_01ec64.pth",
      "samref": {"global_size": 1024, "local_size": 256},          # SAMRefConfig fields
      "max_extra_clicks": 4,                                         # simulated clicks before the trained one
      "data": {"dataset": "sbd", "root": "/data/SBD/dataset", "split": "train"},
      "train": {"steps": 30000, "batch_size": 8, "lr": 1e-3, "output_dir": "runs/samref"}
    }

SAM-REF data: {"dataset": "shapes", "size", "shapes"} or an interactive benchmark of
`samprompt.data.interactive` {"dataset": "sbd" | "grabcut" | "berkeley" | "davis", "root", "split"}.

ESC-Net data: {"dataset": "shapes", "size", "shapes"} or a benchmark of `samprompt.data.semantic`
{"dataset": "ade20k-150" | "coco-stuff-171" | "pascal-context-59" | "voc-20" | "voc-21", "root", "split"}.

RefSAM data entries: {"dataset": "shapes", "size", "videos", "frames", "shapes"},
{"dataset": "refcoco", "root", "name", "split", "split_by", "image_dir"},
{"dataset": "ref-youtube-vos", "root", "split", "frame_stride", "max_frames"},
{"dataset": "ref-davis17", "root", "split", "annotator", "full_video", "frame_stride", "max_frames"}.

Writes `<output_dir>/checkpoint` (resumable), `<output_dir>/trained` (only trained tensors)
and `<output_dir>/metrics.json`.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from torch.utils.data import ConcatDataset, Dataset

import samprompt
from samprompt.core.checkpointing import use_gradient_checkpointing
from samprompt.data import (
    RefCOCO,
    RefDAVIS17,
    RefYouTubeVOS,
    ShapesConfig,
    ShapesInteractive,
    ShapesReferring,
    ShapesSemantic,
    ShapesVideo,
)
from samprompt.errors import ConfigError
from samprompt.tasks.native import NativeTask
from samprompt.training import FeatureCache, TrainConfig, Trainer
from samprompt.tuning import BottleneckSettings, LoraSettings, add_bottleneck_adapters, add_lora, save_trained
from samprompt.utils.files import atomic_file

TASKS = ("native", "refsam", "escnet", "samref")
COMMON_KEYS = {"task", "variant", "checkpoint", "lora", "bottleneck", "gradient_checkpointing", "data", "eval_items",
               "train"}
TASK_KEYS = {"native": set(), "refsam": {"refsam", "text_encoder", "text_encoder_weights", "clip_frames"},
             "escnet": {"escnet", "clip", "clip_weights", "size", "sam_lr", "clip_lr"},
             "samref": {"samref", "max_extra_clicks"}}
Built = tuple[Any, Dataset, Callable, Callable | None, Callable[[Path], Any]]


def _shapes_world(options: dict[str, Any]) -> ShapesConfig:
    return ShapesConfig(**options.pop("shapes", {}))


def _check_empty(options: dict[str, Any], what: str) -> None:
    if options:
        raise ConfigError(f"unknown {what} options {sorted(options)}")


def build_native(config: dict[str, Any], core: samprompt.SamCore) -> Built:
    if not config.get("lora") and not config.get("bottleneck"):
        raise ConfigError("the native task trains adapters: give 'lora' and/or 'bottleneck' settings")
    model = samprompt.PromptedSam(core, samprompt.NativePrompts())
    data = dict(config.get("data", {}))
    world = _shapes_world(data)
    dataset = ShapesInteractive(data.pop("split", "train"), data.pop("size", 1000), world)
    _check_empty(data, "data")
    task = NativeTask(cache=FeatureCache(core))
    count = config.get("eval_items", 100)
    eval_items = [ShapesInteractive("val", count, world)[i] for i in range(count)]
    return (model, dataset, task.loss, lambda m: task.evaluate(m, eval_items),
            lambda directory: save_trained(model, directory, metadata={"config": json.dumps(config)}))


def referring_dataset(entry: dict[str, Any]) -> Dataset:
    """One RefSAM training dataset from its config entry (see the module docstring)."""
    options = dict(entry)
    kind = options.pop("dataset", "shapes")
    if kind == "shapes":
        world = _shapes_world(options)
        parts: list[Dataset] = [ShapesReferring("train", options.pop("size", 1000), world)]
        videos = options.pop("videos", 200)
        if videos:
            parts.append(ShapesVideo("train", videos, options.pop("frames", 3), world))
        dataset: Dataset = ConcatDataset(parts)
    elif kind == "refcoco":
        dataset = RefCOCO(options.pop("root"), options.pop("name", "refcoco"), options.pop("split", "train"),
                          options.pop("split_by", None), options.pop("image_dir", None))
    elif kind == "ref-youtube-vos":
        dataset = RefYouTubeVOS(options.pop("root"), options.pop("split", "train"), options.pop("frame_stride", 1),
                                options.pop("max_frames", None))
    elif kind == "ref-davis17":
        dataset = RefDAVIS17(options.pop("root"), options.pop("split", "train"), options.pop("annotator", 1),
                             options.pop("full_video", True), options.pop("frame_stride", 1),
                             options.pop("max_frames", None))
    else:
        raise ConfigError(f"unknown dataset {kind!r}; known: shapes, refcoco, ref-youtube-vos, ref-davis17")
    _check_empty(options, f"{kind} data")
    return dataset


def build_refsam(config: dict[str, Any], core: samprompt.SamCore) -> Built:
    from samprompt.refsam import RefSAM, RefSAMConfig, refsam_preset
    from samprompt.tasks.refsam import RefSAMTask
    from samprompt.text import load_text_encoder

    settings = config.get("refsam", "paper")
    refsam_config = refsam_preset(settings) if isinstance(settings, str) else RefSAMConfig.from_dict(settings)
    spec = config.get("text_encoder", "shapes")
    model = RefSAM(core, load_text_encoder(spec, config.get("text_encoder_weights")), refsam_config,
                   text_encoder_spec=spec)
    entries = config.get("data", {"dataset": "shapes"})
    entries = entries if isinstance(entries, list) else [entries]
    datasets = [referring_dataset(entry) for entry in entries]
    dataset = datasets[0] if len(datasets) == 1 else ConcatDataset(datasets)
    task = RefSAMTask(frames=config.get("clip_frames", 2), cache=FeatureCache(core))
    eval_fn = None
    count = config.get("eval_items", 100)
    shapes = [e for e in entries if e.get("dataset", "shapes") == "shapes"]
    if count and shapes:
        world = ShapesConfig(**shapes[0].get("shapes", {}))
        eval_items = [ShapesReferring("val", count, world)[i] for i in range(count)]
        eval_fn = lambda m: task.evaluate_images(m, eval_items)  # noqa: E731
    return model, dataset, task.loss, eval_fn, lambda directory: model.save(directory)


def semantic_training_data(entry: dict[str, Any]) -> Dataset:
    """One ESC-Net training dataset from its config entry (see the module docstring)."""
    from samprompt.data.semantic import semantic_dataset

    options = dict(entry)
    kind = options.pop("dataset", "shapes")
    if kind == "shapes":
        world = _shapes_world(options)
        dataset: Dataset = ShapesSemantic("train", options.pop("size", 1000), world)
    else:
        dataset = semantic_dataset(kind, options.pop("root"), options.pop("split"),
                                   raw_labels=options.pop("raw_labels", False))
    _check_empty(options, f"{kind} data")
    return dataset


def build_escnet(config: dict[str, Any], core: samprompt.SamCore) -> Built:
    from samprompt.clip import load_clip
    from samprompt.escnet import ESCNet, ESCNetConfig
    from samprompt.tasks.escnet import ESCNetTask, evaluate_semantic, model_predictor

    clip_name = config.get("clip", "shapes")
    spec = {"name": clip_name, **({"pretrained": config["clip_weights"]} if config.get("clip_weights") else {})}
    model = ESCNet(core, load_clip(clip_name, config.get("clip_weights")),
                   ESCNetConfig.from_dict(config.get("escnet", {})), clip_spec=spec)
    entry = config.get("data", {"dataset": "shapes"})
    dataset = semantic_training_data(entry)
    task = ESCNetTask(dataset.classes, size=config.get("size"))
    eval_fn = None
    count = config.get("eval_items", 100)
    if count and entry.get("dataset", "shapes") == "shapes":
        world = ShapesConfig(**entry.get("shapes", {}))
        test = ShapesSemantic("val", count, world)
        items = [test[i] for i in range(count)]

        def eval_fn(m: Any) -> dict[str, Any]:
            return evaluate_semantic(model_predictor(m), items, test.classes).summary(test.classes)
    return model, dataset, task.loss, eval_fn, lambda directory: model.save(directory)


def build_samref(config: dict[str, Any], core: samprompt.SamCore) -> Built:
    from samprompt.data.interactive import interactive_dataset
    from samprompt.interactive import evaluate_interactive
    from samprompt.samref import SAMRef, SAMRefConfig
    from samprompt.tasks.samref import SAMRefTask

    model = SAMRef(core, SAMRefConfig.from_dict(config.get("samref", {})))
    options = dict(config.get("data", {"dataset": "shapes"}))
    kind = options.pop("dataset", "shapes")
    world = None
    if kind == "shapes":
        world = _shapes_world(options)
        dataset: Dataset = ShapesInteractive(options.pop("split", "train"), options.pop("size", 1000), world)
    else:
        dataset = interactive_dataset(kind, options.pop("root"), options.pop("split", "train"))
    _check_empty(options, f"{kind} data")
    task = SAMRefTask(cache=FeatureCache(core, keep_intermediate=False, keep_images=True),
                      max_extra_clicks=config.get("max_extra_clicks", 4))
    eval_fn = None
    count = config.get("eval_items", 100)
    if count and world is not None:
        items = [ShapesInteractive("val", count, world)[i] for i in range(count)]

        def eval_fn(m: Any) -> dict[str, Any]:
            summary, _ = evaluate_interactive(m, items, refine=True)
            return {k: v for k, v in summary.items() if k != "miou_per_click"}
    return model, dataset, task.loss, eval_fn, lambda directory: model.save(directory)


BUILDERS = {"native": build_native, "refsam": build_refsam, "escnet": build_escnet, "samref": build_samref}


def run_training_config(config: dict[str, Any]) -> dict[str, Any]:
    task_name = config.get("task", "native")
    if task_name not in TASKS:
        raise ConfigError(f"unknown task {task_name!r}; available: {list(TASKS)}")
    known = COMMON_KEYS | TASK_KEYS[task_name]
    unknown = sorted(set(config) - known)
    if unknown:
        raise ConfigError(f"unknown config keys {unknown}; known for task {task_name!r}: {sorted(known)}")
    train = TrainConfig.from_dict(config.get("train", {}))
    if not train.output_dir:
        raise ConfigError("train.output_dir is required")

    core = samprompt.build_sam(config.get("variant", "tiny"), checkpoint=config.get("checkpoint"))
    if config.get("lora"):
        add_lora(core, LoraSettings(**config["lora"]))
    if config.get("bottleneck"):
        add_bottleneck_adapters(core, BottleneckSettings(**config["bottleneck"]))
    if config.get("gradient_checkpointing"):
        use_gradient_checkpointing(core)
    model, dataset, loss_fn, eval_fn, save = BUILDERS[task_name](config, core)
    if task_name == "escnet":
        rates = model.module_lrs(config.get("sam_lr", 2e-6), config.get("clip_lr"))
        train = replace(train, module_lrs={**rates, **train.module_lrs})
    result = Trainer(model, loss_fn, dataset, train, eval_fn=eval_fn).fit()

    out = Path(train.output_dir)
    save(out / "trained")
    metrics = {"losses": result.losses, "evaluations": result.evaluations, "resumed_from": result.resumed_from}
    with atomic_file(out / "metrics.json") as staging:
        staging.write_text(json.dumps(metrics, indent=2))
    if result.evaluations:
        print(json.dumps(result.evaluations[-1], indent=2))
    return metrics
