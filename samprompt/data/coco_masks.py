"""COCO segmentation annotations (polygons, RLE) -> boolean masks, without pycocotools."""
from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from samprompt.errors import DatasetError


def decode_rle_counts(counts: str | bytes) -> list[int]:
    """COCO's compressed RLE string -> run lengths.

    Each run is coded in 5-bit groups as characters from '0' (48): bit 0x20 says another
    group follows, bit 0x10 of the last group is the sign; from the third run on, the value
    is a difference to the run two places before.
    """
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    runs: list[int] = []
    position = 0
    while position < len(counts):
        value, shift, more = 0, 0, True
        while more:
            code = ord(counts[position]) - 48
            value |= (code & 0x1F) << shift
            more = bool(code & 0x20)
            position += 1
            shift += 5
            if not more and code & 0x10:
                value |= -1 << shift
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    return runs


def encode_rle_counts(runs: list[int]) -> str:
    """Run lengths -> COCO's compressed RLE string (the inverse of `decode_rle_counts`, as
    pycocotools' `rleToString` writes it: the sign in bit 0x10 of the last group)."""
    chars = []
    for i, run in enumerate(runs):
        value = run - runs[i - 2] if i > 2 else run
        more = True
        while more:
            group = value & 0x1F
            value >>= 5
            more = not ((value == 0 and not group & 0x10) or (value == -1 and group & 0x10))
            chars.append(chr(group + (0x20 if more else 0) + 48))
    return "".join(chars)


def rle_to_mask(rle: dict[str, Any]) -> np.ndarray:
    """{"size": [h, w], "counts": list or compressed string} -> H x W bool.

    Runs alternate background / foreground, starting with background, in column-major order.
    """
    height, width = (int(v) for v in rle["size"])
    counts = rle["counts"]
    runs = list(counts) if isinstance(counts, list) else decode_rle_counts(counts)
    if sum(runs) != height * width:
        raise DatasetError(f"RLE runs cover {sum(runs)} pixels, expected {height * width} (its size "
                           f"{height} x {width})")
    values = np.zeros(len(runs), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, runs)
    return flat.reshape(width, height).T.copy()


def polygons_to_mask(polygons: list[list[float]], height: int, width: int) -> np.ndarray:
    """COCO polygons ([x0, y0, x1, y1, ...] each) -> H x W bool (their union)."""
    canvas = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for polygon in polygons:
        if len(polygon) >= 6:
            draw.polygon([(float(x), float(y)) for x, y in zip(polygon[::2], polygon[1::2])], fill=1)
    return np.asarray(canvas, dtype=bool)


def annotation_mask(segmentation: Any, height: int, width: int) -> np.ndarray:
    """The mask of a COCO annotation's `segmentation` (polygons or RLE)."""
    if isinstance(segmentation, list):
        return polygons_to_mask(segmentation, height, width)
    if isinstance(segmentation, dict) and "counts" in segmentation:
        mask = rle_to_mask(segmentation)
        if mask.shape != (height, width):
            raise DatasetError(f"RLE of size {mask.shape} for an image of {(height, width)}; expected the image's size")
        return mask
    raise DatasetError(f"unsupported COCO segmentation of type {type(segmentation).__name__}; expected a list "
                       "of polygons or an RLE dict with 'counts'")
