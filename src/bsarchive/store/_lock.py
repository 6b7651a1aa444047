"""The archive lock: ``<db>.lock``, so overlapping cron runs never write together."""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path

from bsarchive.errors import ConfigError, LockHeldError, StoreError


def wait_for(take: Callable[[], bool], subject: str, *, wait: bool, timeout: float | None) -> None:
    """Try ``take`` (True: the lock is ours) until it succeeds: once without ``wait``, else
    every 0.2 s until ``timeout`` seconds (None: for ever).

    Raises:
        LockHeldError: another run holds the archive ``subject`` (exit 75).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while not take():
        if not wait or (deadline is not None and time.monotonic() > deadline):
            raise LockHeldError(
                subject,
                "another bsarchive run is using this archive",
                hint="use --wait to wait for it",
            )
        time.sleep(0.2)


class ArchiveLock:
    """An exclusive lock on ``<db>.lock`` so overlapping cron runs never write together.

    ``flock`` is released by the kernel when the process dies, so a killed run never leaves
    a stale lock behind.
    """

    def __init__(self, db_path: Path) -> None:
        self.path = Path(str(db_path) + ".lock")
        self._fd: int | None = None

    def acquire(self, *, wait: bool = False, timeout: float | None = None) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:  # no such directory, read-only place, ...
            raise ConfigError(
                str(self.path.with_suffix("")), f"cannot use this archive path: {e.strerror}"
            ) from e

        def take() -> bool:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise StoreError(str(self.path), f"cannot lock: {e}") from e
                return False
            return True

        try:
            wait_for(take, str(self.path.with_suffix("")), wait=wait, timeout=timeout)
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def is_held_elsewhere(self) -> bool:
        """True when another process holds the lock (for doctor)."""
        if not self.path.exists():
            return False
        fd = os.open(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)
        return False

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ArchiveLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
