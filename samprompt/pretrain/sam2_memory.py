"""Train SAM 2's video memory of the shipped small SAM 2 core on shapes-world clips.

    python -m samprompt.pretrain.sam2_memory --init out/sam2_tiny_interactive/sam2_tiny.safetensors \
        --steps 300 --out samprompt/weights

SAM 2's own video training, at shapes scale: each clip's first frame is given by its ground-truth
mask (SAM 2's mask prompt), every later frame is tracked from memory alone
(`samprompt.core.sam2_memory.Sam2MemoryTracker`, i.e. `SAM2Base.track_step`), and the loss of
every tracked frame is SAM 2's: 20 x focal + dice on the mask logits at the input size, plus
binary cross-entropy on the object score (is the object in the frame). The image encoder stays
frozen (its image-path training is `samprompt.pretrain.tiny_sam --variant sam2_tiny`); memory
attention, the memory encoder, the object-pointer projections and the decoder train, the decoder
at a tenth of the learning rate so the image path keeps what it learnt. With `--freeze-decoder`
the prompt encoder and the mask decoder stay frozen as well, so the click and box figures are
exactly those of `--init` and only the memory learns, save the decoder's object-score head:
only the video path reads it (`SAM2Base` sets every mask logit of a frame whose score says "no
object" to -1024), the image path never does, and the image stages leave it untrained.

`--imperfect-first P` gives a share P of the training clips a first mask as a referring model
gives it rather than the true one (`imperfect_mask`: shifted, grown or shrunk, coarsened, cut or
with a stray blob), while every tracked frame is still scored against the truth: the memory
learns to complete and correct what RefSAM hands it instead of copying it. `--memory-from W`
starts the video path (memory, object pointers, object-score head) from the weights W instead
of `--init`'s (`take_memory`): a memory trained on an earlier image path, carried onto a
retrained one. Scored as semi-supervised video object segmentation (DAVIS: J, F, J&F over the
frames after the given one), from the true first masks and from imperfect ones.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import Tensor, nn

import samprompt
from samprompt.core.sam2_core import Sam2Core
from samprompt.core.sam2_memory import Sam2MemoryTracker, encode_frames
from samprompt.data import ShapesVideo
from samprompt.errors import ConfigError
from samprompt.metrics.davis import mean_video_scores, video_scores
from samprompt.pretrain.tiny_sam import image_scores, init_record, write_small_core
from samprompt.training import TrainConfig, Trainer
from samprompt.training.losses import bce_loss, dice_loss, sigmoid_focal_loss
from samprompt.training.task import Step, TrainingTask

FOCAL_WEIGHT = 20.0   # SAM's and SAM 2's mask loss: 20 x focal + dice


IMAGE_PATH = ("sam_prompt_encoder.", "sam_mask_decoder.")
VIDEO_ONLY = "sam_mask_decoder.pred_obj_score_head."


def on_video_path(name: str) -> bool:
    """Is the `SAM2Base` parameter or buffer `name` read only by the video path (memory,
    object pointers, memory embeddings, the object-score head), not by single images?"""
    return name.startswith(VIDEO_ONLY) or not name.startswith(("image_encoder.",) + IMAGE_PATH)


def take_memory(core: Sam2Core, source: Sam2Core) -> list[str]:
    """Copy into `core` everything of `source` that only the video path uses: memory attention,
    the memory encoder, the object-pointer projections, the memory embeddings and the decoder's
    object-score head; `core`'s image path (encoder, prompt encoder, mask decoder) stays. Returns
    the names copied."""
    taken = {name: value for name, value in source.sam.state_dict().items() if on_video_path(name)}
    core.sam.load_state_dict(taken, strict=False)
    return sorted(taken)


class MemoryModel(nn.Module):
    """The core whose memory trains; the image encoder frozen, and with `freeze_decoder` the
    prompt encoder and mask decoder too (SAM 2's image path, shared with single images) but for
    the object-score head, which only the video path reads."""

    def __init__(self, core: Sam2Core, freeze_decoder: bool = False) -> None:
        super().__init__()
        self.core = core
        for name, parameter in core.sam.named_parameters():
            parameter.requires_grad_(on_video_path(name) if freeze_decoder else not name.startswith("image_encoder."))


def imperfect_mask(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The H x W bool `mask` as an imperfect first-frame answer might give it: each of these
    with probability one half, in this order — shifted by up to 15 % of the object's extent,
    grown or shrunk by 1 to 3 pixels, coarsened to an 8-pixel grid, cut by a random line through
    the object (the larger part kept), a stray disc added elsewhere. The object is never lost
    entirely: an empty result gives back the true mask."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return mask.copy()
    out = mask.copy()
    extent = max(np.ptp(ys), np.ptp(xs)) + 1
    if rng.random() < 0.5:
        dy, dx = (int(v) for v in np.round(rng.uniform(-0.15, 0.15, 2) * extent))
        out = ndimage.shift(out, (dy, dx), order=0, mode="constant", cval=False)
    if rng.random() < 0.5:
        change = ndimage.binary_dilation if rng.random() < 0.5 else ndimage.binary_erosion
        out = change(out, iterations=int(rng.integers(1, 4)))
    if rng.random() < 0.5:
        h, w = out.shape
        coarse = out[:h - h % 8, :w - w % 8].reshape(h // 8, 8, w // 8, 8).mean((1, 3))
        out = ndimage.zoom(coarse, (h / coarse.shape[0], w / coarse.shape[1]), order=1)[:h, :w] >= 0.5
    if rng.random() < 0.5:
        angle = rng.uniform(0, 2 * np.pi)
        y0, x0 = ys.mean() + rng.normal(0, extent / 6), xs.mean() + rng.normal(0, extent / 6)
        grid_y, grid_x = np.mgrid[:out.shape[0], :out.shape[1]]
        side = (grid_y - y0) * np.sin(angle) + (grid_x - x0) * np.cos(angle) > 0
        out = out & side if (out & side).sum() >= (out & ~side).sum() else out & ~side
    if rng.random() < 0.5:
        radius = rng.uniform(2, 0.25 * extent + 2)
        cy, cx = rng.uniform(0, out.shape[0]), rng.uniform(0, out.shape[1])
        grid_y, grid_x = np.ogrid[:out.shape[0], :out.shape[1]]
        out = out | ((grid_y - cy) ** 2 + (grid_x - cx) ** 2 <= radius ** 2)
    return out if out.any() else mask.copy()


@dataclass
class ClipBatch:
    """B clips of T frames: frames B x T x H x W x 3 uint8, masks B x T x H x W bool, and the
    masks the clips start from, first B x H x W bool."""

    frames: np.ndarray
    masks: np.ndarray
    first: np.ndarray


class MemoryTask(TrainingTask):
    """First frame from a given mask (an `imperfect_mask` for a share `imperfect_first` of the
    clips, else the true one), the rest from memory; SAM 2's loss on every tracked frame,
    against the true masks."""

    def __init__(self, imperfect_first: float = 0.0) -> None:
        if not 0.0 <= imperfect_first <= 1.0:
            raise ConfigError(f"imperfect_first must be a share in [0, 1], got {imperfect_first!r}")
        self.imperfect_first = imperfect_first

    def sample(self, item: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        first = item["masks"][0]
        return {**item, "first": imperfect_mask(first, rng) if rng.random() < self.imperfect_first else first}

    def collate(self, samples: list[dict[str, Any]]) -> ClipBatch:
        return ClipBatch(*(np.stack([s[key] for s in samples]) for key in ("frames", "masks", "first")))

    def batch_loss(self, step: Step, batch: ClipBatch) -> Tensor:
        core = step.model.core
        tracker = Sam2MemoryTracker(core)
        size = core.sam.image_size
        losses = []
        for t in range(batch.frames.shape[1]):
            with torch.no_grad():
                frame = encode_frames(core, list(batch.frames[:, t]))
            target = torch.as_tensor(batch.masks[:, t], device=frame.vision_feats[-1].device)
            if t == 0:
                tracker.condition(frame, torch.as_tensor(batch.first, device=target.device))
                continue
            out = tracker.track(frame)
            resized = F.interpolate(target[:, None].float(), (size, size), mode="bilinear", align_corners=False)
            resized = (resized > 0.5).float()
            present = target.flatten(1).any(1, keepdim=True).float()
            logits = out.logits.float()
            losses.append(FOCAL_WEIGHT * sigmoid_focal_loss(logits, resized) + dice_loss(logits, resized)
                          + bce_loss(out.object_score_logits.float(), present))
        return torch.stack(losses).mean()


@torch.no_grad()
def evaluate_memory(core: Sam2Core, clips: Sequence[dict[str, Any]], imperfect: bool = False) -> dict[str, float]:
    """Semi-supervised VOS on `clips`: the first frame's mask given (the true one, or with
    `imperfect` an `imperfect_mask` of it, the draw for clip i seeded by i), J / F / J&F over
    the other frames (DAVIS) against the truth, and the seconds per tracked frame."""
    tracker = Sam2MemoryTracker(core)
    scores, seconds, frames = [], 0.0, 0
    for index, clip in enumerate(clips):
        tracker.reset()
        first = imperfect_mask(clip["masks"][0], np.random.default_rng(index)) if imperfect else clip["masks"][0]
        tracker.condition(clip["frames"][0], torch.as_tensor(first)[None])
        predictions = []
        for frame in clip["frames"][1:]:
            started = time.perf_counter()
            predictions.append(tracker.track(frame).masks[0].cpu().numpy())
            seconds += time.perf_counter() - started
            frames += 1
        scores.append(video_scores(predictions, list(clip["masks"][1:])))
    return {**mean_video_scores(scores), "seconds_per_frame": seconds / max(frames, 1)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--init", required=True, help="sam2_tiny weights whose image path is trained (.safetensors)")
    parser.add_argument("--memory-from", default=None,
                        help="sam2_tiny weights whose video path (memory, object pointers, object-score head) "
                             "starts this run, on --init's image path")
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=8, help="clips per step (default %(default)s)")
    parser.add_argument("--frames", type=int, default=4, help="frames per training clip (default %(default)s)")
    parser.add_argument("--lr", type=float, default=5e-4, help="peak learning rate (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of batches (default %(default)s)")
    parser.add_argument("--freeze-decoder", action="store_true",
                        help="keep the prompt encoder and mask decoder of --init (all but the object-score "
                             "head, which only video reads): the image figures stay those of --init")
    parser.add_argument("--imperfect-first", type=float, default=0.0,
                        help="share of training clips whose first mask is an imperfect one (imperfect_mask), "
                             "as RefSAM would give it (default %(default)s)")
    parser.add_argument("--eval-clips", type=int, default=40, help="test clips of 8 frames (default %(default)s)")
    parser.add_argument("--eval-items", type=int, default=300, help="test objects for the image figures")
    parser.add_argument("--click-items", type=int, default=100, help="test objects for the click protocol")
    parser.add_argument("--out", default="samprompt/weights", help="output folder (default %(default)s)")
    parser.add_argument("--work-dir", default="out/pretrain_sam2_memory", help="checkpoints, to resume")
    args = parser.parse_args(argv)
    if not 0.0 <= args.imperfect_first <= 1.0:
        parser.error(f"--imperfect-first is a share of the clips, in [0, 1]; got {args.imperfect_first}")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    core = samprompt.build_sam("sam2_tiny", checkpoint=args.init, pretrained=False, frozen=False)
    if args.memory_from is not None:
        take_memory(core, samprompt.build_sam("sam2_tiny", checkpoint=args.memory_from, pretrained=False))
    model = MemoryModel(core, freeze_decoder=args.freeze_decoder)
    test = ShapesVideo("test", args.eval_clips, frames=8)
    clips = [test[i] for i in range(len(test))]
    before = evaluate_memory(core, clips)
    before_imperfect = evaluate_memory(core, clips, imperfect=True)
    config = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, weight_decay=0.01,
                         warmup_steps=min(50, args.steps // 10), checkpoint_every=100, output_dir=args.work_dir,
                         seed=args.seed,
                         module_lrs={} if args.freeze_decoder else {"core.sam.sam_mask_decoder": args.lr / 10})
    started = time.time()
    train = ShapesVideo("train", 10**6, frames=args.frames)
    result = Trainer(model, MemoryTask(args.imperfect_first), train, config).fit()
    model.eval()
    after = evaluate_memory(core, clips)
    after_imperfect = evaluate_memory(core, clips, imperfect=True)
    image = image_scores(core, args.eval_items, args.click_items)
    command = " ".join(argv if argv is not None else sys.argv[1:])
    record = {"command": f"python -m samprompt.pretrain.sam2_memory {command}", "args": vars(args),
              "init_record": init_record(args.init), "memory_from_record": init_record(args.memory_from),
              "video_before": before, "video_after": after,
              "video_before_imperfect_first": before_imperfect, "video_after_imperfect_first": after_imperfect,
              "metrics": image, "first_loss": result.losses[0],
              "final_loss": result.losses[-1], "seconds": round(time.time() - started, 1)}
    write_small_core(core, "sam2_tiny", Path(args.out), record)
    print(json.dumps({k: v for k, v in record.items() if k != "init_record"}, indent=2))
    return record


if __name__ == "__main__":
    main()
