"""Every method's exported prompt graph in ONNX Runtime against the same module in PyTorch, on the CPU.

    python bench/onnx_methods.py --variant vit_b --rounds 10 --out bench/results/onnx_methods_vit_b.json

Random-init method modules on a random-init core (speed does not depend on the values; no
checkpoint is downloadable here), the shipped CLIP and text encoder. For each graph and size,
the two paths are interleaved call by call: `pytorch` (the exported module, e.g.
`TextPromptGraph`, called under no_grad: the method's own generator and the core's decoder)
and `onnxruntime` (its .onnx file, CPU provider, default threads). Median seconds per call.

- refsam: text path with HDA and the track token, P expressions of 8 tokens;
- refsam_clicks: text + 2 clicks per row, P rows;
- classes: K class names on one image (CLIP's tower, pseudo prompts, SAM decoder);
- escnet: ESC-Net with CLIP at 128 px and 2 blocks (the demo's configuration when the figures in
  docs/deploy.md were taken), one 256 x 256 image, K classes.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch
from shared import machine, write_json

import samprompt
from samprompt.clip import load_clip
from samprompt.export import export_onnx, onnx_session
from samprompt.export.onnx import prepared_copy
from samprompt.text import load_text_encoder


def cases() -> dict[str, tuple[Callable[[Any], Any], str, Callable[[Any, int], tuple], list[int]]]:
    """name -> (build the model on a core, the graph's name, inputs for a size, the sizes)."""
    from samprompt.classes.method import class_prompted_sam
    from samprompt.classes.onnx import example_inputs as class_inputs
    from samprompt.escnet import ESCNet, ESCNetConfig
    from samprompt.escnet.onnx import example_inputs as escnet_inputs
    from samprompt.refsam import RefSAM, RefSAMConfig
    from samprompt.refsam.clicks import RefSAMWithClicks
    from samprompt.refsam.onnx import example_inputs as text_inputs

    def texts(model: Any, rows: int) -> tuple:
        return tuple(text_inputs(model, rows=rows, tokens=8, clicks=2, seed=0).values())

    return {
        "refsam": (lambda core: RefSAM(core, load_text_encoder("shapes"), RefSAMConfig()), "text_prompt_decoder",
                   texts, [1, 8]),
        "refsam_clicks": (lambda core: RefSAMWithClicks(core, load_text_encoder("shapes"),
                                                        RefSAMConfig(tracking=False)), "text_prompt_decoder", texts,
                          [1, 8]),
        "classes": (lambda core: class_prompted_sam(core, {}), "class_prompt_decoder",
                    lambda model, k: class_inputs(model, k, model.core.image_size * 3 // 4, seed=0), [5, 20]),
        "escnet": (lambda core: ESCNet(core, load_clip(), ESCNetConfig(
                       clip_image_size=128, templates=("a {}", "a photo of a {}"), blocks=2, decoder_dims=(32, 16))),
                   "escnet",
                   lambda model, k: escnet_inputs(model, 1, k, (256, 256), seed=0), [5, 20]),
    }


def interleaved(paths: dict[str, Callable[[], Any]], rounds: int) -> dict[str, float]:
    """Median seconds per call of each path, called in alternating order (round 0 warms up)."""
    seconds: dict[str, list[float]] = {name: [] for name in paths}
    with torch.no_grad():
        for round_index in range(rounds + 1):
            for name in (list(paths) if round_index % 2 else list(reversed(paths))):
                start = time.perf_counter()
                paths[name]()
                if round_index:
                    seconds[name].append(time.perf_counter() - start)
    return {name: statistics.median(v) for name, v in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="vit_b")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--methods", nargs="+", default=list(cases()))
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    result: dict[str, Any] = {"variant": args.variant, "device": machine(), "torch": torch.__version__,
                              "rounds": args.rounds, "methods": {}}
    print(f"{args.variant}, {result['device']}, median of {args.rounds} interleaved calls")
    print(f"{'method':<15}{'size':>5}{'pytorch ms':>12}{'onnxruntime ms':>16}{'x pytorch':>11}")
    for name in args.methods:
        build, graph_name, inputs_for, sizes = cases()[name]
        torch.manual_seed(0)
        model = build(samprompt.build_sam(args.variant, pretrained=args.variant == "tiny")).eval()
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            export_onnx(model, folder, parts=("prompt_decoder",))
            export_seconds = time.perf_counter() - start
            method, copied, _ = prepared_copy(model)
            graph = method.onnx_prompt_graphs(copied)[graph_name]
            session = onnx_session(Path(folder) / f"{graph_name}.onnx")
            entry: dict[str, Any] = {"graph": graph_name, "export_seconds": export_seconds, "sizes": {}}
            for size in sizes:
                inputs = inputs_for(copied, size)
                feed = {n: t.numpy() for n, t in zip(graph.input_names, inputs)}
                medians = interleaved({"pytorch": lambda: graph.module(*inputs),
                                       "onnxruntime": lambda: session.run(None, feed)}, args.rounds)
                entry["sizes"][str(size)] = {"seconds": medians,
                                             "speedup_vs_pytorch": medians["pytorch"] / medians["onnxruntime"]}
                print(f"{name:<15}{size:>5}{1000 * medians['pytorch']:>12.2f}{1000 * medians['onnxruntime']:>16.2f}"
                      f"{medians['pytorch'] / medians['onnxruntime']:>11.2f}")
        result["methods"][name] = entry
    write_json(args.out, result)


if __name__ == "__main__":
    main()
