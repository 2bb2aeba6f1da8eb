"""Settings of the adapters `samprompt.tuning` attaches to a core: dataclasses that validate themselves."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from peft import LoraConfig

from samprompt.errors import ConfigError
from samprompt.tuning.targets import BlockSelection, check_targets, select_blocks


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


@dataclass(frozen=True)
class BottleneckSettings:
    """Bottleneck adapters: hidden width = ratio x block width (RefSAM: 0.25, GELU, second half)."""

    ratio: float = 0.25
    blocks: BlockSelection = "second_half"
    mlp_scale: float = 0.5

    def __post_init__(self) -> None:
        if not isinstance(self.blocks, str):
            object.__setattr__(self, "blocks", tuple(int(i) for i in self.blocks))
        select_blocks(self.blocks, 10**6)
        if not 0.0 < self.ratio <= 4.0:
            raise ConfigError(f"bottleneck ratio must be in (0, 4], got {self.ratio}")
        if self.mlp_scale < 0:
            raise ConfigError(f"mlp_scale must be non-negative, got {self.mlp_scale}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if not isinstance(self.blocks, str):
            data["blocks"] = list(self.blocks)
        return data
