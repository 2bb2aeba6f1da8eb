import os
import stat

import pytest

from samprompt.utils.files import atomic_directory, atomic_file


def test_atomic_file_replaces_only_on_success_with_normal_permissions(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as staging:
            staging.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old" and sorted(os.listdir(tmp_path)) == ["a.txt"]
    with atomic_file(target) as staging:
        staging.write_text("new")
    assert target.read_text() == "new"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_atomic_directory_swaps_whole_directories(tmp_path):
    target = tmp_path / "run"
    with atomic_directory(target) as staging:
        (staging / "nested").mkdir()
        (staging / "nested" / "x").write_text("1")
    with pytest.raises(ValueError):
        with atomic_directory(target) as staging:
            (staging / "y").write_text("2")
            raise ValueError("boom")
    assert (target / "nested" / "x").read_text() == "1" and not (target / "y").exists()
    assert sorted(os.listdir(tmp_path)) == ["run"]


def test_files_written_in_an_atomic_directory_get_normal_permissions(tmp_path):
    import stat

    import torch
    from safetensors.torch import save_file

    umask = os.umask(0o022)
    try:
        with atomic_directory(tmp_path / "weights") as staging:
            save_file({"w": torch.zeros(2)}, str(staging / "model.safetensors"))   # created 0600 by safetensors
            (staging / "run.sh").write_text("#!/bin/sh\n")
            os.chmod(staging / "run.sh", 0o700)
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "weights" / "model.safetensors").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "weights" / "run.sh").stat().st_mode) == 0o744     # its execute bit kept
