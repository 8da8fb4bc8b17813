"""The per-store sync lock: held by another process -> LockedError (exit 6), --wait,
and a lock left by a SIGKILLed process never blocks."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from amzorders.errors import ExitCode, LockedError
from amzorders.services.locking import lock_path_for, read_holder, sync_lock

# A child process that takes the lock, says so on stdout, then holds it until a line
# arrives on its stdin (or it is killed): the test decides when, never a timer.
HOLDER = textwrap.dedent(
    """
    import sys
    from amzorders.services.locking import sync_lock
    with sync_lock(sys.argv[1], command="sync"):
        print("locked", flush=True)
        sys.stdin.readline()
    print("released", flush=True)
    """
)


def start_holder(db_path: Path) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "locked"
    return child


def release(child: subprocess.Popen[str]) -> None:
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write("go\n")
    child.stdin.flush()
    assert child.stdout.readline().strip() == "released"


def stop(child: subprocess.Popen[str]) -> None:
    if child.poll() is None:
        child.kill()
    child.wait(timeout=60)
    for stream in (child.stdin, child.stdout):
        if stream is not None:
            stream.close()


class FakeClock:
    """Time that moves only when the code under test sleeps."""

    def __init__(self, on_sleep=None) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.on_sleep = on_sleep

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep(len(self.sleeps))


def test_second_sync_fails_at_once_naming_the_holder(tmp_path):
    db = tmp_path / "data" / "amzorders.db"
    child = start_holder(db)
    clock = FakeClock()
    try:
        with pytest.raises(LockedError) as caught:
            with sync_lock(db, clock=clock, sleep=clock.sleep):
                pytest.fail("the lock was taken twice")
        assert clock.sleeps == []  # no waiting without --wait
        err = caught.value
        assert err.exit_code == ExitCode.LOCKED == 6
        assert f"pid {child.pid} on {socket.gethostname()}" in err.message
        assert str(db) in err.message and "--wait SECONDS" in err.message
        holder = read_holder(lock_path_for(db))
        assert holder is not None and holder.pid == child.pid and holder.command == "sync"
        assert holder.started_at.endswith("Z")
    finally:
        stop(child)


def test_wait_waits_for_the_holder_then_proceeds(tmp_path):
    db = tmp_path / "amzorders.db"
    child = start_holder(db)
    # The holder lets go while the waiter sleeps for the second time: the waiter must
    # have polled, failed, slept, and then taken the lock on a later poll.
    clock = FakeClock(on_sleep=lambda count: release(child) if count == 2 else None)
    try:
        with sync_lock(db, wait_seconds=10, clock=clock, sleep=clock.sleep) as mine:
            assert mine.pid == os.getpid()
            assert read_holder(lock_path_for(db)) == mine
        assert len(clock.sleeps) == 2
        assert 0 < sum(clock.sleeps) < 10
        assert child.wait(timeout=60) == 0
    finally:
        stop(child)


def test_wait_gives_up_after_the_timeout(tmp_path):
    db = tmp_path / "amzorders.db"
    child = start_holder(db)
    clock = FakeClock()
    try:
        with pytest.raises(LockedError) as caught:
            with sync_lock(db, wait_seconds=0.4, clock=clock, sleep=clock.sleep):
                pass
        assert sum(clock.sleeps) == pytest.approx(0.4)  # waited exactly the time asked
        assert "after waiting 0.4 seconds" in caught.value.message
        assert f"pid {child.pid}" in caught.value.message
    finally:
        stop(child)


def test_lock_of_a_killed_process_does_not_block(tmp_path):
    db = tmp_path / "amzorders.db"
    child = start_holder(db)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=60)
    stop(child)
    # Its record is still in the file, but the kernel released the flock.
    assert read_holder(lock_path_for(db)).pid == child.pid  # type: ignore[union-attr]
    with sync_lock(db) as mine:
        assert read_holder(lock_path_for(db)) == mine


def test_lock_is_exclusive_within_one_process_and_released_after(tmp_path):
    db = tmp_path / "amzorders.db"
    inside = threading.Event()
    leave = threading.Event()

    def hold() -> None:
        with sync_lock(db):
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert inside.wait(10)
        with pytest.raises(LockedError):
            with sync_lock(db):
                pass
    finally:
        leave.set()
        thread.join(10)
    with sync_lock(db):  # free again once the holder left
        pass
    assert lock_path_for(db).read_text() == ""  # the record is cleared on release


def test_lock_file_is_private_and_beside_the_store(tmp_path):
    db = tmp_path / "new-dir" / "orders.db"
    with sync_lock(db, command="sync"):
        lock_file = lock_path_for(db)
        assert lock_file == tmp_path / "new-dir" / "orders.db.sync.lock"
        assert stat.S_IMODE(lock_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(lock_file.parent.stat().st_mode) == 0o700
        assert json.loads(lock_file.read_text())["pid"] == os.getpid()


def test_a_garbled_lock_file_still_gives_a_clear_message(tmp_path):
    db = tmp_path / "amzorders.db"
    child = start_holder(db)
    try:
        lock_path_for(db).write_text("{not json")
        with pytest.raises(LockedError) as caught:
            with sync_lock(db):
                pass
        assert "Another sync is running" in caught.value.message
        assert "details not recorded" in caught.value.message
    finally:
        stop(child)


@pytest.mark.sqlite_only
def test_cli_sync_exits_6_while_another_sync_runs(cli, simulated_account, tmp_path):
    """Through the real CLI: exit 6 at once, then --wait after the holder is gone."""
    child = start_holder(simulated_account.db_path)
    try:
        result = cli("sync")
        assert result.exit_code == 6, result.output
        assert f"pid {child.pid}" in result.stderr and "--wait" in result.stderr
    finally:
        stop(child)
    result = cli("sync", "--wait", "5")
    assert result.exit_code == 0, result.output
