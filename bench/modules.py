"""Per-module overhead, as a fraction of one SAM encoder pass on the same image.

    python bench/modules.py --rounds 10 --out bench/results/modules.json

- RefSAM (shipped tiny core, shipped CLIP text tower, prompts-only preset, random-init prompt
  modules): one expression on an encoded image, with the text tower run every call vs
  `CachedTextEncoder` (the expression seen before, as on every frame of a video after the first).
- SAM-REF per click (`InteractiveSession`): SAM's prompt encoder + decoder and the refiner,
  on the tiny core (128 px frame, 64 px windows) and, with `--vit-b`, on a random-init vit_b at
  1024 px with the default refiner (1024 px global frame, 256 px windows).
Medians over rounds (one warm-up first).
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from shared import machine, write_json

import samprompt
from samprompt.refsam import RefSAM, refsam_preset
from samprompt.samref import SAMRef, SAMRefConfig
from samprompt.text import CachedTextEncoder, load_text_encoder


def median_seconds(function, rounds: int) -> float:
    function()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def refsam_rows(rounds: int, image: np.ndarray) -> dict[str, float]:
    torch.manual_seed(0)
    core = samprompt.build_sam("tiny")
    encoder = load_text_encoder("shapes")
    model = RefSAM(core, encoder, refsam_preset("prompts_only")).eval()
    with torch.no_grad():
        encode = median_seconds(lambda: core.encode([image]), rounds)
        features = core.encode([image])
        text = [["the small red circle on the left"]]
        plain = median_seconds(lambda: model(features=features, text=text), rounds)
        model.generator.text_encoder = CachedTextEncoder(encoder)
        cached = median_seconds(lambda: model(features=features, text=text), rounds)
    return {"encoder_seconds": encode, "per_expression_seconds": plain, "per_expression_cached_seconds": cached,
            "per_expression_over_encoder": plain / encode, "per_expression_cached_over_encoder": cached / encode}


def samref_rows(variant: str, config: SAMRefConfig, rounds: int, side: int) -> dict[str, float]:
    torch.manual_seed(0)
    core = samprompt.build_sam(variant, pretrained=variant == "tiny")
    model = SAMRef(core, config).eval()
    image = np.random.default_rng(0).integers(0, 256, (side * 3 // 4, side, 3), dtype=np.uint8)
    with torch.no_grad():
        start = time.perf_counter()
        session = model.session(image)
        encode = time.perf_counter() - start
    clicks = [(side // 3, side // 4, True), (side // 2, side // 3, False), (side // 4, side // 2, True)]
    decoder, refiner = [], []
    for _ in range(rounds):
        session.reset()
        for x, y, positive in clicks:
            session.click(x, y, positive)
            decoder.append(session.steps[-1].decoder_seconds)
            refiner.append(session.steps[-1].refiner_seconds)
    decode, refine = statistics.median(decoder[len(clicks):]), statistics.median(refiner[len(clicks):])
    return {"encoder_seconds": encode, "decoder_seconds_per_click": decode, "refiner_seconds_per_click": refine,
            "refiner_over_decoder": refine / decode, "refiner_over_encoder": refine / encode,
            "refiner_parameters": sum(p.numel() for p in model.refiner.parameters())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--vit-b", action="store_true", help="also SAM-REF on vit_b at 1024 px (slow on CPU)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    image = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    result = {"machine": machine(),
              "torch": torch.__version__, "rounds": args.rounds, "refsam_tiny": refsam_rows(args.rounds, image),
              "samref_tiny": samref_rows("tiny", SAMRefConfig(local_size=64, click_radius=3.0), args.rounds, 128)}
    if args.vit_b:
        result["samref_vit_b"] = samref_rows("vit_b", SAMRefConfig(), max(2, args.rounds // 5), 1024)
    r = result["refsam_tiny"]
    print(f"RefSAM (tiny): encoder {1000 * r['encoder_seconds']:.1f} ms; per expression "
          f"{1000 * r['per_expression_seconds']:.1f} ms ({r['per_expression_over_encoder']:.2f} of an encoder pass), "
          f"text cached {1000 * r['per_expression_cached_seconds']:.1f} ms "
          f"({r['per_expression_cached_over_encoder']:.2f})")
    for key in ("samref_tiny", "samref_vit_b"):
        if key in result:
            r = result[key]
            print(f"SAM-REF ({key[7:]}): encoder {r['encoder_seconds']:.3f} s once; per click decoder "
                  f"{1000 * r['decoder_seconds_per_click']:.1f} ms, "
                  f"refiner {1000 * r['refiner_seconds_per_click']:.1f} ms "
                  f"({r['refiner_over_decoder']:.2f}x decoder, {r['refiner_over_encoder']:.3f} of the encoder pass)")
    write_json(args.out, result)


if __name__ == "__main__":
    main()
