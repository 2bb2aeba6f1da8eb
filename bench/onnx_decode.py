"""The exported prompt path in ONNX Runtime against the same path in PyTorch, on the CPU.

    python bench/onnx_decode.py --variant vit_b --rounds 20 --out bench/results/onnx_decode_vit_b.json
    python bench/onnx_decode.py --variant sam2.1_hiera_t --rounds 5 --out bench/results/onnx_decode_sam2_t.json

One image's encoder outputs (SAM 2: with its two high-resolution maps; random init weights: no
checkpoint is downloadable here, and speed does not depend on the values), P rows of one click
plus the padding point, P = 1, 16 and 64. Paths, interleaved call by call: `pytorch` (the
exported module, `PromptDecoderGraph`, called in PyTorch under no_grad: the core's decoder),
`samprompt_decode` (the library's own `embed_prompts` + `decode` without upscaling) and
`onnxruntime` (prompt_decoder.onnx, CPU provider, default threads). Reports the median
seconds per call and the ratio to PyTorch.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from shared import machine, write_json

import samprompt
from samprompt.core.structures import Prompts
from samprompt.export import export_onnx, onnx_session
from samprompt.export.graphs import PromptDecoderGraph, image_inputs, square_features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="vit_b")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.manual_seed(0)
    core = samprompt.build_sam(args.variant, pretrained=args.variant == "tiny")
    with tempfile.TemporaryDirectory() as folder:
        export_onnx(core, folder, parts=("prompt_decoder",))
        session = onnx_session(Path(folder) / "prompt_decoder.onnx")
        graph = PromptDecoderGraph(core).eval()
        image_side, _ = image_inputs(core)
        features = square_features(core, image_side)
        result = {"variant": args.variant, "device": machine(), "torch": torch.__version__, "rounds": args.rounds,
                  "rows": {}}
        print(f"{args.variant} prompt path, {result['device']}, median of {args.rounds} interleaved calls")
        print(f"{'rows':>5}{'pytorch ms':>12}{'samprompt ms':>14}{'onnxruntime ms':>16}{'x pytorch':>11}")
        for rows in args.rows:
            clicks = torch.rand(rows, 1, 2) * core.image_size
            coords = torch.cat([clicks, torch.zeros(rows, 1, 2)], 1)
            labels = torch.cat([torch.ones(rows, 1), -torch.ones(rows, 1)], 1)
            mask = torch.zeros(rows, 1, *core.mask_input_size)
            has_mask = torch.zeros(rows)
            feed = {**{n: t.numpy() for n, t in image_side.items()}, "point_coords": coords.numpy(),
                    "point_labels": labels.numpy(), "mask_input": mask.numpy(), "has_mask_input": has_mask.numpy()}

            def library() -> None:
                sparse, dense = core.embed_prompts(points=(clicks, torch.ones(rows, 1, dtype=torch.int)))
                core.decode(features, Prompts(sparse, dense), upscale=False)

            paths = {"pytorch": lambda: graph(*image_side.values(), coords, labels, mask, has_mask),
                     "samprompt_decode": library,
                     "onnxruntime": lambda: session.run(None, feed)}
            seconds = {name: [] for name in paths}
            with torch.no_grad():
                for round_index in range(args.rounds + 1):         # round 0 warms up
                    for name in (list(paths) if round_index % 2 else list(reversed(paths))):
                        start = time.perf_counter()
                        paths[name]()
                        if round_index:
                            seconds[name].append(time.perf_counter() - start)
            medians = {name: statistics.median(v) for name, v in seconds.items()}
            entry = {"seconds": medians, "speedup_vs_pytorch": {n: medians["pytorch"] / s for n, s in medians.items()}}
            result["rows"][str(rows)] = entry
            print(f"{rows:>5}{1000 * medians['pytorch']:>12.2f}{1000 * medians['samprompt_decode']:>14.2f}"
                  f"{1000 * medians['onnxruntime']:>16.2f}{entry['speedup_vs_pytorch']['onnxruntime']:>11.2f}")
    write_json(args.out, result)


if __name__ == "__main__":
    main()
