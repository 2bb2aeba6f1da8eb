"""Parameter-efficient tuning of the core: LoRA (through peft) and bottleneck adapters.

This package owns the adapters of a core (`core.adapters`, an `AdapterState`): nothing else
adds, removes or records them. Saving and loading trained weights is `samprompt.save` /
`samprompt.load` (`samprompt.methods.saving`).
"""
from samprompt.tuning.adapters import adapter_config, apply_adapter_config, require_adapters
from samprompt.tuning.bottleneck import BottleneckAdapter, add_bottleneck_adapters, remove_bottleneck_adapters
from samprompt.tuning.lora import (
    active_lora,
    add_lora,
    lora_adapters,
    merge_lora,
    remove_lora,
    unmerge_lora,
    use_lora,
)
from samprompt.tuning.report import ParameterReport, parameter_report
from samprompt.tuning.settings import BottleneckSettings, LoraSettings
from samprompt.tuning.state import AdapterRequest, AdapterState
from samprompt.tuning.targets import TARGETS

__all__ = [
    "AdapterRequest", "AdapterState", "BottleneckAdapter", "BottleneckSettings", "LoraSettings", "ParameterReport",
    "TARGETS", "active_lora", "adapter_config", "add_bottleneck_adapters", "add_lora", "apply_adapter_config",
    "lora_adapters", "merge_lora", "parameter_report", "remove_bottleneck_adapters", "remove_lora",
    "require_adapters", "unmerge_lora", "use_lora",
]
