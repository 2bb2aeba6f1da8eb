"""RefCOCO / RefCOCO+ / RefCOCOg in the REFER layout.

    <data_root>/<dataset>/refs(<split_by>).p     pickled list of refs (REFER's own format)
    <data_root>/<dataset>/instances.json         COCO images, annotations, categories
    <image_dir>/<file_name>                      COCO train2014 images
                                                 (default <data_root>/images/mscoco/images/train2014)

`split_by` is "unc" for RefCOCO and RefCOCO+, "umd" (or "google") for RefCOCOg. Each ref
points to one annotation (`ann_id`) and carries several sentences; every sentence is one
item: {"image", "mask", "text", "id", "box"} (box as COCO's x, y, w, h). The refs file is a
pickle of plain data; it is read with an unpickler that refuses every class and function, so a
crafted file cannot run code. Both files are checked for REFER's structure before use.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from samprompt.data.coco_masks import annotation_mask
from samprompt.data.files import load_plain_pickle, read_json, read_rgb
from samprompt.data.registry import DatasetSpec, register_dataset
from samprompt.errors import ConfigError, DataFileNotFoundError, DatasetError

SPLIT_BY = {"refcoco": "unc", "refcoco+": "unc", "refcocog": "umd"}


REF_KEYS = {"ref_id": int, "ann_id": int, "image_id": int, "split": str, "sentences": list}
INSTANCE_KEYS = {"images": ("id", "file_name", "height", "width"), "annotations": ("id", "segmentation", "bbox")}


def check_refs(refs: Any, path: Path) -> list[dict[str, Any]]:
    """REFER's refs: a list of dicts, each with the keys of `REF_KEYS` and sentences carrying
    "sent" and "sent_id"; anything else is a `DatasetError` naming the file and the first bad ref."""
    if not isinstance(refs, list):
        raise DatasetError(f"{str(path)!r} holds a {type(refs).__name__}, expected REFER's list of refs")
    for k, ref in enumerate(refs):
        problem = None
        if not isinstance(ref, dict):
            problem = f"is a {type(ref).__name__}, not a dict"
        else:
            wrong = [key for key, kind in REF_KEYS.items() if not isinstance(ref.get(key), kind)]
            if wrong:
                problem = f"lacks or mistypes {wrong} (expected {({k: t.__name__ for k, t in REF_KEYS.items()})})"
            elif not all(isinstance(s, dict) and isinstance(s.get("sent"), str) and "sent_id" in s
                         for s in ref["sentences"]):
                problem = "has sentences without a 'sent' string and a 'sent_id'"
        if problem:
            raise DatasetError(f"{str(path)!r}: ref #{k} {problem}")
    return refs


def check_instances(instances: Any, path: Path) -> None:
    """COCO instances: a dict whose "images" and "annotations" are lists of dicts with the keys
    of `INSTANCE_KEYS`."""
    if not isinstance(instances, dict):
        raise DatasetError(f"{str(path)!r} holds a {type(instances).__name__}, expected COCO's instances object")
    for field, keys in INSTANCE_KEYS.items():
        entries = instances.get(field)
        if not isinstance(entries, list):
            raise DatasetError(f"{str(path)!r}: {field!r} must be a list, got {type(entries).__name__}")
        for k, entry in enumerate(entries):
            if not isinstance(entry, dict) or any(key not in entry for key in keys):
                raise DatasetError(f"{str(path)!r}: {field}[{k}] must be an object with {list(keys)}")


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
                raise DataFileNotFoundError(f"{str(path)!r} not found: expected the REFER layout "
                                            "<data_root>/<dataset>/refs(<split_by>).p and instances.json")
        default_images = root / "images" / "mscoco" / "images" / "train2014"
        self.image_dir = Path(image_dir) if image_dir is not None else default_images
        refs = check_refs(load_plain_pickle(refs_file, "REFER refs file"), refs_file)
        instances = read_json(instances_file, "COCO instances file")
        check_instances(instances, instances_file)
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
        annotation, info = self.annotations.get(ref["ann_id"]), self.images.get(ref["image_id"])
        if annotation is None or info is None:
            missing = f"annotation {ref['ann_id']}" if annotation is None else f"image {ref['image_id']}"
            raise DatasetError(f"ref {ref['ref_id']} points to {missing}, which instances.json does not hold")
        path = self.image_dir / info["file_name"]
        if not path.is_file():
            raise DataFileNotFoundError(f"image {str(path)!r} of ref {ref['ref_id']} not found (image_dir="
                                        f"{str(self.image_dir)!r})")
        image = read_rgb(path, f"image of ref {ref['ref_id']}")
        mask = annotation_mask(annotation["segmentation"], info["height"], info["width"])
        return {"image": image, "mask": mask, "text": sentence["sent"], "box": list(annotation["bbox"]),
                "id": f"{ref['ref_id']}-{sentence['sent_id']}"}


def refcoco(root: str, name: str = "refcoco", split: str = "train", split_by: str | None = None,
            image_dir: str | None = None) -> RefCOCO:
    """RefCOCO / RefCOCO+ / RefCOCOg (`name`) from the refer toolkit's layout."""
    return RefCOCO(root, name, split, split_by, image_dir)


register_dataset(DatasetSpec("refcoco", "referring", refcoco, "RefCOCO, RefCOCO+ and RefCOCOg (name=...)"))

