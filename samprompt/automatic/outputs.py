"""Writing automatic masks to disk: a JSON of records, the masks as PNGs, and an overlay."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from samprompt.automatic.labels import record_mask
from samprompt.automatic.rle import masks_to_rle, rle_to_coco
from samprompt.errors import ConfigError
from samprompt.utils.files import atomic_file
from samprompt.visualize import legend, mask_overlay, save_png

LAYOUTS = ("labelmap", "pngs")


def json_record(record: dict[str, Any], mask: np.ndarray) -> dict[str, Any]:
    """A record with its segmentation as COCO RLE, every value plain JSON."""
    rle = rle_to_coco(masks_to_rle(torch.as_tensor(mask)[None])[0])
    return {**{k: v for k, v in record.items() if k != "segmentation"}, "segmentation": rle}


def label_map(masks: Sequence[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """H x W uint16: 0 where no mask is, else 1 + the index of the smallest mask covering the pixel."""
    labels = np.zeros(shape, np.uint16)
    for i in sorted(range(len(masks)), key=lambda i: -int(masks[i].sum())):
        labels[masks[i]] = i + 1
    return labels


def write_masks(image: np.ndarray, records: list[dict[str, Any]], out: str | Path, *, layout: str = "labelmap",
                classes: Sequence[str] | None = None, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write `records` (mask records, optionally labelled) for `image` into the folder `out`.

    - masks.json: {"image_size", "settings", "classes", "masks": records with COCO RLE segmentations};
    - layout "labelmap": label_map.png, 16-bit, pixel value 1 + the record's index (0: no mask; a
      pixel of several masks shows the smallest); layout "pngs": masks/mask_000.png, ... (0 / 255);
    - overlay.png: the image beside its masks, each in a colour (its class's, with `classes`).
    Returns what masks.json holds, without the records.
    """
    if layout not in LAYOUTS:
        raise ConfigError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    out = Path(out)
    masks = [record_mask(r) for r in records]
    summary = {"image_size": list(image.shape[:2]), "settings": settings or {}, "classes": list(classes or []),
               "count": len(records), "layout": layout}
    with atomic_file(out / "masks.json") as staging:
        staging.write_text(json.dumps({**summary, "masks": [json_record(r, m) for r, m in zip(records, masks)]},
                                      indent=1))
    if layout == "labelmap":
        save_png(label_map(masks, image.shape[:2]), out / "label_map.png")
    else:
        for i, mask in enumerate(masks):
            save_png(mask, out / "masks" / f"mask_{i:03d}.png")
    names = list(classes or [])
    colours = [names.index(r["label"]) if r.get("label") in names else i + 1 for i, r in enumerate(records)]
    title = f"{len(records)} mask{'s' if len(records) != 1 else ''}"
    if names:
        counts = {n: sum(r.get("label") == n for r in records) for n in names}
        title += ": " + (", ".join(f"{c} {n}" for n, c in counts.items() if c) or "none named")
    picture = mask_overlay(image, masks, colours, clicks=[tuple(r["point_coords"][0]) for r in records], title=title)
    if names:
        present = [n for n in names if any(r.get("label") == n for r in records)]
        picture = np.concatenate([picture, legend(names, picture.shape[1])], axis=0)
        summary["labels_found"] = present
    save_png(picture, out / "overlay.png")
    return summary
