"""SAM 2.1 against SAM 1 at comparable size: encoder and prompt-decoder time through each family's
own predictor, and samprompt's SAM 1 predictor beside them.

    python bench/sam2_vs_sam1.py --sam1 vit_b vit_l vit_h --sam2 t s b+ l --rounds 10 \
        --out bench/results/sam2_vs_sam1_gpu.json

Every model is random-init (no checkpoint is downloadable here; speed does not depend on the
values): SAM 1 through `samprompt.build_sam(variant, pretrained=False)`, SAM 2.1 through Meta's
`sam2.build_sam.build_sam2("configs/sam2.1/sam2.1_hiera_<size>.yaml", ckpt_path=None)`. Paths,
interleaved round by round (the median of the rounds is reported; round 0 warms up):
- `segment_anything/<variant>`: `SamPredictor.set_image` / `.predict`;
- `samprompt/<variant>`: `samprompt.Predictor` on the same weights (default fused attention);
- `sam2/<size>`: `SAM2ImagePredictor.set_image` / `.predict`;
- `samprompt_sam2/<size>`: `samprompt.Predictor` on a `Sam2Core` wrapping the very same model;
- samprompt's and SAM 2's again under bfloat16 autocast (`+bf16`) where the device supports it
  (`SamPredictor.predict` cannot convert bf16 scores to numpy).
One 4:3 image at the models' 1024 px, one click, single-mask output, numpy masks out (what both
predictors return by default). Ratios are to `segment_anything/<first SAM 1 variant>`.
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np
import torch
from segment_anything import SamPredictor
from shared import machine, write_json

import samprompt


def build_paths(args: argparse.Namespace, device: torch.device) -> dict[str, tuple[Any, int]]:
    """name -> (predictor, parameter count)."""
    from sam2.build_sam import build_sam2
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    paths: dict[str, tuple[Any, int]] = {}
    for variant in args.sam1:
        core = samprompt.build_sam(variant, pretrained=False).to(device)
        plain = samprompt.build_sam(variant, pretrained=False, fast_attention=False).sam.to(device)
        plain.load_state_dict(core.sam.state_dict())
        count = sum(p.numel() for p in plain.parameters())
        paths[f"segment_anything/{variant}"] = (SamPredictor(plain), count)
        paths[f"samprompt/{variant}"] = (samprompt.Predictor(core), count)
    from samprompt.core.sam2_core import Sam2Core

    for size in args.sam2:
        model = build_sam2(f"configs/sam2.1/sam2.1_hiera_{size}.yaml", ckpt_path=None, device=str(device))
        count = sum(p.numel() for p in model.parameters())
        paths[f"sam2/{size}"] = (SAM2ImagePredictor(model), count)
        paths[f"samprompt_sam2/{size}"] = (samprompt.Predictor(Sam2Core(model)), count)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sam1", nargs="+", default=["vit_b"], help="SAM 1 variants")
    parser.add_argument("--sam2", nargs="+", default=["t", "b+"], help="SAM 2.1 Hiera sizes: t, s, b+, l")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--decodes", type=int, default=20, help="prompt decodes timed per round")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    paths = build_paths(args, device)
    precisions = [False]
    if device.type == "cpu" or torch.cuda.is_bf16_supported():
        precisions.append(True)
    # SamPredictor.predict cannot hand bf16 scores to numpy, so segment-anything runs in float32 only.
    cases = [(name, bf16) for name in paths for bf16 in precisions
             if not (bf16 and name.startswith("segment_anything/"))]

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (768, 1024, 3), dtype=np.uint8)
    points, labels = np.array([[410.0, 230.0]]), np.array([1])
    encode: dict[str, list[float]] = {}
    decode: dict[str, list[float]] = {}
    with torch.inference_mode():
        for round_index in range(args.rounds + 1):
            order = cases if round_index % 2 else list(reversed(cases))
            for name, bf16 in order:
                key = name + ("+bf16" if bf16 else "")
                predictor = paths[name][0]
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    sync()
                    start = time.perf_counter()
                    predictor.set_image(image)
                    sync()
                    encoded = time.perf_counter() - start
                    start = time.perf_counter()
                    for _ in range(args.decodes):
                        predictor.predict(point_coords=points, point_labels=labels, multimask_output=False)
                    decoded = (time.perf_counter() - start) / args.decodes
                if round_index:
                    encode.setdefault(key, []).append(encoded)
                    decode.setdefault(key, []).append(decoded)
            print(f"round {round_index} done", flush=True)
    base = f"segment_anything/{args.sam1[0]}"
    encoder = {k: statistics.median(v) for k, v in encode.items()}
    decoder = {k: statistics.median(v) for k, v in decode.items()}
    result = {
        "device": machine(device), "torch": torch.__version__, "rounds": args.rounds,
        "decodes_per_round": args.decodes, "baseline": base,
        "parameters": {name: count for name, (_, count) in paths.items()},
        "encoder_seconds": encoder, "decode_seconds": decoder,
        "encoder_speedup_vs_baseline": {k: encoder[base] / v for k, v in encoder.items()},
        "decode_speedup_vs_baseline": {k: decoder[base] / v for k, v in decoder.items()},
    }
    write_json(args.out, result)
    print(f"1024 px on {result['device']}, median of {args.rounds} interleaved rounds; x = {base}'s time / path's")
    print(f"{'path':<32}{'params M':>9}{'encoder ms':>12}{'x':>7}{'decode ms':>11}{'x':>7}")
    for key in encoder:
        count = paths[key.removesuffix("+bf16")][1]
        speedups = result["encoder_speedup_vs_baseline"][key], result["decode_speedup_vs_baseline"][key]
        print(f"{key:<32}{count / 1e6:>9.1f}{1000 * encoder[key]:>12.2f}{speedups[0]:>7.2f}"
              f"{1000 * decoder[key]:>11.3f}{speedups[1]:>7.2f}")


if __name__ == "__main__":
    main()
