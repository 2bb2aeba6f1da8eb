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
