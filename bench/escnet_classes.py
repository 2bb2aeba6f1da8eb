"""ESC-Net time and memory against the number of class names (20, 60, 150, 847).

    python bench/escnet_classes.py --rounds 3 --out bench/results/escnet_classes.json

Each class count runs in a fresh process (so that its peak resident memory is its own): the
shipped tiny core and shipped CLIP at 128 px (the demo's ESC-Net configuration, random-init
ESC-Net layers), one 128 px image, forward without gradient, all classes at once and in chunks
of 32 (`class_chunk`, exact). Class names are synthetic ("class 0", ...): the text tower's cost
does not depend on the words. Times are medians over rounds after one warm-up call (the
warm-up also fills the class-embedding cache, so the rounds time the image side); also
reported as a multiple of one tiny-core SAM encoder pass on the same image.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import numpy as np
import torch
from shared import machine, run_in_fresh_process, write_json


def measure(classes: int, chunk: int | None, rounds: int) -> dict[str, float]:
    import samprompt
    from samprompt.clip import load_clip
    from samprompt.escnet import ESCNet, ESCNetConfig

    torch.manual_seed(0)
    core = samprompt.build_sam("tiny")
    config = ESCNetConfig(clip_image_size=128, templates=("a {}",), blocks=2, decoder_dims=(32, 16),
                          class_chunk=chunk)
    model = ESCNet(core, load_clip("shapes"), config).eval()
    image = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    names = [f"class {i}" for i in range(classes)]
    with torch.no_grad():
        core.encode([image])
        encoder = []
        for _ in range(rounds):
            start = time.perf_counter()
            core.encode([image])
            encoder.append(time.perf_counter() - start)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        model([image], names)
        first = time.perf_counter() - start
        seconds = []
        for _ in range(rounds):
            start = time.perf_counter()
            model([image], names)
            seconds.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"classes": classes, "class_chunk": chunk, "first_call_seconds": first,
            "seconds": statistics.median(seconds), "encoder_seconds": statistics.median(encoder),
            "peak_rss_growth_mb": (peak - before) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classes", type=int, nargs="+", default=[20, 60, 150, 847])
    parser.add_argument("--chunks", type=int, nargs="+", default=[0, 32], help="class_chunk values; 0: all at once")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=None)
    parser.add_argument("--one", type=int, nargs=2, metavar=("CLASSES", "CHUNK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        classes, chunk = args.one
        print(json.dumps(measure(classes, chunk or None, args.rounds)))
        return
    rows = []
    for classes in args.classes:
        for chunk in args.chunks:
            rows.append(run_in_fresh_process(__file__, "--one", str(classes), str(chunk), "--rounds", str(args.rounds)))
    print(f"{'classes':>8}{'chunk':>7}{'seconds':>9}{'x encoder':>11}{'first call s':>14}{'peak RSS +MB':>14}")
    for r in rows:
        print(f"{r['classes']:>8}{str(r['class_chunk'] or 'all'):>7}{r['seconds']:>9.3f}"
              f"{r['seconds'] / r['encoder_seconds']:>11.1f}{r['first_call_seconds']:>14.3f}"
              f"{r['peak_rss_growth_mb']:>14.0f}")
    write_json(args.out, {"machine": machine(), "torch": torch.__version__, "rows": rows})


if __name__ == "__main__":
    main()
