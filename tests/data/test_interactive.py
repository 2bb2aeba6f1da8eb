"""Tiny interactive benchmarks written in their released layouts by the tests themselves."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from samprompt.data.interactive import interactive_dataset
from samprompt.errors import DataFileNotFoundError, DatasetError, UnknownNameError


def write_image(path: Path, height: int = 12, width: int = 16, seed: int = 0) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(image).save(path)
    return image


def write_grey(path: Path, values: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(values.astype(np.uint8), mode="L").save(path)


def test_grabcut_reads_the_band_as_ignore(tmp_path):
    root = tmp_path / "GrabCut"
    image = write_image(root / "data_GT" / "flower.bmp")
    trimap = np.zeros((12, 16), dtype=np.uint8)
    trimap[3:9, 4:12] = 128
    trimap[4:8, 5:11] = 255
    write_grey(root / "boundary_GT" / "flower.bmp", trimap)
    write_image(root / "data_GT" / "cup.jpg", seed=1)
    write_grey(root / "boundary_GT" / "cup.bmp", np.full((12, 16), 255))
    dataset = interactive_dataset("grabcut", root)
    assert len(dataset) == 2
    cup, flower = dataset[0], dataset[1]
    assert cup["id"] == "cup" and cup["mask"].all() and "ignore" not in cup
    assert np.array_equal(flower["image"], image)
    assert flower["mask"].sum() == 24 and flower["ignore"].sum() == 48 - 24
    assert not (flower["mask"] & flower["ignore"]).any()


def test_berkeley_and_davis_layouts(tmp_path):
    write_image(tmp_path / "Berkeley" / "images" / "42049.jpg")
    mask = np.zeros((12, 16), dtype=np.uint8)
    mask[2:5, 2:5] = 255
    write_grey(tmp_path / "Berkeley" / "masks" / "42049.png", mask)
    item = interactive_dataset("berkeley", tmp_path / "Berkeley")[0]
    assert item["mask"].sum() == 9 and item["mask"].dtype == bool

    write_image(tmp_path / "DAVIS" / "img" / "bear_00000.jpg")
    colour = np.zeros((12, 16, 3), dtype=np.uint8)
    colour[6:, :, 0] = 128                       # an object drawn in a palette colour
    (tmp_path / "DAVIS" / "gt").mkdir(parents=True)
    Image.fromarray(colour).save(tmp_path / "DAVIS" / "gt" / "bear_00000.png")
    item = interactive_dataset("davis", tmp_path / "DAVIS")[0]
    assert item["mask"].sum() == 6 * 16


def test_sbd_gives_one_item_per_instance(tmp_path):
    root = tmp_path / "SBD" / "dataset"
    write_image(root / "img" / "2008_000001.jpg")
    write_image(root / "img" / "2008_000002.jpg", seed=2)
    labels = np.zeros((12, 16), dtype=np.uint8)
    labels[1:4, 1:4] = 1
    labels[6:10, 8:14] = 2
    labels[5, :] = 255
    (root / "inst").mkdir()
    savemat(root / "inst" / "2008_000001.mat",
            {"GTinst": {"Segmentation": labels, "Boundaries": np.zeros((1, 1)), "Categories": np.array([[15], [7]])}})
    savemat(root / "inst" / "2008_000002.mat", {"GTinst": {"Segmentation": np.full((12, 16), 3, np.uint8)}})
    (root / "val.txt").write_text("2008_000001\n2008_000002\n")
    dataset = interactive_dataset("sbd", root, "val")
    assert [item["id"] for item in dataset] == ["2008_000001-1", "2008_000001-2", "2008_000002-3"]
    first = dataset[0]
    assert first["mask"].sum() == 9 and first["ignore"].sum() == 16 and first["image_id"] == "2008_000001"
    assert dataset[2]["mask"].all() and "ignore" not in dataset[2]


def test_bad_folders_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="data_GT"):
        interactive_dataset("grabcut", tmp_path)
    write_image(tmp_path / "images" / "a.jpg")
    write_image(tmp_path / "images" / "b.jpg")
    write_grey(tmp_path / "masks" / "a.png", np.zeros((12, 16)))
    with pytest.raises(DatasetError, match=r"have no mask.*b\.jpg"):
        interactive_dataset("berkeley", tmp_path)
    write_grey(tmp_path / "masks" / "b.png", np.zeros((5, 5)))
    with pytest.raises(DatasetError, match="5 x 5"):
        interactive_dataset("berkeley", tmp_path)[1]
    with pytest.raises(UnknownNameError, match="unknown interactive benchmark"):
        interactive_dataset("coco", tmp_path)
    (tmp_path / "img").mkdir()
    (tmp_path / "inst").mkdir()
    (tmp_path / "val.txt").write_text("missing\n")
    with pytest.raises(DatasetError, match="missing.mat"):
        interactive_dataset("sbd", tmp_path)
    (tmp_path / "inst" / "missing.mat").write_bytes(b"not a mat file")
    with pytest.raises(DatasetError, match="not an SBD instance file"):
        interactive_dataset("sbd", tmp_path)


@pytest.mark.parametrize("content, why", [
    ({"GTinst": {"Boundaries": np.zeros((2, 2))}}, "Segmentation"),
    ({"GTcls": {"Segmentation": np.zeros((4, 4))}}, "GTinst"),
    ({"GTinst": np.zeros((4, 4))}, "GTinst.Segmentation"),
    ({"GTinst": {"Segmentation": np.zeros((4, 4, 2), np.uint8)}}, r"shape \(4, 4, 2\)"),
    ({"GTinst": {"Segmentation": np.array(["ab", "cd"])}}, "expected H x W integers"),
    ({"GTinst": {"Segmentation": np.full((4, 4), 0.5)}}, "non-integer"),
    ({"GTinst": {"Segmentation": np.full((4, 4), np.nan)}}, "non-finite"),
    ({"GTinst": {"Segmentation": np.full((4, 4), -1, np.int16)}}, r"-1\.\.-1"),
    ({"GTinst": {"Segmentation": np.full((4, 4), 300, np.int16)}}, "300"),
])
def test_sbd_instance_files_of_another_structure_are_named(tmp_path, content, why):
    (tmp_path / "img").mkdir()
    (tmp_path / "inst").mkdir()
    savemat(tmp_path / "inst" / "a.mat", content)
    (tmp_path / "val.txt").write_text("a\n")
    with pytest.raises(DatasetError, match="a.mat' is not an SBD instance file") as caught:
        interactive_dataset("sbd", tmp_path)
    assert caught.match(why)


def test_sbd_lists_and_files_that_cannot_be_read_are_named(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "inst").mkdir()
    (tmp_path / "val.txt").write_text("\n  \n")
    with pytest.raises(DatasetError, match="lists no images"):
        interactive_dataset("sbd", tmp_path)
    (tmp_path / "val.txt").write_bytes(b"\xff\xfe\x00a")
    with pytest.raises(DatasetError, match="not a UTF-8 text file"):
        interactive_dataset("sbd", tmp_path)
    # a MATLAB v7.3 file is HDF5 behind a v7.3 text header; scipy refuses it
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    (tmp_path / "inst" / "b.mat").write_bytes(header.ljust(116) + b"\x00" * 8 + b"\x00\x02IM" + b"\x00" * 512)
    (tmp_path / "val.txt").write_text("b\n")
    with pytest.raises(DatasetError, match="v7.3"):
        interactive_dataset("sbd", tmp_path)
    savemat(tmp_path / "inst" / "b.mat", {"GTinst": {"Segmentation": np.ones((12, 16), np.uint8)}})
    dataset = interactive_dataset("sbd", tmp_path)
    with pytest.raises(DataFileNotFoundError, match="b.jpg"):   # listed, but its image is missing
        dataset[0]
    (tmp_path / "img" / "b.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(DatasetError, match="b.jpg"):
        dataset[0]
