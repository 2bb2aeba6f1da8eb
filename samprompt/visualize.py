"""Pictures of results a person can read: panels large enough to see, the prompt drawn on them
(clicks numbered, green positive and red negative; boxes), a caption with what was asked and how
well it went (the expression, the IoU), and a legend of the classes.

Every function takes and returns H x W x 3 uint8 arrays; masks are H x W bool.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from samprompt.utils.files import atomic_file

PANEL = 256  # the smallest side a panel is shown at (small images are enlarged, nearest neighbour)
PREDICTION = (255, 200, 0)
TRUTH = (0, 220, 120)
POSITIVE = (40, 200, 60)
NEGATIVE = (230, 40, 40)
Click = tuple[float, float, bool]  # (x, y, positive) in pixels of the original image


def _font(size: int = 14) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def overlay(image: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int] = PREDICTION,
            alpha: float = 0.5) -> np.ndarray:
    """H x W x 3 uint8: `image` with `mask` (H x W bool) tinted in `colour`."""
    out = image.astype(np.float32)
    out[mask] = (1 - alpha) * out[mask] + alpha * np.asarray(colour, np.float32)
    return out.astype(np.uint8)


def enlarge(picture: np.ndarray, size: int = PANEL) -> tuple[np.ndarray, float]:
    """`picture` enlarged (nearest neighbour) so that its shorter side is at least `size`; the scale used."""
    scale = max(1, int(np.ceil(size / min(picture.shape[:2]))))
    if scale == 1:
        return picture, 1.0
    return np.repeat(np.repeat(picture, scale, axis=0), scale, axis=1), float(scale)


def draw_prompts(panel: np.ndarray, scale: float, clicks: Sequence[Click] = (),
                 box: Sequence[float] | None = None) -> np.ndarray:
    """`panel` with the prompts drawn at `scale`: each click a numbered disk (green positive, red
    negative, in click order), a box as a white-edged rectangle."""
    picture = Image.fromarray(panel)
    draw = ImageDraw.Draw(picture)
    if box is not None:
        x0, y0, x1, y1 = (float(v) * scale for v in box)
        draw.rectangle((x0, y0, x1, y1), outline=(0, 0, 0), width=4)
        draw.rectangle((x0, y0, x1, y1), outline=(255, 255, 255), width=2)
    font = _font(12)
    for number, (x, y, positive) in enumerate(clicks, start=1):
        cx, cy, radius = (x + 0.5) * scale, (y + 0.5) * scale, 8
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius),
                     fill=POSITIVE if positive else NEGATIVE, outline=(255, 255, 255), width=2)
        draw.text((cx, cy), str(number), fill=(255, 255, 255), font=font, anchor="mm")
    return np.asarray(picture)


def caption(picture: np.ndarray, lines: Sequence[str] | str) -> np.ndarray:
    """`picture` with a white strip above it holding `lines` of dark text."""
    lines = [lines] if isinstance(lines, str) else list(lines)
    if not lines:
        return picture
    font, line_height = _font(14), 18
    strip = Image.new("RGB", (picture.shape[1], 6 + line_height * len(lines)), (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    for i, line in enumerate(lines):
        draw.text((6, 3 + i * line_height), line, fill=(20, 20, 20), font=font)
    return np.concatenate([np.asarray(strip), picture], axis=0)


def _row(panels: list[np.ndarray]) -> np.ndarray:
    """Same-height H x W x 3 panels side by side with 6-pixel white gaps."""
    gap = np.full((panels[0].shape[0], 6, 3), 255, np.uint8)
    row = [panels[0]]
    for panel in panels[1:]:
        row += [gap, panel]
    return np.concatenate(row, axis=1)


def side_by_side(image: np.ndarray, prediction: np.ndarray, truth: np.ndarray | None = None, *,
                 text: Sequence[str] | str = (), clicks: Sequence[Click] = (), box: Sequence[float] | None = None,
                 size: int = PANEL) -> np.ndarray:
    """Image | prediction (yellow) | ground truth (green, if given), each at least `size` px and
    titled, the prompts drawn on the image and the prediction, `text` as a caption above."""
    picture, scale = enlarge(image, size)
    predicted, _ = enlarge(overlay(image, prediction), size)
    panels = [caption(draw_prompts(picture, scale, clicks, box), "image + prompt"),
              caption(draw_prompts(predicted, scale, clicks, box), "prediction")]
    if truth is not None:
        panels.append(caption(enlarge(overlay(image, truth, TRUTH), size)[0], "ground truth"))
    return caption(_row(panels), text)


def colour_labels(labels: np.ndarray, ignore_index: int = 255) -> np.ndarray:
    """H x W class indexes -> H x W x 3 uint8, a fixed distinct colour per class (ignore: black)."""
    return class_colours(labels.astype(np.int64), ignore_index)


# Distinct colours for the first classes (class 0, usually the background, a dark grey); beyond them
# a fixed arithmetic palette.
DISTINCT = np.array([(70, 70, 70), (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
                     (140, 86, 75), (227, 119, 194), (188, 189, 34), (23, 190, 207), (174, 199, 232),
                     (255, 187, 120), (152, 223, 138), (255, 152, 150), (197, 176, 213), (196, 156, 148)], np.int64)


def class_colours(index: np.ndarray, ignore_index: int = 255) -> np.ndarray:
    """... class indexes -> ... x 3 uint8 colours (the palette of `colour_labels`; ignore: black)."""
    index = np.asarray(index, dtype=np.int64)
    formula = np.stack([(index * 97 + 40) % 256, (index * 57 + 140) % 256, (index * 151 + 90) % 256], axis=-1)
    palette = np.where((index < len(DISTINCT))[..., None], DISTINCT[np.clip(index, 0, len(DISTINCT) - 1)], formula)
    palette[index == ignore_index] = 0
    return palette.astype(np.uint8)


def legend(names: Sequence[str], width: int) -> np.ndarray:
    """A white strip `width` px wide: a colour swatch and the name of every class, wrapped onto lines."""
    font, line_height, x, y = _font(13), 20, 6, 4
    entries = []
    for k, name in enumerate(names):
        text_width = int(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(name, font=font))
        if x + 22 + text_width > width and x > 6:
            x, y = 6, y + line_height
        entries.append((x, y, k, name))
        x += 22 + text_width + 14
    strip = Image.new("RGB", (width, y + line_height + 4), (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    for x, y, k, name in entries:
        colour = tuple(int(c) for c in class_colours(np.array(k)))
        draw.rectangle((x, y + 2, x + 14, y + 16), fill=colour, outline=(60, 60, 60))
        draw.text((x + 20, y + 1), name, fill=(20, 20, 20), font=font)
    return np.asarray(strip)


def semantic_panels(image: np.ndarray, prediction: np.ndarray, truth: np.ndarray | None = None,
                    classes: Sequence[str] | None = None, *, text: Sequence[str] | str = (),
                    size: int = PANEL) -> np.ndarray:
    """Image | predicted classes | ground truth (if given), each at least `size` px and titled, with
    a legend of `classes` (the names of the label indexes) below and `text` as a caption above."""
    panels = [caption(enlarge(image, size)[0], "image"),
              caption(enlarge(colour_labels(prediction), size)[0], "predicted classes")]
    if truth is not None:
        panels.append(caption(enlarge(colour_labels(truth), size)[0], "ground truth"))
    row = _row(panels)
    if classes is not None:
        row = np.concatenate([row, legend(classes, row.shape[1])], axis=0)
    return caption(row, text)


def save_png(array: np.ndarray, path: str | Path) -> Path:
    """Write a uint8 array (H x W or H x W x 3) or a bool mask as a PNG, atomically."""
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    with atomic_file(path) as staging:
        Image.fromarray(array).save(staging, format="PNG")
    return Path(path)


def mask_overlay(image: np.ndarray, masks: Sequence[np.ndarray], colours: Sequence[int] | None = None, *,
                 clicks: Sequence[tuple[float, float]] = (), title: str | None = None,
                 size: int = PANEL) -> np.ndarray:
    """Image | masks: every mask tinted in its own colour (the palette index `colours[i]`, default
    i + 1), larger masks first so that small ones stay visible, each outlined in white, and the
    click that made each mask as a dot; at least `size` px; `title` above the masks (default:
    their count)."""
    colours = list(colours) if colours is not None else list(range(1, len(masks) + 1))
    order = sorted(range(len(masks)), key=lambda i: -int(masks[i].sum()))
    painted = image.copy()
    edges = np.zeros(image.shape[:2], bool)
    for i in order:
        mask = masks[i]
        painted = overlay(painted, mask, tuple(int(c) for c in class_colours(np.array(colours[i]))), alpha=0.85)
        inner = mask.copy()
        inner[1:-1, 1:-1] = mask[1:-1, 1:-1] & mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
        edges |= mask & ~inner
    painted[edges] = 255
    picture, scale = enlarge(painted, size)
    picture = draw_prompts(picture, scale) if not clicks else _dots(picture, scale, clicks)
    title = title or f"{len(masks)} mask{'s' if len(masks) != 1 else ''}"
    return _row([caption(enlarge(image, size)[0], "image"), caption(picture, title)])


def _dots(panel: np.ndarray, scale: float, points: Sequence[tuple[float, float]]) -> np.ndarray:
    picture = Image.fromarray(panel)
    draw = ImageDraw.Draw(picture)
    for x, y in points:
        cx, cy = (x + 0.5) * scale, (y + 0.5) * scale
        draw.ellipse((cx - 3, cy - 3, cx + 3, cy + 3), fill=(255, 255, 255), outline=(0, 0, 0))
    return np.asarray(picture)
