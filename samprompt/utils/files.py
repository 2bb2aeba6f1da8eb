"""Writing files so that a failure never leaves a half-written result behind."""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def _default_mode(directory: bool) -> int:
    """The permissions a plain open()/mkdir() would give, under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


@contextmanager
def atomic_directory(target: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary directory beside `target`; on success it replaces `target`.

    If the body raises, the temporary directory is deleted and `target` (if it existed) is
    left exactly as it was. Files written inside get the permissions a plain open() would give
    (safetensors, for one, creates its files readable by their owner only).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
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
    previous = None
    if target.exists():
        previous = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, previous)
    os.replace(staging, target)
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)


@contextmanager
def atomic_file(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it is renamed onto `target`."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.tmp-", dir=target.parent)
    os.close(handle)
    staging = Path(name)
    os.chmod(staging, _default_mode(directory=False))
    try:
        yield staging
        with open(staging, "rb") as written:
            os.fsync(written.fileno())
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    os.replace(staging, target)
