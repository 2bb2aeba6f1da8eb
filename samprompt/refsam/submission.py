"""Running RefSAM over a referring video dataset and writing the official submission layout.

Ref-YouTube-VOS submissions are binary PNGs at `Annotations/<video>/<exp_id>/<frame>.png`
(0 background, 255 object), zipped with `Annotations/` at the archive's root.
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from samprompt.data.video_refer import _VideoReferring
from samprompt.metrics import mean_video_scores, video_scores
from samprompt.refsam.model import RefSAM
from samprompt.refsam.tracker import RefSAMVideoTracker
from samprompt.utils.files import atomic_directory, atomic_file


def write_masks(directory: Path, frame_names: list[str], masks: list[np.ndarray]) -> None:
    """One 0/255 greyscale PNG per frame, the whole folder written atomically."""
    with atomic_directory(directory) as staging:
        for name, mask in zip(frame_names, masks):
            Image.fromarray(np.asarray(mask, dtype=np.uint8) * 255, mode="L").save(staging / f"{name}.png")


def zip_annotations(out_dir: Path) -> Path:
    """`<out_dir>/submission.zip` holding `Annotations/...` (written atomically)."""
    annotations = out_dir / "Annotations"
    target = out_dir / "submission.zip"
    with atomic_file(target) as staging:
        with zipfile.ZipFile(staging, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(annotations.rglob("*.png")):
                archive.write(path, path.relative_to(out_dir).as_posix())
    return target


def run_video_dataset(model: RefSAM, dataset: _VideoReferring, out_dir: str | Path, *, progress: bool = True
                      ) -> dict[str, Any]:
    """Segment every (video, expression) online and write the submission folder and zip.

    Frames are streamed one at a time (memory does not grow with video length). When the
    dataset has masks, J, F and J&F are computed too.
    """
    out = Path(out_dir)
    model.eval()
    per_video = []
    for index in tqdm(range(len(dataset)), desc="videos", disable=not progress):
        expression = dataset.expressions[index]
        tracker = RefSAMVideoTracker(model, [expression.text])
        masks = [m[0].cpu().numpy() for m in tracker.run(dataset.iter_frames(index))]
        names = list(dataset.frame_names(index))
        write_masks(out / "Annotations" / expression.video / expression.expression_id, names, masks)
        if dataset.has_masks(index):
            per_video.append(video_scores(masks, list(dataset.object_masks(index))))
    result: dict[str, Any] = {"expressions": len(dataset), "submission": str(zip_annotations(out))}
    if per_video:
        result.update(mean_video_scores(per_video))
    return result
