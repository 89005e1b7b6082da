"""Atomic file writes: the old file or the new one, never a damaged one.

Writes are atomic: the bytes go to a temporary file in the same folder, are flushed and fsync'ed,
then ``os.replace`` swaps it in and the folder is fsync'ed. Killing the process at any moment leaves
either the old or the new checkpoint, never a damaged one (at worst an orphaned ``.*.tmp`` file,
removed by the next save to the same path).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves either the old or the new file.

    Temporary file in the same folder (so ``os.replace`` is a rename on one file system), write,
    flush, fsync, ``os.replace``, then fsync the folder so the rename itself survives a power cut.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphaned_temp_files(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        _replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(path.parent)


def _replace(src: str, dst: Path) -> None:
    # On Windows a reader holding the old file open makes the rename fail for a moment: retry briefly.
    for attempt in range(20):
        try:
            os.replace(src, dst)
            return
        except PermissionError:
            if os.name != "nt" or attempt == 19:
                raise
            time.sleep(0.05)


def _fsync_directory(folder: Path) -> None:
    if os.name == "nt":  # Windows cannot open a folder for fsync; NTFS journals the rename
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temp_files_for(path: str | Path) -> list[Path]:
    """Temporary files that saves to ``path`` create (left behind only if a saving process was killed)."""
    path = Path(path)
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


def _remove_orphaned_temp_files(path: Path) -> None:
    """Delete temp files of earlier saves to ``path`` whose process is gone (killed mid-save)."""
    for tmp in temp_files_for(path):
        parts = tmp.name[len(path.name) + 2 :].split(".")
        try:
            pid = int(parts[0])
        except (ValueError, IndexError):
            continue
        if pid == os.getpid() or _process_alive(pid):
            if not (os.name == "nt" and _older_than(tmp, 600)):
                continue
        try:
            tmp.unlink()
        except OSError:
            pass


def _process_alive(pid: int) -> bool:
    if os.name == "nt":
        return True  # os.kill(pid, 0) would terminate a process on Windows; rely on the file's age instead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _older_than(p: Path, seconds: float) -> bool:
    try:
        return time.time() - p.stat().st_mtime > seconds
    except OSError:
        return False
