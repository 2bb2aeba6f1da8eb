"""Writing files so that a failure never leaves a half-written result behind.

Guarantee: a process killed at any instant while `atomic_directory` replaces a folder leaves
either the previous or the new version, found under the folder's own name once
`recover_leftovers` has run (every `atomic_directory`, `Trainer.resume` and `samprompt.load`
runs it first). Staging and retired folders carry the writer's PID and a random suffix, so a
restarted process with the same PID never collides with a dead one's leftovers.

Tensors and states are serialised in memory and written by `write_bytes`, so that a disk that
refuses the write (full, over a file-size limit, an I/O error) raises an `OSError` naming the
file, where safetensors' and `torch.save`'s own writers raise their own error types.
"""
from __future__ import annotations

import io
import os
import re
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping


def _default_mode(directory: bool) -> int:
    """The permissions a plain open()/mkdir() would give, under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def _fsync_directory(directory: Path) -> None:
    """Make the renames inside `directory` durable (a no-op where directories cannot be opened)."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _writer_is_gone(kind_and_pid: re.Match[str]) -> bool:
    """True when the process that named a leftover no longer runs (or the name has no PID: an
    older layout). A leftover carrying this process's own PID is a dead predecessor's: this
    process is not writing it (containers reuse PIDs across restarts)."""
    pid = kind_and_pid.group(2)
    if pid is None or int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


def recover_leftovers(target: str | Path) -> Path | None:
    """Repair what a killed `atomic_directory` or `atomic_file` left beside `target`; returns
    `target` if it exists.

    - `target` missing and a retired `.<name>.old-*` of a dead writer present: the kill fell
      between the two renames, and the retired folder is the complete previous version: it is
      renamed back.
    - Staging (`.<name>.tmp-*`) and retired folders of dead writers: removed.
    Folders of live writers (another running process) are left alone.
    """
    target = Path(target)
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(tmp|old)-(?:(\d+)-)?")
    try:
        siblings = list(target.parent.iterdir())
    except OSError:
        return target if target.exists() else None
    leftovers = [(p, m) for p in siblings if (m := pattern.match(p.name)) and _writer_is_gone(m)]
    retired = sorted((p for p, m in leftovers if m.group(1) == "old"), key=lambda p: p.stat().st_mtime)
    changed = False
    if not target.exists() and retired:
        os.replace(retired[-1], target)
        changed = True
    for leftover, _ in leftovers:
        if leftover.exists() and leftover != target:
            shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(missing_ok=True)
            changed = True
    if changed:
        _fsync_directory(target.parent)
    return target if target.exists() else None


def _sibling_name(target: Path, kind: str) -> Path:
    return target.with_name(f".{target.name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:12]}")


@contextmanager
def atomic_directory(target: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary directory beside `target`; on success it replaces `target`.

    If the body raises, the temporary directory is deleted and `target` (if it existed) is
    left exactly as it was. Files written inside get the permissions a plain open() would give
    (safetensors, for one, creates its files readable by their owner only) and are fsynced
    before the swap; the parent folder is fsynced after it. A kill at any instant leaves the
    old or the new version (module docstring).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover_leftovers(target)
    staging = _sibling_name(target, "tmp")
    staging.mkdir(mode=0o700)
    os.chmod(staging, _default_mode(directory=True))
    try:
        yield staging
        file_mode = _default_mode(directory=False)
        for item in staging.rglob("*"):
            if item.is_file():
                os.chmod(item, file_mode | (item.stat().st_mode & 0o111))
                with open(item, "rb") as handle:
                    os.fsync(handle.fileno())
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_directory(staging)
    previous = None
    if target.exists():
        previous = _sibling_name(target, "old")
        os.replace(target, previous)
    os.replace(staging, target)
    _fsync_directory(target.parent)
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)


@contextmanager
def atomic_file(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it is renamed onto `target` with the
    permissions a plain open() would give (whatever the writer created it with), fsynced, and the
    parent folder fsynced after the rename."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover_leftovers(target)
    staging = _sibling_name(target, "tmp")
    os.close(os.open(staging, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    os.chmod(staging, _default_mode(directory=False))
    try:
        yield staging
        os.chmod(staging, _default_mode(directory=False) | (staging.stat().st_mode & 0o111))
        with open(staging, "rb") as written:
            os.fsync(written.fileno())
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    os.replace(staging, target)
    _fsync_directory(target.parent)


def writable_directory(path: str | Path, what: str = "output folder") -> Path:
    """Create `path` (with its parents) and prove it writable now, before any work whose result
    would be lost; a `ConfigError` names the folder and why (a file in the way, no permission, a
    full or read-only disk)."""
    from samprompt.errors import ConfigError

    path = Path(path)
    for ancestor in (path, *path.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                raise ConfigError(f"{what} {str(path)!r} cannot be created: {str(ancestor)!r} is a file")
            break
    probe = None
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = _sibling_name(path / "probe", "write-test")
        probe.write_bytes(b"\0" * 4096)
    except OSError as error:
        raise ConfigError(f"{what} {str(path)!r} is not writable: {error.strerror or error}") from None
    finally:
        if probe is not None:   # a probe the disk cut short is removed too
            probe.unlink(missing_ok=True)
    return path


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path`; a failure is an `OSError` with its errno and the file's name."""
    try:
        with open(path, "wb") as handle:
            handle.write(data)
    except OSError as error:
        raise OSError(error.errno, error.strerror or str(error), str(path)) from None


def save_tensors(tensors: Mapping[str, Any], path: str | Path, metadata: Mapping[str, str] | None = None) -> None:
    """`tensors` as a safetensors file at `path` (write failures as in `write_bytes`)."""
    from safetensors.torch import save

    write_bytes(path, save(dict(tensors), metadata=None if metadata is None else dict(metadata)))


def save_state(state: Any, path: str | Path) -> None:
    """`torch.save(state)` to `path` (write failures as in `write_bytes`)."""
    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes(path, buffer.getvalue())
