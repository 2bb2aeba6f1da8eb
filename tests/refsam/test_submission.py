from __future__ import annotations

import zipfile

import numpy as np
from PIL import Image

from samprompt.data import RefYouTubeVOS
from samprompt.refsam import RefSAM, RefSAMConfig
from samprompt.refsam.submission import run_video_dataset


def test_submission_folder_and_zip_follow_the_official_layout(core, text_encoder, ytvos_root, tmp_path):
    model = RefSAM(core, text_encoder, RefSAMConfig(adapters=None))
    result = run_video_dataset(model, RefYouTubeVOS(ytvos_root, "valid"), tmp_path / "out", progress=False)
    assert result["expressions"] == 1 and "J&F" not in result  # valid: no ground truth
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png"))
    assert written == [f"Annotations/zzz999/0/{name}.png" for name in ("00000", "00005", "00010")]
    mask = np.asarray(Image.open(tmp_path / "out" / written[0]))
    assert mask.shape == (24, 32) and set(np.unique(mask)) <= {0, 255}
    with zipfile.ZipFile(result["submission"]) as archive:
        assert sorted(archive.namelist()) == written


def test_annotated_split_is_scored(core, text_encoder, ytvos_root, tmp_path):
    model = RefSAM(core, text_encoder, RefSAMConfig(adapters=None))
    result = run_video_dataset(model, RefYouTubeVOS(ytvos_root, "train"), tmp_path / "out", progress=False)
    assert result["count"] == 2 and 0 <= result["J&F"] <= 1
