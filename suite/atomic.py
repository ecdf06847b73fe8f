"""Atomic file writes: write a temp file in the same folder, fsync, rename.

Readers (a report, a resumed run, a second launch) never see half a file, and a crash
leaves either the old file or the new one. Used by the result store, the training
checkpoints and the data caches. A write that fails because the disk is full or the
folder is not writable is one ``SuiteError`` naming the path ("no space left on ...",
"cannot write ..."), not the stream error of whichever library was writing. A writer
killed with SIGKILL leaves its temp file behind; ``remove_stale_temps`` clears them where
the caller knows no other writer is at work.
"""
from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

from suite.errors import SuiteError

TEMP_SUFFIX = ".tmp"
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
_NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR}


def _os_error(exc: BaseException) -> OSError | None:
    """The OSError behind ``exc``: torch.save reports a full disk as a RuntimeError whose
    context is the OSError of the underlying write."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno is not None:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def write_error(path: Path, exc: BaseException) -> SuiteError | None:
    """A SuiteError for a full disk or an unwritable folder, else None (a bug: re-raise)."""
    err = _os_error(exc)
    if err is None:
        return None
    if err.errno in _NO_SPACE:
        return SuiteError(f"no space left on {str(Path(path).parent)!r} (writing {Path(path).name}); "
                          "expected a disk with free space: free some or pass another --store.")
    if err.errno in _NOT_WRITABLE:
        return SuiteError(f"cannot write {str(path)!r} ({err.strerror}); expected a writable folder: "
                          "fix its permissions or pass another --store.")
    return None


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(f)`` on a temporary binary file, then move it onto ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    except OSError as exc:
        raise (write_error(path, exc) or exc) from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        friendly = write_error(path, exc) if isinstance(exc, Exception) else None
        if friendly is not None:
            raise friendly from None
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete the temp files a killed writer left in ``folder`` (not recursive); returns them.

    Only call this where no other process can be writing into ``folder`` at the moment
    (a cell's workdir or record folder while its claim is held).
    """
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for tmp in folder.glob(f".*{TEMP_SUFFIX}"):
        try:
            tmp.unlink()
            removed.append(tmp)
        except FileNotFoundError:
            pass
    return removed
