"""One server per archive folder: an OS file lock on `<archive>/.lock`, held for the life of the process.

`printscp serve` takes the lock before it touches anything in the folder (leftover writes, the index, the
spool): a second server on the same folder would otherwise empty the first one's spool. The lock is
`flock(LOCK_EX | LOCK_NB)` on an open file, so the kernel drops it when the process ends, however it ends
(kill -9 included); a stale `.lock` file left behind is harmless. The file records the holder's PID so that
the refusal can name it. The descriptor is not inherited by child processes (Python opens files
close-on-exec), so a child never keeps the lock past its parent.

The `printscp films` commands do not take the lock: they only read the films and add missing rows to the
SQLite index (safe beside a running server), so they keep working while a server runs.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = ".lock"
NODE_LOCK_FILE = "lock"  # a cluster node's, in <archive>/.nodes/<node id>/


class ArchiveError(Exception):
    """The archive folder cannot be used; the message names it and says what to do."""


class ArchiveLocked(ArchiveError):
    """Another process holds the archive folder."""

    def __init__(self, folder: Path, pid: int | None) -> None:
        holder = f"PID {pid}" if pid is not None else "another process"
        super().__init__(
            f"archive folder {folder} is in use by printscp {holder}; stop that server or choose another --archive"
        )
        self.folder, self.pid = folder, pid


def folder_error(folder: Path, exc: OSError) -> ArchiveError:
    """A one-line error for an archive folder (or a file in it) that cannot be made, read or written."""
    path = Path(exc.filename) if isinstance(exc.filename, str) else folder
    if path not in (folder, folder / LOCK_FILE):  # something inside the folder: name it
        why = f"{path}: {exc.strerror or exc}"
        return ArchiveError(f"archive folder {folder} cannot be used ({why}); repair it or choose another --archive")
    if exc.errno in (errno.EEXIST, errno.ENOTDIR) or (folder.exists() and not folder.is_dir()):
        why = "is not a folder (a file, or inside a file)"
    elif exc.errno == errno.EROFS:
        why = "is on a read-only file system"
    elif exc.errno == errno.ENOSPC:
        why = "is on a full disk"
    else:
        why = f"cannot be written ({exc.strerror or exc})"
    return ArchiveError(f"archive folder {folder} {why}; choose a writable folder with --archive or archive.folder")


class ArchiveLock:
    """The exclusive lock on an archive folder (made if missing); `release` or process exit frees it."""

    def __init__(self, folder: Path, name: str = LOCK_FILE) -> None:
        """`name`: the lock file in `folder` (a cluster node locks `<archive>/.nodes/<node id>/lock`)."""
        self.folder = folder
        self.name = name
        self._fd: int | None = None

    def acquire(self, wait: float = 0.0) -> None:
        """Take the lock or raise ArchiveLocked (held elsewhere) / ArchiveError (folder unusable); `wait`:
        seconds to keep trying while another holds it (a cluster node's folder is locked for a moment by a
        node taking over what it left, see `held`)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.folder / self.name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise folder_error(self.folder, exc) from None
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.1)  # flock cannot wait with a timeout; a holder is expected to be brief
                    continue
                pid = _read_pid(fd)
                os.close(fd)
                raise ArchiveLocked(self.folder, pid) from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:  # the lock is ours, but the folder cannot be written (full disk)
            os.close(fd)
            raise folder_error(self.folder, exc) from None
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the last descriptor drops the flock

    @property
    def held(self) -> bool:
        return self._fd is not None


@contextmanager
def held(folder: Path, name: str) -> Iterator[bool]:
    """The lock file `folder/name` held for the block if no process holds it (True), else nothing (False).
    Its content (the PID of the process that owns the folder) is left as it is."""
    try:
        fd = os.open(folder / name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError:
        yield False
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        yield False
        return
    try:
        yield True
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
