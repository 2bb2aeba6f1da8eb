"""Referring video datasets in their released layouts: Ref-YouTube-VOS and Ref-DAVIS17.

Ref-YouTube-VOS:
    <root>/meta_expressions/<split>/meta_expressions.json
        {"videos": {video: {"expressions": {exp_id: {"exp": text, "obj_id": "1"}}, "frames": [names]}}}
    <root>/<split>/JPEGImages/<video>/<frame>.jpg
    <root>/<split>/Annotations/<video>/<frame>.png   palette PNGs, pixel value = object id
                                                     (train only; "valid" has no masks or obj_id)

Ref-DAVIS17 (DAVIS 2017 + the Khoreva et al. expressions):
    <root>/JPEGImages/480p/<video>/<frame>.jpg
    <root>/Annotations/480p/<video>/<frame>.png
    <root>/ImageSets/2017/<split>.txt                one video per line ("train", "val")
    <root>/davis_text_annotations/Davis17_annot<1|2>[_full_video].txt
        one expression per line: <video> <object id> "<expression>"

Items: {"frames": T x H x W x 3 uint8, "masks": T x H x W bool (when annotated), "text",
"id": "<video>/<exp_id>", "video", "expression_id", "frame_names"}. `frame_stride` and
`max_frames` thin long videos for training; evaluation reads every frame (or streams them
with `iter_frames`).
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from torch.utils.data import Dataset

from samprompt.data.files import open_image, read_json, read_rgb
from samprompt.data.registry import DatasetSpec, register_dataset
from samprompt.errors import ConfigError, DataFileNotFoundError, DatasetError


@dataclass(frozen=True)
class VideoExpression:
    video: str
    expression_id: str
    text: str
    object_id: int | None
    frame_names: tuple[str, ...]


def read_frame(path: Path) -> np.ndarray:
    return read_rgb(path, "frame")


def read_object_mask(path: Path, object_id: int) -> np.ndarray:
    """H x W bool: the pixels of `object_id` in a palette (or grey) annotation PNG."""
    annotation = open_image(path, "annotation")
    if annotation.mode not in ("P", "L"):
        raise DatasetError(f"annotation {str(path)!r} has mode {annotation.mode}; object ids need a palette "
                           "(P) or grey (L) PNG")
    return np.asarray(annotation) == object_id


class _VideoReferring(Dataset):
    """Shared item logic; subclasses fill `expressions` and the frame / annotation paths."""

    expressions: list[VideoExpression]
    annotated: bool

    def __init__(self, frame_stride: int = 1, max_frames: int | None = None) -> None:
        if frame_stride <= 0 or (max_frames is not None and max_frames <= 0):
            raise ConfigError(f"frame_stride and max_frames must be positive, got frame_stride={frame_stride}, "
                              f"max_frames={max_frames}")
        self.frame_stride, self.max_frames = frame_stride, max_frames

    def frame_path(self, video: str, frame: str) -> Path:
        raise NotImplementedError

    def annotation_path(self, video: str, frame: str) -> Path:
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.expressions)

    def frame_names(self, index: int) -> tuple[str, ...]:
        names = self.expressions[index].frame_names[::self.frame_stride]
        return names[:self.max_frames] if self.max_frames else names

    def iter_frames(self, index: int) -> Iterator[np.ndarray]:
        """The frames of item `index`, one at a time (for online inference on long videos)."""
        expression = self.expressions[index]
        for name in self.frame_names(index):
            yield read_frame(self.frame_path(expression.video, name))

    def __getitem__(self, index: int) -> dict[str, Any]:
        expression = self.expressions[index]
        names = self.frame_names(index)
        item: dict[str, Any] = {
            "frames": np.stack(list(self.iter_frames(index))), "text": expression.text,
            "id": f"{expression.video}/{expression.expression_id}", "video": expression.video,
            "expression_id": expression.expression_id, "frame_names": list(names),
        }
        if self.has_masks(index):
            item["masks"] = self.object_masks(index)
        return item

    def has_masks(self, index: int) -> bool:
        return self.annotated and self.expressions[index].object_id is not None

    def object_masks(self, index: int) -> np.ndarray:
        """T x H x W bool: the referred object in every (selected) frame of item `index`."""
        expression = self.expressions[index]
        if not self.has_masks(index):
            raise DatasetError(f"item {index} ({expression.video}/{expression.expression_id}) has no annotations; "
                               "check has_masks(index) first")
        return np.stack([read_object_mask(self.annotation_path(expression.video, name), expression.object_id)
                         for name in self.frame_names(index)])


def meta_expressions(meta: Any, path: Path) -> list[VideoExpression]:
    """The expressions of a parsed meta_expressions.json, its structure checked (module docstring):
    a `DatasetError` names the file and the first entry that does not fit."""
    videos = meta.get("videos") if isinstance(meta, dict) else None
    if not isinstance(videos, dict):
        raise DatasetError(f"{str(path)!r} must hold {{\"videos\": {{video: ...}}}}")
    expressions = []
    for video, entry in sorted(videos.items()):
        where = f"{str(path)!r}: video {video!r}"
        if not isinstance(entry, dict) or not isinstance(entry.get("expressions"), dict) \
                or not isinstance(entry.get("frames"), list) or not all(isinstance(f, str) for f in entry["frames"]):
            raise DatasetError(f"{where} must have an 'expressions' object and a 'frames' list of names")
        try:
            ordered = sorted(entry["expressions"].items(), key=lambda kv: int(kv[0]))
        except ValueError:
            raise DatasetError(f"{where}: expression ids must be integers, got "
                               f"{sorted(entry['expressions'])}") from None
        for exp_id, expression in ordered:
            if not isinstance(expression, dict) or not isinstance(expression.get("exp"), str):
                raise DatasetError(f"{where}: expression {exp_id} must have an 'exp' text")
            object_id = expression.get("obj_id")
            if object_id is not None and not str(object_id).isdigit():
                raise DatasetError(f"{where}: expression {exp_id} has obj_id {object_id!r}, expected an integer")
            expressions.append(VideoExpression(video, str(exp_id), expression["exp"],
                                               None if object_id is None else int(object_id), tuple(entry["frames"])))
    return expressions


class RefYouTubeVOS(_VideoReferring):
    """One item per (video, expression) of a Ref-YouTube-VOS split ("train", "valid", "test")."""

    def __init__(self, root: str | Path, split: str = "train", frame_stride: int = 1,
                 max_frames: int | None = None) -> None:
        super().__init__(frame_stride, max_frames)
        self.root, self.split = Path(root), split
        meta_file = self.root / "meta_expressions" / split / "meta_expressions.json"
        if not meta_file.is_file():
            raise DataFileNotFoundError(f"{str(meta_file)!r} not found: expected the Ref-YouTube-VOS layout "
                                        "<root>/meta_expressions/<split>/meta_expressions.json")
        self.expressions = meta_expressions(read_json(meta_file, "meta_expressions file"), meta_file)
        self.annotated = (self.root / split / "Annotations").is_dir()

    def frame_path(self, video: str, frame: str) -> Path:
        return self.root / self.split / "JPEGImages" / video / f"{frame}.jpg"

    def annotation_path(self, video: str, frame: str) -> Path:
        return self.root / self.split / "Annotations" / video / f"{frame}.png"


class RefDAVIS17(_VideoReferring):
    """One item per (video, object, expression) of Ref-DAVIS17 for one annotator's expressions.

    Args:
        annotator: 1 or 2 (the two released annotation rounds).
        full_video: the expressions written after watching the whole video (True) or only
            the first frame (False).
    """

    def __init__(self, root: str | Path, split: str = "val", annotator: int = 1, full_video: bool = True,
                 frame_stride: int = 1, max_frames: int | None = None) -> None:
        super().__init__(frame_stride, max_frames)
        if annotator not in (1, 2):
            raise ConfigError(f"annotator must be 1 or 2, got {annotator}")
        self.root, self.split = Path(root), split
        videos_file = self.root / "ImageSets" / "2017" / f"{split}.txt"
        text_file = (self.root / "davis_text_annotations"
                     / f"Davis17_annot{annotator}{'_full_video' if full_video else ''}.txt")
        for path in (videos_file, text_file):
            if not path.is_file():
                raise FileNotFoundError(f"{str(path)!r} not found: expected the DAVIS 2017 layout with "
                                        "davis_text_annotations/ beside JPEGImages/ and Annotations/")
        videos = [line.strip() for line in videos_file.read_text().splitlines() if line.strip()]
        counts: dict[str, int] = {}
        frames_of: dict[str, tuple[str, ...]] = {}
        self.expressions = []
        for number, line in enumerate(text_file.read_text().splitlines(), 1):
            if not line.strip():
                continue
            parts = shlex.split(line)
            if len(parts) < 3 or not parts[1].isdigit():
                raise DatasetError(f"{str(text_file)!r} line {number}: expected <video> <object id> \"<expression>\", "
                                   f"got {line!r}")
            video, object_id, text = parts[0], int(parts[1]), " ".join(parts[2:])
            if video not in videos:
                continue
            if video not in frames_of:
                jpegs = (self.root / "JPEGImages" / "480p" / video).glob("*.jpg")
                frames_of[video] = tuple(sorted(p.stem for p in jpegs))
            exp_id = str(counts.get(video, 0))
            counts[video] = counts.get(video, 0) + 1
            self.expressions.append(VideoExpression(video, exp_id, text, object_id, frames_of[video]))
        self.annotated = True

    def frame_path(self, video: str, frame: str) -> Path:
        return self.root / "JPEGImages" / "480p" / video / f"{frame}.jpg"

    def annotation_path(self, video: str, frame: str) -> Path:
        return self.root / "Annotations" / "480p" / video / f"{frame}.png"


def ref_youtube_vos(root: str, split: str = "train", frame_stride: int = 1,
                    max_frames: int | None = None) -> RefYouTubeVOS:
    return RefYouTubeVOS(root, split, frame_stride, max_frames)


def ref_davis17(root: str, split: str = "train", annotator: int = 1, full_video: bool = True, frame_stride: int = 1,
                max_frames: int | None = None) -> RefDAVIS17:
    return RefDAVIS17(root, split, annotator, full_video, frame_stride, max_frames)


register_dataset(DatasetSpec("ref-youtube-vos", "referring", ref_youtube_vos, "Ref-YouTube-VOS (videos)"))
register_dataset(DatasetSpec("ref-davis17", "referring", ref_davis17, "Ref-DAVIS17 (videos)"))

