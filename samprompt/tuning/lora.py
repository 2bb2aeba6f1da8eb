"""LoRA on the core through Hugging Face peft (its public `peft.functional` API)."""
from __future__ import annotations

import re
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import torch
from peft import LoraConfig
from peft.functional import delete_adapter, inject_adapter_in_model, set_adapter
from peft.tuners.lora import LoraLayer

from samprompt.core.sam_core import SamCore
from samprompt.errors import ConfigError
from samprompt.tuning.targets import BlockSelection, check_targets, select_blocks, target_module_names


@dataclass(frozen=True)
class LoraSettings:
    """Where and how to add LoRA to a `SamCore`.

    Attributes:
        targets: readable layer names: `encoder.qkv`, `encoder.proj`, `encoder.mlp`,
            `decoder.attn` (every projection of the two-way transformer), `decoder.mlp`.
        rank: LoRA rank r (RefSAM's public code uses 4 on `encoder.proj`).
        alpha: LoRA scaling numerator (the update is scaled by alpha / rank).
        dropout: dropout on the LoRA input.
        encoder_blocks: `"all"`, `"second_half"` or a list of block indexes.
    """

    targets: tuple[str, ...] = ("encoder.qkv",)
    rank: int = 4
    alpha: float = 4.0
    dropout: float = 0.0
    encoder_blocks: BlockSelection = "all"

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets", check_targets(tuple(self.targets)))
        if not isinstance(self.encoder_blocks, str):
            object.__setattr__(self, "encoder_blocks", tuple(int(i) for i in self.encoder_blocks))
        select_blocks(self.encoder_blocks, 10**6)  # validates the form; depth is checked at apply time
        if self.rank <= 0:
            raise ConfigError(f"LoRA rank must be positive, got {self.rank}")
        if self.alpha <= 0:
            raise ConfigError(f"LoRA alpha must be positive, got {self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"LoRA dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["targets"] = list(self.targets)
        if not isinstance(self.encoder_blocks, str):
            data["encoder_blocks"] = list(self.encoder_blocks)
        return data

    def peft_config(self, module_names: list[str]) -> LoraConfig:
        pattern = "^(" + "|".join(re.escape(n) for n in module_names) + ")$"
        return LoraConfig(r=self.rank, lora_alpha=self.alpha, lora_dropout=self.dropout, target_modules=pattern)


def lora_adapters(core: SamCore) -> dict[str, LoraSettings]:
    """Name -> settings of every LoRA adapter added to `core` with `add_lora`."""
    return core.lora_settings


def add_lora(core: SamCore, settings: LoraSettings = LoraSettings(), name: str = "default") -> list[str]:
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
    select_blocks(settings.encoder_blocks, len(core.sam.image_encoder.blocks))
    module_names = target_module_names(core.sam, settings.targets, settings.encoder_blocks)
    flags = {p: p.requires_grad for p in core.parameters()}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*peft_config.*")
        inject_adapter_in_model(settings.peft_config(module_names), core.sam, adapter_name=name)
    for parameter, flag in flags.items():
        parameter.requires_grad_(flag)
    adapters[name] = settings
    use_lora(core, name)
    _match_core_dtype(core)
    return module_names


def _lora_layers(core: SamCore) -> list[LoraLayer]:
    return [m for m in core.sam.modules() if isinstance(m, LoraLayer)]


def _match_core_dtype(core: SamCore) -> None:
    for layer in _lora_layers(core):
        for parameter in layer.parameters():
            if parameter.is_floating_point() and parameter.dtype != core.dtype:
                parameter.data = parameter.data.to(core.dtype)


def use_lora(core: SamCore, name: str | None) -> None:
    """Activate the LoRA adapter `name` (trainable), or switch every adapter off with None."""
    adapters = lora_adapters(core)
    if name is not None and name not in adapters:
        raise ConfigError(f"no LoRA adapter named {name!r}; the core has {sorted(adapters)}")
    if name is not None:
        set_adapter(core.sam, name)
    for layer in _lora_layers(core):
        layer.enable_adapters(name is not None)


def active_lora(core: SamCore) -> str | None:
    layers = _lora_layers(core)
    if not layers or layers[0].disable_adapters:
        return None
    return layers[0].active_adapters[0]


def remove_lora(core: SamCore, name: str) -> None:
    """Delete the LoRA adapter `name` from the core."""
    adapters = lora_adapters(core)
    if name not in adapters:
        raise ConfigError(f"no LoRA adapter named {name!r}; the core has {sorted(adapters)}")
    delete_adapter(core.sam, name, prefix="lora_")
    del adapters[name]


def merge_lora(core: SamCore, name: str | None = None) -> None:
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


def unmerge_lora(core: SamCore) -> None:
    with torch.no_grad():
        for layer in _lora_layers(core):
            layer.unmerge()
