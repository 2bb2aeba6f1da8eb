"""RefCOCO / RefCOCO+ / RefCOCOg in the REFER layout.

    <data_root>/<dataset>/refs(<split_by>).p     pickled list of refs (REFER's own format)
    <data_root>/<dataset>/instances.json         COCO images, annotations, categories
    <image_dir>/<file_name>                      COCO train2014 images
                                                 (default <data_root>/images/mscoco/images/train2014)

`split_by` is "unc" for RefCOCO and RefCOCO+, "umd" (or "google") for RefCOCOg. Each ref
points to one annotation (`ann_id`) and carries several sentences; every sentence is one
item: {"image", "mask", "text", "id", "box"} (box as COCO's x, y, w, h). The refs file is a
pickle: only load files you trust.
"""
from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from samprompt.data.coco_masks import annotation_mask
from samprompt.data.registry import DatasetSpec, register_dataset
from samprompt.errors import ConfigError

SPLIT_BY = {"refcoco": "unc", "refcoco+": "unc", "refcocog": "umd"}


class RefCOCO(Dataset):
    """One item per (ref, sentence) of a split ("train", "val", "testA", "testB", "test")."""

    def __init__(self, data_root: str | Path, dataset: str = "refcoco", split: str = "val",
                 split_by: str | None = None, image_dir: str | Path | None = None) -> None:
        root = Path(data_root)
        split_by = split_by or SPLIT_BY.get(dataset, "unc")
        refs_file = root / dataset / f"refs({split_by}).p"
        instances_file = root / dataset / "instances.json"
        for path in (refs_file, instances_file):
            if not path.is_file():
                raise FileNotFoundError(f"{str(path)!r} not found: expected the REFER layout "
                                        "<data_root>/<dataset>/refs(<split_by>).p and instances.json")
        default_images = root / "images" / "mscoco" / "images" / "train2014"
        self.image_dir = Path(image_dir) if image_dir is not None else default_images
        with open(refs_file, "rb") as f:
            refs = pickle.load(f)
        instances = json.loads(instances_file.read_text())
        self.images = {image["id"]: image for image in instances["images"]}
        self.annotations = {ann["id"]: ann for ann in instances["annotations"]}
        self.categories = {c["id"]: c["name"] for c in instances.get("categories", [])}
        splits = sorted({ref["split"] for ref in refs})
        if split not in splits:
            raise ConfigError(f"split {split!r} is not in {str(refs_file)!r}; it has {splits}")
        self.entries = [(ref, sentence) for ref in refs if ref["split"] == split for sentence in ref["sentences"]]
        self.split = split

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> dict[str, Any]:
        ref, sentence = self.entries[index]
        annotation = self.annotations[ref["ann_id"]]
        info = self.images[ref["image_id"]]
        path = self.image_dir / info["file_name"]
        if not path.is_file():
            raise FileNotFoundError(f"image {str(path)!r} of ref {ref['ref_id']} not found (image_dir="
                                    f"{str(self.image_dir)!r})")
        image = np.asarray(Image.open(path).convert("RGB"))
        mask = annotation_mask(annotation["segmentation"], info["height"], info["width"])
        return {"image": image, "mask": mask, "text": sentence["sent"], "box": list(annotation["bbox"]),
                "id": f"{ref['ref_id']}-{sentence['sent_id']}"}


def refcoco(root: str, name: str = "refcoco", split: str = "train", split_by: str | None = None,
            image_dir: str | None = None) -> RefCOCO:
    """RefCOCO / RefCOCO+ / RefCOCOg (`name`) from the refer toolkit's layout."""
    return RefCOCO(root, name, split, split_by, image_dir)


register_dataset(DatasetSpec("refcoco", "referring", refcoco, "RefCOCO, RefCOCO+ and RefCOCOg (name=...)"))

