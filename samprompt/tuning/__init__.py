"""Parameter-efficient tuning of the core: LoRA (through peft), bottleneck adapters, save/load."""
from samprompt.tuning.bottleneck import (
    BottleneckAdapter,
    BottleneckSettings,
    add_bottleneck_adapters,
    remove_bottleneck_adapters,
)
from samprompt.tuning.io import load_trained, read_trained_config, save_trained, trained_state_dict
from samprompt.tuning.lora import (
    LoraSettings,
    active_lora,
    add_lora,
    lora_adapters,
    merge_lora,
    remove_lora,
    unmerge_lora,
    use_lora,
)
from samprompt.tuning.report import ParameterReport, parameter_report
from samprompt.tuning.targets import TARGETS

__all__ = [
    "BottleneckAdapter", "BottleneckSettings", "LoraSettings", "ParameterReport", "TARGETS", "active_lora",
    "add_bottleneck_adapters", "add_lora", "load_trained", "lora_adapters", "merge_lora", "parameter_report",
    "read_trained_config", "remove_bottleneck_adapters", "remove_lora", "save_trained", "trained_state_dict",
    "unmerge_lora", "use_lora",
]
