"""`RefSAMConfig`: the RefSAM prompt modules and which parts of the model train."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from samprompt.errors import ConfigError, UnknownNameError
from samprompt.tuning.settings import BottleneckSettings, LoraSettings
from samprompt.tuning.state import AdapterRequest
from samprompt.utils.dataclass_config import from_dict

DENSE_MODES = ("hda", "da", "sentence")


@dataclass(frozen=True)
class RefSAMConfig:
    """How RefSAM is built.

    Attributes:
        mlp_hidden_layers: k, the hidden d/2 -> d/2 layers of the Cross-Modal MLP (paper: 1).
        mlp_hidden_dim: width of the MLP's hidden layers (None: half the text width).
        dense: "hda" (Hierarchical Dense Attention over intermediate encoder blocks),
            "da" (dense attention over the final image embedding) or "sentence" (only the
            sentence feature broadcast over the grid).
        hda_blocks: encoder block indexes HDA reads (each must be a global-attention block);
            "all_but_last" takes every global-attention block except the last (vit_b: 2, 5, 8).
        tracking: add the Implicit Tracking Module (a track token per expression in video).
        track_heads / track_ffn_ratio: its self-attention heads and FFN width ratio (8, 4).
        adapters: bottleneck adapters on the image encoder (RefSAM's placement) or None.
        lora: LoRA on the core (the public RefSAM code offers rank 4 on attn.proj) or None.
        train_decoder: fine-tune SAM's mask decoder too (the paper does, at lr ~1e-6).
    """

    mlp_hidden_layers: int = 1
    mlp_hidden_dim: int | None = None
    dense: str = "hda"
    hda_blocks: str | tuple[int, ...] = "all_but_last"
    tracking: bool = True
    track_heads: int = 8
    track_ffn_ratio: int = 4
    adapters: BottleneckSettings | None = field(default_factory=BottleneckSettings)
    lora: LoraSettings | None = None
    train_decoder: bool = False

    def __post_init__(self) -> None:
        problems = []
        if self.mlp_hidden_layers < 0:
            problems.append(f"mlp_hidden_layers must be >= 0, got {self.mlp_hidden_layers}")
        if self.mlp_hidden_dim is not None and self.mlp_hidden_dim <= 0:
            problems.append(f"mlp_hidden_dim must be positive, got {self.mlp_hidden_dim}")
        if self.dense not in DENSE_MODES:
            problems.append(f"dense must be one of {DENSE_MODES}, got {self.dense!r}")
        if isinstance(self.hda_blocks, str):
            if self.hda_blocks != "all_but_last":
                problems.append(f"hda_blocks must be 'all_but_last' or block indexes, got {self.hda_blocks!r}")
        else:
            blocks = tuple(int(i) for i in self.hda_blocks)
            object.__setattr__(self, "hda_blocks", blocks)
            if not blocks or min(blocks) < 0 or len(set(blocks)) != len(blocks):
                problems.append(f"hda_blocks must be distinct non-negative block indexes, got {blocks}")
        if self.track_heads <= 0 or self.track_ffn_ratio <= 0:
            problems.append("track_heads and track_ffn_ratio must be positive")
        if isinstance(self.adapters, dict):
            object.__setattr__(self, "adapters", BottleneckSettings(**self.adapters))
        if isinstance(self.lora, dict):
            object.__setattr__(self, "lora", LoraSettings(**self.lora))
        if problems:
            raise ConfigError("invalid RefSAMConfig: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["hda_blocks"] = self.hda_blocks if isinstance(self.hda_blocks, str) else list(self.hda_blocks)
        data["adapters"] = None if self.adapters is None else self.adapters.to_dict()
        data["lora"] = None if self.lora is None else self.lora.to_dict()
        return data

    def adapter_request(self) -> AdapterRequest:
        """The adapters this config declares on the core (LoRA under the name "default")."""
        return AdapterRequest({} if self.lora is None else {"default": self.lora}, self.adapters)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RefSAMConfig":
        return from_dict(cls, data, "RefSAM")


PRESETS: dict[str, RefSAMConfig] = {
    # The paper's split: Cross-Modal MLP, HDA, tracking module, bottleneck adapters and the
    # mask decoder train; image encoder, text encoder and prompt encoder stay frozen.
    "paper": RefSAMConfig(train_decoder=True),
    # Prompt modules only (the core is untouched): the cheapest to train, features cacheable.
    "prompts_only": RefSAMConfig(adapters=None),
}


def refsam_preset(name: str) -> RefSAMConfig:
    if name not in PRESETS:
        raise UnknownNameError(f"unknown RefSAM preset {name!r}; available: {sorted(PRESETS)}")
    return PRESETS[name]
