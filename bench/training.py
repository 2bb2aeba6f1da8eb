"""Training cost per method: steps per second and peak memory, three ways of treating the encoder.

    python bench/training.py --steps 5 --out bench/results/training.json
    python bench/training.py --variant vit_b --batch 1 --steps 2 --out bench/results/training_vit_b.json
    python bench/training.py --methods refsam --modes frozen_cached --workers 0 2 --image-size 256 \
        --frames 2 --rounds 3 --out bench/results/training_workers.json

On the shipped tiny core (batch 8) or an official-size core at 1024 px (random init: no
checkpoint is downloadable here; speed does not depend on the values), for native clicks /
boxes (decoder LoRA r=4), RefSAM (prompts-only preset, shipped CLIP text tower) and SAM-REF
(refiner at 128 / 64 px on tiny, at its defaults 1024 / 256 px on official cores):
- `frozen_cached`: encoder frozen, image embeddings cached (`FeatureCache`; every image of the
  timed steps already seen, as from the second epoch on);
- `encoder_lora`: LoRA r=4 on every encoder block's qkv: the encoder runs forward and backward
  every step (the cache sees the trainable encoder and re-encodes);
- `encoder_lora_checkpointed`: the same with gradient checkpointing of the encoder blocks.
Each (method, mode, workers) runs in a fresh process so that its peak resident memory is its
own; `--steps` steps are timed after two warm-up steps. `--workers 0 2` compares sampling and
collating batches in the training process with doing it in two DataLoader workers (the data:
shapes-world scenes of `--image-size` px, drawn anew every step, and for RefSAM pseudo-clips of
`--frames` frames, shifted and zoomed); `--rounds` repeats the comparison, interleaved.
"""
from __future__ import annotations

import argparse
import json
import resource
import time

import torch
from shared import machine, run_in_fresh_process, write_json

METHODS = ("native", "refsam", "samref")
MODES = ("frozen_cached", "encoder_lora", "encoder_lora_checkpointed")


def measure(variant: str, method: str, mode: str, steps: int, batch: int, workers: int = 0,
            image_size: int | None = None, frames: int = 1, mixed_precision: str = "no") -> dict[str, float]:
    import samprompt
    from samprompt.core.gradient_checkpointing import use_gradient_checkpointing
    from samprompt.data import ShapesConfig, ShapesInteractive, ShapesReferring
    from samprompt.native.task import NativeTask
    from samprompt.refsam import RefSAM, refsam_preset
    from samprompt.refsam.task import RefSAMTask
    from samprompt.samref import SAMRef, SAMRefConfig
    from samprompt.samref.task import SAMRefTask
    from samprompt.text import load_text_encoder
    from samprompt.training import FeatureCache, TrainConfig, Trainer
    from samprompt.tuning import LoraSettings, add_lora, parameter_report

    torch.manual_seed(0)
    core = samprompt.build_sam(variant, pretrained=variant == "tiny")
    if mode != "frozen_cached":
        add_lora(core, LoraSettings(targets=("encoder.qkv",), rank=4), name="encoder")
    if mode == "encoder_lora_checkpointed":
        use_gradient_checkpointing(core)
    images = batch  # one batch of distinct images, reused: with a frozen encoder they are all cached
    world = ShapesConfig() if image_size is None else ShapesConfig(image_size=image_size)
    if method == "native":
        if mode == "frozen_cached":
            add_lora(core, LoraSettings(targets=("decoder.attn",), rank=4), name="decoder")
        model = samprompt.PromptedSam(core, samprompt.NativePrompts())
        task, data = NativeTask(cache=FeatureCache(core)), ShapesInteractive("train", images, world)
    elif method == "refsam":
        model = RefSAM(core, load_text_encoder("shapes"), refsam_preset("prompts_only"))
        task, data = RefSAMTask(frames=frames, cache=FeatureCache(core)), ShapesReferring("train", images, world)
    else:
        model = SAMRef(core, SAMRefConfig(local_size=64, click_radius=3.0) if variant == "tiny" else SAMRefConfig())
        cache = FeatureCache(core, keep_intermediate=False, keep_images=True)
        task, data = SAMRefTask(cache=cache, max_extra_clicks=2), ShapesInteractive("train", images, world)
    config = TrainConfig(steps=steps + 2, batch_size=batch, progress=False, num_workers=workers,
                         mixed_precision=mixed_precision)
    trainer = Trainer(model, task, data, config)
    trainer.fit(until=2)
    start = time.perf_counter()
    trainer.fit()
    seconds = (time.perf_counter() - start) / steps
    return {"method": method, "mode": mode, "workers": workers, "image_size": world.image_size, "frames": frames,
            "steps_per_second": 1 / seconds, "seconds_per_step": seconds,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None,
            "mixed_precision": mixed_precision,
            "trainable_parameters": parameter_report(model).trainable}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="tiny")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--out", default=None)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--workers", nargs="+", type=int, default=[0], help="DataLoader workers to compare")
    parser.add_argument("--image-size", type=int, help="shapes-world image side (default: the world's)")
    parser.add_argument("--frames", type=int, default=1, help="RefSAM clip length (pseudo-clips of stills)")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every case, interleaved")
    parser.add_argument("--threads", type=int, help="torch threads of the training process (default: torch's)")
    parser.add_argument("--mixed-precision", default="no", choices=("no", "bf16", "fp16"))
    parser.add_argument("--one", nargs=2, metavar=("METHOD", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.one:
        print(json.dumps(measure(args.variant, *args.one, args.steps, args.batch, args.workers[0], args.image_size,
                                 args.frames, args.mixed_precision)))
        return
    rows = []
    for round_index in range(args.rounds):
        for method in args.methods:
            for mode in args.modes:
                for workers in args.workers:
                    extra = ["--image-size", str(args.image_size)] if args.image_size else []
                    extra += ["--threads", str(args.threads)] if args.threads else []
                    rows.append(run_in_fresh_process(
                        __file__, "--one", method, mode, "--steps", str(args.steps), "--batch", str(args.batch),
                        "--variant", args.variant, "--workers", str(workers), "--frames", str(args.frames),
                        "--mixed-precision", args.mixed_precision, *extra))
                    r = {**rows[-1], "round": round_index}
                    rows[-1] = r
                    gpu_memory = f"{r['peak_gpu_mb']:>8.0f} MB GPU" if r["peak_gpu_mb"] else ""
                    print(f"{method:<8}{mode:<28}{workers:>2} workers{r['steps_per_second']:>8.3g} steps/s"
                          f"{r['peak_rss_mb']:>9.0f} MB peak{gpu_memory}{r['trainable_parameters']:>10} trainable",
                          flush=True)
    gpu = torch.device("cuda") if torch.cuda.is_available() else None
    write_json(args.out, {"machine": machine(gpu), "torch": torch.__version__, "core": args.variant,
                          "mixed_precision": args.mixed_precision,
                          "batch": args.batch, "threads": torch.get_num_threads(), "rows": rows})


if __name__ == "__main__":
    main()
