import errno
import os
import stat

import pytest

from samprompt.utils.files import atomic_directory, atomic_file
from tests.helpers import file_size_limit


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


def test_writable_directory_is_proven_before_any_work(tmp_path, monkeypatch):
    from pathlib import Path

    from samprompt.errors import ConfigError
    from samprompt.utils.files import writable_directory

    assert writable_directory(tmp_path / "a" / "b") == tmp_path / "a" / "b" and (tmp_path / "a" / "b").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"'.*file/run' cannot be created: '.*file' is a file"):
        writable_directory(tmp_path / "file" / "run", "train.output_dir")

    def full_disk(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(ConfigError, match="--out '.*c' is not writable: No space left on device"):
        writable_directory(tmp_path / "c", "--out")
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == []          # no probe left behind


def test_writes_the_disk_refuses_are_os_errors_naming_the_file_and_leave_nothing_behind(tmp_path):
    import torch
    from safetensors.torch import load_file

    from samprompt.errors import ConfigError
    from samprompt.utils.files import save_state, save_tensors, writable_directory

    big = {"weight": torch.zeros(4096)}
    with file_size_limit(1024):
        with pytest.raises(ConfigError, match="'.*out' is not writable: File too large"):
            writable_directory(tmp_path / "out")
        assert list((tmp_path / "out").iterdir()) == []            # the cut-short probe is removed too
        for save, name in ((save_tensors, "w.safetensors"), (save_state, "state.pt")):
            with pytest.raises(OSError, match="File too large") as caught:
                save(big, tmp_path / name)
            assert caught.value.errno == errno.EFBIG and caught.value.filename == str(tmp_path / name)
    save_tensors(big, tmp_path / "w.safetensors", metadata={"format": "x"})
    save_state({"step": 3, "t": big["weight"]}, tmp_path / "state.pt")
    assert torch.load(tmp_path / "state.pt", weights_only=True)["step"] == 3
    assert torch.equal(load_file(tmp_path / "w.safetensors")["weight"], big["weight"])
