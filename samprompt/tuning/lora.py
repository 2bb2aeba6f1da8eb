"""LoRA on the core through Hugging Face peft (its public `peft.functional` API)."""
from __future__ import annotations

import re
import warnings
from typing import TYPE_CHECKING

import torch
from peft.functional import delete_adapter, inject_adapter_in_model, set_adapter
from peft.tuners.lora import LoraLayer

from samprompt.errors import ConfigError
from samprompt.tuning.settings import LoraSettings
from samprompt.tuning.targets import encoder_blocks, select_blocks, target_module_names

if TYPE_CHECKING:
    from samprompt.core.sam_core import SamCore


def lora_adapters(core: "SamCore") -> dict[str, LoraSettings]:
    """Name -> settings of every LoRA adapter added to `core` with `add_lora` (do not modify)."""
    return core.adapters.lora


def add_lora(core: "SamCore", settings: LoraSettings = LoraSettings(), name: str = "default") -> list[str]:
    """Add a LoRA adapter called `name` to the core and make it the active, trainable one.

    The core's own parameters keep their `requires_grad` flags (peft would otherwise
    freeze, for example, a decoder that the user has unfrozen on purpose).

    Returns:
        the names of the adapted modules, relative to `core.sam`.
    """
    adapters = lora_adapters(core)
    if name in adapters:
        raise ConfigError(f"the core already has a LoRA adapter named {name!r}")
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise ConfigError(f"adapter names are letters, digits and underscores, got {name!r}")
    select_blocks(settings.encoder_blocks, len(encoder_blocks(core.sam)))
    module_names = target_module_names(core.sam, settings.targets, settings.encoder_blocks)
    flags = {p: p.requires_grad for p in core.parameters()}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*peft_config.*")
        inject_adapter_in_model(settings.peft_config(module_names), core.sam, adapter_name=name)
    for parameter, flag in flags.items():
        parameter.requires_grad_(flag)
    core.adapters.lora[name] = settings
    core.adapters.lora_modules[name] = module_names
    use_lora(core, name)
    _match_core_dtype(core)
    return module_names


def _lora_layers(core: "SamCore", first: bool = False) -> list[LoraLayer]:
    """The core's LoRA layers (with `first`, at most the first), found by the module names `add_lora`
    recorded: walking every module of the core cost 2 ms, and a model checks its adapter on every call."""
    names = dict.fromkeys(name for modules in core.adapters.lora_modules.values() for name in modules)
    layers = []
    for name in names:
        layer = core.sam.get_submodule(name)
        if isinstance(layer, LoraLayer):
            layers.append(layer)
            if first:
                break
    return layers


def _match_core_dtype(core: "SamCore") -> None:
    for layer in _lora_layers(core):
        for parameter in layer.parameters():
            if parameter.is_floating_point() and parameter.dtype != core.dtype:
                parameter.data = parameter.data.to(core.dtype)


def use_lora(core: "SamCore", name: str | None) -> None:
    """Activate the LoRA adapter `name` (trainable), or switch every adapter off with None."""
    adapters = lora_adapters(core)
    if name is not None and name not in adapters:
        raise ConfigError(f"no LoRA adapter named {name!r}; the core has {sorted(adapters)}")
    if name is not None:
        set_adapter(core.sam, name)
    for layer in _lora_layers(core):
        layer.enable_adapters(name is not None)


def active_lora(core: "SamCore") -> str | None:
    first = next(iter(_lora_layers(core, first=True)), None)
    if first is None or first.disable_adapters:
        return None
    return first.active_adapters[0]


def remove_lora(core: "SamCore", name: str) -> None:
    """Delete the LoRA adapter `name` from the core."""
    adapters = lora_adapters(core)
    if name not in adapters:
        raise ConfigError(f"no LoRA adapter named {name!r}; the core has {sorted(adapters)}")
    delete_adapter(core.sam, name, prefix="lora_")
    del core.adapters.lora[name]
    del core.adapters.lora_modules[name]


def lora_tensor_name(name: str, old: str, new: str) -> str:
    """A parameter name with its LoRA adapter `old` called `new` (peft names them `...lora_A.<adapter>.weight`);
    other names unchanged."""
    return name.replace(f".{old}.", f".{new}.") if ".lora_" in name else name


def rename_lora(core: "SamCore", old: str, new: str) -> None:
    """Give the LoRA adapter `old` the name `new` (its tensors copied, `old` deleted); `new` becomes
    active when `old` was. Used to keep several trained adapters on one core under their own names."""
    adapters = lora_adapters(core)
    if old not in adapters:
        raise ConfigError(f"no LoRA adapter named {old!r}; the core has {sorted(adapters)}")
    if new == old:
        return
    was_active = active_lora(core) == old
    add_lora(core, adapters[old], new)
    own = dict(core.sam.named_parameters())
    with torch.no_grad():
        for key, parameter in list(own.items()):
            renamed = lora_tensor_name(key, old, new)
            if renamed != key:
                own[renamed].copy_(parameter)
    remove_lora(core, old)
    use_lora(core, new if was_active else None)


def merge_lora(core: "SamCore", name: str | None = None) -> None:
    """Fold adapter `name` (default: the active one) into the base weights for fast inference.

    `unmerge_lora` restores the base weights (to float rounding).
    """
    name = name or active_lora(core)
    if name is None or name not in lora_adapters(core):
        raise ConfigError(f"no LoRA adapter to merge (asked for {name!r}, have {sorted(lora_adapters(core))})")
    with torch.no_grad():
        for layer in _lora_layers(core):
            if name in layer.lora_A:
                layer.merge(adapter_names=[name])


def unmerge_lora(core: "SamCore") -> None:
    with torch.no_grad():
        for layer in _lora_layers(core):
            layer.unmerge()
