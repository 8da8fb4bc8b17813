"""One ``sync`` per store at a time: an advisory lock file beside the SQLite store.

The lock is ``fcntl.flock`` on ``<db>.sync.lock``. The kernel releases it when the holding
process exits for any reason (including SIGKILL), so a killed sync never blocks the next
one. The file's content (pid, host, start time, command) only serves the error message;
the flock itself is the truth. The file is never deleted: unlinking it would let two
processes lock two different inodes of "the same" lock.

Operators' commands (list, show, invoice, ship...) never take this lock; they rely on
SQLite's own locking. Only unattended work that must not run twice at once takes it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from amzorders.errors import LockedError

LOCK_SUFFIX = ".sync.lock"
POLL_SECONDS = 0.1


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or held) a sync lock, as written in the lock file."""

    pid: int
    host: str
    started_at: str  # ISO 8601 UTC with a Z
    command: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, since {self.started_at}"


def lock_path_for(db_path: Path | str) -> Path:
    """The lock file of the store at ``db_path``."""
    return Path(f"{db_path}{LOCK_SUFFIX}")


def read_holder(lock_path: Path) -> LockHolder | None:
    """The holder recorded in ``lock_path``; None when empty, missing or unreadable."""
    try:
        data = json.loads(lock_path.read_text(encoding="utf-8"))
        return LockHolder(
            pid=int(data["pid"]),
            host=str(data["host"]),
            started_at=str(data["started_at"]),
            command=str(data["command"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextmanager
def sync_lock(
    db_path: Path | str,
    wait_seconds: float = 0.0,
    *,
    command: str = "sync",
    poll_seconds: float = POLL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[LockHolder]:
    """Hold the sync lock of the store at ``db_path`` for the ``with`` block.

    When another process holds it, wait up to ``wait_seconds`` (0: not at all) for it
    to be released, then raise ``LockedError`` (exit code 6) naming the holder.
    Yields this process's ``LockHolder``.
    """
    if wait_seconds < 0:
        raise ValueError("wait_seconds must be 0 or more")
    lock_path = lock_path_for(db_path)
    fd = _open_lock_file(lock_path)
    try:
        deadline = clock() + wait_seconds
        while not _try_lock(fd):
            remaining = deadline - clock()
            if remaining <= 0:
                raise LockedError(_locked_message(db_path, lock_path, wait_seconds))
            sleep(min(poll_seconds, remaining))
        holder = LockHolder(
            pid=os.getpid(),
            host=socket.gethostname(),
            started_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            command=command,
        )
        _write_holder(fd, holder)
        try:
            yield holder
        finally:
            # Clear the record before unlocking, so nobody reads a finished holder.
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _open_lock_file(lock_path: Path) -> int:
    try:
        lock_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        from amzorders.store.errors import translate_os_error

        translated = translate_os_error(exc, f"the sync lock file {lock_path}")
        if translated is not None:
            raise translated from None
        raise LockedError(
            f"Cannot create the sync lock file {lock_path}: {exc.strerror}. Check that its "
            "directory is writable, or point --db / AMZORDERS_DB at a writable location."
        ) from None


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _write_holder(fd: int, holder: LockHolder) -> None:
    # The record only feeds the "who holds it" message; the flock is the lock. A full
    # disk must not stop sync here: the store's own writes report it properly.
    data = json.dumps(asdict(holder)).encode("utf-8")
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
    except OSError:
        pass


def _locked_message(db_path: Path | str, lock_path: Path, wait_seconds: float) -> str:
    holder = read_holder(lock_path)
    who = holder.describe() if holder is not None else f"details not recorded yet in {lock_path}"
    if wait_seconds > 0:
        return (
            f"Another sync is still running on {db_path} ({who}) after waiting "
            f"{wait_seconds:g} seconds. It will finish by itself; use a longer --wait, "
            "or run sync again later."
        )
    return (
        f"Another sync is running on {db_path} ({who}). It will finish by itself; "
        "use --wait SECONDS to wait for it."
    )
