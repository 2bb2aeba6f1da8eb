"""Adapters as declared by a method's config or recorded in a saved folder, applied to a core."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from samprompt.errors import CheckpointError, ConfigError, UnknownNameError
from samprompt.tuning.bottleneck import add_bottleneck_adapters
from samprompt.tuning.lora import active_lora, add_lora, use_lora
from samprompt.tuning.settings import BottleneckSettings, LoraSettings
from samprompt.tuning.state import AdapterRequest

if TYPE_CHECKING:
    from samprompt.core.sam_core import SamCore


def adapter_config(core: "SamCore") -> dict[str, Any]:
    """The adapters applied to `core`, as saved beside trained weights."""
    return core.adapters.to_dict(active_lora(core))


def require_adapters(core: "SamCore", request: AdapterRequest, *, owner: str) -> None:
    """Give `core` the adapters `request` declares: add those it lacks, accept those it has with
    the same settings, and refuse (ConfigError naming both) those it has with other settings.

    Args:
        owner: who declares them, for the error message (e.g. "the RefSAM config").
    """
    state = core.adapters
    if request.bottleneck is not None:
        if state.bottleneck is None:
            add_bottleneck_adapters(core, request.bottleneck)
        elif state.bottleneck != request.bottleneck:
            raise ConfigError(f"{owner} declares bottleneck adapters {request.bottleneck}, but the core already "
                              f"has {state.bottleneck}: give the same settings in both places, or only one")
    for name, settings in request.lora.items():
        present = state.lora.get(name)
        if present is None:
            add_lora(core, settings, name)
        elif present != settings:
            raise ConfigError(f"{owner} declares LoRA adapter {name!r} as {settings}, but the core already has "
                              f"it as {present}: give the same settings in both places, or only one")


def apply_adapter_config(core: "SamCore", saved: Mapping[str, Any], *, source: str) -> None:
    """Rebuild the adapters a saved folder records (`adapter_config`) on `core`; adapters the core
    has already must match (CheckpointError naming the saved and the present settings)."""
    try:
        request = AdapterRequest(
            lora={name: LoraSettings(**settings) for name, settings in (saved.get("lora") or {}).items()},
            bottleneck=None if saved.get("bottleneck") is None else BottleneckSettings(**saved["bottleneck"]),
        )
    except (TypeError, ConfigError, UnknownNameError) as error:
        raise CheckpointError(f"{source} records adapter settings that are not valid: {error}") from error
    try:
        require_adapters(core, request, owner=source)
    except ConfigError as error:
        raise CheckpointError(str(error)) from error
    if request.lora:
        use_lora(core, saved.get("active_lora"))
