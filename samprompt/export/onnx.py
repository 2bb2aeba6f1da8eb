"""ONNX export of a core and its prompt path, checked in ONNX Runtime against PyTorch.

    from samprompt.export import export_onnx
    report = export_onnx(model, "out/onnx")          # a core, or a registered method's model

writes `encoder.onnx` (LoRA merged into the weights, bottleneck adapters kept; SAM or SAM 2.1),
the method's prompt side (`Method.onnx_prompt_graphs`: `prompt_decoder.onnx`, plain clicks,
boxes and mask prompts, for a core or the native method; `text_prompt_decoder.onnx` for RefSAM,
`class_prompt_decoder.onnx` for class names, `escnet.onnx`; SAM-REF adds its refiners),
optionally `prompt_inputs.npz` (text features / class embeddings, precomputed) and
`manifest.json` (what each input and output is, the core's preprocessing, the core, and the
largest differences to PyTorch that ONNX Runtime gave on the example inputs and on a second,
differently shaped set). The model itself is not changed: the exporter works on a copy.

The graphs are traced with PyTorch's TorchScript-based exporter (`dynamo=False`): the
validation in the core's decoder is data-dependent Python, which tracing evaluates once while
`torch.export` refuses it.
"""
from __future__ import annotations

import copy
import json
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from samprompt.core.base import Core
from samprompt.errors import ConfigError, ExportError
from samprompt.export.graphs import OnnxGraph, encoder_graph, prompt_decoder_graph
from samprompt.utils.files import atomic_file

PARTS = ("encoder", "prompt_decoder")
DEFAULT_OPSET = 17
TOLERANCE = 1e-3     # largest absolute difference ONNX Runtime may show against PyTorch (float32)


def _method_and_core(model: nn.Module) -> tuple[Any, Core | None]:
    from samprompt.methods import method_of

    if isinstance(model, Core):
        return None, model
    method = method_of(model)
    if method is None:
        raise ExportError(f"export_onnx takes a core or the model of a registered method, got {type(model).__name__}")
    core = getattr(model, "core", None)
    return method, core if isinstance(core, Core) else None


def prepared_copy(model: nn.Module) -> tuple[Any, nn.Module, Core | None]:
    """A float32 eval-mode copy of `model` on the CPU with its LoRA merged, its method and its core
    (None for a model that holds none, e.g. ESC-Net, which runs SAM's decoder blocks in its own model)."""
    from samprompt.tuning.lora import active_lora, merge_lora

    copied = copy.deepcopy(model).float().cpu().eval()
    method, core = _method_and_core(copied)
    if core is not None and active_lora(core) is not None:
        merge_lora(core)
    return method, copied, core


def export_graph(graph: OnnxGraph, path: Path, opset: int = DEFAULT_OPSET) -> None:
    """Trace `graph.module` on its inputs into an ONNX file at `path` (written atomically)."""
    fastpath = torch.backends.mha.get_fastpath_enabled()
    with atomic_file(path) as staging, warnings.catch_warnings():
        warnings.simplefilter("ignore")              # tracer warnings about the decoder's checks
        torch.backends.mha.set_fastpath_enabled(False)   # nn.MultiheadAttention's fused kernel has no ONNX form
        try:
            torch.onnx.export(graph.module, graph.inputs, str(staging), dynamo=False, opset_version=opset,
                              input_names=graph.input_names, output_names=graph.output_names,
                              dynamic_axes=graph.dynamic_axes, do_constant_folding=True)
        finally:
            torch.backends.mha.set_fastpath_enabled(fastpath)


def onnx_session(path: str | Path) -> Any:
    """An ONNX Runtime CPU session for `path`."""
    try:
        import onnxruntime
    except ImportError as error:
        raise ExportError(f"running ONNX files needs onnxruntime: pip install 'samprompt[onnx]' ({error})") from None
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def largest_differences(graph: OnnxGraph, session: Any, inputs: tuple[Tensor, ...]) -> dict[str, float]:
    """Output name -> the largest absolute difference between ONNX Runtime and PyTorch on `inputs`."""
    feed = {name: t.detach().cpu().numpy() for name, t in zip(graph.input_names, inputs)}
    ours = session.run(None, feed)
    with torch.no_grad():
        reference = graph.module(*inputs)
    reference = reference if isinstance(reference, tuple) else (reference,)
    return {name: float(np.abs(o - r.detach().cpu().numpy()).max()) if o.size else 0.0
            for name, o, r in zip(graph.output_names, ours, reference)}


def export_onnx(model: nn.Module, out: str | Path, *, parts: tuple[str, ...] | None = None,
                multimask_output: bool = True, opset: int = DEFAULT_OPSET, tolerance: float = TOLERANCE,
                text: Sequence[str] | None = None, classes: Sequence[str] | None = None) -> dict[str, Any]:
    """Export `model` (a core, or a registered method's model) to ONNX files in `out` (module docstring).

    Args:
        parts: "encoder" and / or "prompt_decoder" (the method's whole prompt side); None: every
            part the model has (a model without a core, ESC-Net, has no SAM encoder to export).
        multimask_output: the click prompt decoder returns the 3 ambiguity masks (else the single
            mask); the text and class-name graphs give what their model gives (`model.multimask_output`).
        tolerance: the largest absolute difference to PyTorch accepted in the ONNX Runtime check.
        text / classes: expressions or class names whose precomputed graph inputs (text features,
            class embeddings: `Method.onnx_prompt_inputs`) are written to `prompt_inputs.npz`,
            one array per graph input name, rows in the given order.
    Returns:
        The manifest (also written to `out/manifest.json`).
    Raises:
        ExportError: a part this model's method cannot export, or a check beyond `tolerance`.
    """
    if parts is not None:
        parts = tuple(parts)
        unknown = [p for p in parts if p not in PARTS]
        if not parts or unknown:
            raise ConfigError(f"parts must be a non-empty selection of {', '.join(PARTS)}, got {parts}")
    if not isinstance(tolerance, (int, float)) or not tolerance > 0:
        raise ConfigError(f"tolerance must be a positive number, got {tolerance!r}")
    method, model, core = prepared_copy(model)
    if parts is None:
        parts = PARTS if core is not None else ("prompt_decoder",)
    if "encoder" in parts and core is None:
        raise ExportError(f"the {method.name!r} model holds no SAM image encoder (it sees the images through its own "
                          f"image model, which its prompt graph contains): export parts=('prompt_decoder',)")
    prompt_inputs = precomputed_inputs(method, model, text, classes) if text is not None or classes is not None \
        else None
    out = Path(out)
    graphs: dict[str, tuple[OnnxGraph, tuple[Tensor, ...]]] = {}
    if "encoder" in parts:
        levels = method.onnx_encoder_levels(model) if method is not None else ()
        graph = encoder_graph(core, levels=tuple(levels))
        graphs["encoder"] = (graph, (torch.randn(2, *graph.inputs[0].shape[1:]),))
    if "prompt_decoder" in parts:
        prompt_graphs = (method.onnx_prompt_graphs(model, multimask_output=multimask_output) if method is not None
                         else {"prompt_decoder": prompt_decoder_graph(core, multimask_output=multimask_output)})
        graphs.update({name: (graph, second_inputs(graph)) for name, graph in prompt_graphs.items()})
    manifest: dict[str, Any] = {
        "method": method.name if method is not None else None, "opset": opset, "tolerance": tolerance,
        "core": (core.describe() if core is not None else method.core_info(model)).to_dict(),
        "preprocessing": None if core is None else core.preprocessing(),
        "graphs": {}}
    for name, (graph, other_inputs) in graphs.items():
        path = out / f"{name}.onnx"
        start = time.perf_counter()
        export_graph(graph, path, opset)
        session = onnx_session(path)
        checks = {"example": largest_differences(graph, session, graph.inputs),
                  "other_shapes": largest_differences(graph, session, other_inputs)}
        worst = max(v for check in checks.values() for v in check.values())
        if not worst <= tolerance:
            raise ExportError(f"{path}: ONNX Runtime differs from PyTorch by {worst:.3g} (tolerance {tolerance}); "
                              f"checks: {checks}")
        manifest["graphs"][name] = {
            "file": path.name, "inputs": {n: graph.descriptions.get(n, "") for n in graph.input_names},
            "outputs": {n: graph.descriptions.get(n, "") for n in graph.output_names},
            "dynamic_axes": {n: {str(k): v for k, v in axes.items()} for n, axes in graph.dynamic_axes.items()},
            "largest_difference_to_pytorch": checks, "export_seconds": round(time.perf_counter() - start, 2)}
    if prompt_inputs is not None:
        manifest["prompt_inputs"] = write_prompt_inputs(prompt_inputs, out / "prompt_inputs.npz", text, classes)
    with atomic_file(out / "manifest.json") as staging:
        staging.write_text(json.dumps(manifest, indent=2))
    return manifest


def precomputed_inputs(method: Any, model: nn.Module, text: Sequence[str] | None,
                       classes: Sequence[str] | None) -> dict[str, np.ndarray]:
    """The method's precomputed prompt-graph inputs for `text` / `classes`, by input name."""
    if method is None:
        raise ExportError("a core's prompt decoder takes clicks, boxes and masks: text and class names need the "
                          "model of a method whose prompt graphs read them")
    with torch.no_grad():
        return {name: t.detach().cpu().numpy() for name, t in
                method.onnx_prompt_inputs(model, text=text, classes=classes).items()}


def write_prompt_inputs(arrays: dict[str, np.ndarray], path: Path, text: Sequence[str] | None,
                        classes: Sequence[str] | None) -> dict[str, Any]:
    """Write `arrays` to `path` (a plain npz, no pickled objects); their manifest entry."""
    with atomic_file(path) as staging, open(staging, "wb") as handle:
        np.savez(handle, **arrays)
    return {"file": path.name, "text": list(text) if text is not None else None,
            "classes": list(classes) if classes is not None else None,
            "arrays": {name: list(a.shape) for name, a in arrays.items()}}


def second_inputs(graph: OnnxGraph) -> tuple[Tensor, ...]:
    """Inputs of other sizes along every dynamic axis (one more row, two more points...), to check
    that the exported graph did not freeze the example's sizes (`graph.other_inputs` when it has them)."""
    if graph.other_inputs is not None:
        return graph.other_inputs
    generator = torch.Generator().manual_seed(1)
    inputs = []
    for name, example in zip(graph.input_names, graph.inputs):
        shape = list(example.shape)
        for axis in graph.dynamic_axes.get(name, {}):
            shape[axis] += 2 + axis
        if example.is_floating_point():
            values = torch.rand(shape, generator=generator) * float(example.abs().max().clamp(min=1))
            if name.endswith("labels"):
                values = torch.randint(-1, 4, shape, generator=generator).float()
            elif name.startswith("has_"):
                values = (torch.rand(shape, generator=generator) > 0.5).float()
        else:
            values = torch.randint(0, 2, shape, generator=generator)
        inputs.append(values.to(example.device, example.dtype))
    return tuple(inputs)
