"""The core against segment-anything itself: encoder and prompt-decoder time, same weights and inputs.

    python bench/core.py --variant tiny --rounds 20 --out bench/results/core_tiny.json
    python bench/core.py --variant vit_b --rounds 3 --out bench/results/core_vit_b.json

Paths, interleaved round by round so that machine noise hits them alike (the median of the
rounds is reported):
- `segment_anything`: `SamPredictor.set_image` / `.predict` on a plain `Sam` (its own attention);
- `samprompt_reference`: `samprompt.Predictor` on a core built with `fast_attention=False`;
- `samprompt`: `samprompt.Predictor` on the default core (fused scaled-dot-product attention);
- `samprompt_bf16`: the default core under bfloat16 autocast (where the device supports it);
- with `--compile`, `samprompt_compiled` / `samprompt_bf16_compiled`: the default core with its
  image encoder compiled in place (`nn.Module.compile`; compilation happens in the warm-up round).
All hold the same weights (random init for the official variants: no checkpoint is
downloadable here; speed does not depend on the values). Reports time ratios to
segment-anything and the largest difference of the low-res mask logits and the embeddings.
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import numpy as np
import torch
from segment_anything import SamPredictor
from shared import machine, write_json

import samprompt


def timed(function: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    function()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="tiny")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--decodes", type=int, default=20, help="prompt decodes timed per round")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default=None)
    parser.add_argument("--compile", action="store_true", help="also time the encoder under torch.compile")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    fast = samprompt.build_sam(args.variant, pretrained=args.variant == "tiny").to(device)
    reference = samprompt.build_sam(args.variant, pretrained=False, fast_attention=False).to(device)
    reference.load_state_dict(fast.state_dict())
    plain = samprompt.build_sam(args.variant, pretrained=False, fast_attention=False).sam.to(device)
    plain.load_state_dict(fast.sam.state_dict())

    rng = np.random.default_rng(0)
    side = fast.image_size
    image = rng.integers(0, 256, (side * 3 // 4, side, 3), dtype=np.uint8)
    points, labels = np.array([[side * 0.4, side * 0.3]]), np.array([1])
    bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported() or device.type == "cpu"
    paths: dict[str, tuple[object, bool]] = {
        "segment_anything": (SamPredictor(plain), False),
        "samprompt_reference": (samprompt.Predictor(reference), False),
        "samprompt": (samprompt.Predictor(fast), False),
    }
    if bf16:
        paths["samprompt_bf16"] = (samprompt.Predictor(fast), True)
    if args.compile:
        compiled = samprompt.build_sam(args.variant, pretrained=False).to(device)
        compiled.load_state_dict(fast.state_dict())
        compiled.sam.image_encoder.compile()
        paths["samprompt_compiled"] = (samprompt.Predictor(compiled), False)
        if bf16:
            paths["samprompt_bf16_compiled"] = (samprompt.Predictor(compiled), True)
    encode: dict[str, list[float]] = {name: [] for name in paths}
    decode: dict[str, list[float]] = {name: [] for name in paths}
    outputs: dict[str, tuple[torch.Tensor, np.ndarray]] = {}
    with torch.no_grad():
        for round_index in range(args.rounds + 1):           # round 0 warms up
            names = list(paths) if round_index % 2 else list(reversed(paths))
            for name in names:
                predictor, autocast = paths[name]
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                    seconds = timed(lambda: predictor.set_image(image), device)
                    start = time.perf_counter()
                    for _ in range(args.decodes):
                        _, _, low_res = predictor.predict(point_coords=points, point_labels=labels)
                    per_decode = (time.perf_counter() - start) / args.decodes
                if round_index:
                    encode[name].append(seconds)
                    decode[name].append(per_decode)
                outputs[name] = (predictor.get_image_embedding().float().cpu(), low_res)
    base_embedding, base_logits = outputs["segment_anything"]
    result = {
        "variant": args.variant, "image_size": side, "rounds": args.rounds, "decodes_per_round": args.decodes,
        "device": machine(device),
        "torch": torch.__version__,
        "parameters": sum(p.numel() for p in fast.parameters()),
        "encoder_seconds": {k: statistics.median(v) for k, v in encode.items()},
        "decode_seconds": {k: statistics.median(v) for k, v in decode.items()},
    }
    sa_encode, sa_decode = result["encoder_seconds"]["segment_anything"], result["decode_seconds"]["segment_anything"]
    result["encoder_speedup_vs_segment_anything"] = {k: sa_encode / v for k, v in result["encoder_seconds"].items()}
    result["decode_speedup_vs_segment_anything"] = {k: sa_decode / v for k, v in result["decode_seconds"].items()}
    result["max_abs_difference"] = {
        k: {"embedding": float((e - base_embedding).abs().max()),
            "low_res_logits": float(np.abs(np.asarray(logits, dtype=np.float32) - base_logits).max())}
        for k, (e, logits) in outputs.items()}
    write_json(args.out, result)
    print(f"{args.variant} at {side} px on {result['device']} (median of {args.rounds} interleaved rounds)")
    print(f"{'path':<26}{'encoder s':>11}{'x SA':>7}{'decode ms':>11}{'x SA':>7}{'max |d emb|':>13}"
          f"{'max |d logit|':>15}")
    for name in paths:
        diff = result["max_abs_difference"][name]
        print(f"{name:<26}{result['encoder_seconds'][name]:>11.4f}"
              f"{result['encoder_speedup_vs_segment_anything'][name]:>7.2f}"
              f"{1000 * result['decode_seconds'][name]:>11.2f}"
              f"{result['decode_speedup_vs_segment_anything'][name]:>7.2f}"
              f"{diff['embedding']:>13.2e}{diff['low_res_logits']:>15.2e}")


if __name__ == "__main__":
    main()
