"""Save and load only what was trained: adapters, prompt modules, any unfrozen core part.

A trained directory holds, in the layout peft uses:
- `adapter_model.safetensors`: the trained tensors, named by their path in the model;
- `adapter_config.json`: the core's architecture, the LoRA and bottleneck settings, and
  the trained modules, so that `load_trained` can rebuild the adapters on a fresh core
  and refuse a core of another variant.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from samprompt.core.config import describe_sam
from samprompt.core.sam_core import SamCore
from samprompt.errors import CheckpointError, CheckpointNotFoundError
from samprompt.tuning.bottleneck import BottleneckSettings, add_bottleneck_adapters
from samprompt.tuning.lora import LoraSettings, active_lora, add_lora, lora_adapters, use_lora
from samprompt.utils.files import atomic_directory

WEIGHTS_FILE = "adapter_model.safetensors"
CONFIG_FILE = "adapter_config.json"
FORMAT = "samprompt-trained/1"


def find_core(model: nn.Module) -> tuple[str, SamCore]:
    """The (name, module) of the single `SamCore` inside `model` (or `model` itself)."""
    cores = [(name, module) for name, module in model.named_modules() if isinstance(module, SamCore)]
    if len(cores) != 1:
        raise ValueError(f"expected exactly one SamCore inside {type(model).__name__}, found {len(cores)}")
    return cores[0]


def trained_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """Every tensor that training can change: parameters that require grad, every LoRA
    adapter (active or not) and the bottleneck adapters."""
    state = {}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad or ".lora_" in name or "_adapter." in name:
            state[name] = parameter.detach()
    return state


def save_trained(model: nn.Module, directory: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write the trained tensors and the config to `directory`, atomically.

    If anything fails, an existing `directory` is left as it was.
    """
    prefix, core = find_core(model)
    tensors = {k: v.to("cpu").contiguous() for k, v in trained_state_dict(model).items()}
    if not tensors:
        raise ValueError(f"{type(model).__name__} has nothing trained to save (no parameter requires grad)")
    config = {
        "format": FORMAT,
        "core": {"prefix": prefix, "variant": core.variant, "architecture": describe_sam(core.sam)},
        "lora": {name: settings.to_dict() for name, settings in lora_adapters(core).items()},
        "active_lora": active_lora(core),
        "bottleneck": None if core.bottleneck_settings is None else core.bottleneck_settings.to_dict(),
        "model_class": type(model).__name__,
        "tensors": sorted(tensors),
        "metadata": metadata or {},
    }
    with atomic_directory(directory) as staging:
        save_file(tensors, str(staging / WEIGHTS_FILE), metadata={"format": FORMAT})
        (staging / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True))
    return Path(directory)


def read_trained_config(directory: str | Path) -> dict[str, Any]:
    directory = Path(directory)
    config_path = directory / CONFIG_FILE
    if not config_path.is_file() or not (directory / WEIGHTS_FILE).is_file():
        raise CheckpointNotFoundError(f"{str(directory)!r} is not a trained-weights directory: "
                                      f"it needs {CONFIG_FILE} and {WEIGHTS_FILE}")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{str(config_path)!r} is not valid JSON: {error}") from error
    if config.get("format") != FORMAT:
        raise CheckpointError(f"{str(config_path)!r} has format {config.get('format')!r}, expected {FORMAT!r}")
    return config


def load_trained(model: nn.Module, directory: str | Path, *, strict: bool = True) -> dict[str, Any]:
    """Load weights saved by `save_trained` into `model` (e.g. a fresh model on a fresh core).

    LoRA adapters and bottleneck adapters named in the config are added to the core if it
    does not have them yet. Raises `CheckpointError` if the core's architecture differs
    from the saved one, or (with `strict`) if the saved tensors and the model's trained
    tensors do not correspond one to one.

    Returns:
        the saved config.
    """
    directory = Path(directory)
    config = read_trained_config(directory)
    _, core = find_core(model)
    saved_arch = config["core"]["architecture"]
    arch = describe_sam(core.sam)
    if saved_arch != arch:
        differences = [f"{k}: saved {saved_arch.get(k)} vs core {arch.get(k)}"
                       for k in sorted(set(saved_arch) | set(arch)) if saved_arch.get(k) != arch.get(k)]
        raise CheckpointError(
            f"trained weights in {str(directory)!r} were saved for SAM variant {config['core']['variant']!r}, "
            f"but this core is {core.variant!r}: {'; '.join(differences)}"
        )
    for name, settings in config["lora"].items():
        wanted = LoraSettings(**settings)
        present = lora_adapters(core).get(name)
        if present is None:
            add_lora(core, wanted, name)
        elif present != wanted:
            raise CheckpointError(f"the core's LoRA adapter {name!r} is {present}, the saved one {wanted}")
    if config["bottleneck"] is not None:
        wanted = BottleneckSettings(**config["bottleneck"])
        if core.bottleneck_settings is None:
            add_bottleneck_adapters(core, wanted)
        elif core.bottleneck_settings != wanted:
            raise CheckpointError(f"the core's bottleneck adapters are {core.bottleneck_settings}, "
                                  f"the saved ones {wanted}")
    if config["active_lora"] is not None or config["lora"]:
        use_lora(core, config["active_lora"])

    try:
        tensors = load_file(str(directory / WEIGHTS_FILE), device="cpu")
    except Exception as error:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"{str(directory / WEIGHTS_FILE)!r} could not be read (truncated or corrupt): "
                              f"{error}") from error
    own = dict(model.named_parameters())
    problems = []
    unexpected = sorted(set(tensors) - set(own))
    if unexpected:
        problems.append(f"{len(unexpected)} saved tensors the model lacks (e.g. {unexpected[:3]})")
    if strict:
        missing = sorted(set(trained_state_dict(model)) - set(tensors))
        if missing:
            problems.append(f"{len(missing)} trained tensors of the model are not in the file (e.g. {missing[:3]})")
    reshaped = [f"{k}: saved {tuple(v.shape)} vs model {tuple(own[k].shape)}"
                for k, v in tensors.items() if k in own and v.shape != own[k].shape]
    if reshaped:
        problems.append(f"{len(reshaped)} tensors of another shape (e.g. {reshaped[:3]})")
    if problems:
        raise CheckpointError(f"trained weights in {str(directory)!r} do not fit {type(model).__name__}: "
                              + "; ".join(problems))
    with torch.no_grad():
        for key, value in tensors.items():
            own[key].copy_(value.to(own[key].dtype))
    return config
