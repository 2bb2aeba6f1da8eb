"""Methods as plug-ins: the registry, one save format, `samprompt.load` for any saved method."""
from samprompt.methods.registry import (
    ENTRY_POINT_GROUP,
    EvalRequest,
    Method,
    PredictRequest,
    available_methods,
    get_method,
    load_plugins,
    method_of,
    register_method,
    unregister_method,
)
from samprompt.methods.saving import load, load_trained, read_saved_config, save, save_trained, trained_state_dict

__all__ = [
    "ENTRY_POINT_GROUP", "EvalRequest", "Method", "PredictRequest", "available_methods", "get_method", "load",
    "load_plugins", "load_trained", "method_of", "read_saved_config", "register_method", "save", "save_trained",
    "trained_state_dict", "unregister_method",
]
