"""RefCOCO in the REFER layout, with a fixture written by the test (pickle + COCO json + JPEGs)."""
from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from PIL import Image

from samprompt.data import RefCOCO
from samprompt.data.coco_masks import decode_rle_counts, rle_to_mask
from samprompt.data.files import load_plain_pickle
from samprompt.errors import DatasetError


def mask_runs(mask: np.ndarray) -> list[int]:
    """COCO run lengths (column-major, starting with background)."""
    flat = mask.T.flatten().astype(np.uint8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    return runs if flat[0] == 0 else [0] + runs


def compress_runs(runs: list[int]) -> str:
    """COCO's compressed RLE string (the inverse of what the loader decodes)."""
    out = []
    for i, run in enumerate(runs):
        x = run - runs[i - 2] if i > 2 else run
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            out.append(chr((c | 0x20 if more else c) + 48))
    return "".join(out)


@pytest.fixture
def refer_root(tmp_path):
    root = tmp_path / "refer"
    images_dir = root / "images" / "mscoco" / "images" / "train2014"
    images_dir.mkdir(parents=True)
    (root / "refcoco").mkdir()
    rng = np.random.default_rng(0)
    images, annotations, refs = [], [], []
    blob = np.zeros((30, 40), bool)
    blob[5:15, 20:33] = True
    blob[12:20, 3:9] = True
    for image_id in (1, 2):
        name = f"COCO_train2014_{image_id:012d}.jpg"
        Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(images_dir / name)
        images.append({"id": image_id, "file_name": name, "height": 30, "width": 40})
    annotations.append({"id": 10, "image_id": 1, "category_id": 1, "bbox": [4, 2, 10, 8], "iscrowd": 0,
                        "segmentation": [[4, 2, 14, 2, 14, 10, 4, 10]]})
    annotations.append({"id": 11, "image_id": 2, "category_id": 2, "bbox": [3, 5, 30, 15], "iscrowd": 0,
                        "segmentation": {"size": [30, 40], "counts": mask_runs(blob)}})
    annotations.append({"id": 12, "image_id": 2, "category_id": 2, "bbox": [3, 5, 30, 15], "iscrowd": 1,
                        "segmentation": {"size": [30, 40], "counts": compress_runs(mask_runs(blob))}})
    for ref_id, (ann_id, image_id, split) in enumerate([(10, 1, "train"), (11, 2, "val"), (12, 2, "val")]):
        refs.append({"ref_id": ref_id, "ann_id": ann_id, "image_id": image_id, "split": split, "category_id": 1,
                     "file_name": f"COCO_train2014_{image_id:012d}_{ann_id}.jpg",
                     "sentences": [{"sent_id": 2 * ref_id + k, "sent": f"object {ref_id} way {k}",
                                    "raw": f"Object {ref_id} way {k}", "tokens": []} for k in range(2)]})
    with open(root / "refcoco" / "refs(unc).p", "wb") as f:
        pickle.dump(refs, f)
    (root / "refcoco" / "instances.json").write_text(json.dumps(
        {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}))
    return root, blob


def test_refcoco_items_per_sentence_with_polygon_and_rle_masks(refer_root):
    root, blob = refer_root
    train = RefCOCO(root, "refcoco", "train")
    assert len(train) == 2
    item = train[1]
    assert item["image"].shape == (30, 40, 3) and item["text"] == "object 0 way 1" and item["id"] == "0-1"
    assert item["mask"][2:11, 4:15].all() and item["mask"].sum() == 9 * 11  # polygon incl. its edge pixels
    val = RefCOCO(root, "refcoco", "val")
    assert len(val) == 4
    np.testing.assert_array_equal(val[0]["mask"], blob)   # uncompressed RLE
    np.testing.assert_array_equal(val[2]["mask"], blob)   # compressed RLE string


def test_rle_round_trip_and_errors():
    runs = [5, 3, 0, 120, 7, 1000, 2]
    assert decode_rle_counts(compress_runs(runs)) == runs
    with pytest.raises(ValueError, match="cover"):
        rle_to_mask({"size": [2, 2], "counts": [1, 1]})


def test_refcoco_clear_errors(refer_root, tmp_path):
    root, _ = refer_root
    with pytest.raises(FileNotFoundError, match="REFER layout"):
        RefCOCO(tmp_path, "refcoco")
    with pytest.raises(ValueError, match="split 'testA'"):
        RefCOCO(root, "refcoco", "testA")
    dataset = RefCOCO(root, "refcoco", "val", image_dir=tmp_path / "elsewhere")
    with pytest.raises(FileNotFoundError, match="image_dir"):
        dataset[0]


class _Payload:
    """What a crafted refs file carries: unpickling it would call `touch <marker>`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return os.system, (f"touch {self.marker}",)


def test_a_crafted_refs_file_is_refused_without_running_its_code(refer_root, tmp_path):
    root, _ = refer_root
    marker = tmp_path / "pwned"
    with open(root / "refcoco" / "refs(unc).p", "wb") as f:
        pickle.dump([{"ref_id": 0, "payload": _Payload(marker)}], f)
    with pytest.raises(DatasetError, match=r"refs\(unc\)\.p.*refuses to load (posix|os)\.system"):
        RefCOCO(root, "refcoco", "val")
    assert not marker.exists()


def test_python2_protocol_refs_load_and_wrong_structures_are_named(refer_root):
    root, _ = refer_root
    refs_file = root / "refcoco" / "refs(unc).p"
    refs = load_plain_pickle(refs_file)
    refs_file.write_bytes(pickle.dumps(refs, protocol=2))       # REFER's files were written by Python 2
    assert len(RefCOCO(root, "refcoco", "val")) == 4
    for bad, expected in (({"refs": refs}, "holds a dict"), ([refs[0], 5], r"ref #1 is a int"),
                          ([{**refs[0], "split": None}], r"ref #0 lacks or mistypes \['split'\]"),
                          ([{**refs[0], "sentences": [{"raw": "x"}]}], "sentences without a 'sent'")):
        refs_file.write_bytes(pickle.dumps(bad, protocol=2))
        with pytest.raises(DatasetError, match=expected):
            RefCOCO(root, "refcoco", "val")
    refs_file.write_bytes(b"\x80\x02}q\x00(X")                   # cut short
    with pytest.raises(DatasetError, match="not a readable pickle"):
        RefCOCO(root, "refcoco", "val")
    refs_file.write_bytes(pickle.dumps(refs, protocol=2))
    instances = root / "refcoco" / "instances.json"
    for text, expected in (("[1, 2]", "holds a list"), ('{"images": {}}', "'images' must be a list"),
                           ('{"images": [], "annotations": [{"id": 1}]}', r"annotations\[0\] must be an object"),
                           ("{not json", "not valid JSON")):
        instances.write_text(text)
        with pytest.raises(DatasetError, match=expected):
            RefCOCO(root, "refcoco", "val")


def test_a_truncated_image_is_named(refer_root):
    root, _ = refer_root
    image = root / "images" / "mscoco" / "images" / "train2014" / "COCO_train2014_000000000002.jpg"
    image.write_bytes(image.read_bytes()[:200])
    with pytest.raises(DatasetError, match="COCO_train2014_000000000002.jpg.*cannot be read"):
        RefCOCO(root, "refcoco", "val")[0]
