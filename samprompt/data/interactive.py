"""Interactive-segmentation benchmarks in the layouts the RITM / SimpleClick lineage evaluates on.

Every item is one object: {"image": H x W x 3 uint8, "mask": H x W bool, "id": str} plus
"ignore": H x W bool where the dataset marks pixels that count for neither side, and (SBD,
several objects per image) "image_id": the image's stem.

Layouts (`root` is the dataset's own folder):
- grabcut:  GrabCut/ data_GT/*.{jpg,bmp,png} images, boundary_GT/<stem>.{bmp,png} masks
            (255 object, 128 the uncertain band around it -> ignore, 0 background); 50 objects.
- berkeley: Berkeley/ images/*.jpg, masks/<stem>.png (object > 128); 100 objects.
- davis:    DAVIS/ img/*.jpg, gt/<stem>.png (the 345 frames of the interactive DAVIS set; any
            non-zero channel is object).
- sbd:      SBD/dataset/ img/*.jpg, inst/<stem>.mat (`GTinst.Segmentation`: 0 background,
            k = instance k, 255 boundary -> ignore) listed by <split>.txt; one item per instance.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
from torch.utils.data import Dataset

from samprompt.data.files import open_image
from samprompt.data.registry import DatasetSpec, register_dataset
from samprompt.data.semantic import read_image
from samprompt.errors import DatasetError, UnknownNameError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
MaskReader = Callable[[Path], tuple[np.ndarray, np.ndarray | None]]


def _grey(path: Path) -> np.ndarray:
    image = open_image(path, "mask")
    return np.asarray(image.convert("L") if image.mode not in ("L", "P", "1") else image).astype(np.int32)


def read_trimap_mask(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """GrabCut: 255 object, 128 ignored band, 0 background."""
    values = _grey(path)
    return values > 128, values == 128


def read_binary_mask(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Berkeley: a 0 / 255 mask (anything above 128 is object)."""
    return _grey(path) > 128, None


def read_any_channel_mask(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """DAVIS: any non-zero value in any channel is object."""
    image = open_image(path, "mask")
    values = np.asarray(image.convert("RGB") if image.mode not in ("L", "1") else image)
    return (values.reshape(*values.shape[:2], -1) > 0).any(-1), None


def _folder(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"{what} folder {str(path)!r} does not exist")
    return path


def _check_pair(image: np.ndarray, mask: np.ndarray, where: str) -> None:
    if mask.shape != image.shape[:2]:
        raise DatasetError(f"{where}: mask is {mask.shape[1]} x {mask.shape[0]} (W x H) but its image is "
                           f"{image.shape[1]} x {image.shape[0]}")


class MaskFolder(Dataset):
    """One object per image: images in `root/images_dir`, masks with the same stem in `root/masks_dir`."""

    def __init__(self, root: str | Path, images_dir: str, masks_dir: str, read_mask: MaskReader,
                 mask_suffixes: tuple[str, ...] = (".png", ".bmp")) -> None:
        root = Path(root)
        image_folder = _folder(root / images_dir, "image")
        mask_folder = _folder(root / masks_dir, "mask")
        masks = {p.stem: p for p in mask_folder.iterdir() if p.suffix.lower() in mask_suffixes}
        images = sorted(p for p in image_folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise DatasetError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {str(image_folder)!r}")
        unpaired = [p.name for p in images if p.stem not in masks]
        if unpaired:
            raise DatasetError(f"{len(unpaired)} images in {str(image_folder)!r} have no mask in "
                               f"{str(mask_folder)!r} (e.g. {unpaired[:3]})")
        self.pairs = [(p, masks[p.stem]) for p in images]
        self.read_mask = read_mask

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image_path, mask_path = self.pairs[index]
        image = read_image(image_path)
        mask, ignore = self.read_mask(mask_path)
        _check_pair(image, mask, str(mask_path))
        item = {"image": image, "mask": mask, "id": image_path.stem}
        if ignore is not None and ignore.any():
            item["ignore"] = ignore
        return item


def read_sbd_instances(path: Path) -> np.ndarray:
    """The instance map (`GTinst.Segmentation`) of an SBD `.mat` file as H x W int64.

    SBD releases MATLAB v5 files; scipy's reader builds only arrays and structs from them (no
    code runs). Anything else (another struct, a map that is not 2-D integers in 0..255, a v7.3
    / HDF5 file) is a `DatasetError` naming the file.
    """
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    def refuse(why: str) -> DatasetError:
        return DatasetError(f"{str(path)!r} is not an SBD instance file (GTinst.Segmentation): {why}")

    try:
        segmentation = loadmat(str(path))["GTinst"]["Segmentation"][0][0]
    except NotImplementedError:
        raise refuse("a MATLAB v7.3 (HDF5) file; SBD's files are MATLAB v5") from None
    except (MatReadError, KeyError, ValueError, IndexError, TypeError, OSError) as error:
        raise refuse(str(error) or type(error).__name__) from None
    segmentation = np.asarray(segmentation)
    if segmentation.ndim != 2 or segmentation.dtype.kind not in "uif" or segmentation.size == 0:
        raise refuse(f"the map is {segmentation.dtype} of shape {segmentation.shape}, expected H x W integers")
    if segmentation.dtype.kind == "f" and not (np.isfinite(segmentation).all()
                                               and (segmentation == np.round(segmentation)).all()):
        raise refuse("the map holds non-integer or non-finite values")
    if segmentation.min() < 0 or segmentation.max() > 255:
        raise refuse(f"instance ids range over {segmentation.min()}..{segmentation.max()}, expected 0..255")
    return segmentation.astype(np.int64)


class SBD(Dataset):
    """SBD instances: one item per instance of every image listed in `<split>.txt`."""

    def __init__(self, root: str | Path, split: str = "val", min_area: int = 1) -> None:
        root = Path(root)
        listing = root / f"{split}.txt"
        if not listing.is_file():
            raise FileNotFoundError(f"SBD split list {str(listing)!r} does not exist")
        self.images, self.instances = _folder(root / "img", "image"), _folder(root / "inst", "instance")
        try:
            stems = listing.read_text(encoding="utf-8").split()
        except UnicodeDecodeError as error:
            raise DatasetError(f"SBD split list {str(listing)!r} is not a UTF-8 text file: {error}") from None
        if not stems:
            raise DatasetError(f"SBD split list {str(listing)!r} lists no images (one file stem per line)")
        self.objects: list[tuple[str, int]] = []
        for stem in stems:
            path = self.instances / f"{stem}.mat"
            if not path.is_file():
                raise DatasetError(f"{str(listing)!r} lists {stem!r} but {str(path)!r} does not exist")
            labels = read_sbd_instances(path)
            ids, areas = np.unique(labels, return_counts=True)
            self.objects += [(stem, int(k)) for k, area in zip(ids, areas) if k not in (0, 255) and area >= min_area]

    def __len__(self) -> int:
        return len(self.objects)

    def __getitem__(self, index: int) -> dict[str, Any]:
        stem, instance = self.objects[index]
        image = read_image(self.images / f"{stem}.jpg")
        labels = read_sbd_instances(self.instances / f"{stem}.mat")
        _check_pair(image, labels, stem)
        item = {"image": image, "mask": labels == instance, "id": f"{stem}-{instance}", "image_id": stem}
        if (labels == 255).any():
            item["ignore"] = labels == 255
        return item


INTERACTIVE_BENCHMARKS = ("grabcut", "berkeley", "davis", "sbd")


def interactive_dataset(name: str, root: str | Path, split: str = "val") -> Dataset:
    """One of `INTERACTIVE_BENCHMARKS` from its folder (see the module docstring); `split` is SBD's."""
    if name == "grabcut":
        return MaskFolder(root, "data_GT", "boundary_GT", read_trimap_mask)
    if name == "berkeley":
        return MaskFolder(root, "images", "masks", read_binary_mask)
    if name == "davis":
        return MaskFolder(root, "img", "gt", read_any_channel_mask)
    if name == "sbd":
        return SBD(root, split)
    raise UnknownNameError(f"unknown interactive benchmark {name!r}; known: {list(INTERACTIVE_BENCHMARKS)}")


def _register(name: str, summary: str) -> None:
    def build(root: str, split: str = "val") -> Dataset:
        return interactive_dataset(name, root, split)
    register_dataset(DatasetSpec(name, "interactive", build, summary))


for _name, _summary in (("grabcut", "GrabCut: 50 images, trimap masks (ignore band)"),
                        ("berkeley", "Berkeley: 100 objects"), ("davis", "DAVIS-345 interactive frames"),
                        ("sbd", "SBD instances (.mat), split train or val")):
    _register(_name, _summary)

