"""`AdapterState`: which adapters a core carries, owned and written by `samprompt.tuning` alone.

Every `SamCore` holds one (`core.adapters`). `add_lora`, `remove_lora`,
`add_bottleneck_adapters` and `remove_bottleneck_adapters` are its only writers; a method's
config declares the adapters it needs (`AdapterRequest`) and `require_adapters` adds what is
missing or refuses a core whose adapters differ, naming both. What is saved with trained
weights is what was applied (`AdapterState.to_dict`), and `apply_adapter_config` rebuilds it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch.utils.hooks import RemovableHandle

from samprompt.tuning.settings import BottleneckSettings, LoraSettings


@dataclass
class AdapterState:
    """The adapters of one core.

    Attributes:
        lora: adapter name -> settings, in the order they were added.
        lora_modules: adapter name -> the adapted module names (relative to `core.sam`).
        bottleneck: the bottleneck adapters' settings, or None.
        bottleneck_blocks: the encoder blocks that carry them.
        bottleneck_path: where those blocks are, relative to `core.sam`.
        bottleneck_hooks: the forward hooks that run them (not saved).
    """

    lora: dict[str, LoraSettings] = field(default_factory=dict)
    lora_modules: dict[str, list[str]] = field(default_factory=dict)
    bottleneck: BottleneckSettings | None = None
    bottleneck_blocks: list[int] = field(default_factory=list)
    bottleneck_path: str = "image_encoder.blocks"   # the blocks' module path (SAM 2: image_encoder.trunk.blocks)
    bottleneck_hooks: list[RemovableHandle] = field(default_factory=list, repr=False, compare=False)

    def parameter_prefixes(self, lora: str | None = None) -> list[str]:
        """Name prefixes (relative to the core) of every adapter tensor, for saving by prefix; with
        `lora`, only that LoRA adapter's (and the bottleneck adapters')."""
        prefixes = [f"sam.{module}.lora_{kind}.{name}." for name, modules in self.lora_modules.items()
                    if lora is None or name == lora for module in modules for kind in ("A", "B")]
        for block in self.bottleneck_blocks:
            prefixes += [f"sam.{self.bottleneck_path}.{block}.attn_adapter.",
                         f"sam.{self.bottleneck_path}.{block}.mlp_adapter."]
        return sorted(set(prefixes))

    def to_dict(self, active_lora: str | None) -> dict[str, Any]:
        """The applied adapters as saved: LoRA settings by name, the active one, the bottleneck settings."""
        return {"lora": {name: settings.to_dict() for name, settings in self.lora.items()},
                "active_lora": active_lora,
                "bottleneck": None if self.bottleneck is None else self.bottleneck.to_dict()}

    def describe(self) -> str:
        """One line for error messages, e.g. `LoRA default (rank 4 on encoder.qkv), bottleneck ratio 0.25`."""
        parts = [f"LoRA {name} (rank {s.rank} on {', '.join(s.targets)})" for name, s in self.lora.items()]
        if self.bottleneck is not None:
            parts.append(f"bottleneck adapters (ratio {self.bottleneck.ratio}, blocks {self.bottleneck.blocks}, "
                         f"mlp_scale {self.bottleneck.mlp_scale})")
        return ", ".join(parts) or "no adapters"


@dataclass(frozen=True)
class AdapterRequest:
    """The adapters a method's config declares it needs on the core.

    Attributes:
        lora: name -> settings of LoRA adapters.
        bottleneck: bottleneck adapter settings, or None for none.
    """

    lora: dict[str, LoraSettings] = field(default_factory=dict)
    bottleneck: BottleneckSettings | None = None
