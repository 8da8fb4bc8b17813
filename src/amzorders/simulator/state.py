"""The simulator's persisted state: one JSON file, written atomically, shared by processes.

Only what cannot be regenerated from the seed is stored: the clock offset, seller and
buyer actions (as mutations per order), orders added by tests, feeds and documents.
Writers take an exclusive fcntl lock on a sidecar ``.lock`` file, re-read the file if
another process changed it, then write a temp file and ``os.replace`` it over the old
one, so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from amzorders.errors import ConfigError

STATE_FORMAT = 1


class StateStore:
    """Holds the state dict in memory and keeps it in step with ``path`` (when given)."""

    def __init__(self, path: Path | None, initial: dict[str, Any]) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._seen: tuple[int, int, int] | None = None
        self.generation = 0  # bumps whenever the in-memory state changes
        self.data: dict[str, Any] = initial
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_path = path.with_name(path.name + ".lock")
        with self._file_lock(exclusive=True):
            if path.exists():
                self._load()
            else:
                self._save()

    @contextlib.contextmanager
    def _file_lock(self, *, exclusive: bool) -> Iterator[None]:
        with open(self._lock_path, "a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _stat(self) -> tuple[int, int, int] | None:
        assert self.path is not None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _load(self) -> None:
        assert self.path is not None
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"Cannot read the simulator state file {self.path} ({exc}); "
                "delete it to start a fresh simulated marketplace."
            ) from None
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise ConfigError(
                f"{self.path} is not a simulator state file of format {STATE_FORMAT}; "
                "delete it to start a fresh simulated marketplace."
            )
        self.data = data
        self._seen = self._stat()
        self.generation += 1

    def _save(self) -> None:
        assert self.path is not None
        fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                # dumps (one shot) uses the C encoder; dump() streams through the slow Python one.
                handle.write(json.dumps(self.data, separators=(",", ":")))
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self._seen = self._stat()

    def refresh(self) -> None:
        """Re-read the file if another process replaced it since we last looked."""
        if self.path is None:
            return
        with self._lock:
            if self._stat() == self._seen:
                return
            with self._file_lock(exclusive=False):
                if self._stat() != self._seen:
                    self._load()

    @contextlib.contextmanager
    def write(self) -> Iterator[dict[str, Any]]:
        """Change the state: under both locks, on the freshest copy, saved on success."""
        with self._lock:
            if self.path is None:
                yield self.data
                self.generation += 1
                return
            with self._file_lock(exclusive=True):
                if self._stat() != self._seen:
                    self._load()
                yield self.data
                self.generation += 1
                self._save()

    @property
    def lock(self) -> threading.RLock:
        return self._lock
