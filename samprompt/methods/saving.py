"""One save format for every method: only what was trained, and what is needed to rebuild it.

A saved folder holds, in the layout peft uses:

- `adapter_model.safetensors`: the trained tensors, named by their path in the model (the
  parameters that require a gradient, and every adapter tensor, found by the adapter
  prefixes `samprompt.tuning` records);
- `adapter_config.json`:

      {"format": "samprompt-trained/2",
       "method": {"name": "refsam", "model_class": "RefSAM"},   # null: not a registered method
       "method_config": {...},                                   # the method's `config_of`
       "core": {"family": "sam", "variant": "vit_b", "architecture": {...}, "weights": "...",
                "prefix": "core"},
       "adapters": {"lora": {...}, "active_lora": "default", "bottleneck": {...}},
       "tensors": [...], "metadata": {...}}

`samprompt.load(path)` reads the method from the folder and returns the right model; folders
written by samprompt 0.1.0 (format `samprompt-trained/1`, the method's config as JSON inside
the metadata) load too.
"""
from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from safetensors.torch import load_file
from torch import Tensor, nn

from samprompt.core.base import Core
from samprompt.core.config import CoreInfo
from samprompt.core.registry import RANDOM_SEED_PREFIX, SAM2_VARIANT_NAMES, build_sam, get_variant
from samprompt.core.sam_core import SamCore
from samprompt.core.weights import check_weight_values
from samprompt.errors import CheckpointError, CheckpointNotFoundError, ConfigError, SamPromptError, UnknownNameError
from samprompt.methods.registry import Method, available_methods, get_method, method_of
from samprompt.tuning.adapters import adapter_config, apply_adapter_config
from samprompt.tuning.lora import lora_tensor_name, remove_lora, rename_lora
from samprompt.utils.files import atomic_directory, recover_leftovers, save_tensors
from samprompt.version import __version__

WEIGHTS_FILE = "adapter_model.safetensors"
CONFIG_FILE = "adapter_config.json"
FORMAT = "samprompt-trained/2"
LEGACY_FORMAT = "samprompt-trained/1"


def _cores(model: nn.Module) -> list[tuple[str, SamCore]]:
    return [(name, module) for name, module in model.named_modules() if isinstance(module, Core)]


def find_core(model: nn.Module) -> tuple[str, SamCore]:
    """The (name, module) of the single `SamCore` inside `model` (or `model` itself)."""
    cores = _cores(model)
    if len(cores) != 1:
        raise SamPromptError(f"expected exactly one SamCore inside {type(model).__name__}, found {len(cores)}")
    return cores[0]


def _core_and_prefix(model: nn.Module) -> tuple[str | None, SamCore | None]:
    """`find_core`, or (None, None) for a model without exactly one core (ESC-Net holds none)."""
    cores = _cores(model)
    return cores[0] if len(cores) == 1 else (None, None)


SAVED_LORA_NAME = "default"


def trained_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """Every tensor training can change: the parameters that require a gradient and every adapter
    tensor of the core (active or not), selected by the prefixes the adapters' owner records.

    A model that names its own LoRA adapter on a shared core (`model.adapter`) owns only that
    adapter's tensors (the other adapters belong to the other models on the core)."""
    prefix, core = _core_and_prefix(model)
    own = getattr(model, "adapter", None)
    if core is None:
        return {name: parameter.detach() for name, parameter in model.named_parameters() if parameter.requires_grad}
    relative = (lambda p: f"{prefix}.{p}") if prefix else (lambda p: p)
    mine = tuple(relative(p) for p in core.adapters.parameter_prefixes(own))
    others = () if own is None else tuple(relative(p) for p in set(core.adapters.parameter_prefixes())
                                          - set(core.adapters.parameter_prefixes(own)))
    return {name: parameter.detach() for name, parameter in model.named_parameters()
            if (parameter.requires_grad or name.startswith(mine)) and not (others and name.startswith(others))}


def _saved_as_default(model: nn.Module, tensors: dict[str, Tensor], adapters: dict[str, Any] | None
                      ) -> tuple[dict[str, Tensor], dict[str, Any] | None]:
    """A model running its own named LoRA adapter is saved with that adapter alone, under the name
    "default" (as if trained alone), so that the folder loads on any core, under any name."""
    own = getattr(model, "adapter", None)
    if own is None or adapters is None:
        return tensors, adapters
    if not own:  # the base core: no LoRA adapter is part of this model
        return tensors, {**adapters, "lora": {}, "active_lora": None}
    return _lora_renamed(tensors, adapters, own, SAVED_LORA_NAME)


def _lora_renamed(tensors: dict[str, Tensor], adapters: dict[str, Any], old: str, new: str
                  ) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Tensors and a saved adapter config holding LoRA adapter `old` alone, with `old` called `new`."""
    renamed = {lora_tensor_name(k, old, new): v for k, v in tensors.items()}
    return renamed, {**adapters, "lora": {new: adapters["lora"][old]}, "active_lora": new}


def save_trained(model: nn.Module, directory: str | Path, metadata: Mapping[str, Any] | None = None) -> Path:
    """Write `model`'s trained tensors and its config to `directory`, atomically (an existing
    folder is left as it was if anything fails). A model of a registered method is saved with
    its method and method config, so that `samprompt.load` can rebuild it; any other model
    can be loaded back into a model of the same structure with `load_trained`."""
    method = method_of(model)
    prefix, core = _core_and_prefix(model)
    if core is not None:
        info, adapters = core.describe(), adapter_config(core)
    elif method is not None:
        info, adapters = method.core_info(model), None
    else:
        raise SamPromptError(f"{type(model).__name__} holds no SamCore and is not a registered method: "
                             "there is no core to record")
    tensors = {k: v.to("cpu").contiguous() for k, v in trained_state_dict(model).items()}
    tensors, adapters = _saved_as_default(model, tensors, adapters)
    if not tensors:
        raise SamPromptError(f"{type(model).__name__} has nothing trained to save (no parameter requires grad)")
    config = {
        "format": FORMAT,
        "samprompt": __version__,
        "method": None if method is None else {"name": method.name, "model_class": type(model).__name__},
        "method_config": None if method is None else method.config_of(model),
        "core": {**info.to_dict(), "prefix": prefix},
        "adapters": adapters,
        "tensors": sorted(tensors),
        "metadata": dict(metadata or {}),
    }
    with atomic_directory(directory) as staging:
        save_tensors(tensors, staging / WEIGHTS_FILE, metadata={"format": FORMAT})
        (staging / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True))
    return Path(directory)


def save(model: nn.Module, directory: str | Path, metadata: Mapping[str, Any] | None = None) -> Path:
    """Save a model of a registered method so that `samprompt.load(directory)` rebuilds it."""
    if method_of(model) is None:
        raise SamPromptError(f"{type(model).__name__} is not a model of a registered method "
                             f"({', '.join(available_methods())}); register one, or use save_trained")
    return save_trained(model, directory, metadata)


# ------------------------------------------------------------------------- reading
def read_saved_config(directory: str | Path) -> dict[str, Any]:
    """The config of a saved folder, in the current format (0.1.0 folders are converted)."""
    directory = Path(directory)
    if not directory.exists():
        recover_leftovers(directory)         # a save killed between its two renames
    config_path = directory / CONFIG_FILE
    if not config_path.is_file() or not (directory / WEIGHTS_FILE).is_file():
        raise CheckpointNotFoundError(f"{str(directory)!r} is not a trained-weights directory: "
                                      f"it needs {CONFIG_FILE} and {WEIGHTS_FILE}")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{str(config_path)!r} is not valid JSON: {error}") from error
    if not isinstance(config, dict):
        raise CheckpointError(f"{str(config_path)!r} does not hold a JSON object")
    if config.get("format") == LEGACY_FORMAT:
        return check_saved_config(_from_legacy(config, config_path), config_path)
    if config.get("format") != FORMAT:
        raise CheckpointError(f"{str(config_path)!r} has format {config.get('format')!r}, expected {FORMAT!r} "
                              f"(or {LEGACY_FORMAT!r})")
    return check_saved_config(config, config_path)


def check_saved_config(config: dict[str, Any], path: Path) -> dict[str, Any]:
    """The saved config's structure, checked before any field is used: a `CheckpointError` names the
    file and the field instead of a bare KeyError or TypeError later."""
    def bad(field: str, expected: str) -> CheckpointError:
        return CheckpointError(f"{str(path)!r}: {field} must be {expected}")

    core = config.get("core")
    if not isinstance(core, dict) or not isinstance(core.get("variant"), str) \
            or not isinstance(core.get("architecture"), dict):
        raise bad("'core'", "an object with a 'variant' string and an 'architecture' object")
    method = config.get("method")
    if method is not None and (not isinstance(method, dict) or not isinstance(method.get("name"), str)):
        raise bad("'method'", "null or an object with a 'name' string")
    if method is not None and not isinstance(config.get("method_config"), dict):
        raise bad("'method_config'", "an object")
    adapters = config.get("adapters")
    if adapters is not None:
        if not isinstance(adapters, dict):
            raise bad("'adapters'", "null or an object")
        if not isinstance(adapters.get("lora") or {}, dict) or not all(
                isinstance(v, dict) for v in (adapters.get("lora") or {}).values()):
            raise bad("'adapters.lora'", "an object of adapter name -> settings object")
        if adapters.get("active_lora") is not None and not isinstance(adapters["active_lora"], (str, list)):
            raise bad("'adapters.active_lora'", "null, a name or a list of names")
        if adapters.get("bottleneck") is not None and not isinstance(adapters["bottleneck"], dict):
            raise bad("'adapters.bottleneck'", "null or a settings object")
    if not isinstance(config.get("tensors", []), list):
        raise bad("'tensors'", "a list")
    return config


def _from_legacy(config: dict[str, Any], path: Path) -> dict[str, Any]:
    """A 0.1.0 config: the method's config was JSON inside `metadata[<method key>]`; no key meant a
    PromptedSam with native prompts."""
    metadata = dict(config.get("metadata", {}))
    methods = [get_method(name) for name in available_methods()]
    method: Method | None = next((m for m in methods if m.legacy_metadata_key and m.legacy_metadata_key in metadata),
                                 None)
    if method is None and config.get("model_class") == "PromptedSam":
        method = next((m for m in methods if m.legacy_default), None)
    method_config = None
    if method is not None:
        try:
            method_config = method.legacy_config(metadata)
        except (KeyError, ValueError, TypeError) as error:
            raise CheckpointError(f"{str(path)!r} (samprompt 0.1.0) has {method.name} metadata that cannot be "
                                  f"read: {error}") from error
        metadata.pop(method.legacy_metadata_key or "", None)
    core = dict(config["core"])
    return {
        "format": FORMAT, "samprompt": "0.1.0",
        "method": None if method is None else {"name": method.name, "model_class": config.get("model_class")},
        "method_config": method_config,
        "core": {"family": "sam", "variant": core["variant"], "architecture": core["architecture"],
                 "weights": None, "prefix": core.get("prefix")},
        "adapters": {"lora": config.get("lora", {}), "active_lora": config.get("active_lora"),
                     "bottleneck": config.get("bottleneck")},
        "tensors": config.get("tensors", []), "metadata": metadata,
    }


def _read_tensors(directory: Path) -> dict[str, Tensor]:
    try:
        tensors = load_file(str(directory / WEIGHTS_FILE), device="cpu")
    except Exception as error:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"{str(directory / WEIGHTS_FILE)!r} could not be read (truncated or corrupt): "
                              f"{error}") from error
    check_weight_values(tensors, repr(str(directory / WEIGHTS_FILE)))
    return tensors


def check_core(saved: Mapping[str, Any], info: CoreInfo, source: str) -> None:
    """Raise CheckpointError if the saved core's family or architecture differs from `info`."""
    saved_info = CoreInfo.from_dict(saved)
    differences = saved_info.differences(info)
    if differences:
        raise CheckpointError(f"trained weights in {source} were saved for SAM variant {saved_info.variant!r}, "
                              f"but this core is {info.variant!r}: {'; '.join(differences)}")


def load_trained(model: nn.Module, directory: str | Path, *, strict: bool = True) -> dict[str, Any]:
    """Load the tensors of a saved folder into `model`, a model of the same structure (e.g. a fresh
    one, or the one being trained when a run resumes).

    The saved adapters are added to the model's core if it lacks them. Raises CheckpointError if
    the folder belongs to another method, the core's architecture differs from the saved one,
    or (with `strict`) the saved tensors and the model's trained tensors do not correspond one
    to one. Returns the saved config.
    """
    directory = Path(directory)
    source = repr(str(directory))
    config = read_saved_config(directory)
    method = method_of(model)
    saved_method = (config.get("method") or {}).get("name")
    if saved_method is not None and method is not None and saved_method != method.name:
        raise CheckpointError(f"{source} holds a {saved_method!r} model, not a {method.name!r} one "
                              f"({type(model).__name__}); load it with samprompt.load")
    _, core = _core_and_prefix(model)
    info = core.describe() if core is not None else method.core_info(model) if method is not None else None
    if info is not None:
        check_core(config["core"], info, source)
    tensors, adapters = _as_own_adapter(model, _read_tensors(directory), config.get("adapters"))
    if core is not None and adapters:
        apply_adapter_config(core, adapters, source=source)
    _copy_tensors(model, tensors, source, strict)
    return config


def _as_own_adapter(model: nn.Module, tensors: dict[str, Tensor], adapters: dict[str, Any] | None
                    ) -> tuple[dict[str, Tensor], dict[str, Any] | None]:
    """The saved adapter and tensors under the name of the model's own adapter (`model.adapter`), for
    a folder saved from such a model (its adapter is saved as "default"), e.g. a resumed checkpoint."""
    own = getattr(model, "adapter", None)
    if not own or own == SAVED_LORA_NAME or not adapters or list(adapters.get("lora") or {}) != [SAVED_LORA_NAME]:
        return tensors, adapters
    return _lora_renamed(tensors, adapters, SAVED_LORA_NAME, own)


def _copy_tensors(model: nn.Module, tensors: dict[str, Tensor], source: str, strict: bool) -> None:
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
        raise CheckpointError(f"trained weights in {source} do not fit {type(model).__name__}: " + "; ".join(problems))
    with torch.no_grad():
        for key, value in tensors.items():
            own[key].copy_(value.to(own[key].dtype))


def core_for(saved_core: Mapping[str, Any], source: str) -> SamCore:
    """Build the core a saved folder names (its family and variant, from the weights it records)."""
    info = CoreInfo.from_dict(saved_core)
    build: Callable[..., Core] = partial(build_sam, pretrained=False)
    if info.family == "sam2":
        if info.variant not in SAM2_VARIANT_NAMES:
            raise CheckpointError(f"{source} was trained on an unknown SAM 2 variant {info.variant!r}")
        from samprompt.core.sam2_core import build_sam2_core

        size = info.architecture.get("image_size")   # a random-init SAM 2 core may run at another size
        build = partial(build_sam2_core, image_size=size if isinstance(size, int) else None)
    else:
        get_variant(info.variant)  # UnknownVariantError for "custom" or an unregistered name
    if info.weights == "shipped":
        return build_sam(info.variant)
    if info.weights and info.weights.startswith(RANDOM_SEED_PREFIX):
        return build(info.variant, seed=int(info.weights[len(RANDOM_SEED_PREFIX):]))
    if info.weights in (None, "random"):
        what = "random-init" if info.weights == "random" else "unrecorded"
        raise CheckpointError(f"{source} was trained on a {info.variant!r} core with {what} weights, which "
                              "cannot be rebuilt: pass core=samprompt.build_sam(...) the same core")
    if not Path(info.weights).is_file():
        raise CheckpointNotFoundError(f"{source} was trained on the {info.variant!r} checkpoint {info.weights!r}, "
                                      "which does not exist here: pass core=samprompt.build_sam(variant, "
                                      "checkpoint=...)")
    return build(info.variant, checkpoint=info.weights)


def load(directory: str | Path, core: SamCore | None = None, *, adapter: str | None = None,
         **components: Any) -> nn.Module:
    """The model saved in `directory`, whatever its method, with its trained tensors loaded.

    Args:
        core: the core to build it on (default: the core the folder names, built with
            `build_sam`; it must have the same architecture either way).
        adapter: put the folder's LoRA adapter on the core under this name and make the model
            run with it (`model.adapter`): several models, each with its own adapter, on one
            core, switched per call without reloading. Only LoRA adapters can be named
            (bottleneck adapters are one set per core).
        components: parts the method does not save and would otherwise rebuild from their
            recorded spec, e.g. `text_encoder=` for RefSAM or `clip=` for ESC-Net.

    The model comes back in eval mode, on the core's device.
    """
    directory = Path(directory)
    source = repr(str(directory))
    config = read_saved_config(directory)
    if not config.get("method"):
        raise CheckpointError(f"{source} holds trained weights of a model that is not a registered method "
                              f"({(config.get('metadata') or {}).get('model_class', 'unknown')}): build that "
                              "model and use load_trained")
    method = get_method(config["method"]["name"])
    unknown = sorted(set(components) - method.components)
    if unknown:
        raise UnknownNameError(f"unknown components {unknown} for a {method.name!r} model; it takes "
                               f"{sorted(method.components) or 'none'}")
    if core is None:
        core = core_for(config["core"], source)
    check_core(config["core"], core.describe(), source)
    saved_lora = _named_adapter_check(config.get("adapters") or {}, core, adapter, source)
    own_lora = _own_lora_on_shared_core(config.get("adapters") or {}, core, adapter, source)
    parked = None
    if adapter is not None and saved_lora in core.adapters.lora:
        # another model's adapter has the saved name: park it meanwhile, so it is not overwritten
        parked = next(f"{saved_lora}_parked{k}" for k in range(len(core.adapters.lora) + 1)
                      if f"{saved_lora}_parked{k}" not in core.adapters.lora)
        rename_lora(core, saved_lora, parked)
    try:
        if config.get("adapters"):
            apply_adapter_config(core, config["adapters"], source=source)
        model = method.build(core, config["method_config"], **components)
        if adapter is not None:
            model.adapter = saved_lora
        elif own_lora is not None:
            model.adapter = own_lora
        _copy_tensors(model, _read_tensors(directory), source, strict=True)
        if adapter is not None:
            rename_lora(core, saved_lora, adapter)
            model.adapter = adapter
    finally:
        if parked is not None:
            if saved_lora in core.adapters.lora:  # the load failed half-way: drop what it added
                remove_lora(core, saved_lora)
            rename_lora(core, parked, saved_lora)
    return model.to(core.device).eval()   # what was built beside a core that lives on a GPU joins it


def _own_lora_on_shared_core(adapters: Mapping[str, Any], core: SamCore, adapter: str | None, source: str
                             ) -> str | None:
    """On a core that already carries LoRA adapters (other models'), the adapter a model loaded without
    `adapter=` runs with: "" (the base core) when the folder has none, else the folder's active one,
    which must not collide with one already there. None when the core carries none."""
    if adapter is not None or not core.adapters.lora:
        return None
    saved = adapters.get("lora") or {}
    taken = sorted(set(saved) & set(core.adapters.lora))
    if taken:
        raise ConfigError(f"{source} holds LoRA adapter(s) {taken}, and the core already has adapters of those names "
                          f"(another model's): load it with adapter='<a new name>'")
    return adapters.get("active_lora") or "" if saved else ""


def _named_adapter_check(adapters: Mapping[str, Any], core: SamCore, adapter: str | None, source: str) -> str:
    """The name of the folder's one LoRA adapter, when it is to be loaded under the name `adapter`."""
    if adapter is None:
        return ""
    saved = list((adapters.get("lora") or {}))
    if len(saved) != 1:
        raise CheckpointError(f"adapter={adapter!r}: {source} holds {len(saved)} LoRA adapters ({saved}); a named "
                              "adapter needs a folder with exactly one")
    if adapter in core.adapters.lora:
        raise ConfigError(f"adapter={adapter!r}: the core already has a LoRA adapter of that name; "
                          f"choose another name (the core has {sorted(core.adapters.lora)})")
    if adapters.get("bottleneck") is not None and core.adapters.bottleneck is not None:
        raise ConfigError(f"adapter={adapter!r}: {source} has bottleneck adapters and so has the core; bottleneck "
                          "adapters are one set per core, only LoRA adapters can be named and switched")
    return saved[0]
